"""The few-shot table on the target domain (stage 9, make_world.py's council): every system's
figures on the domain's test set, zero-shot and fine-tuned on N pairs drawn from its pool with
several seeds, beside what each fine-tuned model keeps of the original test split.

Reads the wav2prompt-eval directories EXP/eval_fewshot/<name> (one per system, so that they can be
written side by side): zero-shot systems by their names, with the target test set's tasks; fine-tuned
ones as `<family>_ft<N>_s<seed>`, with the target test set's tasks and the original test split's
others (what a fine-tuned model keeps). Writes
results["fewshot"][family][N][metric] as evaluation/seeds.py's {"mean", "sd", "seeds"} (N = 0:
zero-shot, one run; the original split's figures as `original_<metric>`) and returns markdown.
"""
import os
import re
from typing import Dict, List

from wav2prompt_plugin.evaluation.report import load_results
from wav2prompt_plugin.evaluation.seeds import apart, fewshot_figures, format_figure, mean, over_seeds

TUNED = re.compile(r"^(?P<family>.+)_ft(?P<pairs>\d+)_s(?P<seed>\d+)$")
# rows of the table, in order: (family, what it is)
FAMILIES = {
    "text_topline": "text topline (the reference transcript)",
    "cascade_ctc": "cascade, stage 4's CTC model as ASR",
    "cascade": "cascade (ASR trained on the ASR data)",
    "wav2prompt": "Wav2Prompt",
    "encoder_llm": "Encoder-LLM",
    "cascade_asrft": "cascade, its ASR fine-tuned on the pairs' transcripts",
    "wav2prompt_e2e": "Wav2Prompt fine-tuned end to end on (speech, French) alone",
    "wav2prompt_e2e_tr": "Wav2Prompt fine-tuned with the transcripts too (L_MSE, L_QUA)",
    "encoder_llm_e2e": "Encoder-LLM fine-tuned on (speech, French)",
}
TARGET = ("st_fr_bleu", "asr_wer")  # on the target domain's test set
ORIGINAL = ("st_es_bleu", "intent_acc", "sqa_acc", "sqqa_acc")  # what a fine-tuned model keeps
THE_PAPERS = "wav2prompt_e2e"  # the paper's setting: (speech, task output) pairs, no transcripts


def gather(systems: Dict) -> Dict:
    """family -> pairs -> seed -> {metric}, the original split's figures as `original_<metric>`."""
    runs = {}
    for name, figures in systems.items():
        match = TUNED.match(name)
        family, pairs, seed = (match["family"], int(match["pairs"]), int(match["seed"])) if match else (name, 0, 0)
        if family not in FAMILIES:
            continue
        kept = {m: figures[m] for m in TARGET if m in figures}
        kept.update({f"original_{m}": figures[m] for m in ORIGINAL if m in figures})
        runs.setdefault(family, {}).setdefault(pairs, {})[seed] = kept
    return runs


def evaluated(path: str) -> Dict:
    """Every system of the wav2prompt-eval directories under `path`."""
    systems = {}
    for name in sorted(os.listdir(path)) if os.path.isdir(path) else []:
        if os.path.isfile(os.path.join(path, name, "results.json")):
            systems.update(load_results(os.path.join(path, name))["systems"])
    return systems


def fewshot_section(exp: str, results: Dict) -> List[str]:
    systems = evaluated(os.path.join(exp, "eval_fewshot"))
    if not systems:
        return []
    table = fewshot_figures(gather(systems))
    # the zero-shot Wav2Prompt's figures on the original split: what the fine-tuned ones are compared with
    base = results.get("systems", {}).get("wav2prompt", {})
    if "wav2prompt" in table and 0 in table["wav2prompt"]:
        table["wav2prompt"][0].update({f"original_{m}": over_seeds([base[m]]) for m in ORIGINAL if m in base})
    results["fewshot"] = table
    labels = results.get("metric_labels", {})
    columns = [*TARGET, *(f"original_{m}" for m in ORIGINAL)]
    head = ["system", "pairs", "seeds"] + [f"target {labels.get(m, m)}" for m in TARGET] + \
           [f"original {labels.get(m, m)}" for m in ORIGINAL]
    lines = ["## Few-shot on the target domain", "",
             "The council domain (`local/make_world.py`): text the LLM learnt, sentences no ASR stage heard, spoken "
             "by a held-out voice over a noise of its own. Zero-shot systems, then each family fine-tuned on N (speech, "
             "French) pairs "
             "drawn from the domain's pool, one draw and training seed per run: mean ± sample standard deviation over "
             "the seeds. `original`: the fine-tuned model on the original test split (zero-shot Wav2Prompt's row: its "
             "own figures there).", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for family in FAMILIES:
        for pairs in sorted(table.get(family, {})):
            figures = table[family][pairs]
            seeds = max((len(f["seeds"]) for f in figures.values()), default=0)
            cells = [FAMILIES[family] + f" (`{family}`)", str(pairs or "zero-shot"), str(seeds)]
            cells += [format_figure(figures[m]) if m in figures else "" for m in columns]
            lines.append("| " + " | ".join(cells) + " |")
    return lines + [""] + fewshot_claims(table)


def fewshot_claims(table: Dict) -> List[str]:
    """Claim (c) on the target domain: the paper's fine-tuning (pairs alone) against zero-shot
    Wav2Prompt (+5 BLEU, more than two standard deviations) and against the zero-shot cascade."""
    tuned = table.get(THE_PAPERS, {})
    zero = table.get("wav2prompt", {}).get(0, {})
    cascade = table.get("cascade", {}).get(0, {})
    lines = []
    for pairs in sorted(tuned):
        bleu = tuned[pairs].get("st_fr_bleu")
        if not bleu or "st_fr_bleu" not in zero:
            continue
        gain = mean(bleu) - mean(zero["st_fr_bleu"])
        separated = apart(bleu, zero["st_fr_bleu"])
        lines.append(f"| (c) {THE_PAPERS} on {pairs} pairs ≥ zero-shot Wav2Prompt + 5 BLEU, more than 2 sd apart | "
                     f"{format_figure(bleu)} vs {format_figure(zero['st_fr_bleu'])} ({gain:+.1f}) | "
                     f"{'yes' if gain >= 5 and separated else '**no**'} |")
        if "st_fr_bleu" in cascade:
            lines.append(f"| (c) {THE_PAPERS} on {pairs} pairs above the zero-shot cascade | {format_figure(bleu)} vs "
                         f"{format_figure(cascade['st_fr_bleu'])} | "
                         f"{'yes' if mean(bleu) > mean(cascade['st_fr_bleu']) else '**no**'} |")
        kept = [m for m in ORIGINAL if f"original_{m}" in tuned[pairs] and f"original_{m}" in zero]
        if kept:
            losses = {m: mean(zero[f"original_{m}"]) - mean(tuned[pairs][f"original_{m}"]) for m in kept}
            lines.append(f"| {THE_PAPERS} on {pairs} pairs keeps the original split: ≤ 1 BLEU lost on En→Es, ≤ 2 "
                         "points on the others | " + "; ".join(f"{m}: {-loss:+.1f}" for m, loss in losses.items())
                         + f" | {'yes' if all(loss <= (1 if m.endswith('_bleu') else 2) for m, loss in losses.items()) else '**no**'} |")
    if not lines:
        return []
    return ["The paper's claim (c), on the target domain's En→Fr:", "", "| claim | figures | holds |",
            "|---|---|---|"] + lines + [""]
