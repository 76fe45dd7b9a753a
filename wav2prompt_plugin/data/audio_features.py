"""80-dim Kaldi fbank features for a manifest's `audio` column.

`audio` is a .wav/.flac path (fbank computed on the fly with kaldi-native-fbank,
since torchaudio is not a dependency), a .npy feature file, or fairseq's
``zip:offset:length`` slice holding either. Path parsing and zip reading are
fairseq's own.

Audio must be mono. A sample rate other than 16 kHz is resampled by
`load_features` (the Python API takes any file); the task refuses it in a
manifest unless --resample-audio, since mixed rates there usually mean a data
preparation mistake and n_frames counted at the wrong rate.

Per-utterance normalisation (`normalize_features`) is `utterance` (zero mean,
unit variance over every frame: Kaldi's and fairseq's utterance CMVN) or
`speech-frames` (the statistics of the frames loud enough to be speech, applied
to every frame, each bin floored 30 dB below the speech's mean), so that silence
around or inside an utterance neither sets the scale its speech is normalised by
nor lies tens of standard deviations below it.
"""
import io
import os
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np
import soundfile as sf
from fairseq.data.audio.audio_utils import (
    FEATURE_OR_SF_AUDIO_FILE_EXTENSIONS,
    is_npy_data,
    is_sf_audio_data,
    read_from_stored_zip,
)

from wav2prompt_plugin.runtime.errors import InputError

SAMPLE_RATE = 16000
NUM_MEL_BINS = 80

FEATURE_NORMS = ("utterance", "speech-frames")
# speech-frames: a frame is speech if its energy is within SPEECH_WITHIN_DB of the utterance's
# LOUDEST_FRAMES loudest frames (their mean energy). The reference is the loudest frames, not a
# percentile or the mean over all frames, because silence added before, after or inside an utterance
# adds only quieter frames and so leaves both the reference and the choice of speech frames as they
# were. 30 dB keeps the vowels and most consonants of speech (a fricative is 20-30 dB below a vowel)
# and leaves out silence and a noise floor 30 dB or more below the speech; where noise is louder than
# that, it lies under the speech too and belongs in the statistics. Chosen over global statistics of
# the training set: nothing to compute beforehand or to carry beside a checkpoint, and each recording's
# channel is still normalised away, as utterance CMVN does.
SPEECH_WITHIN_DB = 30.0
LOUDEST_FRAMES = 20
_DB_PER_NEPER = 10.0 / np.log(10.0)  # fbank is the natural log of mel power


class AudioError(InputError):
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


def read_waveform(source, name: str, resample: bool = True) -> np.ndarray:
    """Mono float32 waveform at 16 kHz; other rates are resampled, or refused
    unless `resample`."""
    try:
        waveform, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise AudioError(f"{name}: cannot decode audio ({e})") from None
    if waveform.shape[1] != 1:
        raise AudioError(f"{name}: {waveform.shape[1]} channels, expected mono audio")
    if not resample and rate != SAMPLE_RATE:
        raise AudioError(f"{name}: sample rate {rate} Hz, expected {SAMPLE_RATE}")
    waveform = waveform[:, 0]
    if not np.isfinite(waveform).all():
        raise AudioError(f"{name}: audio samples contain NaN or inf")
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly

        ratio = Fraction(SAMPLE_RATE, rate)
        waveform = resample_poly(waveform, ratio.numerator, ratio.denominator).astype(np.float32)
    return waveform


def _load_npy(source, name: str) -> np.ndarray:
    try:
        return np.load(source)
    except (ValueError, OSError, EOFError) as e:
        raise AudioError(f"{name}: cannot read .npy features ({e})") from None


def frame_energy_db(feats: np.ndarray) -> np.ndarray:
    """T: each fbank frame's mel power summed over its bins, in dB."""
    return _DB_PER_NEPER * np.logaddexp.reduce(feats.astype(np.float64), axis=1)


def speech_frames(feats: np.ndarray) -> np.ndarray:
    """T bool: the frames within SPEECH_WITHIN_DB of the mean energy of the LOUDEST_FRAMES loudest ones
    (those loudest frames always among them)."""
    energy = frame_energy_db(feats)
    loudest = np.sort(energy)[-min(LOUDEST_FRAMES, len(energy)):]
    return energy >= min(loudest.mean() - SPEECH_WITHIN_DB, loudest[0])


def normalize_features(feats: np.ndarray, feature_norm: str = "utterance") -> np.ndarray:
    """T x C features at zero mean and unit variance over all frames (`utterance`) or over the speech
    frames (`speech-frames`, see SPEECH_WITHIN_DB)."""
    if feature_norm not in FEATURE_NORMS:
        raise ValueError(f"feature normalisation {feature_norm!r}: expected one of {', '.join(FEATURE_NORMS)}")
    reference = feats[speech_frames(feats)] if feature_norm == "speech-frames" else feats
    mean = reference.mean(0)
    if feature_norm == "speech-frames":
        # every bin floored SPEECH_WITHIN_DB below the speech frames' mean: silence is one level whatever
        # it was. Digital zero (Kaldi's log of epsilon) lay up to 60 standard deviations below the speech,
        # and a CTC encoder on recorded training speech reached a dev token error of 74.6% at 600 updates
        # without the floor, 64.2% with it (recipes/mini/RESULTS.md, "Speech as people record it")
        feats = np.maximum(feats, mean - SPEECH_WITHIN_DB / _DB_PER_NEPER)
    return ((feats - mean) / np.maximum(reference.std(0), 1e-5)).astype(np.float32)


def load_features(audio: str, utterance_cmvn: bool = True, resample: bool = True,
                  feature_norm: str = "utterance", trim_silence: bool = False) -> np.ndarray:
    """T x 80 float32 features for one manifest `audio` entry; with `utterance_cmvn`, normalised per
    utterance by `feature_norm` (`normalize_features`); with `trim_silence`, an audio file's leading and
    trailing silence is cut first (voice_activity.py; .npy features are used as they are)."""
    path, slice_ptr = split_slice(audio)
    if not os.path.isfile(path):
        raise AudioError(f"audio file {path} does not exist")
    if slice_ptr:
        data = read_from_stored_zip(path, slice_ptr[0], slice_ptr[1])
        if len(data) >= 3 and is_npy_data(data):
            feats = _load_npy(io.BytesIO(data), audio)
        elif len(data) >= 3 and is_sf_audio_data(data):
            feats = kaldi_fbank(_waveform(io.BytesIO(data), audio, resample, trim_silence))
        else:
            raise AudioError(f"{audio}: zip slice is neither .npy nor audio")
    elif path.endswith(".npy"):
        feats = _load_npy(path, path)
    else:
        feats = kaldi_fbank(_waveform(path, path, resample, trim_silence))
    if feats.ndim != 2 or feats.shape[1] != NUM_MEL_BINS:
        raise AudioError(f"{audio}: features of shape {feats.shape}, expected T x {NUM_MEL_BINS}")
    if feats.shape[0] == 0:
        raise AudioError(f"{audio}: no feature frames (empty or too short audio)")
    if not np.isfinite(feats).all():
        raise AudioError(f"{audio}: features contain NaN or inf")
    feats = feats.astype(np.float32)
    if utterance_cmvn:
        feats = normalize_features(feats, feature_norm)
    return feats


def _waveform(source, name: str, resample: bool, trim_silence: bool) -> np.ndarray:
    waveform = read_waveform(source, name, resample)
    if trim_silence:
        from wav2prompt_plugin.data.voice_activity import trim_silence as trim

        waveform = trim(waveform, SAMPLE_RATE)
    return waveform


def load_waveform(audio: str, resample: bool = True) -> Optional[np.ndarray]:
    """The 16 kHz waveform of one manifest `audio` entry, or None where it holds features."""
    path, slice_ptr = split_slice(audio)
    if not os.path.isfile(path):
        raise AudioError(f"audio file {path} does not exist")
    if slice_ptr:
        data = read_from_stored_zip(path, slice_ptr[0], slice_ptr[1])
        return read_waveform(io.BytesIO(data), audio, resample) if is_sf_audio_data(data) else None
    return None if path.endswith(".npy") else read_waveform(path, path, resample)


def header_num_frames(audio: str, resample: bool = False) -> int:
    """Feature frames of one manifest `audio` entry, from its header alone.

    Cheap enough to run on every row at start-up; faults only a full decode
    finds (NaN samples, a corrupt stream) are reported when the row is read.
    """
    path, slice_ptr = split_slice(audio)
    if not os.path.isfile(path):
        raise AudioError(f"audio file {path} does not exist")
    if os.path.getsize(path) == 0:
        raise AudioError(f"audio file {path} is empty (0 bytes)")
    with open(path, "rb") as f:
        offset, length = slice_ptr or (0, -1)
        f.seek(offset)
        head = f.read(min(4096, length) if length >= 0 else 4096)
        if head[:6] == b"\x93NUMPY" or (not slice_ptr and path.endswith(".npy")):
            f.seek(offset)
            shape = _npy_shape(f, audio)
            if len(shape) != 2 or shape[1] != NUM_MEL_BINS:
                raise AudioError(f"{audio}: features of shape {shape}, expected T x {NUM_MEL_BINS}")
            frames = shape[0]
        else:
            f.seek(offset)
            frames = _audio_frames(io.BytesIO(f.read(length)) if slice_ptr else path, audio, resample)
    if frames == 0:
        raise AudioError(f"{audio}: too short for one feature frame")
    return frames


def split_slice(audio: str):
    """fairseq's parse_path, without its FileNotFoundError: (file, [offset, length])."""
    if Path(audio).suffix in FEATURE_OR_SF_AUDIO_FILE_EXTENSIONS or ":" not in audio:
        return audio, []
    path, *slice_ptr = audio.split(":")
    if len(slice_ptr) != 2 or not all(p.isdigit() for p in slice_ptr):
        raise AudioError(f"{audio}: expected an audio/.npy path or zip:offset:length")
    return path, [int(p) for p in slice_ptr]


def _npy_shape(f, name: str):
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return read(f)[0]
    except (ValueError, OSError, EOFError) as e:
        raise AudioError(f"{name}: not a readable .npy file ({e})") from None


def _audio_frames(source, name: str, resample: bool) -> int:
    try:
        info = sf.info(source)
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise AudioError(f"{name}: not a readable audio file ({e})") from None
    if info.channels != 1:
        raise AudioError(f"{name}: {info.channels} channels, expected mono audio")
    if info.samplerate != SAMPLE_RATE and not resample:
        raise AudioError(
            f"{name}: sample rate {info.samplerate} Hz, expected {SAMPLE_RATE} "
            "(--resample-audio resamples other rates)"
        )
    return num_frames(info.frames * SAMPLE_RATE // info.samplerate)


def num_frames(num_samples: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Fbank frames (25 ms window, 10 ms shift, snip edges) for a waveform length."""
    window, shift = sample_rate * 25 // 1000, sample_rate * 10 // 1000
    return 0 if num_samples < window else 1 + (num_samples - window) // shift
