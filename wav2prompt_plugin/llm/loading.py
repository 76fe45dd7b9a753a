"""The frozen LLM and its tokenizer loaded from a local `save_pretrained` directory: the directory's
checks, its config.json (read here only), the dtype and device the LLM runs in, its fingerprint (which
a checkpoint records), its position limit and activation checkpointing."""
import hashlib
import json
import os

import torch
from omegaconf import OmegaConf

from wav2prompt_plugin.runtime.errors import InputError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
LLM_DTYPE_CHOICES = ["auto", *DTYPES]
LLM_DTYPE_HELP = ("dtype the frozen LLM is loaded and run in; auto: the dtype its config.json says it was "
                  "saved in (bf16 for one saved in fp16), else bf16 on a GPU and fp32 on the CPU")


class LLMPathError(InputError):
    pass


def check_llm_dir(path: str) -> str:
    if not path:
        raise LLMPathError("--llm-path is required: a local directory saved with save_pretrained")
    if not os.path.isdir(path):
        raise LLMPathError(f"--llm-path {path!r} is not a directory")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise LLMPathError(
            f"--llm-path {path!r} has no config.json: not a Hugging Face model directory"
        )
    return path


def load_llm_tokenizer(path: str):
    from transformers import AutoTokenizer

    check_llm_dir(path)
    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as e:
        raise LLMPathError(f"cannot load the tokenizer of --llm-path {path!r}: {e}") from e


def check_tokenizer_matches(tokenizer, llm_config, path: str) -> None:
    """A tokenizer from another LLM gives ids the LLM never saw; its eos id and
    size are what a save_pretrained directory lets us compare."""
    if len(tokenizer) > llm_config.vocab_size:
        raise LLMPathError(
            f"the tokenizer in --llm-path {path!r} has {len(tokenizer)} tokens but the LLM only "
            f"{llm_config.vocab_size} embeddings: tokenizer and LLM do not match"
        )
    eos = getattr(llm_config, "eos_token_id", None)
    allowed = set(eos) if isinstance(eos, (list, tuple)) else {eos}
    if eos is not None and tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in allowed:
        raise LLMPathError(
            f"the tokenizer in --llm-path {path!r} has eos id {tokenizer.eos_token_id} but the LLM's "
            f"config.json says {eos}: tokenizer and LLM do not match"
        )


def llm_config(path: str):
    """The LLM's config.json, as transformers reads it."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(check_llm_dir(path), local_files_only=True)


def llm_device(cpu: bool = False) -> torch.device:
    """Where this process runs the LLM: the GPU fairseq gave this rank (it calls
    torch.cuda.set_device before building the model), else the CPU."""
    if cpu or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", torch.cuda.current_device())


def resolve_llm_dtype(config, dtype: str, device: torch.device) -> str:
    """The dtype name `dtype` stands for. `auto`: the dtype the LLM was saved in
    (its config's `dtype`, `torch_dtype` in older saves), except that an LLM
    saved in fp16 (LLaMA-2) runs in bf16: fp16 activations backpropagated
    through the LLM with no loss scaling underflow, and bf16 takes the same
    memory. Where the config says nothing: bf16 on a GPU, fp32 on the CPU."""
    if dtype != "auto":
        return dtype
    saved = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(saved, str):
        saved = getattr(torch, saved, None)
    if saved in (torch.float16, torch.bfloat16):
        return "bf16"
    if saved == torch.float32:
        return "fp32"
    return "bf16" if device.type == "cuda" else "fp32"


def config_cpu(cfg) -> bool:
    """A model config's `cpu` (fairseq's --cpu through ``II("common.cpu")``).
    fairseq-train resolves it; a config built by hand (tests, scripts) leaves
    it unresolved and a checkpoint saved before the field existed lacks it:
    neither asks for the CPU."""
    if OmegaConf.is_config(cfg):
        cpu = OmegaConf.select(cfg, "cpu", default=False, throw_on_resolution_failure=False)
    else:
        cpu = getattr(cfg, "cpu", False)
    return cpu is True


def model_llm_dtype(cfg, llm_path: str) -> str:
    """The dtype name a model config's --llm-dtype resolves to for this LLM and
    this process's device; read from config.json, before any weights load."""
    if cfg.llm_dtype != "auto":
        return cfg.llm_dtype
    config = llm_config(llm_path)
    return resolve_llm_dtype(config, "auto", llm_device(config_cpu(cfg)))


def load_frozen_llm(path: str, dtype: str = "auto", device="cpu"):
    """The LLM in its run dtype, its weights read from the checkpoint files
    straight onto `device` (no float32 copy in host memory first)."""
    from transformers import AutoModelForCausalLM

    device = torch.device(device)
    try:
        config = llm_config(path)
        llm = AutoModelForCausalLM.from_pretrained(
            path, config=config, dtype=DTYPES[resolve_llm_dtype(config, dtype, device)],
            device_map={"": device}, local_files_only=True,
        )
    except (OSError, ValueError) as e:
        raise LLMPathError(f"cannot load a causal LM from --llm-path {path!r}: {e}") from e
    llm.requires_grad_(False)
    return llm.eval()


def build_frozen_llm(cfg, task):
    """A model's frozen LLM: --llm-path in its --llm-dtype, on this rank's device; its input embeddings
    alone where --llm-weights embeddings (the LLM runs on a serving backend)."""
    device = llm_device(config_cpu(cfg))
    if getattr(cfg, "llm_weights", "all") == "embeddings":  # checkpoints saved before the option lack it
        from wav2prompt_plugin.llm.embeddings_only import load_llm_embeddings

        return load_llm_embeddings(task.cfg.llm_path, cfg.llm_dtype, device)
    return load_frozen_llm(task.cfg.llm_path, cfg.llm_dtype, device)


def llm_fingerprint(llm) -> str:
    """Identity of an LLM: architecture, sizes and a hash of its input embeddings.

    The hash is taken over the bf16 rounding of the embeddings, so the same
    weights loaded in fp32 or bf16 share one fingerprint.
    """
    cfg = llm.config
    emb = llm.get_input_embeddings().weight.detach()
    digest = hashlib.sha256(emb.to(torch.bfloat16).view(torch.int16).cpu().numpy().tobytes())
    return json.dumps(
        {
            "model_type": cfg.model_type,
            "vocab_size": emb.size(0),
            "hidden_size": emb.size(1),
            "num_layers": getattr(cfg, "num_hidden_layers", getattr(cfg, "n_layer", None)),
            "embedding_sha256": digest.hexdigest()[:20],
        },
        sort_keys=True,
    )


def llm_max_positions(config) -> int:
    for name in ("max_position_embeddings", "n_positions", "seq_length"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    return 1 << 20  # ALiBi models such as BLOOM have no fixed limit


def checkpoint_llm_layers(llm) -> int:
    """Recompute each transformer layer's activations in the backward pass
    instead of storing them. Hugging Face's own gradient checkpointing acts only
    in train mode, and the frozen LLM stays in eval mode, hence this wrapper
    around every layer Hugging Face marks as checkpointable."""
    from torch.utils.checkpoint import checkpoint
    from transformers.modeling_layers import GradientCheckpointingLayer

    def checkpointed(forward):
        def run(*args, **kwargs):
            if not torch.is_grad_enabled():
                return forward(*args, **kwargs)
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return run

    layers = [m for m in llm.modules() if isinstance(m, GradientCheckpointingLayer)]
    if not layers:
        raise ValueError(f"{type(llm).__name__} has no checkpointable layers for --llm-activation-checkpointing")
    for layer in layers:
        layer.forward = checkpointed(layer.forward)
    return len(layers)
