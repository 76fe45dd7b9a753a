"""Leading and trailing silence cut from a recording before its features are computed.

People start a recording before they speak and stop it after; a model trained on audio trimmed of
silence (the recipes' synthesis trims it) hears those seconds as speech. The detection is sox's
(`stats` for the level, `silence` for where sound first and last stays above a threshold), a tool
kept for decades that the recipes already use; the cut is made here, so that it can keep a margin:

* threshold: TRIM_BELOW_DB under the recording's loudest RMS level (sox `stats`' "RMS Pk dB", 50 ms
  windows), so that it follows the recording's level instead of a fixed dBFS that a quiet microphone
  would fall under; or, over a louder noise floor, TRIM_OVER_FLOOR_DB over its quietest level ("RMS Tr
  dB"), but never closer than TRIM_MIN_BELOW_DB to the loudest (in a file with no silence the quietest
  level is speech);
* a sound counts once it stays above the threshold for TRIM_MIN_SOUND_S (a click does not);
* TRIM_MARGIN_S is kept before the first and after the last such sound, for a word's soft onset or
  release that lies under the threshold;
* the cut falls on the 10 ms grid of fbank frames, counted from the file's first sample.

Only the ends are cut: a pause inside an utterance stays (`--feature-norm speech-frames` keeps it from
setting the features' scale). A recording with no sound above the threshold is kept whole.
"""
import re
import shutil
import subprocess
from typing import Tuple

import numpy as np

from wav2prompt_plugin.runtime.errors import InputError

TRIM_BELOW_DB = 35.0
TRIM_OVER_FLOOR_DB = 10.0
TRIM_MIN_BELOW_DB = 20.0
TRIM_MIN_SOUND_S = 0.02
TRIM_MARGIN_S = 0.15
FRAME_SHIFT_S = 0.01


class SoxError(InputError):
    pass


def _sox(waveform: np.ndarray, sample_rate: int, effects, output: bool) -> subprocess.CompletedProcess:
    sox = shutil.which("sox")
    if sox is None:
        raise SoxError("trimming silence needs sox (apt-get install sox), which is not on PATH")
    raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-r", str(sample_rate), "-c", "1"]
    # -R: sox's "repeatable" mode (no random seed anywhere); -V1: errors only
    cmd = [sox, "-R", "-V1", *raw, "-", *(raw + ["-"] if output else ["-n"]), *effects]
    proc = subprocess.run(cmd, input=np.ascontiguousarray(waveform, dtype="<f4").tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise SoxError(f"sox failed ({' '.join(cmd)}): {proc.stderr.decode(errors='replace').strip()}")
    return proc


def rms_levels_db(waveform: np.ndarray, sample_rate: int) -> Tuple[float, float]:
    """sox `stats`' RMS Pk dB and RMS Tr dB: the highest and lowest RMS level of 50 ms windows, in dBFS
    (-inf for digital zero)."""
    report = _sox(waveform, sample_rate, ["stats"], output=False).stderr.decode()
    levels = []
    for name in ("RMS Pk dB", "RMS Tr dB"):
        match = re.search(rf"^{name}\s+(\S+)", report, re.MULTILINE)
        if match is None:
            raise SoxError(f"sox stats printed no {name!r}: {report.strip()}")
        levels.append(float("-inf") if match.group(1).endswith("inf") else float(match.group(1)))
    return levels[0], levels[1]


def trim_threshold_db(loudest: float, quietest: float) -> float:
    return max(loudest - TRIM_BELOW_DB, min(quietest + TRIM_OVER_FLOOR_DB, loudest - TRIM_MIN_BELOW_DB))


def _leading_silence(waveform: np.ndarray, sample_rate: int, threshold_db: float) -> int:
    """Samples before sox's `silence` effect finds sound above threshold_db for TRIM_MIN_SOUND_S."""
    effects = ["silence", "1", f"{TRIM_MIN_SOUND_S}", f"{threshold_db:.2f}d"]
    kept = len(_sox(waveform, sample_rate, effects, output=True).stdout) // 4
    return len(waveform) - kept


def speech_bounds(waveform: np.ndarray, sample_rate: int) -> Tuple[int, int]:
    """(first, end) sample of the recording with its leading and trailing silence cut, margins kept;
    (0, len) where nothing is above the threshold."""
    n = len(waveform)
    loudest, quietest = rms_levels_db(waveform, sample_rate) if n else (float("-inf"), float("-inf"))
    if not np.isfinite(loudest):
        return 0, n
    threshold = trim_threshold_db(loudest, quietest)
    lead = _leading_silence(waveform, sample_rate, threshold)
    if lead >= n:
        return 0, n
    trail = _leading_silence(waveform[::-1], sample_rate, threshold)
    margin, shift = round(TRIM_MARGIN_S * sample_rate), round(FRAME_SHIFT_S * sample_rate)
    first = max(0, lead - margin) // shift * shift
    end = min(n, first + -(-(n - trail + margin - first) // shift) * shift)
    return first, end


def trim_silence(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """The waveform without its leading and trailing silence (`speech_bounds`)."""
    first, end = speech_bounds(waveform, sample_rate)
    return waveform[first:end]
