"""The speech encoder: fairseq's own S2T Transformer or Conformer encoder.

Reusing fairseq's classes (conv subsampler + layers) keeps parameter names
identical to a fairseq `s2t_transformer`/`s2t_conformer` checkpoint, so the
ASR model of the cascade (or any fairseq S2T ASR model) can initialise it.
"""
import logging
from argparse import Namespace

import torch
from fairseq import checkpoint_utils
from fairseq.models.speech_to_text.s2t_conformer import S2TConformerEncoder
from fairseq.models.speech_to_text.s2t_transformer import S2TTransformerEncoder

from wav2prompt_plugin.data.audio_features import NUM_MEL_BINS

logger = logging.getLogger(__name__)

SPEECH_ENCODERS = {"transformer": S2TTransformerEncoder, "conformer": S2TConformerEncoder}


def s2t_encoder_args(cfg) -> Namespace:
    """The argparse namespace fairseq's S2T encoders are built from."""
    return Namespace(
        input_feat_per_channel=NUM_MEL_BINS,
        input_channels=1,
        conv_version="s2t_transformer",
        conv_kernel_sizes=cfg.conv_kernel_sizes,
        conv_channels=cfg.conv_channels,
        encoder_embed_dim=cfg.encoder_embed_dim,
        encoder_ffn_embed_dim=cfg.encoder_ffn_embed_dim,
        encoder_layers=cfg.encoder_layers,
        encoder_attention_heads=cfg.encoder_attention_heads,
        encoder_normalize_before=True,
        encoder_layerdrop=0.0,
        encoder_freezing_updates=cfg.encoder_freezing_updates,
        dropout=cfg.dropout,
        attention_dropout=cfg.attention_dropout,
        activation_dropout=cfg.activation_dropout,
        activation_fn="relu",
        no_scale_embedding=False,
        max_source_positions=cfg.max_source_positions,
        quant_noise_pq=0,
        quant_noise_pq_block_size=8,
        depthwise_conv_kernel_size=cfg.depthwise_conv_kernel_size,
        attn_type="espnet" if cfg.pos_enc_type == "rel_pos" else None,  # fairseq's rel_pos needs espnet attention
        pos_enc_type=cfg.pos_enc_type,
        fp16=False,
    )


def build_speech_encoder(cfg):
    return SPEECH_ENCODERS[cfg.encoder_type](s2t_encoder_args(cfg))


def weights_under(state: dict, prefixes) -> dict:
    """The tensors under the first of `prefixes` that has any, prefix removed."""
    for prefix in prefixes:
        weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if weights:
            return weights
    return {}


def encoder_weights_from_checkpoint(path: str, prefixes=("encoder.speech_encoder.", "encoder.")):
    """The speech-encoder weights of a fairseq checkpoint (S2T ASR model or Wav2Prompt)."""
    weights = weights_under(checkpoint_utils.load_checkpoint_to_cpu(path)["model"], prefixes)
    if not weights:
        raise ValueError(f"{path}: no encoder weights (keys starting with {' or '.join(prefixes)})")
    return weights


def load_encoder_weights(encoder: torch.nn.Module, path: str):
    weights = encoder_weights_from_checkpoint(path)
    own = encoder.state_dict()
    usable = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    missing = sorted(set(own) - set(usable))
    if missing:
        raise ValueError(
            f"{path}: encoder weights do not fit this architecture "
            f"({len(missing)} missing or mis-shaped, e.g. {missing[0]!r})"
        )
    encoder.load_state_dict(usable)
    logger.info(f"speech encoder initialised from {path} ({len(usable)} tensors)")
