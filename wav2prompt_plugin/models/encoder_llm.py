"""Model `encoder_llm`: the paper's Encoder-LLM baseline.

The same speech encoder as Wav2Prompt, but no CIF: every `stack_factor`
consecutive encoder frames are concatenated (frame stacking, as in SLAM-LLM's
linear projector) and projected to the LLM's embedding width. The prompt is
thus a fixed number of vectors per second of speech, tied to no text token,
and the model is trained with the LLM's cross-entropy alone — which is what
lets it over-fit the training task (paper §4: it keeps transcribing when asked
to translate).
"""
import logging
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq.dataclass import ChoiceEnum
from fairseq.models import FairseqEncoderDecoderModel, register_model, register_model_architecture
from omegaconf import II

from wav2prompt_plugin.models.speech_encoder import build_speech_encoder, load_encoder_weights
from wav2prompt_plugin.models.text_prompt import PromptEncoder
from wav2prompt_plugin.models.wav2prompt import (
    LLMIdentityMixin,
    SpeechEncoderConfig,
    build_projector,
    wav2prompt_base,
    wav2prompt_tiny,
)
from wav2prompt_plugin.modules.frozen_llm import (
    LLM_DTYPE_CHOICES,
    LLM_DTYPE_HELP,
    FrozenLLMDecoder,
    build_frozen_llm,
    exclude_frozen_llm_from_ddp,
)

logger = logging.getLogger(__name__)


@dataclass
class EncoderLLMConfig(SpeechEncoderConfig):
    stack_factor: int = field(
        default=2, metadata={"help": "encoder frames concatenated into one LLM prompt vector"}
    )
    projector_hidden_dim: int = field(
        default=0, metadata={"help": "0: linear projection to the LLM width; else a 2-layer MLP of this width"}
    )
    llm_dtype: ChoiceEnum(LLM_DTYPE_CHOICES) = field(
        default="auto", metadata={"help": LLM_DTYPE_HELP}
    )
    cpu: bool = II("common.cpu")
    encoder_init_checkpoint: str = field(
        default="", metadata={"help": "fairseq checkpoint (S2T ASR, CTC or Wav2Prompt) whose speech "
                              "encoder initialises this one at the start of training"}
    )


def stack_frames(hidden, valid, factor: int):
    """Concatenate each `factor` consecutive frames (the tail zero-padded).

    hidden: B x T x C, valid: B x T (True on real frames)
    -> B x ceil(T/factor) x (C*factor), and the number of stacked vectors per utterance.
    """
    batch, time, channels = hidden.shape
    hidden = hidden * valid.unsqueeze(-1).to(hidden)
    pad = (-time) % factor
    stacked = F.pad(hidden, (0, 0, 0, pad)).reshape(batch, (time + pad) // factor, channels * factor)
    lengths = (valid.sum(1) + factor - 1) // factor
    return stacked, lengths


class EncoderLLMEncoder(PromptEncoder):
    """fbank -> speech encoder -> frame stacking -> projection: the LLM prompt."""

    def __init__(self, cfg: EncoderLLMConfig, llm_embed_dim: int):
        super().__init__(None)
        if cfg.stack_factor < 1:
            raise ValueError(f"--stack-factor must be >= 1, got {cfg.stack_factor}")
        self.cfg = cfg
        self.speech_encoder = build_speech_encoder(cfg)
        self.projector = build_projector(
            cfg.encoder_embed_dim * cfg.stack_factor, llm_embed_dim, cfg.projector_hidden_dim
        )

    def load_speech_encoder(self, path: str):
        load_encoder_weights(self.speech_encoder, path)

    def set_num_updates(self, num_updates):
        super().set_num_updates(num_updates)
        self.speech_encoder.set_num_updates(num_updates)

    def forward(self, src_tokens, src_lengths, **prompt):
        encoded = self.speech_encoder(src_tokens, src_lengths)
        hidden = encoded["encoder_out"][0].transpose(0, 1)  # B x T' x C
        if encoded["encoder_padding_mask"]:
            valid = ~encoded["encoder_padding_mask"][0]
        else:
            valid = hidden.new_ones(hidden.shape[:2], dtype=torch.bool)
        stacked, lengths = stack_frames(hidden, valid, self.cfg.stack_factor)
        mask = torch.arange(stacked.size(1), device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)
        speech_prompt = self.projector(stacked) * mask.unsqueeze(-1).to(stacked)  # B x T'/k x D_llm
        return self.prompt_out(speech_prompt, lengths, prompt)


@register_model("encoder_llm", dataclass=EncoderLLMConfig)
class EncoderLLMModel(LLMIdentityMixin, FairseqEncoderDecoderModel):
    @classmethod
    def build_model(cls, cfg: EncoderLLMConfig, task):
        llm = build_frozen_llm(cfg, task)
        decoder = FrozenLLMDecoder(task.target_dictionary, llm)
        model = cls(EncoderLLMEncoder(cfg, decoder.embed_dim), decoder)
        model.register_llm_identity(task.cfg.llm_path, llm)
        exclude_frozen_llm_from_ddp(model)
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        logger.info(f"encoder_llm: {trained:,} trained parameters, stack factor {cfg.stack_factor}")
        return model

    def forward(self, src_tokens, src_lengths, prev_output_tokens, transcript_lengths=None, **prompt):
        """transcript_lengths is accepted (the task supplies it) and unused: nothing is tied to U."""
        bf16 = getattr(self.encoder.cfg, "autocast_bf16", False)
        with torch.autocast(src_tokens.device.type, torch.bfloat16, enabled=bf16):
            encoder_out = self.encoder(src_tokens, src_lengths, **prompt)
            logits, extra = self.decoder(prev_output_tokens, encoder_out=encoder_out)
        extra["encoder_out"] = encoder_out
        return logits, extra

    def max_positions(self):
        return None


@register_model_architecture("encoder_llm", "encoder_llm_tiny")
def encoder_llm_tiny(cfg):
    """The encoder of `wav2prompt_tiny`, so one CTC or Wav2Prompt checkpoint initialises both."""
    wav2prompt_tiny(cfg)


@register_model_architecture("encoder_llm", "encoder_llm_base")
def encoder_llm_base(cfg):
    wav2prompt_base(cfg)
