"""Continuous integrate-and-fire (CIF), vectorised over time.

Wav2Prompt (Deng et al., 2024) turns the encoder output H (B x T x C) into one
vector per LLM token with CIF (Dong & Xu, 2020): a weight alpha_t in [0, 1] is
predicted per frame, the weighted frames are integrated, and a vector is fired
each time the running weight crosses the threshold beta (1.0).

Why not a loop or an existing package: the usual implementation steps through
frames in Python; here firing is computed in closed form. Let c(x) be the
"alpha time" (cumulative weight) and S(x) the integral of h over it, a piecewise
linear function with S(c_t) = sum_{tau<=t} alpha_tau h_tau. The k-th fired vector
is S(k beta) - S((k-1) beta), and S at a boundary is found with one
`searchsorted` over the cumulative weights. This costs O(T C + K C), handles any
padding, and stays exact when a frame's (scaled) weight exceeds 1 and crosses
several boundaries, which happens when training scales the weights to U.
"""
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class CifOutput:
    fired: torch.Tensor  # B x K x C, zero beyond each utterance's count
    fired_mask: torch.Tensor  # B x K, True for real vectors
    num_fired: torch.Tensor  # B, integer counts
    weight_sum: torch.Tensor  # B, sum of unscaled weights (for L_QUA)
    alpha: torch.Tensor  # B x T, unscaled weights (zero on padding)


class CifWeightPredictor(nn.Module):
    """alpha_t = sigmoid(Linear(ReLU(Conv1d(H)))), as in the CIF paper."""

    def __init__(self, embed_dim: int, conv_kernel_size: int = 3, dropout: float = 0.1):
        super().__init__()
        self.conv = nn.Conv1d(
            embed_dim, embed_dim, conv_kernel_size, padding=conv_kernel_size // 2
        )
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(embed_dim, 1)

    def forward(self, hidden: torch.Tensor, padding_mask: Optional[torch.Tensor]):
        # hidden: B x T x C; padding_mask: B x T, True on padding
        if padding_mask is not None:
            hidden = hidden.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        x = F.relu(self.conv(hidden.transpose(1, 2)).transpose(1, 2))
        # the weights in fp32 even under bf16 autocast: their sums (U up to a
        # few hundred) are L_QUA and the fired count, where bf16 resolves 0.5-1
        with torch.autocast(x.device.type, enabled=False):
            alpha = torch.sigmoid(self.proj(self.dropout(x).float()).squeeze(-1))
        if padding_mask is not None:
            alpha = alpha.masked_fill(padding_mask, 0.0)
        return alpha  # B x T


def fired_count(weight_sum: torch.Tensor, threshold: float = 1.0, tail_threshold: float = 0.5) -> torch.Tensor:
    """How many vectors inference fires from an utterance's total weight:
    floor(sum / threshold), plus one for a tail >= tail_threshold * threshold.
    The one rule for CIF, the criteria's length metrics and the evaluation."""
    whole = torch.floor(weight_sum / threshold + 1e-6)
    tail = weight_sum - whole * threshold
    return (whole + (tail >= tail_threshold * threshold).to(whole)).long()


def integrate_and_fire(
    hidden: torch.Tensor,
    alpha: torch.Tensor,
    padding_mask: Optional[torch.Tensor] = None,
    target_lengths: Optional[torch.Tensor] = None,
    threshold: float = 1.0,
    tail_threshold: float = 0.5,
) -> CifOutput:
    """Fire one vector per `threshold` of integrated weight.

    hidden: B x T x C encoder output; alpha: B x T weights >= 0;
    padding_mask: B x T, True on padded frames.
    With `target_lengths` (training), weights are scaled so that each utterance
    sums to exactly U and exactly U vectors are fired (the last one takes
    whatever rounding left). Without them (inference), floor(sum) vectors fire,
    plus one for a remaining tail weight >= `tail_threshold` * threshold.
    """
    if padding_mask is not None:
        alpha = alpha.masked_fill(padding_mask, 0.0)
    work_dtype = torch.promote_types(hidden.dtype, torch.float32)
    h = hidden.to(work_dtype)
    a = alpha.to(work_dtype)
    weight_sum = a.sum(dim=1)
    if target_lengths is not None:
        scale = target_lengths.to(work_dtype) / a.sum(dim=1).clamp(min=1e-6)
        a = a * scale.unsqueeze(1)
    bsz, time, dim = h.shape

    cum_weight = torch.cumsum(a, dim=1)  # c_t, B x T
    total = cum_weight[:, -1]
    if target_lengths is not None:
        num_fired = target_lengths.long()
    else:
        num_fired = fired_count(total, threshold, tail_threshold)
    max_fired = int(num_fired.max()) if bsz > 0 else 0
    steps = torch.arange(1, max_fired + 1, device=h.device)
    bounds = threshold * steps.to(work_dtype).expand(bsz, max_fired)  # k beta

    # f_k, the frame in which boundary k beta falls (T: past the end)
    frame = torch.searchsorted(cum_weight.detach().contiguous(), bounds.contiguous())
    if target_lengths is not None:
        # the U-th vector ends at the total integral, so rounding in the
        # scaled sum never drops a remainder
        frame = torch.where(steps.unsqueeze(0) >= num_fired.unsqueeze(1), time, frame)
    # each frame's slot k: the number of boundaries at or before it, so that
    # slot k sums a_t h_t over f_k <= t < f_{k+1}
    marks = torch.zeros(bsz, time + 1, dtype=torch.long, device=h.device)
    marks.scatter_add_(1, frame, torch.ones_like(frame))
    slot = marks[:, :time].cumsum(1) + torch.arange(bsz, device=h.device).unsqueeze(1) * (max_fired + 1)
    slot_sums = h.new_zeros(bsz * (max_fired + 1), dim).index_add(
        0, slot.view(-1), (a.unsqueeze(-1) * h).reshape(-1, dim)
    ).view(bsz, max_fired + 1, dim)

    # the part of frame f_k before the boundary belongs to vector k, the rest to k + 1
    inside = frame < time
    frame = frame.clamp(max=time - 1)
    before = torch.where(inside, bounds - (cum_weight - a).gather(1, frame), torch.zeros_like(bounds))
    rows = torch.arange(bsz, device=h.device).unsqueeze(1)
    split = before.unsqueeze(-1) * h[rows, frame]  # B x K x C
    previous = torch.cat([split.new_zeros(bsz, 1, dim), split], dim=1)[:, :max_fired]
    fired = slot_sums[:, :max_fired] + split - previous
    fired_mask = steps.unsqueeze(0) <= num_fired.unsqueeze(1)
    fired = fired * fired_mask.unsqueeze(-1).to(work_dtype)
    return CifOutput(
        fired=fired.to(hidden.dtype),
        fired_mask=fired_mask,
        num_fired=num_fired,
        weight_sum=weight_sum,
        alpha=alpha,
    )
