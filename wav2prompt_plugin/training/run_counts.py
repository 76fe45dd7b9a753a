"""What a training run computed, as the `wav2prompt` criterion's meters left it in the checkpoint.

The criterion sums, per training batch, what ran (LLM positions, fbank frames, prompt vectors, whether
the LLM ran at all); its metrics go to fairseq's "default" aggregator too, which observes the whole
run (validation logs to a fresh root) and which every checkpoint stores in
`extra_state["metrics"]`, so the sums survive a resume. evaluation/training_cost.py turns them into
FLOPs and budgets.
"""
from typing import Dict


def run_counts(checkpoint_state: dict) -> Dict[str, float]:
    """The run's sums from the checkpoint: {name: value}, empty for checkpoints without them."""
    meters = (checkpoint_state.get("extra_state") or {}).get("metrics", {}).get("default") or []
    counts = {}
    for _priority, key, _kind, meter in meters:
        if "sum" in meter:
            counts[key] = float(meter["sum"])
    return counts
