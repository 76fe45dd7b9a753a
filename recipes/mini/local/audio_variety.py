"""Speech from a second synthesizer, and what a speech toolkit does to training audio.

* festival (Debian's `festival` with its English voices): many sentences per
  process, since a process takes ~0.4 s to start and a diphone voice ~12 ms a
  sentence (an HTS voice ~110 ms, at 32 kHz);
* sox for what changes time or the room: speed perturbation (`speed`, which
  moves pitch with tempo, as Kaldi's 0.9 / 1.0 / 1.1), a pitch shift (`pitch`)
  and reverberation (`reverb`, freeverb's room model);
* additive noise at a chosen SNR (white, brown, or babble from other
  utterances), in numpy: a sum scaled to a power ratio;
* a recording's silence before and after the speech over a noise floor, and
  a telephone line's band (300-3400 Hz, 8 kHz; sox `sinc` and `rate`).

Every random choice is the caller's; these functions are deterministic.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from math import gcd

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SAMPLE_RATE = 16000
TELEPHONE_BAND_HZ, TELEPHONE_RATE = (300, 3400), 8000


def require(program: str, package: str):
    if shutil.which(program) is None:
        sys.exit(f"error: {program} not found on PATH (install it: apt-get install {package})")


def festival_voices() -> set:
    """The voices festival can load (its `voice.list`)."""
    out = subprocess.run(["festival", "--pipe"], input="(print (voice.list))\n", capture_output=True,
                         text=True, check=True)
    return set(out.stdout.replace("(", " ").replace(")", " ").split())


def festival_batch(voice: str, items):
    """Speak each (text, wav_path) of `items` with festival voice `voice`, in one process; the wavs
    are at the voice's own sample rate."""
    if not items:
        return
    lines = [f"(voice_{voice})"]
    for text, path in items:
        quoted = text.replace("\\", " ").replace('"', " ")
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{path}" \'riff)')
    with tempfile.NamedTemporaryFile("w", suffix=".scm", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        proc = subprocess.run(["festival", "-b", f.name], capture_output=True, text=True)
    finally:
        os.remove(f.name)
    missing = [p for _, p in items if not os.path.exists(p)]
    if proc.returncode != 0 or missing:
        raise RuntimeError(f"festival voice {voice} failed ({len(missing)} of {len(items)} wavs missing): "
                           f"{proc.stderr.strip()[-500:]}")


def resample_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """int16 samples at `rate`, resampled to 16 kHz (polyphase, by the reduced ratio)."""
    if rate == SAMPLE_RATE:
        return samples
    g = gcd(SAMPLE_RATE, rate)
    y = resample_poly(samples.astype(np.float64), SAMPLE_RATE // g, rate // g)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def read_16k(path: str) -> np.ndarray:
    """A mono wav as int16 at 16 kHz."""
    samples, rate = sf.read(path, dtype="int16")
    return resample_16k(samples if samples.ndim == 1 else samples[:, 0], rate)


def sox_effects(samples: np.ndarray, effects, rate: int = SAMPLE_RATE) -> np.ndarray:
    """int16 16 kHz samples through sox's effect chain (e.g. ["speed", "1.1"]), back at `rate` (16 kHz).

    sox -R: its "repeatable" mode, which seeds the dither sox adds when an effect leaves more than 16
    bits; without it the same call writes other samples at each run."""
    if not effects and rate == SAMPLE_RATE:
        return samples

    def raw(r):
        return ["-t", "raw", "-r", str(r), "-e", "signed", "-b", "16", "-c", "1"]

    cmd = ["sox", "-R", "-V1", *raw(SAMPLE_RATE), "-", *raw(rate), "-", *[str(e) for e in effects], "rate", str(rate)]
    proc = subprocess.run(cmd, input=samples.astype("<i2").tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sox failed ({' '.join(cmd)}): {proc.stderr.decode().strip()}")
    return np.frombuffer(proc.stdout, dtype="<i2").astype(np.int16)


def telephone(samples: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """int16 16 kHz samples as a telephone line carries them: 300-3400 Hz (sox `sinc`), at 8 kHz, then
    at `rate` (8000: the 8 kHz samples themselves)."""
    narrow = sox_effects(samples, ["sinc", f"{TELEPHONE_BAND_HZ[0]}-{TELEPHONE_BAND_HZ[1]}"], TELEPHONE_RATE)
    return narrow if rate == TELEPHONE_RATE else resample_16k(narrow, TELEPHONE_RATE)


def floor_noise(n: int, dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """n samples of white noise at an RMS of `dbfs` (of int16 full scale); None for digital zero."""
    if dbfs is None:
        return np.zeros(n)
    return rng.standard_normal(n) * 32768.0 * 10 ** (dbfs / 20)


def with_silence(samples: np.ndarray, before: int, after: int, floor_dbfs, rng: np.random.Generator) -> np.ndarray:
    """int16 samples with `before` and `after` samples of silence around them, a noise floor of
    `floor_dbfs` (None: digital zero) under the whole recording, as a microphone's own noise is."""
    x = np.concatenate([np.zeros(before), samples.astype(np.float64), np.zeros(after)])
    x += floor_noise(len(x), floor_dbfs, rng)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of white or brown (integrated white, most power at low frequencies) noise."""
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    if kind == "brown":
        brown = np.cumsum(white)
        return brown - np.linspace(brown[0], brown[-1], n)  # no drift
    raise ValueError(f"unknown noise {kind!r}")


def babble(others, n: int) -> np.ndarray:
    """The sum of other utterances (int16 arrays), each looped or cut to n samples."""
    total = np.zeros(n)
    for other in others:
        other = other.astype(np.float64)
        total += np.resize(other, n) if len(other) else 0.0
    return total


def mix_at_snr(samples: np.ndarray, interference: np.ndarray, snr_db: float) -> np.ndarray:
    """samples + interference scaled so that their power ratio is snr_db, as int16."""
    x = samples.astype(np.float64)
    p_signal, p_noise = np.mean(x ** 2), np.mean(interference ** 2)
    if p_noise == 0:
        return samples
    y = x + interference * np.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)
