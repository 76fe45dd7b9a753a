"""Model `encoder_llm`: the paper's Encoder-LLM baseline.

The same speech encoder as Wav2Prompt, but no CIF: every `stack_factor`
consecutive encoder frames are concatenated (frame stacking, as in SLAM-LLM's
linear projector) and projected to the LLM's embedding width. The prompt is
thus a fixed number of vectors per second of speech, tied to no text token,
and the model is trained with the LLM's cross-entropy alone — which is what
lets it over-fit the training task (paper §4: it keeps transcribing when asked
to translate).
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq.models import register_model, register_model_architecture

from wav2prompt_plugin.models.speech_encoder import build_speech_encoder, load_encoder_weights
from wav2prompt_plugin.models.speech_prompt import (
    SpeechPromptConfig,
    SpeechPromptModel,
    build_projector,
    embedding_rms,
)
from wav2prompt_plugin.models.text_prompt import PromptEncoder
from wav2prompt_plugin.models.wav2prompt import wav2prompt_base, wav2prompt_tiny


@dataclass
class EncoderLLMConfig(SpeechPromptConfig):
    stack_factor: int = field(
        default=2, metadata={"help": "encoder frames concatenated into one LLM prompt vector"}
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

    def __init__(self, cfg: EncoderLLMConfig, llm_embed_dim: int, llm_embed_rms: float = None):
        super().__init__(None)
        if cfg.stack_factor < 1:
            raise ValueError(f"--stack-factor must be >= 1, got {cfg.stack_factor}")
        self.cfg = cfg
        self.speech_encoder = build_speech_encoder(cfg)
        self.projector = build_projector(
            cfg.encoder_embed_dim * cfg.stack_factor, llm_embed_dim, cfg.projector_hidden_dim, llm_embed_rms,
            getattr(cfg, "projector", "auto"),  # checkpoints saved before the option lack it
        )

    def load_speech_encoder(self, path: str):
        load_encoder_weights(self.speech_encoder, path)

    def set_num_updates(self, num_updates):
        super().set_num_updates(num_updates)
        self.speech_encoder.set_num_updates(num_updates)

    def forward(self, src_tokens, src_lengths, transcript_lengths=None, **prompt):
        """transcript_lengths is accepted (the task supplies it) and unused: nothing is tied to U."""
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
class EncoderLLMModel(SpeechPromptModel):
    @classmethod
    def build_encoder(cls, cfg, task, llm, embed_dim):
        return EncoderLLMEncoder(cfg, embed_dim, embedding_rms(llm))


@register_model_architecture("encoder_llm", "encoder_llm_tiny")
def encoder_llm_tiny(cfg):
    """The encoder of `wav2prompt_tiny`, so one CTC or Wav2Prompt checkpoint initialises both."""
    wav2prompt_tiny(cfg)


@register_model_architecture("encoder_llm", "encoder_llm_base")
def encoder_llm_base(cfg):
    wav2prompt_base(cfg)
