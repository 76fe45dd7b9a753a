"""The per-utterance confidence (confidence.py) against hand-computed values."""
import math

import pytest
import torch

from wav2prompt_plugin.analysis.confidence import auroc, confidence, prompt_closeness, transcript_certainty


def test_transcript_certainty_is_the_geometric_mean_of_token_probabilities():
    scores = torch.tensor([math.log(0.5), math.log(0.25)])
    assert transcript_certainty(scores) == pytest.approx(math.sqrt(0.5 * 0.25))
    assert transcript_certainty(torch.tensor([])) == 0.0


def test_prompt_closeness_is_the_mean_cosine_to_the_nearest_embedding():
    unit_table = torch.eye(3)  # three orthogonal token embeddings
    prompt = torch.tensor([[3.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, -1.0, 0.0]])
    # cosines to the nearest: 1, 1/sqrt(2), 0 (its best is e1 or e3, both orthogonal)
    assert prompt_closeness(prompt, unit_table) == pytest.approx((1 + 1 / math.sqrt(2) + 0) / 3)
    assert prompt_closeness(torch.zeros(0, 3), unit_table) == 0.0


def test_confidence_is_the_product():
    unit_table = torch.eye(2)
    scores = torch.tensor([math.log(0.8)] * 3)
    prompt = torch.tensor([[1.0, 1.0]])
    assert confidence(scores, prompt, unit_table) == pytest.approx(0.8 / math.sqrt(2))
    assert confidence(scores, torch.zeros(0, 2), unit_table) == 0.0


def test_auroc_counts_pairs_ranked_right():
    # right 0.9, 0.8 against wrong 0.85, 0.1: 3 of the 4 pairs put the right one above
    assert auroc([0.9, 0.85, 0.8, 0.1], [False, True, False, True]) == pytest.approx(0.75)
    assert auroc([0.5, 0.5], [False, True]) == pytest.approx(0.5)  # a tie counts half
    assert auroc([0.1, 0.9], [False, True]) == pytest.approx(0.0)
    assert math.isnan(auroc([0.3, 0.4], [False, False]))
