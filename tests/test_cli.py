"""fairseq-train / fairseq-generate as users run them, on the tiny fixture."""
import json
import os
import pathlib
import re

import pytest
import torch

from conftest import run_cli

pytestmark = pytest.mark.slow

TEMPLATE = "repeat {speech} text"
SMALL_ENCODER = [
    "--arch", "wav2prompt_tiny", "--encoder-layers", "2", "--encoder-embed-dim", "32",
    "--encoder-ffn-embed-dim", "64", "--encoder-attention-heads", "4", "--conv-channels", "32",
    "--dropout", "0.0", "--attention-dropout", "0.0", "--activation-dropout", "0.0",
]


def train_args(data, llm, save_dir, updates=60, extra=()):
    return [
        "fairseq-train", data, "--user-dir", "wav2prompt_plugin", "--task", "wav2prompt",
        "--llm-path", llm, "--train-template", TEMPLATE, *SMALL_ENCODER,
        "--criterion", "wav2prompt", "--optimizer", "adam", "--lr", "3e-3",
        "--max-tokens", "2500", "--max-update", str(updates), "--save-dir", save_dir,
        "--no-epoch-checkpoints", "--log-format", "json", "--log-interval", "1",
        "--num-workers", "0", "--cpu", "--valid-subset", "dev", "--seed", "3", *extra,
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, speech_data, tiny_llm):
    save_dir = str(tmp_path_factory.mktemp("ckpt"))
    proc = run_cli(train_args(speech_data, tiny_llm, save_dir), cwd=os.getcwd())
    logs = [json.loads(line[line.index("{"):]) for line in proc.stdout.splitlines()
            if "train_inner" in line and "{" in line]
    return {"dir": save_dir, "logs": logs, "checkpoint": os.path.join(save_dir, "checkpoint_last.pt")}


def generate(data, llm, checkpoint, beam, extra=()):
    proc = run_cli([
        "fairseq-generate", data, "--user-dir", "wav2prompt_plugin", "--task", "wav2prompt",
        "--llm-path", llm, "--gen-subset", "dev", "--path", checkpoint, "--beam", str(beam),
        "--max-len-b", "15", "--max-tokens", "2500", "--cpu", "--scoring", "wer", *extra,
    ])
    hyps = dict(re.findall(r"^D-(\d+)\t\S+\t(.*)$", proc.stdout, re.M))
    refs = dict(re.findall(r"^T-(\d+)\t(.*)$", proc.stdout, re.M))
    return hyps, refs, proc.stdout


def test_training_reduces_every_loss_term(trained):
    logs = trained["logs"]
    assert len(logs) >= 50
    first, last = logs[:10], logs[-10:]

    def mean(rows, key):
        return sum(float(r[key]) for r in rows) / len(rows)

    # the projector starts at the LLM's embedding scale, so L_MSE starts near 2, not far above.
    # The total falls to 0.708 of its start on an AVX2-only CPU (same value before and after this
    # bound was set; below 0.7 on a CPU with AVX-512): float kernels differ across 19 updates.
    for term, factor in (("loss", 0.75), ("ce", 0.9), ("mse", 0.9), ("qua", 0.8)):
        assert mean(last, term) < factor * mean(first, term), term


def test_llm_free_updates_run_no_llm_then_the_same_batches_as_before(trained, speech_data, tiny_llm,
                                                                     tmp_path):
    """--llm-free-updates 4 of 10: updates 1-4 log no CE and no LLM position; updates 5-10 ran the
    LLM over exactly the positions the same batches took in the fixture's run (same seed), and
    the checkpoint's sums are the log's."""
    from wav2prompt_plugin.training.run_counts import run_counts

    proc = run_cli(train_args(speech_data, tiny_llm, str(tmp_path), updates=10,
                              extra=["--llm-free-updates", "4"]), cwd=os.getcwd())
    logs = [json.loads(line[line.index("{"):]) for line in proc.stdout.splitlines()
            if "train_inner" in line and "{" in line]
    assert [int(log["num_updates"]) for log in logs] == list(range(1, 11))
    assert all("ce" not in log and float(log["llm_free_batches"]) == 1 for log in logs[:4])
    assert all("ce" in log and float(log["llm_free_batches"]) == 0 for log in logs[4:])
    positions = [float(log["llm_positions"]) for log in logs]
    assert positions == [0] * 4 + [float(log["llm_positions"]) for log in trained["logs"][4:10]]
    counts = run_counts(torch.load(tmp_path / "checkpoint_last.pt", weights_only=False))
    assert counts["batches"] == 10 and counts["llm_free_batches"] == 4
    assert counts["llm_positions"] == sum(positions)


def test_log_file_holds_each_record_once(speech_data, tiny_llm, tmp_path):
    """fairseq attaches a --log-file handler at every epoch; the plugin's process attaches one in all."""
    from wav2prompt_plugin.evaluation.training_curves import read_fairseq_log

    log_file = tmp_path / "train.log"
    run_cli(train_args(speech_data, tiny_llm, str(tmp_path), updates=10, extra=["--log-file", str(log_file)]),
            cwd=os.getcwd())
    records = read_fairseq_log(str(log_file))
    assert [int(r["num_updates"]) for r in records] == list(range(1, 11))
    epochs = read_fairseq_log(str(log_file), tag="train")
    assert len(epochs) >= 2 and len({r["epoch"] for r in epochs}) == len(epochs)


def test_checkpoint_holds_only_trained_parameters(trained, tiny_llm):
    state = torch.load(trained["checkpoint"], map_location="cpu", weights_only=False)
    assert not any(".llm." in k for k in state["model"])
    assert any(k.startswith("encoder.speech_encoder.") for k in state["model"])
    llm_bytes = os.path.getsize(os.path.join(tiny_llm, "model.safetensors"))
    assert os.path.getsize(trained["checkpoint"]) < llm_bytes


@pytest.mark.parametrize("beam", [1, 4])
def test_generate_prints_hypotheses_and_reload_reproduces_them(trained, speech_data, tiny_llm, beam):
    hyps, refs, out = generate(speech_data, tiny_llm, trained["checkpoint"], beam)
    assert len(hyps) == 4 and len(refs) == 4
    assert refs["0"] == "the cat sleeps in the kitchen"  # detokenized, not pieces
    assert any(h.strip() for h in hyps.values())
    assert re.search(r"WER: [\d.]+", out)
    again, _, _ = generate(speech_data, tiny_llm, trained["checkpoint"], beam)
    assert again == hyps


def test_python_api_matches_fairseq_generate(trained, speech_data, tiny_llm):
    from wav2prompt_plugin.inference import Wav2PromptInference

    hyps, _, _ = generate(speech_data, tiny_llm, trained["checkpoint"], 1)
    w2p = Wav2PromptInference(trained["checkpoint"], beam=1, max_len_b=15,  # LLM path from the checkpoint
                              trim_silence=False)  # the audio as fairseq-generate reads it
    wavs = [os.path.join(speech_data, "wav", f"dev_{i}.wav") for i in range(4)]
    assert w2p.generate(wavs, TEMPLATE) == [hyps[str(i)] for i in range(4)]


def test_example_script_runs(trained, speech_data, tiny_llm):
    proc = run_cli([
        "python", "examples/speech_to_text_with_template.py", "--checkpoint", trained["checkpoint"],
        "--llm-path", tiny_llm, "--template", "Context: {context} Question: {speech} Answer:",
        "--field", "context=the box is green", os.path.join(speech_data, "wav", "dev_0.wav"),
    ], cwd=os.getcwd())
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(os.path.join(speech_data, "wav", "dev_0.wav") + "\t")


def test_checkpoint_refuses_another_llm(trained, speech_data, tiny_llm, other_llm):
    proc = run_cli([
        "fairseq-generate", speech_data, "--user-dir", "wav2prompt_plugin", "--task", "wav2prompt",
        "--llm-path", other_llm, "--gen-subset", "dev", "--path", trained["checkpoint"], "--cpu",
    ], check=False)
    assert proc.returncode != 0
    message = [l for l in proc.stderr.splitlines() if "LLMMismatchError: " in l]
    assert message, proc.stderr[-2000:]
    assert os.path.abspath(tiny_llm) in message[0] and other_llm in message[0]


def test_exact_match_scorer_and_gen_template(trained, speech_data, tiny_llm):
    _, refs, out = generate(speech_data, tiny_llm, trained["checkpoint"], 1, extra=[
        "--scoring", "exact_match", "--gen-template", "Context: {context} Question: {speech} Answer:",
        "--target-column", "context",
    ])
    assert refs["0"] == "the box is green"
    assert re.search(r"Exact match: [\d.]+ \(\d+/4\)", out)


def test_wav2prompt_eval_writes_results(trained, speech_data, tiny_llm, tmp_path):
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({
        "asr": {"template": TEMPLATE, "target": "tgt_text", "metric": "wer", "label": "ASR WER (%) ↓"},
        "ctx": {"template": "Context: {context} Question: {speech} Answer:", "target": "context",
                "metric": "acc"},
    }))
    out = tmp_path / "eval"
    run_cli(["wav2prompt-eval", "--checkpoint", trained["checkpoint"], "--llm-path", tiny_llm,
             "--manifest", os.path.join(speech_data, "dev.tsv"), "--tasks-file", str(tasks),
             "--systems", "wav2prompt,text_topline", "--out", str(out), "--max-len-b", "15"])
    results = json.loads((out / "results.json").read_text())
    assert set(results["systems"]) == {"wav2prompt", "text_topline"}
    w2p = results["systems"]["wav2prompt"]
    assert {"asr_wer", "ctx_acc", "cif_len_exact", "cif_len_within1"} <= set(w2p)
    assert 0 <= w2p["cif_len_exact"] <= w2p["cif_len_within1"] <= 100
    # E_s against the transcript's embeddings: paired figures exist where some fired count equals U
    assert "prompt_token_acc_aligned" in w2p
    assert ("prompt_nmse" in w2p) == (w2p["cif_len_exact"] > 0)
    assert "prompt_token_acc" not in results["systems"]["text_topline"]
    # what its training ran: every update ran the LLM, over the positions its log counted
    assert w2p["llm_free_fraction"] == 0.0
    assert w2p["llm_train_positions"] == sum(float(log["llm_positions"]) for log in trained["logs"])
    assert set(w2p) >= {"train_flops_llm", "train_flops_other", "train_seconds"}
    # the figures are those of the written hypotheses, which match fairseq-generate
    hyps, _, _ = generate(speech_data, tiny_llm, trained["checkpoint"], 1)
    rows = [l.split("\t") for l in (out / "hyps" / "wav2prompt.asr.tsv").read_text().splitlines()[1:]]
    assert len(rows) == 4
    assert all(hyp == hyps[rid.split("_")[1]] for rid, _, hyp, _ in rows)
    # each utterance's confidence beside it; the figures of telling wrong transcripts from right ones
    assert all(0 <= float(conf) <= 1 for *_, conf in rows)
    assert 0 <= w2p["wer_confident80"] and 0 < w2p["confidence_mean"] < 1
    assert "confidence_auroc" in w2p or len({hyp == ref for _, ref, hyp, _ in rows}) == 1
    report = (out / "results.md").read_text()
    assert "| ASR WER (%) ↓ |" in report and "| ctx accuracy (%) |" in report  # label; none given


def test_transcribe_and_min_confidence(trained, speech_data, tiny_llm, tmp_path):
    """transcribe() is the model's output under its training template, with the confidence of
    confidence.py; --min-confidence refuses the utterances below it and scores the refusals."""
    import torch.nn.functional as F

    from wav2prompt_plugin.analysis.confidence import REFUSAL, prompt_closeness, transcript_certainty
    from wav2prompt_plugin.inference import Wav2PromptInference

    w2p = Wav2PromptInference(trained["checkpoint"], llm_path=tiny_llm, max_len_b=15)
    audio = sorted(str(p) for p in pathlib.Path(speech_data, "wav").glob("dev_*.wav"))
    heard = w2p.transcribe(audio)
    assert [h["text"] for h in heard] == w2p.generate(audio, TEMPLATE)
    other = "say {speech} now"  # a transcription template given: the text is the LLM's output under it
    assert [h["text"] for h in w2p.transcribe(audio, other)] == w2p.generate(audio, other)
    table = F.normalize(w2p.model.decoder.llm.get_input_embeddings().weight.detach().float(), dim=-1)
    for h, prompt in zip(heard, w2p.speech_prompts(audio)):
        assert h["prompt_closeness"] == pytest.approx(prompt_closeness(prompt, table))
        assert h["confidence"] == pytest.approx(h["transcript_certainty"] * h["prompt_closeness"])
        assert 0 < h["transcript_certainty"] <= 1
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({"asr": {"template": TEMPLATE, "target": "tgt_text", "metric": "wer"}}))
    common = ["wav2prompt-eval", "--checkpoint", trained["checkpoint"], "--llm-path", tiny_llm,
              "--manifest", os.path.join(speech_data, "dev.tsv"), "--tasks-file", str(tasks), "--max-len-b", "15"]
    figures = {}
    for threshold in ("0", "1"):
        out = tmp_path / f"eval{threshold}"
        run_cli(common + ["--out", str(out), "--min-confidence", threshold])
        figures[threshold] = json.loads((out / "results.json").read_text())["systems"]["wav2prompt"]
    plain = tmp_path / "plain"
    run_cli(common + ["--out", str(plain)])
    unrefused = json.loads((plain / "results.json").read_text())["systems"]["wav2prompt"]
    assert figures["0"]["asr_refused"] == 0 and figures["0"]["asr_wer"] == unrefused["asr_wer"]
    # below a confidence of 1 every utterance is refused: every reference word is an error
    assert figures["1"]["asr_refused"] == 100.0
    rows = (tmp_path / "eval1" / "hyps" / "wav2prompt.asr.tsv").read_text().splitlines()[1:]
    assert all(row.split("\t")[2] == REFUSAL for row in rows)
    words = sum(len(row.split("\t")[1].split()) for row in rows)
    assert figures["1"]["asr_wer"] == pytest.approx(100.0 * sum(
        max(len(row.split("\t")[1].split()), 2) for row in rows) / words)
    proc = run_cli(common + ["--out", str(tmp_path / "bad"), "--systems", "text_topline", "--min-confidence", "0.5"],
                   check=False)
    assert proc.returncode != 0 and "--min-confidence applies to the wav2prompt system only" in proc.stderr


def test_timestamps_change_no_output_and_are_scored_against_word_times(trained, speech_data, tiny_llm, tmp_path):
    """--timestamps adds a JSON lines file (and, where the manifest has true word times, their errors)
    and changes no hypothesis or figure; transcribe(timestamps=True) is CIF's weights read back."""
    import csv

    from wav2prompt_plugin.inference import Wav2PromptInference
    from wav2prompt_plugin.analysis.timestamps import vector_weights

    manifest = tmp_path / "dev_times.tsv"
    with open(os.path.join(speech_data, "dev.tsv")) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:  # made-up word times, evenly over the audio
        seconds = (int(row["n_frames"]) - 1) / 100 + 0.025
        step = seconds / len(row["tgt_text"].split())
        row["audio"] = os.path.join(speech_data, row["audio"])
        row["word_times"] = " ".join(f"{i * step:.3f}-{(i + 1) * step:.3f}" for i in range(len(row["tgt_text"].split())))
    with open(manifest, "w") as f:
        f.write("\t".join(rows[0]) + "\n" + "".join("\t".join(r.values()) + "\n" for r in rows))
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({"asr": {"template": TEMPLATE, "target": "tgt_text", "metric": "wer"}}))
    common = ["wav2prompt-eval", "--checkpoint", trained["checkpoint"], "--llm-path", tiny_llm,
              "--manifest", str(manifest), "--tasks-file", str(tasks), "--max-len-b", "15"]
    run_cli(common + ["--out", str(tmp_path / "plain")])
    run_cli(common + ["--out", str(tmp_path / "timed"), "--timestamps"])
    plain, timed = (json.loads((tmp_path / d / "results.json").read_text())["systems"]["wav2prompt"]
                    for d in ("plain", "timed"))
    added = {k: timed.pop(k) for k in list(timed) if k.startswith("word_")}
    plain.pop("train_seconds"), timed.pop("train_seconds")
    assert timed == plain
    assert set(added) == {"word_times_paired", "word_start_err_ms_median", "word_start_err_ms_p90",
                          "word_end_err_ms_median", "word_end_err_ms_p90"} or added == {"word_times_paired": 0.0}
    for d in ("plain", "timed"):
        assert (tmp_path / d / "hyps" / "wav2prompt.asr.tsv").read_text() == \
            (tmp_path / "plain" / "hyps" / "wav2prompt.asr.tsv").read_text()
    lines = [json.loads(l) for l in (tmp_path / "timed" / "wav2prompt.timestamps.jsonl").read_text().splitlines()]
    assert [l["id"] for l in lines] == [r["id"] for r in rows]
    # the audio as wav2prompt-eval reads it (untrimmed)
    w2p = Wav2PromptInference(trained["checkpoint"], llm_path=tiny_llm, max_len_b=15, trim_silence=False)
    audio = [r["audio"] for r in rows]
    heard = w2p.transcribe(audio, timestamps=True)
    prompts = w2p.speech_prompts(audio)
    table = torch.nn.functional.normalize(w2p.model.decoder.llm.get_input_embeddings().weight.float(), dim=-1)
    for line, h, prompt in zip(lines, heard, prompts):
        assert line["text"] == h["text"] and line["tokens"] == h["tokens"] and line["words"] == h["words"]
        assert len(h["tokens"]) == prompt.size(0)
        # each token is its vector's nearest LLM embedding; times lie in the audio, in firing order
        assert [t["id"] for t in h["tokens"]] == (torch.nn.functional.normalize(prompt, dim=-1) @ table.T
                                                  ).argmax(-1).tolist()
        fires = [t["fire"] for t in h["tokens"]]
        assert fires == sorted(fires) and all(0 <= t["start"] <= t["end"] <= h["duration"] for t in h["tokens"])
        # alpha is the encoder's weights over its frames: they hold the fired count's worth
        assert vector_weights(h["alpha"], len(h["tokens"])).sum(1).tolist() == pytest.approx(
            [1.0] * (len(h["tokens"]) - 1) + ([min(1.0, sum(h["alpha"]) - len(h["tokens"]) + 1)] if h["tokens"] else []),
            abs=1e-3)
    proc = run_cli(common + ["--out", str(tmp_path / "bad"), "--systems", "text_topline", "--timestamps"],
                   check=False)
    assert proc.returncode != 0 and "--timestamps: times come from the wav2prompt system" in proc.stderr


def test_explain_writes_a_picture_and_its_numbers(trained, speech_data, tiny_llm, tmp_path):
    audio = sorted(str(p) for p in pathlib.Path(speech_data, "wav").glob("dev_*.wav"))[:2]
    proc = run_cli(["wav2prompt-explain", "--checkpoint", trained["checkpoint"], "--llm-path", tiny_llm,
                    "--template", "say {speech} in french", "--out", str(tmp_path / "explain"), "--max-len-b", "15",
                    *audio])
    from wav2prompt_plugin.inference import Wav2PromptInference

    w2p = Wav2PromptInference(trained["checkpoint"], llm_path=tiny_llm, max_len_b=15)
    answers = w2p.generate(audio, "say {speech} in french")
    for path, answer in zip(audio, answers):
        name = pathlib.Path(path).stem
        data = json.loads((tmp_path / "explain" / f"{name}.json").read_text())
        assert data["answer"] == answer and data["text"] == w2p.transcribe(path)[0]["text"]
        assert (tmp_path / "explain" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"{name}.png: heard" in proc.stdout
    proc = run_cli(["wav2prompt-explain", "--checkpoint", trained["checkpoint"], "--template", "no field",
                    "--out", str(tmp_path / "bad"), audio[0]], check=False)
    assert proc.returncode != 0 and "must contain exactly one {speech}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_console_commands_run_from_outside_the_checkout(trained, speech_data, tiny_llm, tmp_path):
    """wav2prompt-train and wav2prompt-generate take fairseq's options unchanged
    and find the installed plugin themselves (no --user-dir), from any directory."""
    hyps, _, _ = generate(speech_data, tiny_llm, trained["checkpoint"], 1)
    proc = run_cli([
        "wav2prompt-generate", speech_data, "--task", "wav2prompt", "--llm-path", tiny_llm,
        "--gen-subset", "dev", "--path", trained["checkpoint"], "--beam", "1", "--max-len-b", "15",
        "--max-tokens", "2500", "--cpu", "--scoring", "wer",
    ], cwd=str(tmp_path))
    assert dict(re.findall(r"^D-(\d+)\t\S+\t(.*)$", proc.stdout, re.M)) == hyps
    save_dir = str(tmp_path / "ckpt")
    args = train_args(speech_data, tiny_llm, save_dir, updates=2)
    args = ["wav2prompt-train"] + [a for a in args[1:] if a not in ("--user-dir", "wav2prompt_plugin")]
    proc = run_cli(args, cwd=str(tmp_path))
    assert os.path.exists(os.path.join(save_dir, "checkpoint_last.pt"))
    assert "tensorboardX" not in proc.stdout + proc.stderr
    # fairseq-train's own log format, on stdout
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \| INFO \| fairseq_cli.train \| ", proc.stdout, re.M)


@pytest.mark.parametrize("command", ["fairseq-train", "wav2prompt-train"])
def test_bad_input_is_one_line_through_either_command(command, speech_data, tmp_path):
    from wav2prompt_plugin.cli.arguments import plugin_dir

    user_dir = ["--user-dir", plugin_dir()] if command == "fairseq-train" else []
    proc = run_cli([command, speech_data, *user_dir, "--task", "wav2prompt", "--llm-path",
                    str(tmp_path / "no_llm"), "--arch", "wav2prompt_tiny", "--criterion", "wav2prompt",
                    "--max-tokens", "2500", "--cpu"], cwd=str(tmp_path), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == f"LLMPathError: --llm-path '{tmp_path / 'no_llm'}' is not a directory"
    assert "Traceback" not in proc.stderr


def count_decoding(monkeypatch):
    """(audio, template) -> how often Wav2PromptInference decoded that audio under that template."""
    import collections

    from wav2prompt_plugin.inference import Wav2PromptInference

    decoded = collections.Counter()
    for method in ("generate", "transcribe"):
        def counted(self, paths, template=None, *args, _original=getattr(Wav2PromptInference, method), **kwargs):
            decoded.update((p, template or self.task.train_template.text) for p in paths)
            return _original(self, paths, template, *args, **kwargs)
        monkeypatch.setattr(Wav2PromptInference, method, counted)
    return decoded


def test_confidence_comes_from_the_transcription_whatever_the_tasks(trained, speech_data, tiny_llm, tmp_path,
                                                                     monkeypatch):
    """A model trained (fine-tuned) with a translation template and scored with `--tasks st_fr` alone gets
    its confidence from its transcription under the tasks file's asr template, not from its French; each
    utterance is decoded once per template: a task under the transcription template takes transcribe()'s
    texts, the same as a decoding of its own, also under --min-confidence and --stop-at-newline."""
    import csv

    from wav2prompt_plugin.cli import evaluate as cli
    from wav2prompt_plugin.evaluation.runner import confidence_figures
    from wav2prompt_plugin.inference import Wav2PromptInference

    st_template = "translate {speech} french"
    state = torch.load(trained["checkpoint"], map_location="cpu", weights_only=False)
    state["cfg"]["task"]["train_template"] = st_template  # as few-shot fine-tuning on translation leaves it
    checkpoint = str(tmp_path / "st.pt")
    torch.save(state, checkpoint)
    with open(os.path.join(speech_data, "dev.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    audio = {r["id"]: os.path.join(speech_data, r["audio"]) for r in rows}
    manifest = tmp_path / "dev_fr.tsv"
    manifest.write_text("id\taudio\tn_frames\ttgt_text\tfr\n" + "".join(
        f"{r['id']}\t{audio[r['id']]}\t{r['n_frames']}\t{r['tgt_text']}\tle chat dort\n" for r in rows))
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({"asr": {"template": TEMPLATE, "target": "tgt_text", "metric": "wer"},
                                 "st_fr": {"template": st_template, "target": "fr", "metric": "bleu"}}))
    once_per_template = {(a, t): 1 for a in audio.values() for t in (TEMPLATE, st_template)}
    common = ["--checkpoint", checkpoint, "--llm-path", tiny_llm, "--manifest", str(manifest),
              "--tasks-file", str(tasks), "--max-len-b", "15"]

    decoded = count_decoding(monkeypatch)
    monkeypatch.setattr(cli, "prepare_process", lambda: None)  # the command's process hooks stay out of pytest's
    cli.main(common + ["--tasks", "st_fr", "--out", str(tmp_path / "st")])
    assert decoded == once_per_template  # the transcription under asr's template, the answer under st_fr's
    monkeypatch.undo()
    w2p = Wav2PromptInference(checkpoint, llm_path=tiny_llm, max_len_b=15, trim_silence=False)  # as wav2prompt-eval
    heard = dict(zip(audio, w2p.transcribe(list(audio.values()), TEMPLATE)))
    with open(tmp_path / "st" / "hyps" / "wav2prompt.st_fr.tsv", newline="") as f:
        written = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert {r["id"]: float(r["confidence"]) for r in written} == pytest.approx(
        {i: round(h["confidence"], 4) for i, h in heard.items()}, abs=1e-4)
    figures = json.loads((tmp_path / "st" / "results.json").read_text())["systems"]["wav2prompt"]
    expected = confidence_figures([r["tgt_text"] for r in rows], [heard[r["id"]] for r in rows])
    assert {k: figures[k] for k in expected} == pytest.approx(expected)

    decoded = count_decoding(monkeypatch)
    monkeypatch.setattr(cli, "prepare_process", lambda: None)  # the command's process hooks stay out of pytest's
    cli.main(common + ["--tasks", "asr,st_fr", "--min-confidence", "0", "--stop-at-newline",
                       "--out", str(tmp_path / "both")])
    assert decoded == once_per_template  # asr's hypotheses are transcribe()'s texts
    monkeypatch.undo()
    own = Wav2PromptInference(checkpoint, llm_path=tiny_llm, max_len_b=15, stop_at_newline=True, trim_silence=False)
    hyps = dict(zip(audio, own.generate(list(audio.values()), TEMPLATE)))
    with open(tmp_path / "both" / "hyps" / "wav2prompt.asr.tsv", newline="") as f:
        assert {r["id"]: r["hyp"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)} == hyps
