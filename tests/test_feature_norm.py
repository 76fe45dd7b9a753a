"""--feature-norm: silence around or inside an utterance must not set the scale of its speech frames
(speech-frames), as it does with utterance CMVN over every frame (utterance, the default); a checkpoint
records the one it trained with, and one from before the option loads with utterance CMVN."""
import os

import numpy as np
import pytest
import torch

from conftest import run_cli, synthesize
from test_cli import train_args
from wav2prompt_plugin.data.audio_features import SPEECH_WITHIN_DB, kaldi_fbank, load_features, normalize_features, \
    read_waveform, speech_frames

# how far the speech frames' normalised values may move when silence is added (speech-frames): they are
# normalised by the very same statistics, so only float rounding may differ
TOLERANCE = 1e-4


def speech_and_silence(seed=0):
    """Hand-made fbank: 37 frames of speech (log mel energies around 8, varied across bins and time) and
    silence frames far below them (around -6, a -60 dBFS noise floor's level in Kaldi fbank)."""
    rng = np.random.default_rng(seed)
    speech = (8.0 + rng.normal(0.0, 1.5, (37, 80)) + np.linspace(2.0, -2.0, 80)).astype(np.float32)

    def silence(n):
        return (-6.0 + rng.normal(0.0, 0.3, (n, 80))).astype(np.float32)

    return speech, silence


@pytest.mark.parametrize("where", ["around", "inside"])
def test_silence_does_not_move_the_speech_frames(where):
    speech, silence = speech_and_silence()
    if where == "around":
        padded = np.concatenate([silence(50), speech, silence(120)])
        at = np.arange(50, 50 + len(speech))
    else:  # pauses between words
        padded = np.concatenate([speech[:12], silence(60), speech[12:25], silence(30), speech[25:]])
        at = np.r_[0:12, 72:85, 115:127]
    assert speech_frames(padded).sum() == len(speech) and speech_frames(padded)[at].all()
    alone = normalize_features(speech, "speech-frames")
    np.testing.assert_allclose(normalize_features(padded, "speech-frames")[at], alone, atol=TOLERANCE)
    # utterance CMVN: the silence frames set mean and variance, and the speech frames move by far more
    moved = np.abs(normalize_features(padded, "utterance")[at] - normalize_features(speech, "utterance"))
    assert moved.max() > 100 * TOLERANCE and moved.mean() > 0.3


def test_silence_is_one_level_whatever_its_floor():
    """Digital zero (Kaldi's log of float epsilon) and a noise floor far below the speech both become the
    floor SPEECH_WITHIN_DB under the speech frames' mean, bin by bin, in the speech's units."""
    speech, _ = speech_and_silence(2)
    silent = [normalize_features(np.concatenate([np.full((40, 80), level, np.float32), speech]), "speech-frames")
              for level in (np.log(np.finfo(np.float32).eps), -9.0)]
    np.testing.assert_allclose(silent[0][:40], silent[1][:40], atol=TOLERANCE)
    floor_nepers = SPEECH_WITHIN_DB * np.log(10.0) / 10.0  # 30 dB of power in natural-log units: 6.91
    np.testing.assert_allclose(silent[0][:40], np.broadcast_to(-floor_nepers / speech.std(0), (40, 80)), rtol=1e-4)
    np.testing.assert_allclose(silent[0][40:], normalize_features(speech, "speech-frames"), atol=TOLERANCE)


def test_without_silence_both_normalise_alike():
    """Speech alone: every frame is within 30 dB of the loudest, so speech-frames is utterance CMVN."""
    speech, _ = speech_and_silence(1)
    assert speech_frames(speech).all()
    np.testing.assert_allclose(normalize_features(speech, "speech-frames"), normalize_features(speech, "utterance"),
                               atol=1e-6)


def test_recorded_speech_with_noise_before_and_after(tmp_path):
    """espeak-ng speech with 0.5 s of -60 dBFS white noise before and 1 s after (whole 10 ms frames, so the
    frames inside the speech are the same samples): its speech frames normalise as the unpadded file's."""
    wav = str(tmp_path / "speech.wav")
    synthesize("the old man sees two birds", wav)
    clean = read_waveform(wav, wav)
    rng = np.random.default_rng(3)
    floor = 10 ** (-60 / 20)
    padded = np.concatenate([rng.normal(0, floor, 8000), clean, rng.normal(0, floor, 16000)]).astype(np.float32)
    feats, padded_feats = kaldi_fbank(clean), kaldi_fbank(padded)
    inside = slice(50, 50 + len(feats) - 2)  # the last frames of the clean file end in padding when padded
    np.testing.assert_array_equal(padded_feats[inside], feats[:-2])
    assert speech_frames(padded_feats)[:45].sum() == 0 and speech_frames(padded_feats)[-95:].sum() == 0
    np.testing.assert_allclose(normalize_features(padded_feats, "speech-frames")[inside],
                               normalize_features(feats, "speech-frames")[:-2], atol=1e-3)
    moved = normalize_features(padded_feats, "utterance")[inside] - normalize_features(feats, "utterance")[:-2]
    assert np.abs(moved).mean() > 0.2


def test_an_unknown_normalisation_is_refused():
    with pytest.raises(ValueError, match="expected one of utterance, speech-frames"):
        normalize_features(np.zeros((3, 80), np.float32), "global")


@pytest.fixture(scope="module")
def speech_frames_checkpoint(tmp_path_factory, speech_data, tiny_llm):
    save_dir = str(tmp_path_factory.mktemp("feature_norm"))
    run_cli(train_args(speech_data, tiny_llm, save_dir, updates=2, extra=["--feature-norm", "speech-frames"]))
    return os.path.join(save_dir, "checkpoint_last.pt")


@pytest.mark.slow
def test_a_checkpoint_normalises_as_it_trained(speech_frames_checkpoint, speech_data, tiny_llm, tmp_path):
    """The task config in the checkpoint says speech-frames, and inference normalises so; a checkpoint from
    before --feature-norm (no such field) loads with utterance CMVN, what it trained with."""
    from wav2prompt_plugin.data.templates import PromptTemplate
    from wav2prompt_plugin.inference import Wav2PromptInference

    wav = os.path.join(speech_data, "wav", "dev_0.wav")

    def features_seen(checkpoint):
        model = Wav2PromptInference(checkpoint, llm_path=tiny_llm, trim_silence=False)
        batch = model.speech_batch([wav], PromptTemplate("{speech}"), [{}])
        return str(model.task.cfg.feature_norm), batch["net_input"]["src_tokens"][0].numpy()

    state = torch.load(speech_frames_checkpoint, map_location="cpu", weights_only=False)
    assert state["cfg"]["task"]["feature_norm"] == "speech-frames"
    norm, seen = features_seen(speech_frames_checkpoint)
    assert norm == "speech-frames"
    np.testing.assert_array_equal(seen, load_features(wav, feature_norm="speech-frames"))
    # espeak-ng's own silence at the ends of the file: the two normalisations differ on it
    assert not np.allclose(seen, load_features(wav, feature_norm="utterance"), atol=1e-2)

    del state["cfg"]["task"]["feature_norm"]
    older = str(tmp_path / "older.pt")
    torch.save(state, older)
    norm, seen = features_seen(older)
    assert norm == "utterance"
    np.testing.assert_array_equal(seen, load_features(wav, feature_norm="utterance"))


def test_ctc_transcription_and_the_api_read_the_same_options():
    """CtcTranscriber and Wav2PromptInference build their datasets from one reading of the task config."""
    from types import SimpleNamespace

    from wav2prompt_plugin.inference import feature_options

    older = SimpleNamespace(cfg=SimpleNamespace(utterance_cmvn=True))
    assert feature_options(older) == {"utterance_cmvn": True, "feature_norm": "utterance"}
    newer = SimpleNamespace(cfg=SimpleNamespace(utterance_cmvn=True, feature_norm="speech-frames"))
    assert feature_options(newer) == {"utterance_cmvn": True, "feature_norm": "speech-frames"}
