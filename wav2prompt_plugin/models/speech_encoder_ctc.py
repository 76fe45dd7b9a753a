"""Model `speech_encoder_ctc`: the speech encoder with a CTC head over LLM tokens.

Trained on the same ASR data, it initialises Wav2Prompt's encoder
(`--encoder-init-checkpoint`): CIF then starts from frames that already peak at
LLM-token boundaries, which a from-scratch encoder needs far longer to learn.
The blank is one extra output unit after the LLM vocabulary.

It also trains Wav2Prompt's CIF weight predictor, on the encoder's output with
gradients stopped (the CTC training is unchanged), to put its weight where the
CTC head emits a token: a CIF that starts by firing once per CTC spike hands
the projector one token-identifying frame per LLM token from the first update,
instead of learning token boundaries from L_QUA's utterance-level count alone.
"""
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq.models import BaseFairseqModel, register_model, register_model_architecture

from wav2prompt_plugin.models.speech_encoder import build_speech_encoder
from wav2prompt_plugin.models.speech_prompt import SpeechEncoderConfig
from wav2prompt_plugin.models.wav2prompt import wav2prompt_base, wav2prompt_tiny
from wav2prompt_plugin.modules.cif import CifWeightPredictor


@dataclass
class SpeechEncoderCtcConfig(SpeechEncoderConfig):
    cif_conv_kernel_size: int = field(
        default=3, metadata={"help": "conv kernel of the CIF weight predictor trained beside CTC "
                             "(must match the Wav2Prompt model it initialises)"}
    )


@register_model("speech_encoder_ctc", dataclass=SpeechEncoderCtcConfig)
class SpeechEncoderCtcModel(BaseFairseqModel):
    def __init__(self, cfg, vocab_size: int):
        super().__init__()
        self.encoder = build_speech_encoder(cfg)
        self.ctc_proj = nn.Linear(cfg.encoder_embed_dim, vocab_size + 1)
        self.cif_weights = CifWeightPredictor(cfg.encoder_embed_dim, cfg.cif_conv_kernel_size, cfg.dropout)
        self.blank = vocab_size
        self.autocast_bf16 = getattr(cfg, "autocast_bf16", False)  # older checkpoints lack it

    @classmethod
    def build_model(cls, cfg, task):
        return cls(cfg, len(task.target_dictionary))

    def set_num_updates(self, num_updates):
        super().set_num_updates(num_updates)
        self.encoder.set_num_updates(num_updates)

    def forward(self, src_tokens, src_lengths, **unused):
        with torch.autocast(src_tokens.device.type, torch.bfloat16, enabled=self.autocast_bf16):
            encoded = self.encoder(src_tokens, src_lengths)
            hidden = encoded["encoder_out"][0]  # T x B x C
            padding = encoded["encoder_padding_mask"][0] if encoded["encoder_padding_mask"] else None
            return {
                "logits": self.ctc_proj(hidden),  # T x B x V+1
                "padding_mask": padding,  # B x T
                "cif_alpha": self.cif_weights(hidden.detach().transpose(0, 1), padding),  # B x T
            }

    def get_normalized_probs(self, net_output, log_probs, sample=None):
        logits = net_output["logits"].float()
        return F.log_softmax(logits, -1) if log_probs else F.softmax(logits, -1)

    def max_positions(self):
        return None


@register_model_architecture("speech_encoder_ctc", "speech_encoder_ctc_tiny")
def speech_encoder_ctc_tiny(cfg):
    wav2prompt_tiny(cfg)


@register_model_architecture("speech_encoder_ctc", "speech_encoder_ctc_base")
def speech_encoder_ctc_base(cfg):
    """The encoder of `wav2prompt_base`, for the LibriSpeech recipe's CTC initialisation."""
    wav2prompt_base(cfg)
