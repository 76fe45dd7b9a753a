"""recipes/mini/local/synthesize.py end to end on a six-sentence corpus (needs espeak-ng)."""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SCRIPT = Path(__file__).resolve().parents[1] / "recipes" / "mini" / "local" / "synthesize.py"
sys.path.insert(0, str(SCRIPT.parent))
import synthesize  # noqa: E402
HEADER = ["id", "audio", "n_frames", "tgt_text", "speaker", "kind", "fr", "es", "intent", "answer", "context"]
SENTENCES = [
    ("t1", "train", "qa", "what is the capital of france", "quelle est la capitale de la france",
     "cual es la capital de francia", "capital", "paris", "france is a country in europe"),
    ("t2", "train", "slu", "please turn on the kitchen lights", "allume la cuisine",
     "enciende la cocina", "lights_on", "kitchen", "-"),
    ("d1", "dev", "slu", "set an alarm for seven in the morning", "mets une alarme",
     "pon una alarma", "alarm_set", "seven", "-"),
    ("d2", "dev", "qa", "how many legs does a spider have", "combien de pattes",
     "cuantas patas", "count", "eight", 'a "spider" is not an insect'),
    ("e1", "test", "slu", "play some quiet music in the living room", "joue de la musique",
     "pon musica", "play_music", "living room", "-"),
    ("e2", "test", "qa", "who wrote the story about the old man and the sea", "qui a ecrit",
     "quien escribio", "author", "hemingway", "it is a short novel"),
]


def run_script(sentences, out):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--sentences", str(sentences), "--out", str(out),
         "--size", "default", "--seed", "1", "--jobs", "2"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"synthesize.py failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def read_manifest(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed; install it with `apt-get install espeak-ng`")
    tmp = tmp_path_factory.mktemp("synth")
    sentences = tmp / "sentences.tsv"
    with open(sentences, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, lineterminator="\n")
        writer.writerow(["id", "split", "kind", "en", "fr", "es", "intent", "answer", "context"])
        writer.writerows(SENTENCES)
    out = tmp / "out"
    run_script(sentences, out)
    return sentences, out


def test_manifests(corpus):
    _, out = corpus
    expected = {"train": {"t1_0", "t1_1", "t1_2", "t2_0", "t2_1", "t2_2"}, "dev": {"d1_0", "d2_0"}, "test": {"e1_0", "e2_0"}}
    for split, ids in expected.items():
        for name, suffix in ((f"{split}.tsv", ".npy"), (f"{split}_wav.tsv", ".wav")):
            header, rows = read_manifest(out / name)
            assert header == HEADER
            assert {r["id"] for r in rows} == ids
            for r in rows:
                assert Path(r["audio"]).is_absolute() and r["audio"].endswith(suffix)
                assert Path(r["audio"]).exists()
    _, rows = read_manifest(out / "dev.tsv")
    assert {r["context"] for r in rows} == {"-", 'a "spider" is not an insect'}
    assert rows[0]["tgt_text"] == "set an alarm for seven in the morning"


def test_features(corpus):
    _, out = corpus
    for split in ("train", "dev", "test"):
        for r in read_manifest(out / f"{split}.tsv")[1]:
            feats = np.load(r["audio"])
            assert feats.dtype == np.float32
            assert feats.ndim == 2 and feats.shape[1] == 80
            assert feats.shape[0] == int(r["n_frames"]) > 50
            assert np.isfinite(feats).all()


def test_wavs(corpus):
    _, out = corpus
    for split in ("train", "dev", "test"):
        for r in read_manifest(out / f"{split}_wav.tsv")[1]:
            info = sf.info(r["audio"])
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            # 25 ms windows every 10 ms, edges snipped.
            assert int(r["n_frames"]) == 1 + (info.frames - 400) // 160


def test_train_and_heldout_speakers_disjoint(corpus):
    _, out = corpus
    speakers = {s: {r["speaker"] for r in read_manifest(out / f"{s}.tsv")[1]} for s in ("train", "dev", "test")}
    assert speakers["train"] and speakers["test"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["train"] & speakers["dev"]
    # voice variants never heard in training; one accent never heard either
    variants = {s: {v.split("+")[1] for v in speakers[s]} for s in speakers}
    assert not variants["train"] & (variants["dev"] | variants["test"])
    assert not {v.split("+")[0] for v in speakers["train"]} & set(synthesize.HELDOUT_ACCENTS)
    assert {v.split("+")[0] for v in synthesize.HELDOUT_VOICES} > set(synthesize.HELDOUT_ACCENTS)
    # The utterances of a train sentence use different voices.
    _, rows = read_manifest(out / "train.tsv")
    by_id = {r["id"]: r["speaker"] for r in rows}
    assert len({by_id[f"t1_{k}"] for k in range(3)}) == 3


def test_rerun_is_idempotent(corpus):
    sentences, out = corpus
    npy = out / "fbank" / "t1_0.npy"
    before = npy.stat().st_mtime_ns
    manifest = (out / "train.tsv").read_text()
    stdout = run_script(sentences, out)
    assert "synthesised 0 new" in stdout
    assert npy.stat().st_mtime_ns == before
    assert (out / "train.tsv").read_text() == manifest
