"""Every `audio` form of a manifest gives the same features."""
import io
import os
import zipfile

import numpy as np
import pytest
import soundfile as sf

from wav2prompt_plugin.data.audio_features import AudioError, kaldi_fbank, load_features, num_frames


@pytest.fixture()
def tone(tmp_path):
    t = np.arange(16000 * 13 // 10) / 16000.0
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) * np.hanning(len(t))).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, wave, 16000, subtype="PCM_16")
    return str(path), sf.read(path, dtype="float32")[0]


def test_wav_flac_npy_and_zip_slice_agree(tone, tmp_path):
    wav, wave = tone
    reference = load_features(wav, utterance_cmvn=False)
    assert reference.shape == (num_frames(len(wave)), 80)

    flac = str(tmp_path / "tone.flac")
    sf.write(flac, wave, 16000, subtype="PCM_16")
    np.testing.assert_allclose(load_features(flac, utterance_cmvn=False), reference, atol=1e-4)

    npy = str(tmp_path / "tone.npy")
    np.save(npy, kaldi_fbank(wave))
    np.testing.assert_allclose(load_features(npy, utterance_cmvn=False), reference, atol=1e-5)

    # fairseq's zip:offset:length layout, uncompressed, as its S2T prep scripts write it
    archive = str(tmp_path / "fbank.zip")
    buffer = io.BytesIO()
    np.save(buffer, reference)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("utt.npy", buffer.getvalue())
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo("utt.npy")
    offset = info.header_offset + 30 + len(info.filename)
    sliced = load_features(f"{archive}:{offset}:{info.file_size}", utterance_cmvn=False)
    np.testing.assert_array_equal(sliced, reference)


def test_other_rates_are_resampled(tone, tmp_path):
    wav, wave = tone
    path = str(tmp_path / "tone8k.wav")
    sf.write(path, wave[::2], 8000, subtype="PCM_16")
    feats = load_features(path, utterance_cmvn=False)
    assert abs(feats.shape[0] - num_frames(len(wave))) <= 1


def test_utterance_cmvn(tone):
    feats = load_features(tone[0])
    np.testing.assert_allclose(feats.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(feats.std(0), 1, atol=1e-3)


def test_stereo_and_empty_audio_are_refused(tmp_path):
    stereo = str(tmp_path / "stereo.wav")
    sf.write(stereo, np.zeros((1600, 2), dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="stereo.wav: 2 channels"):
        load_features(stereo)
    empty = str(tmp_path / "empty.wav")
    sf.write(empty, np.zeros(100, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="empty.wav: no feature frames"):
        load_features(empty)


def test_spec_augment_masks_training_split_only(speech_data, tiny_llm):
    from wav2prompt_plugin.tasks.wav2prompt import Wav2PromptTask, Wav2PromptTaskConfig

    def task(**kwargs):
        t = Wav2PromptTask.setup_task(Wav2PromptTaskConfig(data=speech_data, llm_path=tiny_llm, **kwargs))
        t.cfg.train_subset = "train"
        t.load_dataset("train")
        t.load_dataset("dev")
        return t

    masked = task(spec_augment="freq_mask_N=2,freq_mask_F=10,time_mask_N=2,time_mask_T=10")
    plain = task()
    np.random.seed(0)
    assert (masked.datasets["train"][0]["source"] != plain.datasets["train"][0]["source"]).any()
    assert (masked.datasets["dev"][0]["source"] == plain.datasets["dev"][0]["source"]).all()
