"""One utterance as Wav2Prompt heard it, in one picture: the fbank spectrogram; CIF's weights α per
encoder frame with the points where it fired; under each fired vector's span its nearest LLM token
(its colour: the cosine to it, low = a prompt the LLM reads badly); the words; and what the LLM
answered. Drawn with matplotlib (the `recipes` extra), from `Wav2PromptInference.transcribe(...,
timestamps=True)`'s output.
"""
import textwrap
from typing import Dict, Optional

import numpy as np

from wav2prompt_plugin.analysis.timestamps import FBANK_SHIFT_S, FBANK_WINDOW_S


def draw(explanation: Dict, spectrogram: np.ndarray, path: str, title: Optional[str] = None) -> str:
    """explanation: transcribe()'s dict with timestamps (plus `answer`, `template` if a task was asked);
    spectrogram: T x 80 fbank frames (10 ms). Writes a PNG to `path`."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display; a PNG only
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("pictures need matplotlib: pip install 'wav2prompt_plugin[recipes]'") from None

    duration = explanation["duration"]
    step = explanation["frame_seconds"]
    alpha = np.asarray(explanation["alpha"])
    tokens, words = explanation["tokens"], explanation["words"]
    width = min(max(8.0, 4.0 * duration), 40.0)
    fig, (ax_spec, ax_alpha, ax_words) = plt.subplots(
        3, 1, figsize=(width, 6.0), sharex=True, gridspec_kw={"height_ratios": [3, 3, 1]})
    ax_spec.imshow(spectrogram.T, origin="lower", aspect="auto", cmap="magma",
                   extent=[0, (len(spectrogram) - 1) * FBANK_SHIFT_S + FBANK_WINDOW_S, 0, spectrogram.shape[1]])
    ax_spec.set_ylabel("mel bin")

    centres = np.arange(len(alpha)) * step + FBANK_WINDOW_S / 2  # as timestamps.frame_seconds
    ax_alpha.bar(centres, alpha, width=step * 0.9, color="#4c72b0")
    top = max(float(alpha.max()) if len(alpha) else 1.0, 1.0) * 1.05
    cmap = plt.get_cmap("RdYlGn")
    for i, token in enumerate(tokens):
        ax_alpha.axvspan(token["start"], token["end"], ymin=0, ymax=0.08,
                         color=cmap(token["cosine"]), alpha=0.9)
        ax_alpha.axvline(token["fire"], color="k", lw=0.6, ls="--")
        ax_alpha.text((token["start"] + token["end"]) / 2, top * (0.93 - 0.12 * (i % 2)),
                      token["token"], ha="center", va="top", fontsize=8,
                      bbox=dict(boxstyle="round,pad=0.15", fc=cmap(token["cosine"]), ec="none", alpha=0.6))
    ax_alpha.set_ylim(0, top)
    ax_alpha.set_ylabel("CIF weight α")

    for word in words:
        ax_words.axvspan(word["start"], word["end"], color="#dddddd")
        ax_words.text((word["start"] + word["end"]) / 2, 0.5, word["word"], ha="center", va="center",
                      fontsize=9)
    ax_words.set_yticks([])
    ax_words.set_xlim(0, duration)
    ax_words.set_xlabel("seconds (dashed: where CIF fired; colour: cosine to the nearest token)")

    heading = [title] if title else []
    heading.append(f"heard: {explanation['text']!r}  (confidence {explanation['confidence']:.2f}, "
                   f"{len(tokens)} prompt vectors)")
    if explanation.get("answer") is not None:
        heading.append(f"{explanation['template']}  →  {explanation['answer']!r}")
    columns = int(width * 14)  # characters of 10-point text a line holds
    fig.suptitle("\n".join(textwrap.fill(h, columns) for h in heading), fontsize=10, ha="left", x=0.01)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
