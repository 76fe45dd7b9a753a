"""The one supported mixed precision, and the flag combinations refused.

Supported: `--llm-dtype bf16 --autocast-bf16` (the paper-scale recipe's default).
The frozen LLM's weights are bf16 as loaded (its buffers, e.g. LLaMA's RoPE
`inv_freq`, stay as Hugging Face keeps them: fp32); the trained part keeps fp32
weights and fp32 Adam state and runs its forward under bf16 autocast; the CIF
weights, their sums and every loss term are fp32. Without flags, everything
is fp32.

fairseq's own switches act on the whole model, LLM included, so each would
silently train something else:

- `--bf16` sets `tpu=True` (fairseq/options.py): the trainer asks for an XLA
  device and, with several processes, `call_main` imports torch_xla; it also
  casts the LLM's fp32 buffers (RoPE frequencies) to bf16.
- `--fp16` calls `model.half()`: the LLM runs in fp16 whatever `--llm-dtype`
  says, its RoPE buffers rounded.
- `--amp` is fp16 autocast with a loss scaler: over bf16 or fp16 LLM weights,
  or beside `--autocast-bf16`, it mixes two half types.
- `--llm-dtype fp16` in training backpropagates fp16 activations through the
  LLM with no loss scaling, where gradients underflow.
"""
from omegaconf.errors import OmegaConfBaseException

from wav2prompt_plugin.runtime.errors import InputError

SUPPORTED = "--llm-dtype bf16 --autocast-bf16"

# the memory-efficient variants first: fairseq also sets bf16/fp16 for them (options.py)
WHOLE_MODEL_CASTS = {
    "memory_efficient_bf16": "--memory-efficient-bf16 puts fairseq in TPU mode and casts the whole "
                             "model, LLM included, to bf16",
    "bf16": "--bf16 puts fairseq in TPU mode and casts the whole model, LLM included, to bf16",
    "memory_efficient_fp16": "--memory-efficient-fp16 casts the whole model, LLM included, to fp16 "
                             "whatever --llm-dtype says",
    "fp16": "--fp16 casts the whole model, LLM included, to fp16 whatever --llm-dtype says",
}


class PrecisionError(InputError):
    pass


def flag(cfg, name: str) -> bool:
    """A fairseq `common` switch seen through the task config's interpolation;
    False where nothing resolves it (a dataclass built by hand keeps the
    literal "${common...}" string, a DictConfig without `common` raises)."""
    try:
        return getattr(cfg, name, False) is True
    except OmegaConfBaseException:
        return False


def check_fairseq_precision(task_cfg):
    """Refuse fairseq's whole-model casts, before the LLM is loaded."""
    for name, why in WHOLE_MODEL_CASTS.items():
        if flag(task_cfg, name):
            raise PrecisionError(f"{why}; use {SUPPORTED} (frozen LLM in bf16, trained part fp32 under "
                                 "bf16 autocast)")


def check_model_precision(task_cfg, model_cfg, training: bool):
    """Refuse what would mix precisions silently, given the model's options."""
    llm_dtype = getattr(model_cfg, "llm_dtype", "fp32")
    autocast = getattr(model_cfg, "autocast_bf16", False)
    if flag(task_cfg, "amp") and (llm_dtype in ("bf16", "fp16") or autocast):
        raise PrecisionError(
            f"--amp (fp16 autocast) with --llm-dtype {llm_dtype}"
            f"{' and --autocast-bf16' if autocast else ''} mixes two half types; use {SUPPORTED}, "
            "or --amp with --llm-dtype fp32"
        )
    if training and llm_dtype == "fp16":
        raise PrecisionError(
            f"--llm-dtype fp16 backpropagates through the LLM in fp16 with no loss scaling; use {SUPPORTED}"
        )
