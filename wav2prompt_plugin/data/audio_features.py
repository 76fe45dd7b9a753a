"""80-dim Kaldi fbank features for a manifest's `audio` column.

`audio` is a .wav/.flac path (fbank computed on the fly with kaldi-native-fbank,
since torchaudio is not a dependency), a .npy feature file, or fairseq's
``zip:offset:length`` slice holding either. Path parsing and zip reading are
fairseq's own.
"""
import io
from fractions import Fraction

import numpy as np
import soundfile as sf
from fairseq.data.audio.audio_utils import (
    is_npy_data,
    is_sf_audio_data,
    parse_path,
    read_from_stored_zip,
)

SAMPLE_RATE = 16000
NUM_MEL_BINS = 80


class AudioError(ValueError):
    pass


def kaldi_fbank(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """waveform: float samples in [-1, 1] -> T x 80 log-mel fbank (Kaldi defaults, no dither)."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = sample_rate
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = NUM_MEL_BINS
    fbank = knf.OnlineFbank(opts)
    # Kaldi expects int16-scaled samples
    fbank.accept_waveform(sample_rate, (waveform * 32768.0).astype(np.float32))
    fbank.input_finished()
    if fbank.num_frames_ready == 0:
        return np.zeros((0, NUM_MEL_BINS), dtype=np.float32)
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)]).astype(
        np.float32
    )


def read_waveform(source, name: str) -> np.ndarray:
    """Mono float32 waveform at 16 kHz; other rates are resampled."""
    try:
        waveform, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise AudioError(f"{name}: cannot read audio ({e})") from None
    if waveform.shape[1] != 1:
        raise AudioError(f"{name}: {waveform.shape[1]} channels, expected mono audio")
    waveform = waveform[:, 0]
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly

        ratio = Fraction(SAMPLE_RATE, rate)
        waveform = resample_poly(waveform, ratio.numerator, ratio.denominator).astype(np.float32)
    return waveform


def load_features(audio: str, utterance_cmvn: bool = True) -> np.ndarray:
    """T x 80 float32 features for one manifest `audio` entry."""
    path, slice_ptr = parse_path(audio)
    if slice_ptr:
        data = read_from_stored_zip(path, slice_ptr[0], slice_ptr[1])
        if is_npy_data(data):
            feats = np.load(io.BytesIO(data))
        elif is_sf_audio_data(data):
            feats = kaldi_fbank(read_waveform(io.BytesIO(data), audio))
        else:
            raise AudioError(f"{audio}: zip slice is neither .npy nor audio")
    elif path.endswith(".npy"):
        feats = np.load(path)
    else:
        feats = kaldi_fbank(read_waveform(path, path))
    if feats.ndim != 2 or feats.shape[1] != NUM_MEL_BINS:
        raise AudioError(f"{audio}: features of shape {feats.shape}, expected T x {NUM_MEL_BINS}")
    if feats.shape[0] == 0:
        raise AudioError(f"{audio}: no feature frames (empty or too short audio)")
    if not np.isfinite(feats).all():
        raise AudioError(f"{audio}: features contain NaN or inf")
    feats = feats.astype(np.float32)
    if utterance_cmvn:
        feats = (feats - feats.mean(0)) / np.maximum(feats.std(0), 1e-5)
    return feats


def num_frames(num_samples: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Fbank frames (25 ms window, 10 ms shift, snip edges) for a waveform length."""
    window, shift = sample_rate * 25 // 1000, sample_rate * 10 // 1000
    return 0 if num_samples < window else 1 + (num_samples - window) // shift
