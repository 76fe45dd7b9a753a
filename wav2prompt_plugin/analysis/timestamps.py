"""When each vector of E_s was heard: CIF's firing times, in seconds of the input audio.

CIF integrates the frame weights alpha_t and fires vector k when the running sum crosses k·β, so
vector k is made of the weight between the levels (k−1)·β and k·β of the cumulative sum. Reading
that sum backwards gives, for any level, the (fractional) frame at which it was reached: the
vector's `fire` time is where its level k·β was reached (for the tail vector that inference
fires, where the weight ends). Its `start` and `end` are the first and last of its frames that
carry at least `ACTIVE_WEIGHT` of it (silence between words gets weights near 0 and belongs to
no token's span), at frame resolution.

An encoder frame stands for the `2^n` fbank frames its n stride-2 convolutions reduce to it;
frame t is centred on fbank frame 2^n·t, whose 25 ms window is centred 12.5 ms after it starts.

Words: which tokens start one is the tokenizer's rule (llm/prompt_codec.py, `WordBoundaries`); a
word runs from its first token's start to its last token's end.

Nothing here changes what the model computes: it reads the weights CIF used.
"""
from typing import Dict, List, Sequence

import torch


FBANK_SHIFT_S = 0.010
FBANK_WINDOW_S = 0.025
# a frame belongs to a token's span if it gives that token at least this much weight (of β)
ACTIVE_WEIGHT = 0.02


def covered_seconds(fbank_frames: int) -> float:
    """The seconds of audio that `fbank_frames` frames cover (a .npy manifest entry has no wav)."""
    return round((fbank_frames - 1) * FBANK_SHIFT_S + FBANK_WINDOW_S, 4) if fbank_frames > 0 else 0.0


def frame_seconds(subsampling: int):
    """(seconds per encoder frame, seconds at which frame 0 is centred)."""
    return subsampling * FBANK_SHIFT_S, FBANK_WINDOW_S / 2


def level_positions(alpha: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """The fractional frame positions p at which the cumulative weight reaches each level: frame t
    spans [t, t+1), and inside it the weight grows linearly."""
    alpha = alpha.double()
    cum = torch.cumsum(alpha, 0)
    levels = levels.double()
    frame = torch.searchsorted(cum, levels).clamp(max=alpha.numel() - 1)
    before = cum[frame] - alpha[frame]
    inside = ((levels - before) / alpha[frame].clamp(min=1e-12)).clamp(0, 1)
    return frame.double() + inside


def vector_weights(alpha: torch.Tensor, num_fired: int, threshold: float = 1.0) -> torch.Tensor:
    """K x T: the weight frame t gives fired vector k, as inference integrates (unscaled alpha; the
    last vector ends at k·β or, for a tail vector, where the weight ends). Fired vector k is
    sum_t W[k, t] h_t (modules/cif.py)."""
    alpha = torch.as_tensor(alpha, dtype=torch.float64).flatten()
    cum = torch.cumsum(alpha, 0)
    high = torch.arange(1, num_fired + 1, dtype=torch.float64) * threshold
    if num_fired:
        high[-1] = min(float(high[-1]), float(cum[-1]))
    low = torch.cat([high.new_zeros(1), high[:-1]])
    # the overlap of frame t's interval [c_t - a_t, c_t] with vector k's [low_k, high_k]
    overlap = torch.minimum(cum.unsqueeze(0), high.unsqueeze(1)) - torch.maximum((cum - alpha).unsqueeze(0),
                                                                                 low.unsqueeze(1))
    return overlap.clamp(min=0)


def token_spans(alpha: Sequence[float], num_fired: int, threshold: float = 1.0,
                active_weight: float = ACTIVE_WEIGHT) -> List[Dict[str, float]]:
    """Per fired vector, `start`, `end` and `fire` in encoder-frame units (frame t spans [t, t+1)).

    alpha: the utterance's unscaled CIF weights over its (unpadded) encoder frames, as inference
    integrated them. The span runs from the first to the last frame that gives the vector at least
    `active_weight`·β, cut at the levels where the vector's integration began and fired."""
    alpha = torch.as_tensor(alpha, dtype=torch.float64).flatten()
    if num_fired <= 0 or alpha.numel() == 0:
        return []
    weights = vector_weights(alpha, num_fired, threshold)
    high = weights.sum(1).cumsum(0)  # the level at which each vector fired
    fire = level_positions(alpha, high).tolist()
    began = [0.0] + fire[:-1]
    spans = []
    for k in range(num_fired):
        active = torch.nonzero(weights[k] >= active_weight * threshold).flatten()
        if active.numel():
            start, end = max(float(active[0]), began[k]), min(float(active[-1]) + 1.0, fire[k])
        else:  # a vector spread thinly over many frames: its whole interval
            start, end = began[k], fire[k]
        spans.append({"start": start, "end": end, "fire": fire[k]})
    return spans


def to_seconds(spans: List[Dict[str, float]], subsampling: int, duration: float) -> List[Dict[str, float]]:
    """Frame positions to seconds of the audio (`duration` long)."""
    step, centre = frame_seconds(subsampling)
    # frame t, spanning [t, t+1), is centred at t·step + centre
    return [{k: round(min(max((p - 0.5) * step + centre, 0.0), duration), 4) for k, p in span.items()}
            for span in spans]
