"""Model `wav2prompt`: speech encoder -> CIF -> projection -> frozen LLM.

Paper (Deng, Sun, Woodland 2024): the encoder output H is integrated and fired
by CIF into C, one vector per LLM token (weights alpha_t); a projection maps C to
the LLM's embedding size, giving the speech prompt E_s (U' x D_llm), which the
frozen LLM reads in place of the text embeddings of the transcript. The layers
between CIF and the LLM are not specified by the paper: a linear projection
(optionally a 2-layer MLP) is our choice.
"""
import json
import os
import logging
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from fairseq import checkpoint_utils
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.models import (
    FairseqEncoderDecoderModel,
    register_model,
    register_model_architecture,
)
from omegaconf import II

from wav2prompt_plugin.errors import InputError
from wav2prompt_plugin.models.speech_encoder import (
    build_speech_encoder,
    load_encoder_weights,
    weights_under,
)
from wav2prompt_plugin.models.text_prompt import PromptEncoder
from wav2prompt_plugin.modules.cif import CifWeightPredictor, integrate_and_fire
from wav2prompt_plugin.modules.frozen_llm import (
    LLM_DTYPE_CHOICES,
    LLM_DTYPE_HELP,
    FrozenLLMDecoder,
    build_frozen_llm,
    exclude_frozen_llm_from_ddp,
    llm_fingerprint,
)

logger = logging.getLogger(__name__)


class LLMMismatchError(InputError):
    pass


@dataclass
class SpeechEncoderConfig(FairseqDataclass):
    encoder_type: ChoiceEnum(["transformer", "conformer"]) = field(
        default="conformer", metadata={"help": "fairseq S2T encoder layers to use"}
    )
    conv_kernel_sizes: str = field(
        default="5,5", metadata={"help": "kernel sizes of the conv subsampler (each halves the frame rate)"}
    )
    conv_channels: int = field(default=1024, metadata={"help": "channels of the conv subsampler"})
    encoder_embed_dim: int = field(default=512, metadata={"help": "encoder width"})
    encoder_ffn_embed_dim: int = field(default=2048, metadata={"help": "encoder FFN width"})
    encoder_layers: int = field(default=12, metadata={"help": "number of encoder layers"})
    encoder_attention_heads: int = field(default=8, metadata={"help": "encoder attention heads"})
    depthwise_conv_kernel_size: int = field(
        default=31, metadata={"help": "Conformer depthwise convolution kernel"}
    )
    pos_enc_type: ChoiceEnum(["abs", "rel_pos"]) = field(
        default="abs", metadata={"help": "Conformer positional encoding"}
    )
    dropout: float = field(default=0.1, metadata={"help": "dropout"})
    attention_dropout: float = field(default=0.1, metadata={"help": "attention dropout"})
    activation_dropout: float = field(default=0.1, metadata={"help": "FFN activation dropout"})
    encoder_freezing_updates: int = field(
        default=0, metadata={"help": "keep the speech encoder frozen for this many updates"}
    )
    autocast_bf16: bool = field(
        default=False, metadata={"help": "run the forward pass under torch.autocast in bf16 (weights, optimizer "
                                 "and losses stay fp32)"}
    )
    max_source_positions: int = II("task.max_source_positions")


@dataclass
class Wav2PromptConfig(SpeechEncoderConfig):
    cif_conv_kernel_size: int = field(default=3, metadata={"help": "CIF weight predictor conv kernel"})
    cif_threshold: float = field(default=1.0, metadata={"help": "CIF firing threshold beta"})
    cif_tail_threshold: float = field(
        default=0.5, metadata={"help": "at inference, fire a last vector for a tail weight >= this"}
    )
    projector_hidden_dim: int = field(
        default=0, metadata={"help": "0: linear projection to the LLM width; else a 2-layer MLP of this width"}
    )
    llm_dtype: ChoiceEnum(LLM_DTYPE_CHOICES) = field(
        default="auto", metadata={"help": LLM_DTYPE_HELP}
    )
    cpu: bool = II("common.cpu")
    llm_activation_checkpointing: bool = field(
        default=False, metadata={"help": "recompute the frozen LLM's layer activations in the backward "
                                 "pass instead of keeping them (less memory, about one more LLM forward)"}
    )
    encoder_init_checkpoint: str = field(
        default="", metadata={"help": "fairseq checkpoint (S2T ASR or Wav2Prompt) whose speech "
                              "encoder initialises this one at the start of training"}
    )
    ctc_head: bool = field(
        default=False, metadata={"help": "a CTC head over the LLM's tokens on the encoder output, for "
                                 "the criterion's auxiliary --ctc-weight (initialised with the encoder "
                                 "from a speech_encoder_ctc checkpoint; unused at inference)"}
    )


def build_projector(in_dim: int, out_dim: int, hidden_dim: int, out_rms: float = None) -> nn.Module:
    """Linear (or 2-layer MLP) projection into the LLM's embedding space.

    With `out_rms`, the last layer starts with weights N(0, out_rms^2 / fan_in)
    and a zero bias, so that for the encoder's unit-RMS (layer-normed) output
    the prompt starts at the scale of the LLM's own embeddings. PyTorch's
    default init gives an RMS near 0.6 whatever the LLM: 11x the mini LLM's
    embeddings, which made L_MSE start 120x above its floor and dominate the
    first hundreds of updates.
    """
    layers = [nn.Linear(in_dim, out_dim)] if hidden_dim <= 0 else [
        nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim)]
    if out_rms is not None:
        last = layers[-1]
        nn.init.normal_(last.weight, std=out_rms / last.in_features ** 0.5)
        nn.init.zeros_(last.bias)
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def embedding_rms(llm) -> float:
    return float(llm.get_input_embeddings().weight.detach().float().pow(2).mean().sqrt())


class Wav2PromptEncoder(PromptEncoder):
    """fbank -> speech encoder -> CIF -> projection: the speech prompt E_s."""

    def __init__(self, cfg: Wav2PromptConfig, llm_embed_dim: int, llm_embed_rms: float = None,
                 vocab_size: int = None):
        super().__init__(None)
        self.cfg = cfg
        self.speech_encoder = build_speech_encoder(cfg)
        self.cif_weights = CifWeightPredictor(cfg.encoder_embed_dim, cfg.cif_conv_kernel_size, cfg.dropout)
        self.projector = build_projector(
            cfg.encoder_embed_dim, llm_embed_dim, cfg.projector_hidden_dim, llm_embed_rms
        )
        # the blank is one extra unit after the LLM vocabulary, as in speech_encoder_ctc
        with_ctc = getattr(cfg, "ctc_head", False)  # older checkpoints lack the option
        self.ctc_proj = nn.Linear(cfg.encoder_embed_dim, vocab_size + 1) if with_ctc else None
        self.ctc_blank = vocab_size

    def load_speech_encoder(self, path: str):
        """The speech encoder, and the CIF weight predictor where the checkpoint
        has one (a `speech_encoder_ctc` or Wav2Prompt checkpoint)."""
        load_encoder_weights(self.speech_encoder, path)
        state = checkpoint_utils.load_checkpoint_to_cpu(path)["model"]
        cif = weights_under(state, ("cif_weights.", "encoder.cif_weights."))
        if cif:
            self.cif_weights.load_state_dict(cif)
            logger.info(f"CIF weight predictor initialised from {path}")
        ctc = weights_under(state, ("ctc_proj.", "encoder.ctc_proj."))
        if self.ctc_proj is not None and ctc:
            self.ctc_proj.load_state_dict(ctc)
            logger.info(f"CTC head initialised from {path}")

    def set_num_updates(self, num_updates):
        super().set_num_updates(num_updates)
        self.speech_encoder.set_num_updates(num_updates)

    def forward(self, src_tokens, src_lengths, transcript_lengths=None, **prompt):
        """src_tokens: B x T x 80 fbank. With transcript_lengths (training), CIF
        weights are scaled to fire exactly U vectors per utterance."""
        encoded = self.speech_encoder(src_tokens, src_lengths)
        hidden = encoded["encoder_out"][0].transpose(0, 1)  # B x T' x C
        padding = encoded["encoder_padding_mask"][0] if encoded["encoder_padding_mask"] else None
        alpha = self.cif_weights(hidden, padding)
        cif = integrate_and_fire(
            hidden, alpha, padding, transcript_lengths,
            self.cfg.cif_threshold, self.cfg.cif_tail_threshold,
        )
        speech_prompt = self.projector(cif.fired) * cif.fired_mask.unsqueeze(-1).to(cif.fired)
        extra = {"cif_weight_sum": cif.weight_sum}  # B, unscaled sum of alpha (for L_QUA)
        if self.ctc_proj is not None and transcript_lengths is not None:  # training: auxiliary CTC
            extra["ctc_logits"] = self.ctc_proj(hidden)  # B x T' x V+1
            extra["cif_alpha"] = alpha  # B x T', unscaled
            extra["frame_lengths"] = (
                (~padding).long().sum(-1) if padding is not None
                else hidden.new_full((hidden.size(0),), hidden.size(1), dtype=torch.long)
            )
        # E_s: B x U' x D_llm
        return self.prompt_out(speech_prompt, cif.num_fired, prompt, **extra)


class LLMIdentityMixin:
    """Records which LLM a checkpoint was trained with, and refuses another one.

    The identity (path + fingerprint) travels in the state dict as a uint8
    buffer, so it is saved with the weights however the checkpoint is written.
    """

    def register_llm_identity(self, path: str, llm):
        self.llm_identity = {"path": os.path.abspath(path), "fingerprint": llm_fingerprint(llm)}
        data = json.dumps(self.llm_identity).encode()
        self.register_buffer("llm_identity_bytes", torch.tensor(list(data), dtype=torch.uint8))

    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        state_dict = dict(state_dict)
        stored = state_dict.pop("llm_identity_bytes", None)
        if stored is not None:
            stored = decode_llm_identity(stored)
            if stored["fingerprint"] != self.llm_identity["fingerprint"]:
                raise LLMMismatchError(
                    f"checkpoint was trained against the LLM at {stored['path']!r} "
                    f"({stored['fingerprint']}), but --llm-path {self.llm_identity['path']!r} "
                    f"is a different LLM ({self.llm_identity['fingerprint']})"
                )
        state_dict["llm_identity_bytes"] = self.llm_identity_bytes
        return super().load_state_dict(state_dict, strict=strict, model_cfg=model_cfg, args=args)


def decode_llm_identity(data: torch.Tensor) -> dict:
    return json.loads(bytes(data.tolist()).decode())


@register_model("wav2prompt", dataclass=Wav2PromptConfig)
class Wav2PromptModel(LLMIdentityMixin, FairseqEncoderDecoderModel):
    def __init__(self, encoder, decoder):
        super().__init__(encoder, decoder)

    @classmethod
    def build_model(cls, cfg: Wav2PromptConfig, task):
        llm = build_frozen_llm(cfg, task)
        # checkpoints saved before these options existed lack them
        checkpointing = getattr(cfg, "llm_activation_checkpointing", False)
        decoder = FrozenLLMDecoder(task.target_dictionary, llm, checkpointing)
        encoder = Wav2PromptEncoder(cfg, decoder.embed_dim, embedding_rms(llm), len(task.target_dictionary))
        model = cls(encoder, decoder)
        model.register_llm_identity(task.cfg.llm_path, llm)
        exclude_frozen_llm_from_ddp(model)
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in llm.parameters())
        logger.info(f"wav2prompt: {trained:,} trained parameters, frozen LLM {frozen:,}")
        return model

    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        if self.encoder.ctc_proj is None:  # the auxiliary CTC head only trains: fine-tune without it
            state_dict = {k: v for k, v in state_dict.items() if not k.startswith("encoder.ctc_proj.")}
        return super().load_state_dict(state_dict, strict=strict, model_cfg=model_cfg, args=args)

    def forward(self, src_tokens, src_lengths, prev_output_tokens, transcript_lengths=None, **prompt):
        bf16 = getattr(self.encoder.cfg, "autocast_bf16", False)
        with torch.autocast(src_tokens.device.type, torch.bfloat16, enabled=bf16):
            encoder_out = self.encoder(src_tokens, src_lengths, transcript_lengths, **prompt)
            logits, extra = self.decoder(prev_output_tokens, encoder_out=encoder_out)
        extra["encoder_out"] = encoder_out
        return logits, extra

    def max_positions(self):
        return None


def _set(cfg, **defaults):
    for name, value in defaults.items():
        if getattr(cfg, name, None) is None:
            setattr(cfg, name, value)


@register_model_architecture("wav2prompt", "wav2prompt_tiny")
def wav2prompt_tiny(cfg):
    """CPU-sized: the miniature recipe and the tests."""
    _set(cfg, encoder_type="transformer", conv_kernel_sizes="3,3", conv_channels=256,
         encoder_embed_dim=256, encoder_ffn_embed_dim=1024, encoder_layers=4,
         encoder_attention_heads=4)


@register_model_architecture("wav2prompt", "wav2prompt_base")
def wav2prompt_base(cfg):
    """Paper-like: a 12-layer Conformer of width 512 on 4x-subsampled fbank."""
    _set(cfg, encoder_type="conformer", conv_kernel_sizes="5,5", conv_channels=1024,
         encoder_embed_dim=512, encoder_ffn_embed_dim=2048, encoder_layers=12,
         encoder_attention_heads=8, pos_enc_type="rel_pos")
