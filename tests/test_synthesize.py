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

from recipes.mini.local import synthesize

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


@pytest.mark.slow
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


@pytest.mark.slow
def test_features(corpus):
    _, out = corpus
    for split in ("train", "dev", "test"):
        for r in read_manifest(out / f"{split}.tsv")[1]:
            feats = np.load(r["audio"])
            assert feats.dtype == np.float32
            assert feats.ndim == 2 and feats.shape[1] == 80
            assert feats.shape[0] == int(r["n_frames"]) > 50
            assert np.isfinite(feats).all()


@pytest.mark.slow
def test_wavs(corpus):
    _, out = corpus
    for split in ("train", "dev", "test"):
        for r in read_manifest(out / f"{split}_wav.tsv")[1]:
            info = sf.info(r["audio"])
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            # 25 ms windows every 10 ms, edges snipped.
            assert int(r["n_frames"]) == 1 + (info.frames - 400) // 160


@pytest.mark.slow
def test_train_and_heldout_speakers_disjoint(corpus):
    _, out = corpus
    speakers = {s: {r["speaker"] for r in read_manifest(out / f"{s}.tsv")[1]} for s in ("train", "dev", "test")}
    assert speakers["train"] and speakers["test"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["train"] & speakers["dev"]
    # voice variants never heard in training; one accent never heard either
    speakers = {s: {v for v in voices if not v.startswith("festival:")} for s, voices in speakers.items()}
    variants = {s: {v.split("+")[1] for v in speakers[s]} for s in speakers}
    assert not variants["train"] & (variants["dev"] | variants["test"])
    assert not {v.split("+")[0] for v in speakers["train"]} & set(synthesize.HELDOUT_ACCENTS)
    assert {v.split("+")[0] for v in synthesize.HELDOUT_VOICES} > set(synthesize.HELDOUT_ACCENTS)
    # The utterances of a train sentence use different voices.
    _, rows = read_manifest(out / "train.tsv")
    by_id = {r["id"]: r["speaker"] for r in rows}
    assert len({by_id[f"t1_{k}"] for k in range(3)}) == 3


@pytest.mark.slow
def test_rerun_is_idempotent(corpus):
    sentences, out = corpus
    npy = out / "fbank" / "t1_0.npy"
    before = npy.stat().st_mtime_ns
    manifest = (out / "train.tsv").read_text()
    stdout = run_script(sentences, out)
    assert "synthesised 0 new" in stdout
    assert npy.stat().st_mtime_ns == before
    assert (out / "train.tsv").read_text() == manifest


@pytest.mark.slow
def test_check_only_refuses_a_corpus_made_with_other_settings(corpus, tmp_path):
    """run.sh checks an existing corpus this way (e.g. one made before --speech-variety became its
    default) instead of reusing it as if it were what the flags ask for."""
    sentences, out = corpus
    config = (out / synthesize.CONFIG_FILE).read_text()

    def check(out_dir, *flags):
        return subprocess.run([sys.executable, str(SCRIPT), "--sentences", str(sentences), "--out",
                               str(out_dir), "--size", "default", "--seed", "1", "--check-only", *flags],
                              capture_output=True, text=True, timeout=60)

    assert check(out).returncode == 0
    proc = check(out, "--variety")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"error: {out} holds utterances synthesised with other settings "
                                   f"({out / synthesize.CONFIG_FILE} differs in: augmentation, festival); "
                                   f"use a fresh --out directory")
    proc = check(tmp_path / "made_by_hand")
    assert proc.returncode == 1 and "has no synthesis_config.json" in proc.stderr
    assert (out / synthesize.CONFIG_FILE).read_text() == config
    assert not (tmp_path / "made_by_hand").exists()


def test_train_variety_is_planned_per_utterance():
    """A quarter of the train utterances from festival, speed 0.9 / 1.0 / 1.1, noise for 30%, reverb
    for 20%; none of it for dev and test; the same plan whatever the number of voices a sentence has."""
    rows = [dict(zip(synthesize.INPUT_COLUMNS, (f"s{i}", "train", "describe", "a red ball", "", "", "", "", "")))
            for i in range(600)] + [dict(zip(synthesize.INPUT_COLUMNS, ("e0", "test", "describe", "a cat", "", "", "", "", "")))]
    tasks = synthesize.plan_utterances(rows, 3, seed=1, variety=True)
    train = [t for t in tasks if t["row"]["split"] == "train"]
    festival = [t for t in train if "festival_voice" in t]
    assert 0.2 < len(festival) / len(train) < 0.3
    assert {t["festival_voice"] for t in festival} == set(synthesize.TRAIN_FESTIVAL_VOICES)
    assert all(t["voice"] == f"festival:{t['festival_voice']}" and -300 <= t["cents"] <= 300 for t in festival)
    for speed in synthesize.SPEEDS:
        assert 0.28 < sum(t["speed_factor"] == speed for t in train) / len(train) < 0.39
    assert 0.25 < sum(t["noise"] is not None for t in train) / len(train) < 0.35
    assert 0.16 < sum(t["reverb"] is not None for t in train) / len(train) < 0.24
    assert all(5 <= t["noise"][1] <= 25 and t["noise"][0] in ("white", "brown") for t in train if t["noise"])
    test = [t for t in tasks if t["row"]["split"] == "test"]
    assert test and all("speed_factor" not in t and "festival_voice" not in t for t in test)
    assert [t for t in synthesize.plan_utterances(rows, 1, seed=1, variety=True) if t["row"]["split"] == "train"] == \
        [t for t in train if t["utt_id"].endswith("_0")]
    # without --variety: espeak-ng alone, unaugmented, and the same voices, speeds and pitches
    plain = synthesize.plan_utterances(rows, 3, seed=1)
    assert all(set(t) == {"utt_id", "row", "voice", "speed", "pitch"} for t in plain)
    assert [(t["speed"], t["pitch"]) for t in plain] == [(t["speed"], t["pitch"]) for t in tasks]


@pytest.mark.slow
def test_a_festival_utterance_with_every_augmentation(tmp_path):
    task = {"utt_id": "x_0", "row": {"en": "the boy waits near the green house"}, "voice": "festival:kal_diphone",
            "festival_voice": "kal_diphone", "cents": 200, "speed_factor": 1.1, "reverb": (50, 80),
            "noise": ("brown", 10.0, 7)}
    jobs = [(task, str(tmp_path / "x_0.wav"), str(tmp_path / "x_0.npy"))]
    (tmp_path / "raw").mkdir()
    assert synthesize.festival_prepass(jobs, tmp_path / "raw", 1) == 1
    raw = task["festival_raw"]
    assert sf.info(raw).samplerate == 16000
    n_frames, seconds = synthesize.synthesize_one(jobs[0])
    assert not Path(raw).exists()  # spoken once, then only the augmented utterance is kept
    info = sf.info(jobs[0][1])
    assert info.samplerate == 16000 and 1.0 < seconds < 4.0
    assert n_frames == np.load(jobs[0][2]).shape[0] == 1 + (info.frames - 400) // 160


def test_mix_at_snr_sets_the_power_ratio():
    from recipes.mini.local.audio_variety import mix_at_snr, noise

    rng = np.random.default_rng(0)
    speech = (8000 * np.sin(np.arange(16000) / 7.0)).astype(np.int16)
    interference = noise("white", len(speech), rng)
    mixed = mix_at_snr(speech, interference, 15.0)
    added = mixed.astype(np.float64) - speech
    snr = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(added ** 2))
    assert snr == pytest.approx(15.0, abs=0.05)


@pytest.mark.slow
def test_conditions_of_the_test_sentences(corpus):
    """make_conditions.py: per condition the test split's rows, its audio mixed at 15 dB SNR or spoken by
    a festival voice that training never uses; a second run keeps what exists."""
    from recipes.mini.local import make_conditions
    from recipes.mini.local.audio_variety import read_16k

    _, out = corpus
    conditions = out / "conditions"
    make_conditions.main(["--speech", str(out), "--out", str(conditions)])
    header, test = read_manifest(out / "test_wav.tsv")
    for name in make_conditions.CONDITIONS:
        cond_header, rows = read_manifest(conditions / name / "test_wav.tsv")
        assert cond_header == header and [r["id"] for r in rows] == [r["id"] for r in test]
        assert [r["tgt_text"] for r in rows] == [r["tgt_text"] for r in test]
        _, feats = read_manifest(conditions / name / "test.tsv")
        assert all(np.load(r["audio"]).shape == (int(r["n_frames"]), 80) for r in feats)
    for clean_row, noisy_row in zip(test, read_manifest(conditions / "white15" / "test_wav.tsv")[1]):
        clean, noisy = read_16k(clean_row["audio"]).astype(float), read_16k(noisy_row["audio"]).astype(float)
        snr = 10 * np.log10(np.mean(clean ** 2) / np.mean((noisy - clean) ** 2))
        assert snr == pytest.approx(15.0, abs=0.2)
    festival = read_manifest(conditions / "festival_ked" / "test_wav.tsv")[1]
    assert {r["speaker"] for r in festival} == {"festival:ked_diphone"}
    assert "ked_diphone" not in synthesize.TRAIN_FESTIVAL_VOICES
    before = (conditions / "babble15" / "test.tsv").stat().st_mtime_ns
    make_conditions.main(["--speech", str(out), "--out", str(conditions)])
    assert (conditions / "babble15" / "test.tsv").stat().st_mtime_ns == before


@pytest.mark.slow
def test_word_times_from_espeak_ng_word_events(tmp_path):
    """make_word_times.py: a word starts at espeak-ng's word event and ends where the next starts; a word
    espeak-ng speaks with its neighbour as one ("in the") has no boundary between them ("?")."""
    from recipes.mini.local import make_word_times

    espeak = make_word_times.Espeak()
    row = {"id": "w1", "tgt_text": "mila plays in the shop", "speaker": "en-gb+m7"}
    audio, times = make_word_times.spoken_with_times(espeak, row, seed=1)
    assert len(times) == 5 and times[2][1] is None and times[3][0] is None
    known = [t for span in times for t in span if t is not None]
    assert known == sorted(known) and known[0] >= 0
    assert times[0][1] == times[1][0] and times[1][1] == times[2][0] and times[3][1] == times[4][0]
    # the last word ends where the loud part does: the trimmed audio keeps up to 50 ms after it
    assert 0 <= len(audio) / synthesize.SAMPLE_RATE - times[-1][1] <= synthesize.TRIM_MARGIN / synthesize.SAMPLE_RATE
    # the CLI writes them as start-end, "?" where unknown; a second run from nothing writes the same
    speech = tmp_path / "speech"
    speech.mkdir()
    synthesize.write_manifest(speech / "test.tsv", [dict({c: "" for c in HEADER}, **row, audio="-", n_frames=1)])
    for out in ("out", "again"):
        subprocess.run([sys.executable, str(SCRIPT.parent / "make_word_times.py"), "--speech", str(speech),
                        "--out", str(tmp_path / out)], check=True, capture_output=True)
    assert (tmp_path / "out" / "wav" / "w1.wav").read_bytes() == (tmp_path / "again" / "wav" / "w1.wav").read_bytes()
    with open(tmp_path / "out" / "test.tsv", newline="") as f:
        written = list(csv.DictReader(f, delimiter="\t"))[0]
    assert written["word_times"].split()[2].endswith("-?") and written["word_times"].split()[3].startswith("?-")
    assert Path(written["audio"]).is_absolute() and np.load(written["audio"]).shape[0] == int(written["n_frames"])


@pytest.mark.slow
def test_conditions_of_recorded_speech(corpus, tmp_path):
    """silence05 / silence2: the test audio between 0.5 s or 2 s of -60 dBFS noise; telephone: 8 kHz files,
    300-3400 Hz, whose features are the plugin's; pauses: the sentence spoken again with pauses cut in. A
    run from nothing writes the same files, every condition."""
    from recipes.mini.local import make_conditions
    from recipes.mini.local.audio_variety import read_16k

    from wav2prompt_plugin.data.audio_features import header_num_frames, load_features

    _, out = corpus
    runs = [tmp_path / "first", tmp_path / "again"]
    for run in runs:
        subprocess.run([sys.executable, str(SCRIPT.parent / "make_conditions.py"), "--speech", str(out), "--out",
                        str(run)], check=True, capture_output=True, timeout=300)
    _, test = read_manifest(out / "test_wav.tsv")
    for name, seconds in (("silence05", 0.5), ("silence2", 2.0)):
        for clean_row, row in zip(test, read_manifest(runs[0] / name / "test_wav.tsv")[1]):
            clean, padded = sf.read(clean_row["audio"], dtype="int16")[0], sf.read(row["audio"], dtype="int16")[0]
            n = round(seconds * 16000)
            assert len(padded) == len(clean) + 2 * n and (padded[n:-n] == clean).all()
            for part in (padded[:n], padded[-n:]):
                assert 10 * np.log10(np.mean((part / 32768.0) ** 2)) == pytest.approx(-60.0, abs=0.5)
    for row in read_manifest(runs[0] / "telephone" / "test_wav.tsv")[1]:
        assert sf.info(row["audio"]).samplerate == 8000
        assert int(row["n_frames"]) == header_num_frames(row["audio"], resample=True)
    for row in read_manifest(runs[0] / "telephone" / "test.tsv")[1]:
        wav = row["audio"].replace("/fbank/", "/wav/").replace(".npy", ".wav")
        np.testing.assert_allclose(np.load(row["audio"]), load_features(wav, utterance_cmvn=False), atol=1e-5)
    for clean_row, row in zip(test, read_manifest(runs[0] / "pauses" / "test_wav.tsv")[1]):
        extra = len(read_16k(row["audio"])) / 16000 - len(read_16k(clean_row["audio"])) / 16000
        assert row["tgt_text"] == clean_row["tgt_text"] and -0.8 < extra < 3.5  # at another speed, pauses added
    for name in make_conditions.CONDITIONS:
        for wav in sorted((runs[0] / name / "wav").iterdir()):
            assert wav.read_bytes() == (runs[1] / name / "wav" / wav.name).read_bytes(), (name, wav.name)
