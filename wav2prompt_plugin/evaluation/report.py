"""results.json -> results.md: tasks x systems, CIF lengths, times, examples.

One renderer for every recipe and for `wav2prompt-eval`, so a user's test set
and ours are reported alike.
"""
import json
import os
from typing import Dict

SYSTEM_ORDER = ("text_topline", "cascade_ctc", "cascade", "encoder_llm", "wav2prompt")
# the plugin's own figures; a task's figure is labelled by its tasks file ("label"), else by its metric
METRIC_NAMES = {
    "cif_len_exact": "CIF length exact (%)",
    "cif_len_within1": "CIF length within ±1 (%)",
    "prompt_positions_per_second": "LLM prompt positions per second of speech",
    "prompt_nmse": "E_s normalised MSE to the transcript's embeddings ↓",
    "prompt_cosine": "E_s cosine to the transcript's embeddings",
    "prompt_token_acc": "E_s nearest token = transcript token (%)",
    "prompt_token_acc_aligned": "E_s nearest tokens, aligned to the transcript (%)",
    "llm_free_fraction": "training updates without the LLM (share)",
    "llm_train_positions": "LLM positions trained (forward + backward)",
    "train_flops_llm": "training FLOPs in the frozen LLM",
    "train_flops_other": "training FLOPs in the trained part",
    "train_seconds": "training seconds (update steps)",
    "confidence_mean": "confidence, mean",
    "confidence_auroc": "confidence AUROC for a wrong transcript",
    "wer_confident80": "ASR WER (%) of the 80% most confident ↓",
    "word_start_err_ms_median": "word start error (ms), median ↓",
    "word_start_err_ms_p90": "word start error (ms), 90th percentile ↓",
    "word_end_err_ms_median": "word end error (ms), median ↓",
    "word_end_err_ms_p90": "word end error (ms), 90th percentile ↓",
    "word_times_paired": "words with a time (%)",
}
METRIC_SUFFIXES = {"_wer": "WER (%) ↓", "_bleu": "BLEU", "_acc": "accuracy (%)", "_refused": "refused (%)"}
# format of a figure that is not a percentage (default: one decimal)
FORMATS = {"prompt_nmse": ".3f", "prompt_cosine": ".3f", "llm_free_fraction": ".2f",
           "train_flops_llm": ".3g", "train_flops_other": ".3g", "train_seconds": ".0f",
           "confidence_mean": ".3f", "confidence_auroc": ".3f", "word_start_err_ms_median": ".0f",
           "word_start_err_ms_p90": ".0f", "word_end_err_ms_median": ".0f", "word_end_err_ms_p90": ".0f"}


def metric_label(metric: str, labels: Dict[str, str]) -> str:
    """`labels` (results.json's metric_labels, from the tasks files), then the
    plugin's own names, then `<task> <metric name>`."""
    if metric in labels:
        return labels[metric]
    if metric in METRIC_NAMES:
        return METRIC_NAMES[metric]
    for suffix, name in METRIC_SUFFIXES.items():
        if metric.endswith(suffix):
            return f"{metric[: -len(suffix)]} {name}"
    return metric


def wall_seconds(stage_seconds: dict, concurrent=None) -> float:
    """Wall-clock seconds of a run: stage times add up, except that of branches
    that ran side by side (lists of stage names) only the longest counts."""
    total = sum(stage_seconds.values())
    if concurrent:
        branches = [sum(stage_seconds.get(name, 0.0) for name in branch) for branch in concurrent]
        total += max(branches) - sum(branches)
    return total


def ordered_systems(systems: Dict) -> list:
    """Zero-shot systems in SYSTEM_ORDER, then the fine-tuned ones (<system>_ft<N>) by N."""
    def key(name):
        base, _, pairs = name.partition("_ft")
        rank = SYSTEM_ORDER.index(base) if base in SYSTEM_ORDER else len(SYSTEM_ORDER)
        tuned = int(pairs) if pairs.isdigit() else 0
        return (tuned, rank, name)

    return sorted(systems, key=key)


def metrics_table(systems: Dict, labels: Dict[str, str] = None) -> str:
    names = ordered_systems(systems)
    metrics = []
    for system in names:
        metrics += [m for m in systems[system] if m not in metrics]
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for metric in metrics:
        cells = [systems[s].get(metric) for s in names]
        spec = FORMATS.get(metric, ".1f")
        text = ["" if v is None else f"{v:{spec}}" if isinstance(v, float) else str(v) for v in cells]
        lines.append(f"| {metric_label(metric, labels or {})} | " + " | ".join(text) + " |")
    return "\n".join(lines)


FOLLOWING_COLUMNS = (("follows", "follows (%)"), ("transcript_leak", "transcript leak (%)"),
                     ("follows_paraphrased", "follows, paraphrased (%)"),
                     ("transcript_leak_paraphrased", "transcript leak, paraphrased (%)"))


def following_table(following: Dict) -> str:
    """system x task rows: does the output do the asked task, or repeat the transcript?"""
    lines = ["| system | task | " + " | ".join(label for _, label in FOLLOWING_COLUMNS) + " |",
             "|---|---|" + "---|" * len(FOLLOWING_COLUMNS)]
    for system in ordered_systems(following):
        for task, rates in following[system].items():
            cells = ["" if rates.get(k) is None else f"{rates[k]:.1f}" for k, _ in FOLLOWING_COLUMNS]
            lines.append(f"| {system} | {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(results: Dict) -> str:
    out = ["# Results", ""]
    if results.get("title"):
        out += [results["title"], ""]
    out += [metrics_table(results.get("systems", {}), results.get("metric_labels")), ""]
    if results.get("notes"):
        out += [results["notes"], ""]
    if results.get("instruction_following"):
        out += ["## Instruction following", "",
                "Share of outputs doing the asked task (translation: output in the asked language, by the "
                "words of each language's training text; other tasks: an answer seen in training), and of outputs closer to the English "
                "transcript than to the reference; then the same under a paraphrased instruction the LLM "
                "never saw in training.", "",
                following_table(results["instruction_following"]), ""]
    if results.get("stage_seconds"):
        concurrent = results.get("concurrent_stages")
        total = wall_seconds(results["stage_seconds"], concurrent)
        out += ["## Stage times", "", "| stage | seconds |", "|---|---|"]
        out += [f"| {k} | {v:.0f} |" for k, v in results["stage_seconds"].items()]
        label = "total"
        if concurrent:
            label += " (wall clock; side by side: " + " ‖ ".join(" + ".join(b) for b in concurrent) + ")"
        out += [f"| **{label}** | **{total:.0f}** ({total / 60:.1f} min) |", ""]
    if results.get("parameters"):
        out += ["## Parameters", "", "| part | parameters |", "|---|---|"]
        out += [f"| {k} | {v:,} |" for k, v in results["parameters"].items()]
        out.append("")
    if results.get("training_curves"):
        out += ["## Training curves", "", f"![training curves]({results['training_curves']})", ""]
    if results.get("examples"):
        out += ["## Example outputs", ""]
        for system in ordered_systems(results["examples"]):
            for task, rows in results["examples"][system].items():
                out += [f"**{system} / {task}**", "", "| id | reference | output |", "|---|---|---|"]
                out += [f"| {r['id']} | {r['ref']} | {r['hyp']} |" for r in rows]
                out.append("")
    if results.get("settings"):
        out += ["## Settings", "", "```json", json.dumps(results["settings"], indent=2), "```", ""]
    return "\n".join(out)


def load_results(out_dir: str) -> Dict:
    path = os.path.join(out_dir, "results.json")
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    return {"systems": {}}


def save_results(out_dir: str, results: Dict) -> None:
    """Write results.json and results.md; files are replaced whole, never half-written."""
    os.makedirs(out_dir, exist_ok=True)
    for name, text in (("results.json", json.dumps(results, indent=2, ensure_ascii=False)),
                       ("results.md", render(results))):
        path = os.path.join(out_dir, name)
        with open(path + ".tmp", "w") as f:
            f.write(text + "\n")
        os.replace(path + ".tmp", path)
