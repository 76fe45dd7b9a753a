"""What a training run cost, from the sums its checkpoint holds (training/run_counts.py): the LLM's
input positions (padding included), their squares and its logits, the fbank frames and their squares,
the prompt vectors, and whether the batch ran the LLM at all (`--llm-free-updates`).

FLOPs follow benchmarks/flops_model.py (matrix products and convolutions only;
a product of a weight with N entries costs 2N per position it is applied to):

- frozen LLM, per position: forward 2 N (N: the weights of its layers, the
  embedding table left out), backward to the inputs only (no weight gradients)
  another 2 N; attention 4 n d L^2 per sequence of L positions forward and 2.5x
  that backward; the LM head 2 d V per logit, forward and backward. Activation
  checkpointing's recompute is hardware, not model, FLOPs: not counted.
- the trained part: every weight applied where it runs (each conv of the
  subsampler at its own frame rate, the encoder layers, CIF weights and CTC head
  at the subsampled rate T', the projector per prompt vector), attention
  4 d T'^2 per layer and utterance; backward 2x forward (input and weight
  gradients), except the first convolution (its input is the fbank).
"""
from typing import Dict

import torch
import torch.nn as nn

from wav2prompt_plugin.training.run_counts import run_counts

ATTENTION_BACKWARD = 2.5  # as benchmarks/flops_model.py: a fused kernel recomputes the scores


def run_budget(checkpoint: str) -> Dict[str, float]:
    """What a fairseq training run spent, from its last checkpoint (any model, the plugin's or
    fairseq's own): `updates`, `max_tokens`, peak `lr`, `llm_train_positions` (0 where no LLM ran)
    and `train_seconds` (fairseq's train_wall: update steps, validation left out). A fine-tuning's
    figures are its own (fairseq resets the meters of a run started with --finetune-from-model)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)  # fairseq's own pickles
    cfg, counts = state.get("cfg") or {}, run_counts(state)
    budget = {"updates": int(state["optimizer_history"][-1]["num_updates"]),
              "max_tokens": cfg["dataset"]["max_tokens"], "lr": float(cfg["optimization"]["lr"][0]),
              "llm_train_positions": int(counts.get("llm_positions", 0))}
    if "train_wall" in counts:
        budget["train_seconds"] = round(counts["train_wall"], 1)
    return budget


def llm_train_flops(llm, positions: float, positions_sq: float, logits: float) -> float:
    """Forward plus backward-to-the-inputs FLOPs of the frozen LLM over the counted positions."""
    config = llm.config
    d, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    tables = {id(m.weight) for m in (llm.get_input_embeddings(), llm.get_output_embeddings()) if m is not None}
    n_layers = sum(p.numel() for p in llm.parameters() if p.dim() > 1 and id(p) not in tables)
    dense = 2 * n_layers * positions
    attention = 4 * layers * d * positions_sq
    head = 2 * d * vocab * logits
    return 2 * dense + (1 + ATTENTION_BACKWARD) * attention + 2 * head


def _weights(module: nn.Module) -> int:
    return sum(p.numel() for name, p in module.named_parameters() if name.endswith("weight") and p.dim() > 1)


def speech_train_flops(encoder: nn.Module, frames: float, frames_sq: float, vectors: float) -> float:
    """Forward plus backward FLOPs of the trained part (a `Wav2PromptEncoder`)."""
    speech = encoder.speech_encoder
    convs = list(speech.subsample.conv_layers)
    forward, first = 0.0, 0.0
    rate = frames
    for i, conv in enumerate(convs):
        rate = rate / conv.stride[0]
        flops = 2 * conv.weight.numel() * rate
        forward += flops
        if i == 0:
            first = flops
    subsampled = rate  # T' summed over utterances
    layers_weights = _weights(speech) - sum(c.weight.numel() for c in convs)
    forward += 2 * layers_weights * subsampled
    cfg = encoder.cfg
    factor = 1.0 / frames * subsampled if frames else 0.0  # T' / T
    forward += 4 * cfg.encoder_layers * cfg.encoder_embed_dim * frames_sq * factor ** 2
    forward += 2 * _weights(encoder.cif_weights) * subsampled
    if getattr(encoder, "ctc_proj", None) is not None:
        forward += 2 * encoder.ctc_proj.weight.numel() * subsampled
    forward += 2 * _weights(encoder.projector) * vectors
    return 3 * forward - first  # backward: 2x forward, the first conv's input gradient left out


def training_cost(model, counts: Dict[str, float]) -> Dict[str, float]:
    """results.json's training figures of a Wav2Prompt checkpoint (empty without counts)."""
    if not counts.get("batches"):
        return {}
    llm = model.decoder.llm
    out = {
        "llm_train_positions": int(counts.get("llm_positions", 0)),
        "llm_free_fraction": round(counts.get("llm_free_batches", 0) / counts["batches"], 4),
        "train_flops_llm": llm_train_flops(llm, counts.get("llm_positions", 0),
                                           counts.get("llm_positions_sq", 0), counts.get("llm_logits", 0)),
    }
    if hasattr(model.encoder, "cif_weights") and "speech_frames" in counts:
        out["train_flops_other"] = speech_train_flops(
            model.encoder, counts["speech_frames"], counts.get("speech_frames_sq", 0),
            counts.get("prompt_vectors", 0))
    if "train_wall" in counts:
        out["train_seconds"] = round(counts["train_wall"], 1)
    return out
