"""What every model that puts a speech prompt before the frozen LLM shares
(Wav2Prompt, the Encoder-LLM baseline): the speech encoder's options, the
projection into the LLM's embedding space and its initialisation, the frozen
LLM decoder (with activation checkpointing), the LLM identity a checkpoint
carries, and the bf16-autocast forward. Each model supplies its encoder
(`build_encoder`): what turns encoder frames into prompt vectors.
"""
import json
import logging
import os
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.models import FairseqEncoderDecoderModel
from omegaconf import II

from wav2prompt_plugin.runtime.errors import InputError
from wav2prompt_plugin.llm.decoder import FrozenLLMDecoder, exclude_frozen_llm_from_ddp
from wav2prompt_plugin.llm.loading import LLM_DTYPE_CHOICES, LLM_DTYPE_HELP, build_frozen_llm, llm_fingerprint

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
class SpeechPromptConfig(SpeechEncoderConfig):
    projector_hidden_dim: int = field(
        default=0, metadata={"help": "0: linear projection to the LLM width; else a 2-layer MLP of this width"}
    )
    projector: str = field(
        default="auto", metadata={"help": "a registered projector (models/speech_prompt.py: linear, mlp, or one "
                                  "of yours); auto: linear for --projector-hidden-dim 0, else mlp"}
    )
    llm_dtype: ChoiceEnum(LLM_DTYPE_CHOICES) = field(
        default="auto", metadata={"help": LLM_DTYPE_HELP}
    )
    cpu: bool = II("common.cpu")
    llm_weights: ChoiceEnum(["all", "embeddings"]) = field(
        default="all", metadata={"help": "embeddings: load only the LLM's input embedding table, for a process "
                                 "that computes prompts while the LLM runs on a serving backend (vLLM)"}
    )
    llm_activation_checkpointing: bool = field(
        default=False, metadata={"help": "recompute the frozen LLM's layer activations in the backward "
                                 "pass instead of keeping them (less memory, about one more LLM forward)"}
    )
    encoder_init_checkpoint: str = field(
        default="", metadata={"help": "fairseq checkpoint (S2T ASR, CTC or Wav2Prompt) whose speech "
                              "encoder initialises this one at the start of training"}
    )


PROJECTORS = {}


def register_projector(name: str):
    """Register a projector class under `name` (the model option --projector): it is built as
    `cls(in_dim, out_dim, hidden_dim)` and its last layer is `cls.last(module)`."""
    def register(cls):
        if name in PROJECTORS:
            raise ValueError(f"projector {name!r} is registered twice")
        PROJECTORS[name] = cls
        return cls
    return register


@register_projector("linear")
class LinearProjector(nn.Linear):
    """One linear layer to the LLM's width (the paper's; --projector-hidden-dim 0)."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 0):
        super().__init__(in_dim, out_dim)

    @staticmethod
    def last(module):
        return module


@register_projector("mlp")
class MLPProjector(nn.Sequential):
    """Linear, GELU, linear (the miniature's, --projector-hidden-dim N)."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int):
        if hidden_dim <= 0:
            raise InputError(f"--projector mlp needs --projector-hidden-dim > 0 (got {hidden_dim})")
        super().__init__(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim))

    @staticmethod
    def last(module):
        return module[-1]


def build_projector(in_dim: int, out_dim: int, hidden_dim: int, out_rms: float = None,
                    kind: str = "auto") -> nn.Module:
    """The projection into the LLM's embedding space: `kind` a registered projector, or auto (linear
    for hidden_dim 0, else mlp; the state-dict names are those of nn.Linear and nn.Sequential, so
    checkpoints from before the registry load as they are).

    With `out_rms`, the last layer starts with weights N(0, out_rms^2 / fan_in)
    and a zero bias, so that for the encoder's unit-RMS (layer-normed) output
    the prompt starts at the scale of the LLM's own embeddings. PyTorch's
    default init gives an RMS near 0.6 whatever the LLM: 11x the mini LLM's
    embeddings, which made L_MSE start 120x above its floor and dominate the
    first hundreds of updates.
    """
    if kind == "auto":
        kind = "linear" if hidden_dim <= 0 else "mlp"
    if kind not in PROJECTORS:
        raise InputError(f"--projector {kind!r}: not a registered projector ({', '.join(PROJECTORS)})")
    cls = PROJECTORS[kind]
    module = cls(in_dim, out_dim, hidden_dim)
    if out_rms is not None:
        last = cls.last(module)
        nn.init.normal_(last.weight, std=out_rms / last.in_features ** 0.5)
        nn.init.zeros_(last.bias)
    return module


def embedding_rms(llm) -> float:
    return float(llm.get_input_embeddings().weight.detach().float().pow(2).mean().sqrt())


def decode_llm_identity(data: torch.Tensor) -> dict:
    return json.loads(bytes(data.tolist()).decode())


class SpeechPromptModel(FairseqEncoderDecoderModel):
    """A speech prompt encoder before the frozen LLM decoder.

    The LLM's identity (path + fingerprint) travels in the state dict as a
    uint8 buffer, so it is saved with the weights however the checkpoint is
    written, and a checkpoint refuses to load against another LLM.
    """

    @classmethod
    def build_encoder(cls, cfg, task, llm, embed_dim: int):
        raise NotImplementedError

    @classmethod
    def build_model(cls, cfg, task):
        llm = build_frozen_llm(cfg, task)
        # checkpoints saved before the option existed lack it
        checkpointing = getattr(cfg, "llm_activation_checkpointing", False)
        decoder = FrozenLLMDecoder(task.target_dictionary, llm, checkpointing)
        model = cls(cls.build_encoder(cfg, task, llm, decoder.embed_dim), decoder)
        model.register_llm_identity(task.cfg.llm_path, llm)
        exclude_frozen_llm_from_ddp(model)
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in llm.parameters())
        logger.info(f"{cls.__name__}: {trained:,} trained parameters, frozen LLM {frozen:,}")
        return model

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

    num_updates = 0

    def set_num_updates(self, num_updates):
        """Also kept here: the criterion's schedule (--llm-free-updates) reads it."""
        super().set_num_updates(num_updates)
        self.num_updates = num_updates

    def forward(self, src_tokens, src_lengths, prev_output_tokens, transcript_lengths=None,
                run_llm=True, **prompt):
        """transcript_lengths (training): what CIF is scaled to; models without CIF ignore it.
        run_llm=False: the speech prompt alone (logits None), for a loss that needs no LLM."""
        bf16 = getattr(self.encoder.cfg, "autocast_bf16", False)
        with torch.autocast(src_tokens.device.type, torch.bfloat16, enabled=bf16):
            encoder_out = self.encoder(src_tokens, src_lengths, transcript_lengths, **prompt)
            logits, extra = None, {}
            if run_llm:
                logits, extra = self.decoder(prev_output_tokens, encoder_out=encoder_out)
        extra["encoder_out"] = encoder_out
        return logits, extra

    def max_positions(self):
        return None
