"""E_s against the LLM's embeddings of the transcript, by hand."""
import math

import pytest
import torch

from wav2prompt_plugin.evaluation.prompt_distance import PromptDistance


def test_figures_against_hand_computed_values():
    table = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]])
    distance = PromptDistance(table)
    # counts match: nearest tokens 0 and 1, both right
    distance.add(torch.tensor([[2.0, 0.1], [0.1, 1.0]]), [0, 1])
    # one vector for two tokens: no pairing; nearest token 2 against [2, 0] is one deletion
    distance.add(torch.tensor([[-1.0, -0.9]]), [2, 0])
    figures = distance.figures()
    assert distance.nearest_tokens == [[0, 1], [2]]
    assert figures["prompt_nmse"] == pytest.approx((1.01 + 1.01) / (1 + 4))
    assert figures["prompt_cosine"] == pytest.approx((2 / math.sqrt(4.01) + 1 / math.sqrt(1.01)) / 2)
    assert figures["prompt_token_acc"] == 100.0
    assert figures["prompt_token_acc_aligned"] == pytest.approx(75.0)  # 1 edit in 4 tokens
    assert distance.paired_utterances == 1


def test_a_wrong_nearest_token_and_no_pairing_at_all():
    table = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    distance = PromptDistance(table)
    distance.add(torch.tensor([[0.2, 1.0], [0.0, 3.0]]), [0, 1])  # first vector nearer token 1
    assert distance.figures()["prompt_token_acc"] == 50.0
    only_unpaired = PromptDistance(table)
    only_unpaired.add(torch.tensor([[1.0, 0.0]]), [0, 0])
    assert set(only_unpaired.figures()) == {"prompt_token_acc_aligned"}
    assert PromptDistance(table).figures() == {}
