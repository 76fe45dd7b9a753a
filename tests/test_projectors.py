"""The projector registry (models/speech_prompt.py): the built-in projectors keep the state-dict names
of the modules they replaced (checkpoints from before the registry load), `auto` picks by the hidden
width as before, a registered class is built by its name, and an unknown name is refused."""
import pytest
import torch
import torch.nn as nn

from wav2prompt_plugin.models.speech_prompt import PROJECTORS, build_projector, register_projector
from wav2prompt_plugin.runtime.errors import InputError


def test_auto_builds_what_the_hidden_width_built_before_the_registry():
    linear = build_projector(8, 4, 0)
    mlp = build_projector(8, 4, 16)
    assert set(linear.state_dict()) == set(nn.Linear(8, 4).state_dict()) == {"weight", "bias"}
    before = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4))
    assert set(mlp.state_dict()) == set(before.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    before.load_state_dict(mlp.state_dict())  # a checkpoint's weights go either way
    x = torch.randn(3, 8)
    torch.testing.assert_close(before(x), mlp(x))


def test_the_last_layer_starts_at_the_llm_embedding_scale():
    torch.manual_seed(0)
    for hidden in (0, 64):
        projector = build_projector(256, 512, hidden, out_rms=0.05)
        last = projector if hidden == 0 else projector[-1]
        assert last.bias.abs().max() == 0
        assert last.weight.std().item() == pytest.approx(0.05 / last.in_features ** 0.5, rel=0.05)


def test_a_registered_projector_is_built_by_name_and_an_unknown_one_refused():
    @register_projector("test_gated")
    class Gated(nn.Module):
        def __init__(self, in_dim, out_dim, hidden_dim):
            super().__init__()
            self.out, self.gate = nn.Linear(in_dim, out_dim), nn.Linear(in_dim, out_dim)

        def forward(self, x):
            return self.out(x) * torch.sigmoid(self.gate(x))

        @staticmethod
        def last(module):
            return module.out

    try:
        projector = build_projector(8, 4, 0, out_rms=0.1, kind="test_gated")
        assert isinstance(projector, Gated) and projector.out.bias.abs().max() == 0
        assert projector(torch.randn(2, 8)).shape == (2, 4)
        with pytest.raises(ValueError, match="registered twice"):
            register_projector("test_gated")(Gated)
    finally:
        PROJECTORS.pop("test_gated")
    with pytest.raises(InputError, match="--projector 'test_gated': not a registered projector \\(linear, mlp\\)"):
        build_projector(8, 4, 0, kind="test_gated")
    with pytest.raises(InputError, match="--projector mlp needs --projector-hidden-dim > 0"):
        build_projector(8, 4, 0, kind="mlp")
