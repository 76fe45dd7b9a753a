"""Six LLM families end to end (tests/llm_families.py): prompts written as the
LLM's own tokenizer writes the text, padding that is no token of text, the KV
cache, batches against one by one, HF generate(inputs_embeds=...),
fairseq-train and fairseq-generate, and checkpoints that refuse another family."""
import os

import pytest
import torch

from conftest import run_cli
from faults.faults_common import TINY_MODEL, error_report
from llm_families import FAMILIES, FRENCH, build_family
from wav2prompt_plugin.data.templates import PromptTemplate
from wav2prompt_plugin.llm.prompt_codec import leading_special_tokens, text_prompt_ids
from wav2prompt_plugin.inference import LLMGenerator

pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = [  # the speech at the start, in the middle and at the end; fields; accents
    "{speech} French:",
    "Translate the English text into French: {speech} French:",
    "Context: {context} Question: {speech}",
    "Contexte : {context} où {speech} « réponse » :",
]
TEXTS = ["the cat sleeps in the kitchen", "where does tom live", FRENCH[2], "12 345 box"]
ROW = {"context": FRENCH[4]}


@pytest.fixture(scope="session")
def family_llms(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {f: build_family(f, str(root / f)) for f in FAMILIES}


@pytest.fixture(scope="module")
def generators(family_llms):
    return {f: LLMGenerator.from_llm_path(path, beam=1, max_len_b=6) for f, path in family_llms.items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_prompts_are_the_tokenizers_own_ids_of_the_running_text(generators, family):
    task = generators[family].task
    tokenizer = task.tokenizer
    for text in TEMPLATES:
        template = PromptTemplate(text)
        for speech in TEXTS:
            full = template.fill(ROW, speech)
            assert text_prompt_ids(tokenizer, template, ROW, speech) == tokenizer(full)["input_ids"], (text, speech)


def test_the_families_differ_where_the_rule_matters(generators):
    """Leading specials: what each tokenizer adds before text; byte-level BPE
    writes a word after a space with its own token."""
    added = {f: leading_special_tokens(g.task.tokenizer) for f, g in generators.items()}
    bos = {f: g.task.tokenizer.bos_token_id for f, g in generators.items()}
    assert added == {"llama2": [bos["llama2"]], "bloom": [], "gpt2": [], "qwen2": [],
                     "llama3": [bos["llama3"]], "gemma2": [bos["gemma2"]]}
    assert bos["bloom"] is not None and bos["gpt2"] is not None  # defined, not added
    for family in ("bloom", "gpt2", "qwen2", "llama3", "gemma2"):
        tokenizer = generators[family].task.tokenizer
        alone = tokenizer("cat", add_special_tokens=False)["input_ids"]
        inside = tokenizer("the cat", add_special_tokens=False)["input_ids"]
        assert inside[-len(alone):] != alone, family  # "Ġcat" / "▁cat" is not "cat"


@pytest.mark.parametrize("family, pad", [("llama2", "unk"), ("bloom", "pad"), ("gpt2", "past"),
                                         ("qwen2", "past"), ("llama3", "past"), ("gemma2", "pad")])
def test_padding_is_no_token_of_text(generators, family, pad):
    task = generators[family].task
    tokenizer, dictionary = task.tokenizer, task.target_dictionary
    assert dictionary.pad() != dictionary.eos()
    expected = {"unk": tokenizer.unk_token_id, "pad": tokenizer.pad_token_id,
                "past": dictionary.llm_vocab_size}[pad]
    assert dictionary.pad() == expected
    if pad == "past":
        assert len(dictionary) == dictionary.llm_vocab_size + 1


def hf_greedy(generator, text, template, row, new_tokens):
    """Hugging Face's own greedy search from the prompt's embeddings."""
    task, llm = generator.task, generator.text_model.decoder.llm
    ids = torch.tensor([text_prompt_ids(task.tokenizer, PromptTemplate(template), row, text)])
    eos = task.target_dictionary.eos()
    out = llm.generate(inputs_embeds=llm.get_input_embeddings()(ids), attention_mask=torch.ones_like(ids),
                       max_new_tokens=new_tokens, min_new_tokens=1, do_sample=False, eos_token_id=eos,
                       pad_token_id=eos)
    new = out[0].tolist()
    return task.tokenizer.decode(new[: new.index(eos)] if eos in new else new, skip_special_tokens=True).strip()


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_equals_hugging_face_and_a_batch_equals_one_by_one(generators, family):
    generator = generators[family]
    template = TEMPLATES[2]
    rows = [{"context": c} for c in ("the box is green", FRENCH[1], "tom")]
    texts = TEXTS[:3]  # different lengths: the batch is left-padded
    batch = generator.generate_from_text(texts, template, rows)
    alone = [generator.generate_from_text([t], template, [r])[0] for t, r in zip(texts, rows)]
    assert batch == alone
    # fairseq's max_len_b 6 with no source: 6 new tokens at most, eos included
    assert batch == [hf_greedy(generator, t, template, r, 6) for t, r in zip(texts, rows)]
    assert any(batch)


@pytest.mark.parametrize("family", FAMILIES)
def test_kv_cache_logits_equal_full_sequence_logits(generators, family):
    generator = generators[family]
    decoder = generator.text_model.decoder
    sample = generator.text_sample(TEXTS[:3], TEMPLATES[1])
    encoder_out = generator.text_model.encoder(**{k: v for k, v in sample["net_input"].items()
                                                  if k != "prev_output_tokens"})
    steps = torch.tensor([[decoder.dictionary.eos(), 5, 9, 7, 11, 6]] * 3)
    state = {}
    for t in range(steps.size(1)):
        if t == 3:  # a beam step: rows swap places and one is duplicated
            order = torch.tensor([2, 0, 0])
            decoder.reorder_incremental_state(state, order)
            encoder_out = {k: [v[0].index_select(0, order)] for k, v in encoder_out.items()}
        cached, _ = decoder(steps[:, : t + 1], encoder_out=encoder_out, incremental_state=state)
        full, _ = decoder(steps[:, : t + 1], encoder_out=encoder_out)
        torch.testing.assert_close(cached[:, -1], full[:, -1], atol=1e-4, rtol=1e-4)


def train(data, llm, save_dir, template="repeat {speech} text"):
    return run_cli([
        "fairseq-train", str(data), "--user-dir", "wav2prompt_plugin", "--task", "wav2prompt", "--llm-path", llm,
        "--train-template", template, *TINY_MODEL, "--criterion", "wav2prompt", "--optimizer", "adam",
        "--lr", "3e-3", "--max-tokens", "1200", "--max-update", "3", "--save-dir", str(save_dir),
        "--no-epoch-checkpoints", "--num-workers", "0", "--cpu", "--disable-validation", "--seed", "3",
    ], cwd=os.path.join(HERE, ".."))


def generate(data, llm, checkpoint, beam, check=True):
    return run_cli([
        "fairseq-generate", str(data), "--user-dir", "wav2prompt_plugin", "--task", "wav2prompt",
        "--llm-path", llm, "--path", str(checkpoint), "--gen-subset", "dev", "--beam", str(beam),
        "--max-len-b", "5", "--max-tokens", "4000", "--num-workers", "0", "--cpu",
    ], cwd=os.path.join(HERE, ".."), check=check)


@pytest.mark.parametrize("family", FAMILIES)
def test_fairseq_train_and_generate(speech_data, family_llms, tmp_path, family):
    llm = family_llms[family]
    proc = train(speech_data, llm, tmp_path)
    assert "num_updates 3" in proc.stdout + proc.stderr or "done training" in proc.stdout + proc.stderr
    checkpoint = tmp_path / "checkpoint_last.pt"
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert state["optimizer_history"][-1]["num_updates"] == 3
    assert not [k for k in state["model"] if ".llm." in k]
    for beam in (1, 4):
        out = generate(speech_data, llm, checkpoint, beam).stdout
        hyps = [line for line in out.splitlines() if line.startswith("D-")]
        assert len(hyps) == 4, out[-2000:]  # every dev utterance, from the reloaded checkpoint
    other = family_llms["qwen2" if family != "qwen2" else "gpt2"]
    proc = generate(speech_data, other, checkpoint, 1, check=False)
    assert "is a different LLM" in error_report(proc, "LLMMismatchError")
