"""--stop-at-newline: a hypothesis ends at its first line break during the search,
greedy and beam, alike in the four systems of wav2prompt-eval and in
wav2prompt-generate.

The fixture LLMs are base LLMs in miniature: trained here for a few seconds on
texts that go on past every line break and never end with eos, so whatever the
prompt (text, or any E_s), they write a first line, a break and more lines. One
has LLaMA-2's tokenizer kind (SentencePiece, "\\n" is the byte token <0x0A>),
the other LLaMA-3's (byte-level BPE whose split merges "." with a following
"\\n" into one token)."""
import json
import os
import random
import re

import pytest
import torch

from conftest import SENTENCES, run_cli
from llm_families import LLAMA3_SPLIT, with_bos
from test_cli import SMALL_ENCODER, train_args
from test_encoder_llm import ENCODER_LLM

pytestmark = pytest.mark.slow

TEMPLATE = "Question: {speech} Answer:"
MAX_LEN = 40
SYSTEMS = ("text_topline", "cascade", "wav2prompt", "encoder_llm")


def base_llm_texts(count=300, seed=0):
    """A question, then short lines of text that never end: no eos follows them in training."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        question, *lines = rng.sample(SENTENCES, 6)
        lines = [" ".join(line.split()[:rng.randint(2, 5)]) for line in lines]
        texts.append(f"Question: {question} Answer: " + ".\n".join(lines))
    return texts


def sentencepiece_tokenizer(out_dir, texts):
    """LLaMA-2's kind: BPE with byte fallback, no normalisation, bos added."""
    import sentencepiece as spm
    from transformers import AutoTokenizer, LlamaTokenizer

    corpus = os.path.join(out_dir, "corpus.txt")
    with open(corpus, "w") as f:
        f.write("\n".join(line for text in texts for line in text.split("\n")))
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(out_dir, "tokenizer"), vocab_size=700, model_type="bpe",
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, byte_fallback=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, hard_vocab_limit=False, minloglevel=2,
    )
    LlamaTokenizer.from_pretrained(out_dir, pad_token=None, add_bos_token=True).save_pretrained(out_dir)
    for name in ("corpus.txt", "tokenizer.vocab"):
        os.remove(os.path.join(out_dir, name))
    return AutoTokenizer.from_pretrained(out_dir)


def byte_level_tokenizer(out_dir, texts):
    """LLaMA-3's kind: byte-level BPE after LLaMA-3's pre-tokenizer split, bos added."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bos, eos = "<|begin_of_text|>", "<|end_of_text|>"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=400, special_tokens=[bos, eos], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=with_bos(tok, bos), bos_token=bos, eos_token=eos)
    tokenizer.save_pretrained(out_dir)
    return tokenizer


def train_base_llm(out_dir, tokenizer, texts, steps=300, seed=0, width=64, heads=4):
    """A tiny LLaMA trained with the loss at every position of texts without eos (`width` / `heads`: its
    attention heads' size; vLLM's CPU attention takes 32 and more: test_vllm_backend.py)."""
    from torch.nn.utils.rnn import pad_sequence
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
        num_attention_heads=heads, num_key_value_heads=heads // 2, max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    ids = [torch.tensor(tokenizer(text)["input_ids"]) for text in texts]
    assert all(tokenizer.eos_token_id not in x for x in ids)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        batch = [ids[i] for i in torch.randint(len(ids), (16,))]
        inputs = pad_sequence(batch, batch_first=True)
        mask = pad_sequence([torch.ones_like(x) for x in batch], batch_first=True)
        loss = model(input_ids=inputs, attention_mask=mask, labels=inputs.masked_fill(mask == 0, -100)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Models this small run faster on one thread than on two shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build_base_llm(kind, tmp_path_factory, **config):
    out_dir = str(tmp_path_factory.mktemp(f"base_llm_{kind}"))
    texts = base_llm_texts()
    build = sentencepiece_tokenizer if kind == "sentencepiece" else byte_level_tokenizer
    tokenizer = build(out_dir, texts)
    train_base_llm(out_dir, tokenizer, texts, **config)
    return {"kind": kind, "path": out_dir, "tokenizer": tokenizer}


@pytest.fixture(scope="module", params=["sentencepiece", "byte_level"])
def base_llm(request, tmp_path_factory):
    return build_base_llm(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def checkpoints(base_llm, speech_data, tmp_path_factory):
    return train_checkpoints(base_llm, speech_data, tmp_path_factory)


def train_checkpoints(base_llm, speech_data, tmp_path_factory):
    """A Wav2Prompt and an Encoder-LLM checkpoint over the base LLM, two updates each:
    any E_s will do, the LLM writes a first line and a break whatever it reads."""
    out = {}
    for system, arch, extra in (("wav2prompt", SMALL_ENCODER, []),
                                ("encoder_llm", ENCODER_LLM, ["--mse-weight", "0", "--qua-weight", "0"])):
        save_dir = str(tmp_path_factory.mktemp(f"{system}_{base_llm['kind']}"))
        args = train_args(speech_data, base_llm["path"], save_dir, updates=2,
                          extra=["--train-template", TEMPLATE, "--disable-validation", *extra])
        args[args.index("--arch"):args.index("--arch") + len(SMALL_ENCODER)] = arch
        run_cli(args, cwd=os.getcwd())
        out[system] = os.path.join(save_dir, "checkpoint_last.pt")
    return out


def eval_system(base_llm, checkpoints, system, rows, **options):
    """The system as wav2prompt-eval builds it, at its defaults but `options` (the cascade reads other
    sentences than the transcripts)."""
    from wav2prompt_plugin.evaluation.runner import EvaluationConfig
    from wav2prompt_plugin.evaluation.systems import SPEECH_SYSTEMS, build_system

    config = EvaluationConfig(tasks_file="", out="", systems=[system], max_len_b=MAX_LEN, llm_path=base_llm["path"],
                              checkpoint=checkpoints[system] if system in SPEECH_SYSTEMS else None, **options)
    return build_system(system, config, asr_hypotheses(rows))


def dev_rows(speech_data):
    from wav2prompt_plugin.evaluation.runner import load_rows

    rows, _ = load_rows(os.path.join(speech_data, "dev.tsv"))
    return rows


def asr_hypotheses(rows):
    """The cascade reads another sentence than the transcript."""
    return {r["id"]: SENTENCES[-1 - i] for i, r in enumerate(rows)}


def nbest(system, rows):
    """Every hypothesis of each row (fairseq's dicts), the best first."""
    from wav2prompt_plugin.data.templates import PromptTemplate

    generator = system.generator
    if system.speech:
        sample = generator.speech_batch([r["audio"] for r in rows], PromptTemplate(TEMPLATE), rows)
        search, model = generator.generator, generator.model
    else:
        sample = generator.text_sample(system.texts(rows), TEMPLATE, rows)
        search, model = generator.text_generator, generator.text_model
    return generator.task.inference_step(search, [model], sample)


def first_line(text):
    return text.split("\n", 1)[0].strip()


def test_line_break_tokens_are_found_through_the_tokenizer(base_llm):
    from wav2prompt_plugin.modules.newline_stop import NewlineStop

    tokenizer = base_llm["tokenizer"]
    found = NewlineStop(tokenizer, tokenizer.eos_token_id).line_break_ids.tolist()
    texts = {tokenizer.decode([i]) for i in found}
    assert texts and all("\n" in text for text in texts)
    ids = tokenizer("the cat sleeps.\nanna reads", add_special_tokens=False)["input_ids"]
    breaks = [i for i in ids if "\n" in tokenizer.decode([i])]
    assert len(breaks) == 1 and breaks[0] in found
    if base_llm["kind"] == "sentencepiece":
        assert tokenizer.convert_ids_to_tokens(breaks[0]) == "<0x0A>"
    else:  # the corpus's ".\n" is one token, with text before the break
        assert tokenizer.decode(breaks) == ".\n"
        assert ".\n" in texts


@pytest.mark.parametrize("rule", [False, True])
def test_detokenizer_cuts_at_the_first_line_break_only_with_the_rule(base_llm, rule):
    from wav2prompt_plugin.bpe.llm_tokenizer import LLMTokenizerBPE

    bpe = LLMTokenizerBPE(tokenizer=base_llm["tokenizer"], stop_at_newline=rule)
    text = "the cat sleeps.\nanna reads.\nwhere does tom live"
    assert bpe.decode(bpe.encode(text)) == ("the cat sleeps." if rule else text)


def test_rule_forces_eos_after_a_line_break_only():
    from wav2prompt_plugin.modules.newline_stop import NewlineStop

    class Vocabulary:
        name_or_path = "test"
        pieces = ["</s>", "a", "\n", "b.\n", "c"]

        def __len__(self):
            return len(self.pieces)

        def batch_decode(self, ids, skip_special_tokens):
            return ["" if i == [0] else self.pieces[i[0]] for i in ids]

    rule = NewlineStop(Vocabulary(), eos=0)
    assert rule.line_break_ids.tolist() == [2, 3]
    lprobs = torch.log_softmax(torch.randn(4, 1, 5), -1)
    assert torch.equal(rule.log_probs(lprobs, torch.zeros(4, 0, dtype=torch.long)), lprobs)
    out = rule.log_probs(lprobs, torch.tensor([[1, 2], [2, 1], [4, 3], [3, 4]]))
    assert torch.equal(out[[1, 3]], lprobs[[1, 3]])
    assert out[[0, 2], 0, 0].eq(0).all() and out[[0, 2], 0, 1:].eq(float("-inf")).all()
    assert NewlineStop.cut("b.\nc\nd") == "b."


@pytest.mark.parametrize("system", SYSTEMS)
def test_greedy_hypothesis_is_the_first_line(base_llm, checkpoints, speech_data, system):
    rows = dev_rows(speech_data)
    hyps, lengths = {}, {}
    for rule in (False, True):
        evaluated = eval_system(base_llm, checkpoints, system, rows, stop_at_newline=rule)
        hyps[rule] = evaluated.answer(rows, TEMPLATE)
        lengths[rule] = [len(h[0]["tokens"]) for h in nbest(evaluated, rows)]
    # without the rule the LLM runs on past its first line, to the length limit
    assert all("\n" in hyp for hyp in hyps[False]), hyps[False]
    assert lengths[False] == [MAX_LEN + 1] * len(rows)
    # with it, the same search ends at the first break
    assert hyps[True] == [first_line(hyp) for hyp in hyps[False]]
    assert all(hyps[True]) and max(lengths[True]) < MAX_LEN


@pytest.mark.parametrize("system", SYSTEMS)
def test_beam_hypotheses_end_with_a_line_break_then_eos(base_llm, checkpoints, speech_data, system):
    rows = dev_rows(speech_data)
    evaluated = eval_system(base_llm, checkpoints, system, rows, beam=3, stop_at_newline=True)
    generator = evaluated.generator
    task, eos = generator.task, generator.task.target_dictionary.eos()
    line_breaks = set(task.newline_stop().line_break_ids.tolist())
    for hypotheses in nbest(evaluated, rows):
        assert len(hypotheses) == 3
        for hypothesis in hypotheses:
            tokens = hypothesis["tokens"].tolist()
            assert len(tokens) < MAX_LEN and tokens[-1] == eos
            assert tokens[-2] in line_breaks and not line_breaks & set(tokens[:-2])
            assert "\n" not in generator._text(hypothesis)
    texts = evaluated.answer(rows, TEMPLATE)
    assert all(texts) and not any("\n" in text for text in texts)
    if base_llm["kind"] == "byte_level":  # the merged ".\n" keeps its "." in the text
        assert all(text.endswith(".") for text in texts), texts


def test_rule_composes_with_the_repetition_penalty(base_llm, checkpoints, speech_data):
    rows = dev_rows(speech_data)
    hyps = {}
    for rule in (False, True):
        evaluated = eval_system(base_llm, checkpoints, "text_topline", rows, repetition_penalty=1.5, stop_at_newline=rule)
        hyps[rule] = evaluated.answer(rows, TEMPLATE)
    assert all("\n" in hyp for hyp in hyps[False])
    assert hyps[True] == [first_line(hyp) for hyp in hyps[False]]


def test_wav2prompt_generate_prints_the_first_lines(base_llm, checkpoints, speech_data):
    from wav2prompt_plugin.inference import Wav2PromptInference

    proc = run_cli([
        "wav2prompt-generate", speech_data, "--task", "wav2prompt", "--llm-path", base_llm["path"],
        "--gen-subset", "dev", "--path", checkpoints["wav2prompt"], "--gen-template", TEMPLATE,
        "--beam", "1", "--max-len-b", str(MAX_LEN), "--max-tokens", "2500", "--cpu", "--stop-at-newline",
    ])
    printed = dict(re.findall(r"^D-(\d+)\t\S+\t(.*)$", proc.stdout, re.M))
    rows = dev_rows(speech_data)
    unruled = Wav2PromptInference(checkpoints["wav2prompt"], beam=1, max_len_b=MAX_LEN, trim_silence=False)
    hyps = unruled.generate([r["audio"] for r in rows], TEMPLATE)
    assert all("\n" in hyp for hyp in hyps)
    assert [printed[str(i)] for i in range(len(rows))] == [first_line(hyp) for hyp in hyps]


def test_eval_records_the_rule_and_old_checkpoints_take_it(base_llm, checkpoints, speech_data, tmp_path):
    from wav2prompt_plugin.cli import evaluate
    from wav2prompt_plugin.inference import Wav2PromptInference

    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({"asr": {"template": TEMPLATE, "target": "tgt_text", "metric": "wer"}}))
    evaluate.main(["--llm-path", base_llm["path"], "--manifest", os.path.join(speech_data, "dev.tsv"),
                   "--tasks-file", str(tasks), "--systems", "text_topline", "--out", str(tmp_path / "eval"),
                   "--max-len-b", str(MAX_LEN), "--stop-at-newline"])
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["settings"]["text_topline"]["stop_at_newline"] is True
    written = (tmp_path / "eval" / "hyps" / "text_topline.asr.tsv").read_text().splitlines()
    assert len(written) == 1 + len(dev_rows(speech_data))

    # a checkpoint saved before the option existed
    state = torch.load(checkpoints["wav2prompt"], weights_only=False)
    del state["cfg"]["task"]["stop_at_newline"]
    old = str(tmp_path / "old.pt")
    torch.save(state, old)
    assert Wav2PromptInference(old, stop_at_newline=True).model.decoder.newline_stop is not None
