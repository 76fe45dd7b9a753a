"""Model `wav2prompt`: speech encoder -> CIF -> projection -> frozen LLM.

Paper (Deng, Sun, Woodland 2024): the encoder output H is integrated and fired
by CIF into C, one vector per LLM token (weights alpha_t); a projection maps C to
the LLM's embedding size, giving the speech prompt E_s (U' x D_llm), which the
frozen LLM reads in place of the text embeddings of the transcript. The layers
between CIF and the LLM are not specified by the paper: a linear projection
(optionally a 2-layer MLP) is our choice.
"""
import logging
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from fairseq import checkpoint_utils
from fairseq.models import register_model, register_model_architecture

from wav2prompt_plugin.models.speech_encoder import (
    build_speech_encoder,
    load_encoder_weights,
    weights_under,
)
from wav2prompt_plugin.models.speech_prompt import (
    SpeechPromptConfig,
    SpeechPromptModel,
    build_projector,
    embedding_rms,
)
from wav2prompt_plugin.models.text_prompt import PromptEncoder
from wav2prompt_plugin.modules.cif import CifWeightPredictor, integrate_and_fire

logger = logging.getLogger(__name__)


@dataclass
class Wav2PromptConfig(SpeechPromptConfig):
    cif_conv_kernel_size: int = field(default=3, metadata={"help": "CIF weight predictor conv kernel"})
    cif_threshold: float = field(default=1.0, metadata={"help": "CIF firing threshold beta"})
    cif_tail_threshold: float = field(
        default=0.5, metadata={"help": "at inference, fire a last vector for a tail weight >= this"}
    )
    ctc_head: bool = field(
        default=False, metadata={"help": "a CTC head over the LLM's tokens on the encoder output, for "
                                 "the criterion's auxiliary --ctc-weight (initialised with the encoder "
                                 "from a speech_encoder_ctc checkpoint; unused at inference)"}
    )


class Wav2PromptEncoder(PromptEncoder):
    """fbank -> speech encoder -> CIF -> projection: the speech prompt E_s."""

    def __init__(self, cfg: Wav2PromptConfig, llm_embed_dim: int, llm_embed_rms: float = None,
                 vocab_size: int = None):
        super().__init__(None)
        self.cfg = cfg
        self.speech_encoder = build_speech_encoder(cfg)
        self.cif_weights = CifWeightPredictor(cfg.encoder_embed_dim, cfg.cif_conv_kernel_size, cfg.dropout)
        self.projector = build_projector(
            cfg.encoder_embed_dim, llm_embed_dim, cfg.projector_hidden_dim, llm_embed_rms,
            getattr(cfg, "projector", "auto"),  # checkpoints saved before the option lack it
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
        # B: unscaled sum of alpha (for L_QUA); B x T': unscaled alpha (CTC spikes, timestamps)
        extra = {"cif_weight_sum": cif.weight_sum, "cif_alpha": alpha}
        if self.ctc_proj is not None and transcript_lengths is not None:  # training: auxiliary CTC
            extra["ctc_logits"] = self.ctc_proj(hidden)  # B x T' x V+1
            extra["frame_lengths"] = (
                (~padding).long().sum(-1) if padding is not None
                else hidden.new_full((hidden.size(0),), hidden.size(1), dtype=torch.long)
            )
        # E_s: B x U' x D_llm
        return self.prompt_out(speech_prompt, cif.num_fired, prompt, **extra)


@register_model("wav2prompt", dataclass=Wav2PromptConfig)
class Wav2PromptModel(SpeechPromptModel):
    @classmethod
    def build_encoder(cls, cfg, task, llm, embed_dim):
        return Wav2PromptEncoder(cfg, embed_dim, embedding_rms(llm), len(task.target_dictionary))

    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        if self.encoder.ctc_proj is None:  # the auxiliary CTC head only trains: fine-tune without it
            state_dict = {k: v for k, v in state_dict.items() if not k.startswith("encoder.ctc_proj.")}
        return super().load_state_dict(state_dict, strict=strict, model_cfg=model_cfg, args=args)


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
