"""recipes/mini: train speech as people record it (synthesize.py --recorded-speech, run.sh --recorded-speech):
silence around it over a noise floor, pauses between words, a telephone line's band; the same files from
nothing at every run; a corpus made otherwise is refused."""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "mini"
SCRIPT = RECIPE / "local" / "synthesize.py"

from recipes.mini.local import synthesize

TEXT = "the old man sees two birds in the park"


def sentence(i, split="train", text=TEXT):
    return dict(zip(synthesize.INPUT_COLUMNS, (f"s{i}", split, "describe", text, "-", "-", "-", "-", "-")))


def test_the_plan():
    """Silence for half the train utterances, pauses for a third of espeak-ng's, a telephone line for 15%,
    floors over -90..-45 dBFS or digital zero; dev and test untouched; the voices, speeds and augmentation
    of the corpus without it unchanged."""
    rows = [sentence(i) for i in range(900)] + [sentence("e", "test")]
    plan = synthesize.plan_utterances(rows, 1, seed=1, variety=True, recorded=True)
    train = [t for t in plan if t["row"]["split"] == "train"]
    share = {k: sum(bool(t[k]) for t in train) / len(train) for k in ("silence", "pauses", "telephone")}
    assert 0.45 < share["silence"] < 0.55 and 0.2 < share["pauses"] < 0.3 and 0.12 < share["telephone"] < 0.18
    assert not any(t["pauses"] for t in train if "festival_voice" in t)
    assert all(0.1 <= s <= 0.4 for t in train if t["silence"] for s in t["silence"])
    assert all(1 <= gap < len(TEXT.split()) and 0.2 <= s <= 1.0 for t in train for gap, s in t["pauses"])
    floors = [t["floor"] for t in train]
    assert 0.15 < floors.count(None) / len(floors) < 0.25
    assert all(-90 <= f <= -45 for f in floors if f is not None)
    assert all("silence" not in t for t in plan if t["row"]["split"] == "test")
    plain = synthesize.plan_utterances(rows, 1, seed=1, variety=True)
    assert [{k: t[k] for k in p} for t, p in zip(plan, plain)] == plain


def pick(plan_of, wanted):
    """The first sentence ids whose (single) train utterance has each wanted feature."""
    chosen = {}
    for i in range(200):
        task = plan_of(i)
        for name, test in wanted.items():
            if name not in chosen and test(task):
                chosen[name] = i
    assert chosen.keys() == wanted.keys()
    return chosen


def run_synthesize(sentences, out, *flags):
    return subprocess.run([sys.executable, str(SCRIPT), "--sentences", str(sentences), "--out", str(out),
                           "--size", "smoke", "--seed", "1", "--jobs", "2", *flags],
                          capture_output=True, text=True, timeout=300)


def rms_db(x):
    return 10 * np.log10(np.mean(np.square(x.astype(np.float64) / 32768.0)) + 1e-20)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.fail("espeak-ng and sox are needed (apt-get install espeak-ng sox)")

    def plan_of(i):
        return synthesize.plan_utterances([sentence(i)], 1, seed=1, recorded=True)[0]

    chosen = pick(plan_of, {
        "silence": lambda t: t["silence"] and not t["pauses"] and not t["telephone"] and t["floor"] is not None,
        "zero": lambda t: t["silence"] and t["floor"] is None and not t["pauses"] and not t["telephone"],
        "pauses": lambda t: t["pauses"] and not t["silence"] and not t["telephone"],
        "telephone": lambda t: t["telephone"] and not t["silence"] and not t["pauses"]})
    tmp = tmp_path_factory.mktemp("recorded")
    sentences = tmp / "sentences.tsv"
    rows = [sentence(i) for i in chosen.values()] + [sentence("d", "dev"), sentence("e", "test")]
    with open(sentences, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, lineterminator="\n")
        writer.writerow(synthesize.INPUT_COLUMNS)
        writer.writerows([r[c] for c in synthesize.INPUT_COLUMNS] for r in rows)
    for out in ("out", "again"):
        proc = run_synthesize(sentences, tmp / out, "--recorded-speech")
        assert proc.returncode == 0, proc.stderr
    return {"dir": tmp, "sentences": sentences, "ids": {k: f"s{i}_0" for k, i in chosen.items()},
            "plan": {k: plan_of(i) for k, i in chosen.items()}}


@pytest.mark.slow
def test_a_second_synthesis_from_nothing_writes_the_same_files(recorded):
    wavs = sorted(p.name for p in (recorded["dir"] / "out" / "wav").iterdir())
    assert len(wavs) == 6
    for name in wavs:
        assert (recorded["dir"] / "out" / "wav" / name).read_bytes() == \
            (recorded["dir"] / "again" / "wav" / name).read_bytes(), name


@pytest.mark.slow
def test_silence_pauses_and_the_telephone_line(recorded, tmp_path):
    wav = {k: sf.read(recorded["dir"] / "out" / "wav" / f"{u}.wav", dtype="int16")[0] for k, u in recorded["ids"].items()}
    rate = synthesize.SAMPLE_RATE
    for kind in ("silence", "zero"):
        before, after = recorded["plan"][kind]["silence"]
        x = wav[kind]
        lead, tail = x[:round(before * rate) - 160], x[len(x) - round(after * rate) + 160:]
        floor = recorded["plan"][kind]["floor"]
        if floor is None:
            assert not lead.any() and not tail.any()  # digital zero
        else:
            assert abs(rms_db(lead) - floor) < 1.5 and abs(rms_db(tail) - floor) < 1.5
        # the speech itself: between the silences, as loud as speech
        speech = x[round(before * rate):len(x) - round(after * rate)]
        assert rms_db(speech) > -35 and 0.8 < len(speech) / rate < 4.0
    # a pause: at least as many 10 ms frames near the floor inside the speech as the shortest pause asked
    x, plan = wav["pauses"].astype(np.float64), recorded["plan"]["pauses"]
    frames = x[:len(x) // 160 * 160].reshape(-1, 160)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    quiet = level < level.max() - 50
    inside = quiet[np.argmax(~quiet):len(quiet) - np.argmax(~quiet[::-1])]
    assert inside.sum() >= 100 * min(s for _, s in plan["pauses"]) * 0.8
    # the line: nothing above 3.4 kHz (the 8 kHz resampling's band ends at 4 kHz) nor much below 300 Hz
    spectrum = np.abs(np.fft.rfft(wav["telephone"].astype(np.float64))) ** 2
    hz = np.fft.rfftfreq(len(wav["telephone"]), 1 / rate)
    band = spectrum[(hz > 400) & (hz < 3300)].sum()
    assert spectrum[hz > 4000].sum() < 1e-4 * band and spectrum[hz < 200].sum() < 1e-2 * band


@pytest.mark.slow
def test_a_corpus_made_otherwise_is_refused(recorded):
    """run.sh checks an existing corpus against its flags: one made with --recorded-speech is not one made
    without it, and the settings are in synthesis_config.json."""
    out = recorded["dir"] / "out"
    assert "recorded_speech" in (out / synthesize.CONFIG_FILE).read_text()
    assert run_synthesize(recorded["sentences"], out, "--recorded-speech", "--check-only").returncode == 0
    proc = run_synthesize(recorded["sentences"], out, "--check-only")
    assert proc.returncode == 1 and "differs in: recorded_speech" in proc.stderr


@pytest.mark.slow
def test_run_sh_passes_the_options_on(tmp_path):
    """run.sh --recorded-speech true makes its own corpus (data/<size>/recorded) with synthesize.py
    --recorded-speech; --feature-norm speech-frames trains every wav2prompt-task model with it, in its own
    exp directory; both default to today's behaviour. wav2prompt-train is a stand-in that records its
    arguments, so that stage 4 costs nothing."""
    recipe = tmp_path / "mini"
    shutil.copytree(RECIPE, recipe, ignore=shutil.ignore_patterns("data", "exp", "__pycache__"))
    shutil.copytree(RECIPE.parent / "shared", tmp_path / "shared")  # the stage runner run.sh sources
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "wav2prompt-train"
    stub.write_text('#!/bin/sh\necho "$@" >> "$W2P_TRAIN_ARGS"\n')
    stub.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", W2P_TRAIN_ARGS=str(tmp_path / "args"),
               OMP_NUM_THREADS="1")

    def run(*flags):
        return subprocess.run(["bash", str(recipe / "run.sh"), "--size", "smoke", "--overlap", "false", *flags],
                              capture_output=True, text=True, env=env, timeout=120)

    proc = run("--stage", "4", "--stop-stage", "4", "--feature-norm", "speech-frames", "--recorded-speech", "true")
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "args").read_text()
    assert "--feature-norm speech-frames" in args and "data/smoke/recorded/speech" in args
    assert (recipe / "exp" / "smoke_recorded_speech_frames" / "ctc" / "done").exists()
    (tmp_path / "args").unlink()
    proc = run("--stage", "4", "--stop-stage", "4")
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "args").read_text()
    assert "--feature-norm" not in args and "data/smoke/speech" in args
    assert (recipe / "exp" / "smoke" / "ctc" / "done").exists()
    assert run("--recorded-speech", "maybe").returncode == 1
    assert run("--feature-norm", "global").returncode == 1


def test_the_report_shows_silence_conditions_as_made_and_trimmed(tmp_path):
    """run.sh scores silence05 and silence2 twice, the second time trimmed as the API and the demo trim
    (<name>_trimmed); the report's conditions table has a row for each, after the condition's own."""
    import json

    from recipes.mini.local import make_conditions
    from recipes.mini.local.report import conditions_table
    from test_paper_claims import figures

    assert set(make_conditions.TRIMMED) <= set(make_conditions.CONDITIONS)
    clean = dict(figures(5.0, 80.0, 60.0, 100.0), cif_len_exact=90.0)
    for name, wer in (("silence2", 99.0), ("silence2_trimmed", 6.0)):
        (tmp_path / "eval_conditions" / name).mkdir(parents=True)
        (tmp_path / "eval_conditions" / name / "results.json").write_text(
            json.dumps({"systems": {"wav2prompt": dict(figures(wer, 40.0, 45.0, 50.0), cif_len_exact=60.0)}}))
    results = {"systems": {"wav2prompt": clean}}
    lines = conditions_table(str(tmp_path), results)
    assert list(results["conditions"]) == ["silence2", "silence2_trimmed"]
    rows = [line.split(" | ")[0] for line in lines if line.startswith("| 2 s")]
    assert rows == ["| 2 s of -60 dBFS noise before and after",
                    "| 2 s of -60 dBFS noise before and after, trimmed (wav2prompt-eval --trim-silence)"]
