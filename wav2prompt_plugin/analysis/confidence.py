"""Whether Wav2Prompt understood an utterance: one score per utterance from what it computes anyway.

A prompt the LLM cannot read still makes it write a fluent in-world sentence, so the output's wording
cannot tell. Two things can, and the score is their product:

- the LLM's own certainty about its transcript of E_s: exp of the mean log-probability of the greedy
  transcript's tokens (eos included) under the template the model trained with (the repeat template),
  i.e. the geometric mean of its token probabilities;
- how close E_s lies to the LLM's text embeddings: the mean, over the fired vectors, of each vector's
  cosine to its nearest input embedding (0 where CIF fired nothing).

Both lie in [0, 1] for a trained model. On the mini recipe's test sentences under clean, noisy and
unheard-synthesizer audio the product ranks "the transcript has an error" with AUROC 0.96, each factor
alone 0.95 / 0.94 (recipes/mini/RESULTS.md, "A confidence").
"""
from typing import Sequence

import torch
import torch.nn.functional as F

# what `wav2prompt-eval --min-confidence` writes instead of an answer
REFUSAL = "<not understood>"


def transcript_certainty(positional_scores: torch.Tensor) -> float:
    """exp(mean log-probability) of a hypothesis' tokens: fairseq's `positional_scores`."""
    if positional_scores.numel() == 0:
        return 0.0
    return float(positional_scores.float().mean().exp())


def prompt_closeness(prompt: torch.Tensor, unit_table: torch.Tensor) -> float:
    """Mean over E_s's vectors (U' x D) of the cosine to the nearest row of `unit_table`
    (the LLM's input embeddings, each normalised to unit length)."""
    if prompt.size(0) == 0:
        return 0.0
    cosine = F.normalize(prompt.float(), dim=-1) @ unit_table.T
    return float(cosine.max(dim=-1).values.mean())


def confidence(positional_scores: torch.Tensor, prompt: torch.Tensor, unit_table: torch.Tensor) -> float:
    return transcript_certainty(positional_scores) * max(prompt_closeness(prompt, unit_table), 0.0)


def auroc(scores: Sequence[float], wrong: Sequence[bool]) -> float:
    """The chance that a right utterance scores above a wrong one (ties count half): the area under
    the ROC curve of the score for telling them apart. NaN if either group is empty."""
    from scipy.stats import mannwhitneyu

    right_scores = [s for s, w in zip(scores, wrong) if not w]
    wrong_scores = [s for s, w in zip(scores, wrong) if w]
    if not right_scores or not wrong_scores:
        return float("nan")
    return float(mannwhitneyu(right_scores, wrong_scores).statistic) / (len(right_scores) * len(wrong_scores))
