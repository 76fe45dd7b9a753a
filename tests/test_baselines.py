"""Cascade, instruction-following rates and few-shot sets, as the mini recipe runs them."""
import csv
import json
import os

import pytest

from conftest import SENTENCES, run_cli, write_manifest

RECIPE = os.path.join(os.path.dirname(__file__), "..", "recipes", "mini", "local")
TEMPLATE = "repeat {speech} text"


def test_language_identifier_uses_words_of_one_language_only():
    from wav2prompt_plugin.evaluation.instruction_following import LanguageIdentifier

    lid = LanguageIdentifier({"en": ["the cat sleeps", "tom reads"], "fr": ["le chat dort", "tom lit"],
                              "es": ["el gato duerme", "tom lee"]})
    assert lid.identify("tom le chat") == "fr"  # "tom" is in every language: not counted
    assert lid.identify("el gato lee el libro") == "es"
    assert lid.identify("the cat sleeps in paris") == "en"
    assert lid.identify("le gato") is None  # a tie
    assert lid.identify("tom") is None


def test_transcript_leak():
    from wav2prompt_plugin.evaluation.instruction_following import transcript_leak

    assert transcript_leak("the cat sleeps", "the cat sleeps", "le chat dort")
    assert not transcript_leak("le chat dort", "the cat sleeps", "le chat dort")
    assert not transcript_leak("le cat", "the cat", "le chat")  # a tie is no leak


def test_following_rates_by_task_kind():
    from wav2prompt_plugin.evaluation.instruction_following import InstructionFollowing

    train = [{"tgt_text": "the cat sleeps", "fr": "le chat dort", "es": "el gato duerme", "intent": "sleep"},
             {"tgt_text": "open the door", "fr": "ouvre la porte", "es": "abre la puerta", "intent": "open"}]
    tasks = {"asr": {"target": "tgt_text", "metric": "wer"}, "st_fr": {"target": "fr", "metric": "bleu"},
             "st_es": {"target": "es", "metric": "bleu"}, "intent": {"target": "intent", "metric": "acc"}}
    following = InstructionFollowing(train, tasks, "tgt_text")
    assert following.languages == ["es", "fr"]  # the targets of the translation (bleu) tasks
    assert not following.applies_to(tasks["asr"])
    rows = [{"tgt_text": "the cat sleeps", "fr": "le chat dort", "intent": "sleep"}] * 4
    rates = following.rates("st_fr", tasks["st_fr"], rows,
                            ["le chat dort", "the cat sleeps", "el gato duerme", "la porte"])
    assert rates == {"follows": 50.0, "transcript_leak": 25.0}
    rates = following.rates("intent", tasks["intent"], rows, ["Sleep", "open", "the cat", "sleeps"])
    assert rates == {"follows": 50.0, "transcript_leak": 25.0}  # only "the cat" is nearer the transcript


def write_hypotheses(path, rows):
    with open(path, "w") as f:
        f.write("id\thyp\n" + "".join(f"{i}\t{h}\n" for i, h in rows))


@pytest.mark.slow
def test_cascade_with_reference_hypotheses_is_the_text_topline(speech_data, tiny_llm, tmp_path):
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({
        "asr": {"template": TEMPLATE, "target": "tgt_text", "metric": "wer"},
        "ctx": {"template": "Context: {context} Question: {speech} Answer:", "target": "context",
                "metric": "acc"},
    }))
    paraphrases = tmp_path / "paraphrases.json"
    paraphrases.write_text(json.dumps({"ctx": "Read: {context} Then: {speech} Answer:"}))
    dev = os.path.join(speech_data, "dev.tsv")
    with open(dev) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    exact = tmp_path / "exact.tsv"
    write_hypotheses(exact, [(r["id"], r["tgt_text"]) for r in rows])
    common = ["wav2prompt-eval", "--llm-path", tiny_llm, "--manifest", dev, "--tasks-file", str(tasks),
              "--max-len-b", "10", "--train-manifest", os.path.join(speech_data, "train.tsv"),
              "--paraphrases", str(paraphrases)]
    out = tmp_path / "eval"
    run_cli(common + ["--systems", "text_topline,cascade", "--asr-hypotheses", str(exact), "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    topline, cascade = results["systems"]["text_topline"], results["systems"]["cascade"]
    assert cascade == topline
    assert cascade["prompt_positions_per_second"] > 0
    assert set(results["instruction_following"]["cascade"]) == {"ctx"}
    rates = results["instruction_following"]["cascade"]["ctx"]
    assert rates == results["instruction_following"]["text_topline"]["ctx"]
    assert {"follows", "transcript_leak", "follows_paraphrased", "transcript_leak_paraphrased",
            "acc_paraphrased"} == set(rates)
    assert (out / "hyps" / "cascade.ctx.paraphrased.tsv").is_file()
    assert "## Instruction following" in (out / "results.md").read_text()

    wrong = tmp_path / "wrong.tsv"
    write_hypotheses(wrong, [(r["id"], "open the window please") for r in rows])
    run_cli(common + ["--systems", "cascade", "--asr-hypotheses", str(wrong), "--out", str(out)])
    written = {s: (out / "hyps" / f"{s}.asr.tsv").read_text() for s in ("cascade", "text_topline")}
    assert written["cascade"] != written["text_topline"]  # the hypotheses, not the transcripts, are read

    write_hypotheses(wrong, [(r["id"], r["tgt_text"]) for r in rows[1:]])
    proc = run_cli(common + ["--systems", "cascade", "--asr-hypotheses", str(wrong), "--out", str(out)],
                   check=False)
    assert proc.returncode != 0 and f"no hypothesis for id {rows[0]['id']!r}" in proc.stderr


@pytest.mark.slow
def test_fewshot_sets_are_nested_training_sentences(tmp_path):
    speech = tmp_path / "speech"
    speech.mkdir()
    columns = ("id", "audio", "n_frames", "tgt_text", "fr")
    train = [{"id": f"tr{i}_{v}", "audio": f"fbank/tr{i}_{v}.npy", "n_frames": 50, "tgt_text": s,
              "fr": f"fr {i}"} for i, s in enumerate(SENTENCES[:10]) for v in range(2)]
    write_manifest(str(speech / "train.tsv"), train, columns)
    write_manifest(str(speech / "dev.tsv"), train[:2], columns)
    write_manifest(str(speech / "test.tsv"), [{**train[0], "tgt_text": SENTENCES[11]}], columns)
    script = os.path.join(RECIPE, "make_fewshot.py")
    run_cli(["python", script, "--speech", str(speech), "--sizes", "8,3", "--out", str(tmp_path / "fs")])
    sets = {}
    for n in (3, 8):
        with open(tmp_path / "fs" / f"ft{n}" / "train.tsv") as f:
            sets[n] = list(csv.DictReader(f, delimiter="\t"))
        assert len({r["tgt_text"] for r in sets[n]}) == n
        assert all(os.path.isabs(r["audio"]) and r["fr"] for r in sets[n])
        assert (tmp_path / "fs" / f"ft{n}" / "dev.tsv").exists()
    assert sets[3] == sets[8][:3]

    write_manifest(str(speech / "test.tsv"), train[:1], columns)
    proc = run_cli(["python", script, "--speech", str(speech), "--sizes", "10", "--out", str(tmp_path / "x")],
                   check=False)
    assert proc.returncode != 0 and "is also a test sentence" in proc.stderr


def fbank_manifests(speech_data, out):
    """The fixture's manifests with .npy fbank audio, as the recipe's synthesis writes them."""
    import numpy as np

    from wav2prompt_plugin.data.audio_features import load_features

    os.makedirs(out / "fbank")
    for split in ("train", "dev", "test"):
        with open(os.path.join(speech_data, f"{'dev' if split == 'test' else split}.tsv")) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        for row in rows:
            npy = str(out / "fbank" / f"{row['id']}.npy")
            np.save(npy, load_features(os.path.join(speech_data, row["audio"]), utterance_cmvn=False))
            row["audio"] = npy
        write_manifest(str(out / f"{split}.tsv"), rows)


@pytest.mark.slow
def test_cascade_asr_with_fairseq_speech_to_text(speech_data, tmp_path, monkeypatch):
    """prepare_asr.py's vocabulary and config drive fairseq's own S2T task on our manifests."""
    speech, asr = tmp_path / "speech", tmp_path / "asr"
    fbank_manifests(speech_data, speech)
    run_cli(["python", os.path.join(RECIPE, "prepare_asr.py"), "--speech", str(speech), "--out", str(asr),
             "--vocab-size", "60"])
    save = tmp_path / "ckpt"
    run_cli(["fairseq-train", str(asr), "--task", "speech_to_text", "--config-yaml", "config.yaml",
             "--train-subset", "train", "--valid-subset", "dev", "--arch", "s2t_transformer_s",
             "--encoder-layers", "1", "--decoder-layers", "1", "--encoder-embed-dim", "16",
             "--encoder-ffn-embed-dim", "24", "--encoder-attention-heads", "2", "--decoder-embed-dim", "16",
             "--decoder-ffn-embed-dim", "24", "--decoder-attention-heads", "2", "--conv-channels", "16",
             "--criterion", "label_smoothed_cross_entropy", "--optimizer", "adam", "--lr", "1e-3",
             "--max-tokens", "5000", "--max-update", "4", "--save-dir", str(save), "--no-epoch-checkpoints",
             "--required-batch-size-multiple", "1", "--cpu", "--num-workers", "0"])
    gen = tmp_path / "gen"
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # fairseq's S2T checkpoints pickle a Namespace
    run_cli(["fairseq-generate", str(asr), "--task", "speech_to_text", "--config-yaml", "config.yaml",
             "--gen-subset", "test", "--path", str(save / "checkpoint_last.pt"), "--max-len-b", "5",
             "--cpu", "--max-tokens", "5000", "--required-batch-size-multiple", "1", "--results-path", str(gen)])
    hyps = tmp_path / "hyps.tsv"
    run_cli(["python", os.path.join(RECIPE, "asr_hypotheses.py"), "--generate-output",
             str(gen / "generate-test.txt"), "--manifest", str(asr / "test.tsv"), "--out", str(hyps)])
    with open(hyps) as f:
        ids = [r["id"] for r in csv.DictReader(f, delimiter="\t")]
    assert ids == [f"dev_{i}" for i in range(4)]


def test_wall_clock_counts_only_the_longest_of_concurrent_branches():
    from wav2prompt_plugin.evaluation.report import render, wall_seconds

    seconds = {"1. world": 1.0, "2. llm": 500.0, "3. speech": 100.0, "4. encoder_init": 450.0,
               "5. wav2prompt": 800.0}
    assert wall_seconds(seconds) == 1851.0
    side_by_side = [["2. llm"], ["3. speech", "4. encoder_init"]]
    assert wall_seconds(seconds, side_by_side) == 1351.0
    assert wall_seconds({**seconds, "2. llm": 600.0}, side_by_side) == 1401.0
    text = render({"systems": {}, "stage_seconds": seconds, "concurrent_stages": side_by_side})
    assert "**1351**" in text and "2. llm ‖ 3. speech + 4. encoder_init" in text


def test_training_curves_draw_only_the_terms_a_run_logged(tmp_path):
    from wav2prompt_plugin.evaluation.training_curves import plot_curves

    records = [{"num_updates": n, "loss": 5.0 / n, "ce": 3.0 / n} for n in range(1, 6)]
    panels = plot_curves({"wav2prompt": records}, {"wav2prompt": ["loss", "ce", "ctc"]},
                         str(tmp_path / "curves.png"))
    assert panels == [("wav2prompt", "loss"), ("wav2prompt", "ce")]
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert plot_curves({"wav2prompt": records}, {"wav2prompt": ["ctc"]}, str(tmp_path / "none.png")) == []
    assert not (tmp_path / "none.png").exists()


def test_metric_labels_come_from_the_tasks_file():
    """A task's label, else `<task> <metric>`; the plugin's own figures by name."""
    from wav2prompt_plugin.evaluation.report import metrics_table

    systems = {"wav2prompt": {"st_fr_bleu": 81.25, "sqqa_acc": 50.0, "asr_wer": 4.5, "cif_len_exact": 90.0,
                              "prompt_cosine": 0.8125}}
    lines = metrics_table(systems, {"st_fr_bleu": "En→Fr BLEU"}).splitlines()
    assert lines[2:] == ["| En→Fr BLEU | 81.2 |", "| sqqa accuracy (%) | 50.0 |", "| asr WER (%) ↓ | 4.5 |",
                         "| CIF length exact (%) | 90.0 |", "| E_s cosine to the transcript's embeddings | 0.812 |"]
