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
    crit.mse_type, crit.cos_weight = mse_type, 0.0
    total, _, count = crit.distance(FakeModel(table), {"speech_prompt": [prompt]}, transcript, lengths)
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
    crit.mse_type, crit.cos_weight = "normalized", 0.0
    small, _, _ = crit.distance(FakeModel(table), {"speech_prompt": [prompt]}, transcript, lengths)
    large, _, _ = crit.distance(FakeModel(table * 100), {"speech_prompt": [prompt * 100]}, transcript, lengths)
    torch.testing.assert_close(small, large)


def test_predicted_lengths_follow_inference_firing():
    sums = torch.tensor([2.0, 2.49, 2.5, 0.3, 3.9999999])
    lengths = Wav2PromptCriterion.predicted_lengths(FakeModel(torch.zeros(1, 1)), sums)
    assert lengths.tolist() == [2, 2, 3, 0, 4]


class ScriptedModel(FakeModel):
    """Returns fixed logits and a fixed speech prompt, as a trained model would."""

    def __init__(self, table, logits, prompt, weight_sum, training=True, num_updates=0):
        super().__init__(table)
        self.out = (logits, {"encoder_out": {"speech_prompt": [prompt], "cif_weight_sum": [weight_sum]},
                             "llm_input_shape": (2, 7)})
        self.training, self.num_updates, self.calls = training, num_updates, []

    def __call__(self, run_llm=True, **kwargs):
        self.calls.append(run_llm)
        logits, extra = self.out
        return (logits, extra) if run_llm else (None, {"encoder_out": extra["encoder_out"]})


PAD = 0
LOGITS = [[[2.0, 0.5, -1.0, 0.0], [0.0, 1.0, 3.0, -2.0]],
          [[1.0, 1.0, 1.0, 4.0], [9.0, 9.0, 9.0, 9.0]]]  # the last position is padding
TABLE = [[0.0, 0.0], [1.0, 2.0], [-1.0, 0.5], [3.0, -1.0]]
PROMPT = [[[1.5, 2.0], [2.0, -2.0]], [[-1.0, 1.5], [7.0, 7.0]]]  # the last vector is past U=1
WEIGHT_SUM = [2.25, 0.5]


def scripted(**kwargs):
    model = ScriptedModel(torch.tensor(TABLE), torch.tensor(LOGITS), torch.tensor(PROMPT),
                          torch.tensor(WEIGHT_SUM), **kwargs)
    sample = {
        "net_input": {"src_lengths": torch.tensor([30, 20])}, "target": torch.tensor([[1, 2], [3, PAD]]),
        "transcript": torch.tensor([[1, 3], [2, PAD]]), "transcript_lengths": torch.tensor([2, 1]),
        "ntokens": 3, "nsentences": 2,
    }
    return model, sample


def criterion(**weights):
    task = SimpleNamespace(target_dictionary=SimpleNamespace(pad=lambda: PAD))
    return Wav2PromptCriterion(task, mse_type="plain", **weights)


def hand_mse_and_qua():
    pairs = [(PROMPT[0][0], TABLE[1]), (PROMPT[0][1], TABLE[3]), (PROMPT[1][0], TABLE[2])]
    mse = sum(sum((p - t) ** 2 for p, t in zip(vec, emb)) / 2 for vec, emb in pairs)
    return pairs, mse, abs(2.25 - 2) + abs(0.5 - 1)


def test_llm_free_updates_leave_out_the_llm_and_ce_then_switch():
    """Updates 0-4 of --llm-free-updates 5: the model runs without the LLM and the loss is
    8 MSE/vectors + 2 (1 - cos)/vectors + 0.5 QUA/sentences; update 5 and evaluation run it."""
    import math

    crit = criterion(mse_weight=8.0, qua_weight=0.5, cos_weight=2.0, llm_free_updates=5)
    pairs, mse, qua = hand_mse_and_qua()

    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b)) / math.hypot(*a) / math.hypot(*b)

    cos = sum(1 - cosine(vec, emb) for vec, emb in pairs)
    model, sample = scripted(num_updates=4)
    loss, _, log = crit(model, sample)
    assert model.calls == [False]
    assert "ce" not in log and log["llm_free_batches"] == 1 and "llm_positions" not in log
    assert log["cos"].item() == pytest.approx(cos, rel=1e-5)
    assert loss.item() == pytest.approx((8.0 * mse / 3 + 2.0 * cos / 3 + 0.5 * qua / 2) * 3, rel=1e-5)
    assert log["speech_frames"] == 50 and log["speech_frames_sq"] == 30 ** 2 + 20 ** 2
    for kwargs in ({"num_updates": 5}, {"num_updates": 0, "training": False}):
        model, sample = scripted(**kwargs)
        _, _, log = crit(model, sample)
        assert model.calls == [True] and "ce" in log and log["llm_free_batches"] == 0
        assert log["llm_positions"] == 14 and log["llm_positions_sq"] == 2 * 49 and log["llm_logits"] == 4


def test_llm_free_updates_need_an_embedding_term():
    with pytest.raises(ValueError, match="--llm-free-updates 10 needs --mse-weight or --cos-weight"):
        criterion(mse_weight=0.0, llm_free_updates=10)


def test_forward_against_hand_computed_terms_and_weights():
    """Two utterances, the second target padded: L_CE over the 3 real target
    tokens, plain L_MSE over the 2 + 1 transcript vectors, L_QUA over the two
    weight sums, combined as CE/ntokens + 8 MSE/vectors + 0.5 QUA/sentences."""
    import math

    pad = 0
    task = SimpleNamespace(target_dictionary=SimpleNamespace(pad=lambda: pad))
    crit = Wav2PromptCriterion(task, mse_weight=8.0, qua_weight=0.5, mse_type="plain")
    logits_rows = [[[2.0, 0.5, -1.0, 0.0], [0.0, 1.0, 3.0, -2.0]],
                   [[1.0, 1.0, 1.0, 4.0], [9.0, 9.0, 9.0, 9.0]]]  # the last position is padding
    target = [[1, 2], [3, pad]]
    table = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-1.0, 0.5], [3.0, -1.0]])
    transcript = [[1, 3], [2, pad]]
    prompt = [[[1.5, 2.0], [2.0, -2.0]], [[-1.0, 1.5], [7.0, 7.0]]]  # the last vector is past U=1
    weight_sum = [2.25, 0.5]
    sample = {
        "net_input": {}, "target": torch.tensor(target), "transcript": torch.tensor(transcript),
        "transcript_lengths": torch.tensor([2, 1]), "ntokens": 3, "nsentences": 2,
    }
    model = ScriptedModel(table, torch.tensor(logits_rows), torch.tensor(prompt), torch.tensor(weight_sum))
    loss, sample_size, log = crit(model, sample)

    def nll(row, k):
        return math.log(sum(math.exp(v) for v in row)) - row[k]

    ce = nll(logits_rows[0][0], 1) + nll(logits_rows[0][1], 2) + nll(logits_rows[1][0], 3)
    pairs = [(prompt[0][0], table[1]), (prompt[0][1], table[3]), (prompt[1][0], table[2])]
    mse = sum(sum((p - float(t)) ** 2 for p, t in zip(vec, emb.tolist())) / 2 for vec, emb in pairs)
    qua = abs(2.25 - 2) + abs(0.5 - 1)
    expected = (ce / 3 + 8.0 * mse / 3 + 0.5 * qua / 2) * 3
    assert sample_size == 3
    assert log["ce"].item() == pytest.approx(ce, rel=1e-5)
    assert log["mse"].item() == pytest.approx(mse, rel=1e-5) and log["mse_vectors"] == 3
    assert log["qua"].item() == pytest.approx(qua, rel=1e-5)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # fired counts 2 (2.25) and 1 (0.5: a tail of one half fires): both exact
    assert log["cif_len_exact"] == 2 and log["cif_len_abs_err"] == 0
    assert log["correct"].item() == 2  # argmax 0 vs 1 wrong; 2 = 2 right; 3 = 3 right


def test_fired_count_is_one_rule():
    from wav2prompt_plugin.criterions.speech_encoder_ctc import fired_count as ctc_rule
    from wav2prompt_plugin.modules.cif import fired_count, integrate_and_fire

    sums = torch.tensor([2.0, 2.49, 2.5, 0.3, 3.9999999])
    assert fired_count(sums).tolist() == [2, 2, 3, 0, 4]
    assert ctc_rule is fired_count
    alpha = torch.stack([torch.full((10,), s / 10) for s in sums.tolist()])
    out = integrate_and_fire(torch.randn(5, 10, 3), alpha)
    assert out.num_fired.tolist() == [2, 2, 3, 0, 4]
