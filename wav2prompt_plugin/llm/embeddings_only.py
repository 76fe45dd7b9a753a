"""The LLM's input embedding table alone, for a process that computes prompts while the LLM itself
runs elsewhere (a vLLM server: backends/vllm.py).

Which tensor of the checkpoint files is the table is the LLM's own module tree's answer: the model is
built on the meta device (no memory), `get_input_embeddings()` names the parameter, and that one tensor
is read from the safetensors files (sharded or not) or a PyTorch .bin. A checkpoint whose keys lack the
base model's prefix (BLOOM's `word_embeddings.weight` beside `transformer.word_embeddings.weight`) is
read under either name. The result answers what the plugin asks of a frozen LLM without running it:
its config, input embeddings (so its fingerprint) and position limit; calling it is an error.
"""
import json
import os

import torch
import torch.nn as nn

from wav2prompt_plugin.llm.loading import DTYPES, LLMPathError, check_llm_dir, llm_config, resolve_llm_dtype


class EmbeddingsOnlyLLM(nn.Module):
    """config + input embeddings of an LLM whose layers run elsewhere."""

    def __init__(self, config, embeddings: nn.Embedding):
        super().__init__()
        self.config = config
        self.embed_tokens = embeddings

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def get_output_embeddings(self):
        return None

    def forward(self, inputs_embeds=None, attention_mask=None, position_ids=None, **kwargs):
        raise RuntimeError("this LLM was loaded with its input embeddings only (--llm-weights embeddings): "
                           "its layers run on the serving backend, not in this process")


def embedding_parameter_name(config) -> tuple:
    """(the input table's parameter name, the base model's prefix) from the model's module tree."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    table = model.get_input_embeddings().weight
    name = next(n for n, p in model.named_parameters(remove_duplicate=False) if p is table)
    return name, getattr(model, "base_model_prefix", "")


def read_tensor(path: str, names) -> torch.Tensor:
    """The first of `names` found in the directory's weight files."""
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        name = next((n for n in names if n in weight_map), None)
        files = [weight_map[name]] if name else []
    else:
        files = [f for f in ("model.safetensors", "pytorch_model.bin") if os.path.isfile(os.path.join(path, f))]
    for file in files:
        full = os.path.join(path, file)
        if file.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(full, framework="pt") as f:
                keys = set(f.keys())
                for name in names:
                    if name in keys:
                        return f.get_tensor(name)
        else:
            state = torch.load(full, map_location="cpu", mmap=True, weights_only=True)
            for name in names:
                if name in state:
                    return state[name].clone()
    raise LLMPathError(f"--llm-path {path!r}: no weight file holds the input embeddings "
                       f"({' or '.join(names)})")


def load_llm_embeddings(path: str, dtype: str = "auto", device="cpu") -> EmbeddingsOnlyLLM:
    """The LLM at `path` with its input embedding table only, in the dtype the whole LLM would run in."""
    check_llm_dir(path)
    config = llm_config(path)
    name, prefix = embedding_parameter_name(config)
    names = [name] + ([name[len(prefix) + 1:]] if prefix and name.startswith(prefix + ".") else [])
    weight = read_tensor(path, names)
    run_dtype = DTYPES[resolve_llm_dtype(config, dtype, torch.device(device))]
    table = nn.Embedding.from_pretrained(weight.to(device=device, dtype=run_dtype), freeze=True)
    return EmbeddingsOnlyLLM(config, table).eval()
