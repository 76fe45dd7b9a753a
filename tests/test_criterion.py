"""The loss terms against direct computations."""
from types import SimpleNamespace

import pytest
import torch

from wav2prompt_plugin.criterions.wav2prompt import Wav2PromptCriterion


class FakeModel:
    def __init__(self, table):
        self.decoder = SimpleNamespace(embed_tokens=lambda ids: table[ids])
        self.encoder = SimpleNamespace(
            cfg=SimpleNamespace(cif_threshold=1.0, cif_tail_threshold=0.5)
        )


@pytest.mark.parametrize("mse_type", ["plain", "normalized"])
def test_mse_over_valid_vectors_only(mse_type):
    torch.manual_seed(0)
    table = torch.randn(11, 7) * 5
    transcript = torch.tensor([[3, 4, 5], [6, 7, 0]])
    lengths = torch.tensor([3, 2])
    prompt = torch.randn(2, 3, 7)
    crit = Wav2PromptCriterion.__new__(Wav2PromptCriterion)
    crit.mse_type = mse_type
    total, count = crit.mse(FakeModel(table), {"speech_prompt": [prompt]}, transcript, lengths)
    pairs = [(prompt[0, i], table[transcript[0, i]]) for i in range(3)] + [
        (prompt[1, i], table[transcript[1, i]]) for i in range(2)
    ]
    expected = sum(((p - t) ** 2).mean() for p, t in pairs)
    if mse_type == "normalized":
        expected = expected / (sum((t ** 2).mean() for _, t in pairs) / len(pairs))
    assert count == 5
    torch.testing.assert_close(total, expected)


def test_normalized_mse_is_scale_free():
    torch.manual_seed(1)
    table = torch.randn(11, 7)
    transcript, lengths = torch.tensor([[1, 2, 3]]), torch.tensor([3])
    prompt = torch.randn(1, 3, 7)
    crit = Wav2PromptCriterion.__new__(Wav2PromptCriterion)
    crit.mse_type = "normalized"
    small, _ = crit.mse(FakeModel(table), {"speech_prompt": [prompt]}, transcript, lengths)
    large, _ = crit.mse(FakeModel(table * 100), {"speech_prompt": [prompt * 100]}, transcript, lengths)
    torch.testing.assert_close(small, large)


def test_predicted_lengths_follow_inference_firing():
    sums = torch.tensor([2.0, 2.49, 2.5, 0.3, 3.9999999])
    lengths = Wav2PromptCriterion.predicted_lengths(FakeModel(torch.zeros(1, 1)), sums)
    assert lengths.tolist() == [2, 2, 3, 0, 4]
