"""Training curves from fairseq's `--log-format json` logs, as a PNG."""
import json
import logging
import os
from typing import Dict, List


def read_fairseq_log(path: str, tag: str = "train_inner") -> List[Dict[str, float]]:
    """Records of one kind from a `--log-format json --log-file` log.

    train_inner records carry bare keys ("loss", "num_updates"); the per-epoch
    "train" and validation records prefix theirs with the tag ("train_loss").
    """
    records = []
    with open(path) as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # the config dump is a Python repr
                continue
            if tag == "train_inner":
                if "loss" in record and "num_updates" in record:
                    records.append({k: _number(v) for k, v in record.items()})
            elif f"{tag}_loss" in record:
                prefix = f"{tag}_"
                records.append({k[len(prefix):] if k.startswith(prefix) else k: _number(v)
                                for k, v in record.items()})
    return records


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def plot_curves(series: Dict[str, List[Dict[str, float]]], terms: Dict[str, List[str]], path: str):
    """One panel per (run, term) that the run logged: series maps a run name to its
    records. Returns the panels drawn ([] and no file when there are none)."""
    # importing fairseq sets the root logger to DEBUG (fairseq/models/wav2vec/
    # wav2vec2_classification.py), and matplotlib then logs every font it scores
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(run, term) for run, names in terms.items() for term in names
              if any(term in r for r in series.get(run) or [])]  # e.g. ctc only with --ctc-weight
    if not panels:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8), squeeze=False)
    for ax, (run, term) in zip(axes[0], panels):
        records = [r for r in series[run] if term in r]
        ax.plot([r["num_updates"] for r in records], [r[term] for r in records])
        ax.set_title(f"{run}: {term}", fontsize=9)
        ax.set_xlabel("updates", fontsize=8)
        ax.tick_params(labelsize=7)
        if term in ("loss", "mse", "qua") and records and min(r[term] for r in records) > 0:
            ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return panels


def plot_experiment_curves(exp_dir: str, terms: Dict[str, List[str]], name: str = "training_curves.png"):
    """Curves of every run `exp_dir/<run>/train.log` that exists; the PNG's name, or None."""
    logs = {}
    for run in terms:
        path = os.path.join(exp_dir, run, "train.log")
        if os.path.isfile(path):
            # runs shorter than --log-interval updates log once per epoch only
            logs[run] = read_fairseq_log(path, "train_inner") or read_fairseq_log(path, "train")
    return name if plot_curves(logs, terms, os.path.join(exp_dir, name)) else None
