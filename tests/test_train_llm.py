"""The mini recipe's LLM training: a short run end to end, and train rows only."""
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / "recipes" / "mini" / "local"
TASKS = ROOT / "recipes" / "mini" / "conf" / "tasks.json"


def load_script():
    from recipes.mini.local import train_llm

    return train_llm


def train_llm(world, out, *args):
    proc = subprocess.run(
        [sys.executable, str(LOCAL / "train_llm.py"), "--world", str(world), "--tasks", str(TASKS),
         "--out", str(out), "--size", "smoke", "--steps", "30", "--log-interval", "5", *args],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return world, out, proc.stdout


@pytest.fixture(scope="module")
def run(tmp_path_factory, smoke_world):
    return train_llm(smoke_world, tmp_path_factory.mktemp("train_llm") / "llm")


@pytest.fixture(scope="module")
def bpe_run(tmp_path_factory, smoke_world):
    return train_llm(smoke_world, tmp_path_factory.mktemp("train_llm_bpe") / "llm", "--tokenizer", "bpe")


def test_saved_llm_loads_like_a_llama(run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, out, _ = run
    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    assert model.config.model_type == "llama"
    log = json.loads((out / "training_log.json").read_text())
    assert log["parameters"] == sum(p.numel() for p in model.parameters())
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id,
            tokenizer.pad_token_id) == (0, 1, 2, 3)
    text = "la souris se cache dans la forêt s'il te plaît"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    with torch.no_grad():
        logits = model(torch.tensor([[tokenizer.bos_token_id] + ids])).logits
    assert logits.shape == (1, len(ids) + 1, len(tokenizer))


def test_templates_words_are_whole_tokens(run):
    """Every word of every template, those between fields included ("Context:"
    sits between the start and {context}), comes back from the tokenizer intact
    and in few pieces: each template is in every example of its task."""
    from transformers import AutoTokenizer

    from wav2prompt_plugin.data.templates import PromptTemplate

    tokenizer = AutoTokenizer.from_pretrained(run[1], local_files_only=True)
    tasks = load_script().load_tasks(str(TASKS))
    words = {w for task in tasks.values() for w in PromptTemplate(task["template"]).words}
    assert {"Context:", "Question:", "Answer:"} <= words
    for text in words:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.unk_token_id not in ids and tokenizer.decode(ids) == text
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("Context:", add_special_tokens=False)["input_ids"])
    assert pieces == ["▁Context", ":"]


def test_byte_level_bpe_llm_writes_prompts_as_its_tokenizer_does(bpe_run):
    """--tokenizer bpe: a byte-level BPE saved as LLaMA-3's (bos added, no pad,
    no unk), a word's leading space inside its token; every task's training
    prompt and target are the ids the tokenizer gives the whole text, and the
    LLM trains and is scored like the SentencePiece one."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    script = load_script()
    world, out, stdout = bpe_run
    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id,
            tokenizer.pad_token_id) == (None, 0, 1, None)
    assert model.config.pad_token_id is None and model.config.eos_token_id == 1
    assert len(tokenizer) == script.SIZES["smoke"]["vocab_size"]["bpe"]
    assert tokenizer.convert_ids_to_tokens(tokenizer("Context: the")["input_ids"]) == \
        ["<|begin_of_text|>", "Context", ":", "Ġthe"]

    rows, facts = script.read_world(str(world))
    tasks = script.load_tasks(str(TASKS))
    examples = script.build_examples(tokenizer, rows, facts, tasks)
    from wav2prompt_plugin.data.templates import PromptTemplate
    for name, task in tasks.items():
        row = script.task_rows(rows, task, "train")[0]
        example = next(e for e in examples if e.task == name and e.text == row["en"])
        full = PromptTemplate(task["template"]).fill(row, row["en"]) + " " + row[task["target"]]
        assert example.prompt + example.target == tokenizer(full)["input_ids"] + [tokenizer.eos_token_id], name
    log = json.loads((out / "training_log.json").read_text())
    assert log["log"][-1]["loss"] < log["log"][0]["loss"]
    assert "st_fr_bleu" in stdout


def test_training_loss_goes_down(run):
    _, out, _ = run
    log = json.loads((out / "training_log.json").read_text())
    losses = [entry["loss"] for entry in log["log"]]
    assert log["steps"] == 30 and log["log"][-1]["step"] == 30
    assert losses[-1] < losses[0]
    assert set(log["seconds"]) == {"tokenizer_and_data", "train", "eval"}


def test_text_eval_has_every_metric(run):
    _, out, stdout = run
    tasks = json.loads(TASKS.read_text())
    result = json.loads((out / "text_eval.json").read_text())
    expected = {f"{name}_{task['metric']}" for name, task in tasks.items()} | {"asr_exact"}
    assert result["split"] == "test"
    assert set(result["metrics"]) == expected
    assert all(0.0 <= v <= 100.0 or k.endswith("_wer") for k, v in result["metrics"].items())
    assert set(result["hypotheses"]) == set(tasks)
    assert "st_fr_bleu" in stdout


def test_no_held_out_sentence_is_trained_on(run):
    from transformers import AutoTokenizer

    script = load_script()
    world, out, _ = run
    rows, facts = script.read_world(str(world))
    tasks = script.load_tasks(str(TASKS))
    held_out = {r["en"] for r in rows if r["split"] != "train"}
    assert held_out

    corpus = script.tokenizer_corpus(rows, facts, tasks)
    assert not held_out & set(corpus)
    assert {r["en"] for r in rows if r["split"] == "train"} <= set(corpus)

    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    examples = script.build_examples(tokenizer, rows, facts, tasks)
    assert {e.task for e in examples} == set(tasks) | {script.FACTS}
    assert not held_out & {e.text for e in examples}
    for example in examples[::50]:
        # the recorded text is what the prompt (or, for a fact, the target) holds
        assert example.text in tokenizer.decode(example.prompt + example.target)


def test_loss_weights_target_and_prompt_tokens(run):
    """training_loss on a padded batch equals the per-example cross-entropies
    summed by hand: target tokens weigh 1, prompt tokens prompt_weight, padding
    nothing, all divided by the number of target tokens."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    script = load_script()
    world, out, _ = run
    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
    rows, facts = script.read_world(str(world))
    examples = script.build_examples(tokenizer, rows, facts, script.load_tasks(str(TASKS)))
    batch = examples[::len(examples) // 6][:6]
    assert len({len(ex) for ex in batch}) > 1 and len({ex.task for ex in batch}) > 2

    sums = {"target": 0.0, "prompt": 0.0}
    with torch.no_grad():
        for ex in batch:
            seq = torch.tensor([ex.prompt + ex.target])
            nll = -model(seq).logits[0, :-1].log_softmax(-1).gather(1, seq[0, 1:, None])[:, 0]
            sums["prompt"] += nll[:len(ex.prompt) - 1].sum().item()
            sums["target"] += nll[len(ex.prompt) - 1:].sum().item()
        n_target = sum(len(ex.target) for ex in batch)
        tensors = script.collate(batch, tokenizer.pad_token_id)
        for weight in (0.0, 0.5):
            loss, target_nll = script.training_loss(model, *tensors, weight)
            assert target_nll.item() == pytest.approx(sums["target"] / n_target, rel=1e-4)
            loss = loss.item()
            expected = (sums["target"] + weight * sums["prompt"]) / n_target
            assert loss == pytest.approx(expected, rel=1e-4)


def test_fresh_rows_are_new_train_sentences_that_feed_the_tasks_of_their_kind(run):
    from transformers import AutoTokenizer

    script = load_script()
    world, out, _ = run
    rows, facts = script.read_world(str(world))
    tasks = script.load_tasks(str(TASKS))
    counts = {"describe": 30, "command": 20, "context_question": 40}
    fresh = script.fresh_rows(rows, counts, seed=1)
    assert fresh == script.fresh_rows(rows, counts, seed=1)
    assert Counter(r["kind"] for r in fresh) == counts and {r["split"] for r in fresh} == {"train"}
    assert not {r["en"] for r in fresh} & {r["en"] for r in rows if r["split"] != "train"}
    keys = [(r["en"], r["context"]) for r in fresh]
    assert len(set(keys)) == 90 and not set(keys) & {(r["en"], r["context"]) for r in rows}
    assert all(r["fr"] and r["es"] for r in fresh)
    world_contexts = {r["context"] for r in rows if r["kind"] == "context_question"}
    passages = {r["context"] for r in fresh if r["kind"] == "context_question"}
    assert len(passages - world_contexts) > 30  # new passages, not the world's

    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    base = script.build_examples(tokenizer, rows, facts, tasks)
    more = script.build_examples(tokenizer, rows, facts, tasks, fresh=fresh)
    added = Counter(e.task for e in more) - Counter(e.task for e in base)
    expected = {name: sum(counts[k] for k in task["kinds"] if k in counts)
                for name, task in tasks.items()}
    assert expected["sqa"] == 40 and expected["asr"] == 90 and expected["intent"] == 20
    assert dict(added) == {name: n for name, n in expected.items() if n}
    with pytest.raises(ValueError, match="unused command"):
        script.fresh_rows(rows, {"command": 100_000}, seed=1)


def test_new_split_scores_the_saved_llm_on_rows_it_never_trained_on(run):
    script = load_script()
    world, out, _ = run
    rows, _ = script.read_world(str(world))
    fresh = script.fresh_rows(rows, script.SIZES["smoke"]["fresh"], seed=1)
    new = script.new_text_rows(rows, fresh, {"describe": 20, "context_question": 20})
    assert new == script.new_text_rows(rows, fresh, {"describe": 20, "context_question": 20})
    assert {r["split"] for r in new} == {"new"} and len({r["id"] for r in new}) == 40
    trained = {(r["en"], r["context"]) for r in rows + fresh}
    assert not {(r["en"], r["context"]) for r in new} & trained
    assert not {r["en"] for r in new} & {r["en"] for r in rows if r["split"] != "train"}

    weights = (out / "model.safetensors").read_bytes()
    test_eval = (out / "text_eval.json").read_text()
    proc = subprocess.run(
        [sys.executable, str(LOCAL / "train_llm.py"), "--world", str(world), "--tasks", str(TASKS),
         "--out", str(out), "--size", "smoke", "--eval-split", "new", "--eval-only"],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "text_eval_new.json").read_text())
    # new sentences and passages feed every task but intent and QA from memory
    assert set(result["metrics"]) == {"asr_wer", "asr_exact", "st_fr_bleu", "st_es_bleu", "sqa_acc"}
    assert len(result["hypotheses"]["sqa"]) == script.NEW_TEXT["context_question"]
    assert len(result["hypotheses"]["asr"]) == sum(script.NEW_TEXT.values())
    # the trained LLM and its test-split scores are left as they were
    assert (out / "model.safetensors").read_bytes() == weights
    assert (out / "text_eval.json").read_text() == test_eval

    missing = out.parent / "no_llm_here"
    proc = subprocess.run(
        [sys.executable, str(LOCAL / "train_llm.py"), "--world", str(world), "--tasks", str(TASKS),
         "--out", str(missing), "--size", "smoke", "--eval-split", "new", "--eval-only"],
        capture_output=True, text=True)
    assert proc.returncode != 0 and f"{str(missing)!r} is not a directory" in proc.stderr
