"""The speech encoders the architectures name build and run (wav2prompt_base:
a Conformer with relative positions)."""
import pytest
import torch

from wav2prompt_plugin.models.speech_encoder import build_speech_encoder
from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig


@pytest.mark.parametrize("encoder_type,pos_enc_type", [("conformer", "rel_pos"), ("conformer", "abs"),
                                                       ("transformer", "abs")])
def test_encoder_runs_on_padded_fbank(encoder_type, pos_enc_type):
    cfg = Wav2PromptConfig(encoder_type=encoder_type, pos_enc_type=pos_enc_type, conv_kernel_sizes="5,5",
                           conv_channels=14, encoder_embed_dim=12, encoder_ffn_embed_dim=28,
                           encoder_layers=2, encoder_attention_heads=2, depthwise_conv_kernel_size=7,
                           max_source_positions=500)
    encoder = build_speech_encoder(cfg).eval()
    fbank = torch.randn(2, 37, 80)
    out = encoder(fbank, torch.tensor([37, 21]))
    assert out["encoder_out"][0].shape == (10, 2, 12)  # 37 frames, subsampled 4x
    assert out["encoder_padding_mask"][0][1].sum() == 10 - 6
    assert torch.isfinite(out["encoder_out"][0]).all()
