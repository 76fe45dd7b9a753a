"""The CIF paper's sequential integrate-and-fire, one frame at a time.

The reference that the vectorised `integrate_and_fire` (modules/cif.py) is
tested and benchmarked against: slow, but a direct reading of Dong & Xu (2020).
Differentiable in both the frames and the weights.
"""
from typing import List

import torch


def loop_cif(hidden, alpha, length, target_length=None, threshold=1.0, tail=0.5, dtype=torch.double):
    """Fired vectors (N x C) of one utterance: hidden T x C, alpha T, first `length` frames."""
    alpha = alpha[:length].to(dtype)
    hidden = hidden[:length].to(dtype)
    if target_length is not None:
        alpha = alpha * target_length / alpha.sum()
    fired = []
    acc_w, acc_h = 0.0, hidden.new_zeros(hidden.size(1))
    for t in range(length):
        a = alpha[t]
        while _value(acc_w + a) >= threshold:
            need = threshold - acc_w
            fired.append(acc_h + need * hidden[t])
            a = a - need
            acc_w, acc_h = 0.0, hidden.new_zeros(hidden.size(1))
        acc_w = acc_w + a
        acc_h = acc_h + a * hidden[t]
    if target_length is not None:
        if len(fired) < target_length:  # rounding left the last one short
            fired.append(acc_h)
        elif len(fired) > target_length:
            fired = fired[:target_length]
    elif _value(acc_w) >= tail * threshold:
        fired.append(acc_h)
    if not fired:
        return hidden.new_zeros(0, hidden.size(1))
    return torch.stack(fired)


def _value(x) -> float:
    return float(x.detach()) if torch.is_tensor(x) else float(x)


def loop_cif_batch(
    hidden, alpha, padding_mask=None, target_lengths=None, threshold=1.0, tail=0.5, dtype=torch.double
) -> List[torch.Tensor]:
    """`loop_cif` over a batch: hidden B x T x C, alpha B x T, padding_mask B x T (True on padding)."""
    lengths = [hidden.size(1)] * hidden.size(0) if padding_mask is None else (~padding_mask).sum(1).tolist()
    return [
        loop_cif(hidden[b], alpha[b], lengths[b],
                 None if target_lengths is None else int(target_lengths[b]), threshold, tail, dtype)
        for b in range(hidden.size(0))
    ]


__all__ = ["loop_cif", "loop_cif_batch"]
