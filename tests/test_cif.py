"""CIF against a plain per-frame loop, with gradients."""
import pytest
import torch

from wav2prompt_plugin.modules.cif import CifWeightPredictor, integrate_and_fire
from wav2prompt_plugin.modules.cif_reference import loop_cif


def batch(seed, bsz=3, time=17, dim=7, high=0.9):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(bsz, time, dim, generator=g)
    alpha = torch.rand(bsz, time, generator=g) * high
    lengths = torch.tensor([time, time - 5, time - 11][:bsz])
    padding = torch.arange(time).unsqueeze(0) >= lengths.unsqueeze(1)
    return hidden, alpha, lengths, padding


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("with_targets", [False, True])
def test_matches_loop_reference(seed, with_targets):
    hidden, alpha, lengths, padding = batch(seed)
    targets = torch.tensor([9, 6, 2]) if with_targets else None
    out = integrate_and_fire(hidden, alpha, padding, targets)
    for b in range(hidden.size(0)):
        ref = loop_cif(
            hidden[b], alpha[b], int(lengths[b]), None if targets is None else int(targets[b])
        )
        assert int(out.num_fired[b]) == ref.size(0)
        torch.testing.assert_close(
            out.fired[b, : ref.size(0)].double(), ref, atol=1e-5, rtol=1e-5
        )
        assert out.fired[b, ref.size(0):].abs().sum() == 0
        assert out.fired_mask[b].sum() == ref.size(0)
        torch.testing.assert_close(out.weight_sum[b], alpha[b, : lengths[b]].sum())


def test_scaled_weights_above_one_cross_several_boundaries():
    # 4 frames must fire 9 vectors: every frame's scaled weight is above 2
    hidden, alpha, _, _ = batch(7, bsz=1, time=4)
    targets = torch.tensor([9])
    out = integrate_and_fire(hidden, alpha, None, targets)
    ref = loop_cif(hidden[0], alpha[0], 4, 9)
    assert ref.size(0) == 9 and int(out.num_fired[0]) == 9
    torch.testing.assert_close(out.fired[0].double(), ref, atol=1e-5, rtol=1e-5)


def test_tail_fires_only_above_threshold():
    hidden = torch.ones(2, 3, 1)
    alpha = torch.tensor([[0.5, 0.5, 0.6], [0.5, 0.5, 0.4]])  # tails 0.6 and 0.4
    out = integrate_and_fire(hidden, alpha, None, None, tail_threshold=0.5)
    assert out.num_fired.tolist() == [2, 1]
    torch.testing.assert_close(out.fired[0, :, 0], torch.tensor([1.0, 0.6]))


def test_zero_weight_fires_nothing():
    out = integrate_and_fire(torch.randn(2, 5, 3), torch.zeros(2, 5))
    assert out.num_fired.tolist() == [0, 0]
    assert out.fired.shape == (2, 0, 3)


def test_gradcheck_inputs_and_weights():
    hidden, alpha, _, _ = batch(3, bsz=2, time=6, dim=3)
    hidden = hidden.double().requires_grad_()
    alpha = (alpha.double() * 0.8 + 0.1).requires_grad_()
    padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    targets = torch.tensor([3, 1])

    def fire(h, a):
        return integrate_and_fire(h, a, padding, targets).fired

    def fire_inference(h, a):
        return integrate_and_fire(h, a, padding, None).fired

    assert torch.autograd.gradcheck(fire, (hidden, alpha), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(fire_inference, (hidden, alpha), eps=1e-6, atol=1e-5)


def test_weight_predictor_masks_padding():
    predictor = CifWeightPredictor(embed_dim=12).eval()
    hidden = torch.randn(2, 9, 12)
    padding = torch.zeros(2, 9, dtype=torch.bool)
    padding[1, 5:] = True
    alpha = predictor(hidden, padding)
    assert alpha.shape == (2, 9)
    assert (alpha[1, 5:] == 0).all() and (alpha[0] > 0).all() and (alpha < 1).all()
    # padded frames must not leak into valid ones through the convolution
    changed = hidden.clone()
    changed[1, 5:] = 100.0
    torch.testing.assert_close(predictor(changed, padding), predictor(hidden, padding))


def test_bf16_autocast_keeps_l_qua_and_the_fired_count_of_fp32():
    """Paper-scale utterances (U >= 100 tokens) under the recipe's bf16
    autocast: the weights, their sum (L_QUA = |sum alpha - U|) and the fired
    count are those of the fp32 computation. Tolerance 0.02 on L_QUA: the
    conv still runs in bf16 under autocast, so each weight moves by ~1e-3;
    a bf16 sum of the same weights resolves only 0.5 at these sizes."""
    torch.manual_seed(0)
    predictor = CifWeightPredictor(embed_dim=64, dropout=0.0).eval()
    torch.nn.init.constant_(predictor.proj.bias, -2.0)  # ~0.12 a frame: U ~ 120 over 1000 frames
    hidden = torch.randn(4, 1000, 64).bfloat16()  # the encoder's output under autocast
    padding = torch.arange(1000).unsqueeze(0) >= torch.tensor([[1000], [960], [920], [880]])
    targets = torch.tensor([130, 118, 111, 100])

    def l_qua_and_count(autocast):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            alpha = predictor(hidden if autocast else hidden.float(), padding)
            out = integrate_and_fire(hidden if autocast else hidden.float(), alpha, padding)
        return (out.weight_sum - targets).abs(), out.num_fired, alpha

    l_qua, fired, alpha = l_qua_and_count(autocast=True)
    l_qua_fp32, fired_fp32, alpha_fp32 = l_qua_and_count(autocast=False)
    assert alpha.dtype == torch.float32 and (alpha_fp32.sum(1) >= 100).all()
    torch.testing.assert_close(l_qua, l_qua_fp32, rtol=0, atol=0.02)
    assert torch.equal(fired, fired_fp32)
    # what a bf16 sum of these weights gives instead: off by more than the tolerance
    bf16_sum = alpha_fp32.bfloat16().sum(1, dtype=torch.bfloat16).float()
    assert ((bf16_sum - targets).abs() - l_qua_fp32).abs().max() > 0.1
