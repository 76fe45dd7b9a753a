"""data/voice_activity.py: sox finds where a recording's speech starts and ends; what is cut keeps every word
(word times known from espeak-ng's word events, recipes/mini/local/make_word_times.py), and a file padded
with silence gives the features of the file without it."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wav2prompt_plugin.data.audio_features import kaldi_fbank, load_features, normalize_features
from wav2prompt_plugin.data.voice_activity import TRIM_MARGIN_S, speech_bounds, trim_silence
from recipes.mini.local import make_word_times

RATE = 16000
# held-out voices, words that start or end softly (fricatives, a stop's release)
ROWS = [{"id": "w1", "tgt_text": "five fresh fish for the cats", "speaker": "en-gb+m7"},
        {"id": "w2", "tgt_text": "she sees his shoes", "speaker": "en-us+f4"},
        {"id": "w3", "tgt_text": "how high is the hill", "speaker": "en-gb-scotland+f5"}]


def floor_noise(n, dbfs, seed):
    """n samples of white noise at RMS `dbfs` (digital zero for -inf)."""
    if dbfs == -np.inf:
        return np.zeros(n, np.float32)
    return np.random.default_rng(seed).normal(0.0, 10 ** (dbfs / 20), n).astype(np.float32)


@pytest.fixture(scope="module")
def spoken():
    """(audio as float in [-1, 1], word times in seconds) per row, as make_word_times.py makes them."""
    espeak = make_word_times.Espeak()
    out = []
    for row in ROWS:
        audio, times = make_word_times.spoken_with_times(espeak, row, seed=1)
        out.append((audio.astype(np.float32) / 32768.0, times))
    return out


@pytest.mark.parametrize("seconds,dbfs", [(0.5, -60.0), (2.0, -60.0), (1.0, -np.inf), (1.0, -45.0)])
def test_the_trim_keeps_every_word(spoken, seconds, dbfs):
    for k, (audio, times) in enumerate(spoken):
        pad = round(seconds * RATE)
        padded = np.concatenate([floor_noise(pad, dbfs, k), audio, floor_noise(pad, dbfs, k + 10)])
        first, end = speech_bounds(padded, RATE)
        start, stop = [t for t in times[0] if t is not None][0], times[-1][1]
        assert first <= pad + start * RATE and end >= pad + stop * RATE, (ROWS[k], first, end)
        # what is left is the speech, its margins, and no more than two margins (and a frame) of padding
        kept = (end - first) / RATE
        assert -0.1 <= kept - len(audio) / RATE <= 2 * TRIM_MARGIN_S + 0.02, (ROWS[k], kept, len(audio) / RATE)
        assert first % 160 == 0  # on the fbank frames' 10 ms grid


def test_a_quiet_recording_is_trimmed_at_its_own_level(spoken):
    """The threshold follows the recording's loudness: speech 30 dB quieter over a floor 30 dB lower."""
    audio, times = spoken[0]
    quiet = audio * 10 ** (-30 / 20)
    padded = np.concatenate([floor_noise(RATE, -95.0, 1), quiet, floor_noise(RATE, -95.0, 2)])
    first, end = speech_bounds(padded, RATE)
    assert RATE - 0.2 * RATE <= first <= RATE + times[0][0] * RATE
    assert RATE + times[-1][1] * RATE <= end <= RATE + len(audio) + 0.2 * RATE


def test_nothing_to_trim():
    tone = (0.3 * np.sin(np.arange(RATE) * 0.05)).astype(np.float32)
    assert speech_bounds(tone, RATE) == (0, RATE)
    assert speech_bounds(np.zeros(RATE, np.float32), RATE) == (0, RATE)  # no sound at all: kept whole
    assert len(trim_silence(np.zeros(0, np.float32), RATE)) == 0


def test_a_padded_file_gives_the_features_of_the_unpadded_one(spoken, tmp_path):
    """After the trim, a file with 1 s of -60 dBFS noise before and after has the unpadded file's fbank frames
    (on the same 10 ms grid, the same samples), beside at most a margin of noise; the speech-frames
    normalisation leaves them equal, utterance CMVN nearer than untrimmed."""
    audio, _ = spoken[1]
    clean, padded = str(tmp_path / "clean.wav"), str(tmp_path / "padded.wav")
    sf.write(clean, audio, RATE, subtype="FLOAT")
    sf.write(padded, np.concatenate([floor_noise(RATE, -60.0, 5), audio, floor_noise(RATE, -60.0, 6)]), RATE,
             subtype="FLOAT")
    reference = load_features(clean, utterance_cmvn=False)
    # the corpus' own 50 ms margins are within the trim's: the unpadded file is kept whole
    np.testing.assert_array_equal(load_features(clean, utterance_cmvn=False, trim_silence=True), reference)
    trimmed = load_features(padded, utterance_cmvn=False, trim_silence=True)
    first, _ = speech_bounds(sf.read(padded, dtype="float32")[0], RATE)
    offset = (RATE - first) // 160  # frames of noise kept before the speech
    assert 0 <= offset <= TRIM_MARGIN_S * 100 + 1
    assert abs(len(trimmed) - len(reference)) <= 2 * (TRIM_MARGIN_S * 100 + 1)
    inside = slice(offset, offset + len(reference) - 2)  # the clean file's last frames end in noise here
    np.testing.assert_array_equal(trimmed[inside], reference[:-2])
    np.testing.assert_allclose(normalize_features(trimmed, "speech-frames")[inside],
                               normalize_features(reference, "speech-frames")[:-2], atol=1e-3)
    near = normalize_features(trimmed, "utterance")[inside] - normalize_features(reference, "utterance")[:-2]
    untrimmed = normalize_features(kaldi_fbank(sf.read(padded, dtype="float32")[0]), "utterance")
    far = untrimmed[RATE // 160:][:len(reference) - 2] - normalize_features(reference, "utterance")[:-2]
    assert np.abs(near).mean() < 0.5 * np.abs(far).mean()  # trimmed, utterance CMVN comes nearer the clean file's


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, speech_data, tiny_llm):
    from conftest import run_cli
    from test_cli import train_args

    save_dir = str(tmp_path_factory.mktemp("trim"))
    run_cli(train_args(speech_data, tiny_llm, save_dir, updates=2))
    return str(Path(save_dir) / "checkpoint_last.pt")


@pytest.mark.slow
def test_wav2prompt_eval_trims_when_asked(checkpoint, speech_data, tiny_llm, tmp_path):
    """wav2prompt-eval reads the audio as given unless --trim-silence (then as the Python API does by
    default); a manifest of features is refused with it, since it would be scored untrimmed."""
    import csv
    import json

    from conftest import run_cli
    from wav2prompt_plugin.inference import Wav2PromptInference

    with open(Path(speech_data) / "dev.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    audio = []
    for k, row in enumerate(rows):  # each utterance after a second of -60 dBFS noise
        speech, rate = sf.read(Path(speech_data) / row["audio"], dtype="float32")
        path = tmp_path / f"{row['id']}.wav"
        sf.write(path, np.concatenate([floor_noise(rate, -60.0, k), speech]), rate, subtype="PCM_16")
        row.update(audio=str(path), n_frames=str(int(row["n_frames"]) + 100))
        audio.append(str(path))
    manifest = tmp_path / "padded.tsv"
    manifest.write_text("\t".join(rows[0]) + "\n" + "".join("\t".join(r.values()) + "\n" for r in rows))
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({"asr": {"template": "repeat {speech} text", "target": "tgt_text", "metric": "wer"}}))
    common = ["wav2prompt-eval", "--checkpoint", checkpoint, "--llm-path", tiny_llm, "--tasks-file", str(tasks),
              "--max-len-b", "8"]

    def hyps(out):
        with open(tmp_path / out / "hyps" / "wav2prompt.asr.tsv", newline="") as f:
            return {r["id"]: r["hyp"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}

    run_cli(common + ["--manifest", str(manifest), "--out", str(tmp_path / "as_given")])
    run_cli(common + ["--manifest", str(manifest), "--out", str(tmp_path / "trimmed"), "--trim-silence"])
    assert hyps("as_given") != hyps("trimmed")  # a second of noise first changes what the model says
    for trim, out in ((False, "as_given"), (True, "trimmed")):
        model = Wav2PromptInference(checkpoint, llm_path=tiny_llm, max_len_b=8, trim_silence=trim)
        assert hyps(out) == dict(zip([r["id"] for r in rows], model.generate(audio, "repeat {speech} text")))
    assert Wav2PromptInference(checkpoint, llm_path=tiny_llm).trim_silence  # the API's default
    features = tmp_path / "features.tsv"
    np.save(tmp_path / "x.npy", np.zeros((50, 80), np.float32))
    features.write_text(f"id\taudio\tn_frames\ttgt_text\nx\t{tmp_path / 'x.npy'}\t50\thello\n")
    proc = run_cli(common + ["--manifest", str(features), "--out", str(tmp_path / "bad"), "--trim-silence"],
                   check=False)
    assert proc.returncode != 0 and f"--trim-silence: {features} holds features" in proc.stderr


def test_the_demo_and_explain_trim_unless_told_not_to():
    import argparse

    from wav2prompt_plugin.cli.arguments import add_model_arguments

    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    assert parser.parse_args(["--checkpoint", "x.pt"]).trim_silence is True
    assert parser.parse_args(["--checkpoint", "x.pt", "--no-trim-silence"]).trim_silence is False
