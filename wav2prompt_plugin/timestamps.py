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

Words: a token whose text starts with a space in running text starts a word (SentencePiece's
"▁" and byte-level BPE's "Ġ" alike, as the tokenizer itself decodes them); a word runs from its
first token's start to its last token's end.

Nothing here changes what the model computes: it reads the weights CIF used.
"""
from typing import Dict, List, Sequence

import torch

FBANK_SHIFT_S = 0.010
FBANK_WINDOW_S = 0.025
# a frame belongs to a token's span if it gives that token at least this much weight (of β)
ACTIVE_WEIGHT = 0.05


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


def token_spans(alpha: Sequence[float], num_fired: int, threshold: float = 1.0,
                active_weight: float = ACTIVE_WEIGHT) -> List[Dict[str, float]]:
    """Per fired vector, `start`, `end` and `fire` in encoder-frame units (frame t spans [t, t+1)).

    alpha: the utterance's unscaled CIF weights over its (unpadded) encoder frames, as inference
    integrated them."""
    alpha = torch.as_tensor(alpha, dtype=torch.float64).flatten()
    if num_fired <= 0 or alpha.numel() == 0:
        return []
    cum = torch.cumsum(alpha, 0)
    total = float(cum[-1])
    bounds = torch.arange(1, num_fired + 1, dtype=torch.float64) * threshold
    bounds[-1] = min(float(bounds[-1]), total)  # the tail vector ends where the weight does
    fire = level_positions(alpha, bounds)
    spans = []
    low = 0.0
    for k in range(num_fired):
        high = float(bounds[k])
        # each frame's share of this vector's weight interval [low, high]
        share = (torch.minimum(cum, torch.tensor(high)) - torch.maximum(cum - alpha, torch.tensor(low))).clamp(min=0)
        active = torch.nonzero(share >= active_weight * threshold).flatten()
        if active.numel():
            start, end = float(active[0]), float(active[-1]) + 1.0
        else:  # a vector spread thinly over many frames: its whole interval
            start, end = float(level_positions(alpha, torch.tensor([low]))[0]), float(fire[k])
        spans.append({"start": start, "end": end, "fire": float(fire[k])})
        low = high
    return spans


def to_seconds(spans: List[Dict[str, float]], subsampling: int, duration: float) -> List[Dict[str, float]]:
    """Frame positions to seconds of the audio (`duration` long)."""
    step, centre = frame_seconds(subsampling)
    # frame t, spanning [t, t+1), is centred at t·step + centre
    return [{k: round(min(max((p - 0.5) * step + centre, 0.0), duration), 4) for k, p in span.items()}
            for span in spans]


class WordBoundaries:
    """Which token ids start a word, as the tokenizer writes them in running text."""

    ANCHOR = "a"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.anchor = tokenizer(self.ANCHOR, add_special_tokens=False)["input_ids"]
        self.special = set(getattr(tokenizer, "all_special_ids", []))
        self._starts: Dict[int, bool] = {}

    def starts_word(self, token_id: int) -> bool:
        if token_id not in self._starts:
            text = self.tokenizer.decode(self.anchor + [token_id], skip_special_tokens=True)
            self._starts[token_id] = token_id in self.special or text[len(self.ANCHOR):][:1].isspace()
        return self._starts[token_id]

    def words(self, token_ids: Sequence[int], spans: Sequence[Dict[str, float]]) -> List[dict]:
        """Tokens grouped into words: each word's text, start, end and token indices."""
        groups: List[List[int]] = []
        for i, token in enumerate(token_ids):
            if not groups or self.starts_word(token):
                groups.append([])
            groups[-1].append(i)
        out = []
        for group in groups:
            text = self.tokenizer.decode([token_ids[i] for i in group], skip_special_tokens=True).strip()
            out.append({"word": text, "start": spans[group[0]]["start"], "end": spans[group[-1]]["end"],
                        "tokens": group})
        return out
