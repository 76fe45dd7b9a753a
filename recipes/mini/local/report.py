#!/usr/bin/env python3
"""Collect the mini recipe's figures into EXP/results.{json,md} and print the table.

Merges the evaluation (wav2prompt-eval's results.json), the stage times, the
parameter counts and the training curves of every loss term.
"""
import argparse
import csv
import json
import os

import torch
from safetensors.torch import load_file

from fewshot_report import TUNED, fewshot_section
from make_conditions import evaluated_conditions
from paper_claims import check_claims, task_metrics
from wav2prompt_plugin.analysis.confidence import auroc
from wav2prompt_plugin.evaluation.metrics import word_error_rate
from wav2prompt_plugin.evaluation.report import load_results, metrics_table, save_results, wall_seconds
from wav2prompt_plugin.evaluation.training_cost import run_budget
from wav2prompt_plugin.evaluation.training_curves import plot_experiment_curves

CURVES = {"ctc": ["ctc", "cif_align"],
          "wav2prompt": ["loss", "ce", "mse", "qua", "ctc", "cif_align", "cif_len_exact"],
          "wav2prompt_no_mse": ["loss", "ce", "mse", "qua", "cif_len_exact"],
          "cascade": ["loss"], "encoder_llm": ["loss"]}


SWEEP_PREFIX = "wav2prompt_lf"  # stage 12: wav2prompt_lf<percent>[_u<updates>], an LLM-free first stage
SWEEP_COLUMNS = (("cif_len_exact", "CIF exact (%)", ".1f"), ("llm_train_positions", "LLM positions trained", ",d"),
                 ("train_flops_llm", "FLOPs in the LLM", ".3g"), ("train_flops_other", "FLOPs, trained part", ".3g"),
                 ("train_seconds", "training s", ".0f"))


def sweep_table(systems: dict, labels: dict) -> list:
    """Markdown lines: the recipe's Wav2Prompt and each LLM-free share of stage 12, side by side."""
    names = sorted((n for n in systems if n.startswith(SWEEP_PREFIX)),
                   key=lambda n: [int(part) for part in n[len(SWEEP_PREFIX):].split("_u")])
    if not names:
        return []
    rows = (["wav2prompt"] if "wav2prompt" in systems else []) + names
    tasks = [m for m in task_metrics(systems[names[0]])]
    head = ["system", "LLM-free share"] + [labels.get(m, m) for m in tasks] + [label for _, label, _ in SWEEP_COLUMNS]
    lines = ["## An LLM-free first stage", "",
             "Stage 12: the recipe's Wav2Prompt, same stage-4 encoder and updates (`_u<N>`: N updates), "
             "with its first share of updates trained against the LLM's embedding table alone (L_MSE, L_QUA and the CTC terms; no "
             "LLM forward or backward), then the paper's loss. FLOPs: forward + backward, by the model "
             "of `wav2prompt_plugin/evaluation/training_cost.py`.", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name in rows:
        figures = systems[name]
        cells = [name, f"{figures.get('llm_free_fraction', 0):.2f}"]
        cells += [f"{figures[m]:.1f}" if m in figures else "" for m in tasks]
        cells += [format(int(figures[k]) if spec == ",d" else figures[k], spec) if k in figures else ""
                  for k, _, spec in SWEEP_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


CONDITION_COLUMNS = (("cif_len_exact", "CIF exact (%)"), ("confidence_auroc", "confidence AUROC"))


def read_confidences(path: str) -> list:
    """(ref, hyp, confidence) of each row of a hypotheses file of wav2prompt-eval; none from a file
    written before the confidence was."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if "confidence" not in (reader.fieldnames or []):
            return []
        return [(r["ref"], r["hyp"], float(r["confidence"])) for r in reader]


def conditions_table(exp: str, results: dict) -> list:
    """Markdown lines: Wav2Prompt on the test sentences in each condition of local/make_conditions.py,
    and how well its confidence flags a wrong transcript over all of them; into `results` too."""
    conditions = evaluated_conditions()
    names = [n for n in conditions if os.path.isfile(os.path.join(exp, "eval_conditions", n, "results.json"))]
    if not names or "wav2prompt" not in results["systems"]:
        return []
    clean = results["systems"]["wav2prompt"]
    results["conditions"] = {n: load_results(os.path.join(exp, "eval_conditions", n))["systems"]["wav2prompt"]
                             for n in names}
    tasks = task_metrics(clean)
    labels = results.get("metric_labels", {})
    head = ["test audio"] + [labels.get(m, m) for m in tasks] + [label for _, label in CONDITION_COLUMNS] + \
           ["BLEU, share of clean (%)"]
    lines = ["## Other voices and noise", "",
             "Wav2Prompt on the test sentences in other conditions (`local/make_conditions.py`); the first row is "
             "the test split. `confidence AUROC`: how well the per-utterance confidence ranks right transcripts "
             "above wrong ones.", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, figures in [("clean held-out espeak-ng voices (test split)", clean)] + \
                         [(conditions[n], results["conditions"][n]) for n in names]:
        bleu = [m for m in tasks if m.endswith("_bleu")]
        share = " / ".join(f"{100 * figures[m] / clean[m]:.0f}" for m in bleu if clean.get(m))
        cells = [name] + [f"{figures[m]:.1f}" if m in figures else "" for m in tasks + [c for c, _ in CONDITION_COLUMNS[:1]]]
        cells += [f"{figures['confidence_auroc']:.3f}" if "confidence_auroc" in figures else "", share]
        lines.append("| " + " | ".join(cells) + " |")
    rows = []
    for hyps in [os.path.join(exp, "eval", "hyps", "wav2prompt.asr.tsv")] + \
                [os.path.join(exp, "eval_conditions", n, "hyps", "wav2prompt.asr.tsv") for n in names]:
        if os.path.isfile(hyps):
            rows += read_confidences(hyps)
    if rows:
        wrong = [r.split() != h.split() for r, h, _ in rows]
        confident = sorted(rows, key=lambda row: -row[2])[: round(0.8 * len(rows))]
        mix = {"utterances": len(rows), "wrong": 100.0 * sum(wrong) / len(rows),
               "wer": word_error_rate([r for r, _, _ in rows], [h for _, h, _ in rows]),
               "wer_confident80": word_error_rate([r for r, _, _ in confident], [h for _, h, _ in confident])}
        area = auroc([c for *_, c in rows], wrong)
        if area == area:  # NaN where every transcript is right, or every one wrong
            mix["auroc"] = area
        results["confidence"] = mix
        lines += ["", f"Over every condition together ({mix['utterances']} utterances, {mix['wrong']:.0f}% with an "
                      "error): " + (f"confidence AUROC **{area:.3f}**; " if "auroc" in mix else "")
                  + f"ASR WER {mix['wer']:.1f}, and {mix['wer_confident80']:.1f} on the 80% most confident utterances."]
    return lines + [""]


def word_times_section(exp: str, results: dict) -> list:
    """Markdown lines: CIF's word times against the known ones (local/make_word_times.py); into
    `results` as word_start_err_ms / word_end_err_ms ({median, p90}) and word_times."""
    path = os.path.join(exp, "eval_word_times")
    if not os.path.isfile(os.path.join(path, "results.json")):
        return []
    figures = load_results(path)["systems"]["wav2prompt"]
    results["word_times"] = {"paired": figures["word_times_paired"], "asr_wer": figures["asr_wer"]}
    cells = []
    for side in ("start", "end"):
        key = f"word_{side}_err_ms"
        if f"{key}_median" in figures:
            results[key] = {"median": figures[f"{key}_median"], "p90": figures[f"{key}_p90"]}
            cells.append(f"{side} {figures[f'{key}_median']:.0f} ms (90th percentile {figures[f'{key}_p90']:.0f} ms)")
    return ["## Word times from CIF", "",
            "The test sentences spoken again by their held-out voices through libespeak-ng, whose word events give "
            "each word's start (`local/make_word_times.py`); `wav2prompt-eval "
            f"--timestamps` on them. ASR WER {figures['asr_wer']:.1f}; {figures['word_times_paired']:.1f}% of the words "
            "recognised in place and timed; absolute error, median: " + (", ".join(cells) or "none") + ".", ""]


def explained_examples(exp: str, results: dict) -> list:
    """Markdown lines: wav2prompt-explain's pictures of three test utterances, one heard right, one misheard,
    one with a fired count other than its transcript's token count (where the test split has them)."""
    from transformers import AutoTokenizer

    from wav2prompt_plugin.cli.explain import explain
    from wav2prompt_plugin.data.templates import PromptTemplate
    from wav2prompt_plugin.llm.prompt_codec import encode_speech_texts

    timeline = os.path.join(exp, "eval", "wav2prompt.timestamps.jsonl")
    hyps = os.path.join(exp, "eval", "hyps", "wav2prompt.asr.tsv")
    if not (os.path.isfile(timeline) and os.path.isfile(hyps)):
        return []
    templates = results["settings"]["wav2prompt"]["templates"]
    with open(timeline) as f:
        fired = {line["id"]: (line["audio"], len(line["tokens"])) for line in map(json.loads, f)}
    with open(hyps, newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r["id"] in fired]
    tokenizer = AutoTokenizer.from_pretrained(os.path.join(exp, "llm"))
    units = encode_speech_texts(tokenizer, PromptTemplate(templates["asr"]), [r["ref"] for r in rows])
    kinds = {"heard right": lambda r, u: r["hyp"] == r["ref"] and fired[r["id"]][1] == len(u),
             "misheard": lambda r, u: r["hyp"] != r["ref"] and fired[r["id"]][1] == len(u),
             "a fired count other than the transcript's tokens": lambda r, u: fired[r["id"]][1] != len(u)}
    chosen = [(kind, next((r for r, u in zip(rows, units) if test(r, u)), None)) for kind, test in kinds.items()]
    chosen = [(kind, row) for kind, row in chosen if row]
    if not chosen:
        return []
    out = os.path.join(exp, "explain")
    explain(argparse.Namespace(audio=[fired[r["id"]][0] for _, r in chosen], out=out, template=templates["st_fr"],
                               checkpoint=os.path.join(exp, "wav2prompt", "checkpoint_last.pt"),
                               llm_path=os.path.join(exp, "llm"), beam=1, max_len_b=60, device="cpu",
                               trim_silence=True))
    results["explained"] = {kind: row["id"] for kind, row in chosen}
    lines = ["## What the LLM read, and when", "",
             "`wav2prompt-explain` on three test utterances (En→Fr template): the spectrogram, CIF's weights with the "
             "points where it fired, each prompt vector's nearest LLM token (colour: cosine to it), the words, and "
             "the answer.", ""]
    for kind, row in chosen:
        name = os.path.splitext(os.path.basename(fired[row["id"]][0]))[0]
        lines += [f"**{kind}** ({row['id']}: {row['ref']!r} heard as {row['hyp']!r})", "",
                  f"![{kind}](explain/{name}.png)", ""]
    return lines


# every system of the table but the topline, with the run it trained in ("": none of its own)
BUDGETED = {"ctc": "stage 4's CTC encoder, the initialisation of every system below",
            "cascade_ctc": "cascade, stage 4's CTC model as its ASR", "cascade": "cascade, its ASR (s2t_transformer)",
            "encoder_llm": "Encoder-LLM", "wav2prompt": "Wav2Prompt",
            "wav2prompt_all_ce": "Wav2Prompt, L_CE at every update", "wav2prompt_no_mse": "Wav2Prompt without L_MSE"}


def budgets_section(exp: str, results: dict) -> list:
    """Markdown lines: what each trained system spent (evaluation/training_cost.run_budget); into
    `results["budgets"]`."""
    budgets = {}
    for name in BUDGETED:
        checkpoint = os.path.join(exp, name, "checkpoint_last.pt")
        if os.path.isfile(checkpoint):
            budgets[name] = run_budget(checkpoint)
        elif name == "cascade_ctc" and name in results["systems"]:
            budgets[name] = {"updates": 0, "llm_train_positions": 0, "train_seconds": 0.0}
    tuned = {}  # few-shot: per family and size, the mean over its seeds' runs
    fewshot_dir = os.path.join(exp, "fewshot")
    for run in sorted(os.listdir(fewshot_dir)) if os.path.isdir(fewshot_dir) else []:
        match = TUNED.match(run)
        checkpoint = os.path.join(fewshot_dir, run, "checkpoint_last.pt")
        if match and os.path.isfile(checkpoint):
            tuned.setdefault(f"{match['family']}_ft{match['pairs']}", []).append(run_budget(checkpoint))
    for name, runs in tuned.items():
        budgets[name] = dict(runs[0], seeds=len(runs), **{
            k: sum(r.get(k, 0) for r in runs) / len(runs) for k in ("llm_train_positions", "train_seconds")})
    if len(budgets) < 2:
        return []
    results["budgets"] = budgets
    lines = ["## What each system trained", "",
             "Every system starts from stage 4's encoder and trains on the same ASR data; updates, batch size "
             "(`--max-tokens`, fbank frames) and peak learning rate of its own run, the LLM positions it put "
             "through the frozen LLM (forward and backward) and fairseq's time of its update steps.", "",
             "| system | updates | max tokens | peak lr | LLM positions trained | training s |",
             "|---|---|---|---|---|---|"]
    for name, b in budgets.items():
        label = BUDGETED.get(name) or f"few-shot, mean of {b['seeds']} seeds"
        lines.append(f"| {label} (`{name}`) | {b['updates']:,} | {b.get('max_tokens') or ''} | "
                     f"{b['lr'] if 'lr' in b else ''} | {round(b['llm_train_positions']):,} | {b.get('train_seconds', 0):.0f} |")
    return lines + [""]


def kind_only_chance(manifest: str) -> float:
    """QA with context: the expected accuracy (%) of answering from a random clause of the asked kind,
    on the manifest's rows with a passage (reading_probe.py) — how much of that figure is not reading."""
    from reading_probe import kind_only_accuracy

    with open(manifest, newline="") as f:
        rows = [{"en": r["tgt_text"], "context": r["context"]}
                for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r.get("answer", "").strip()
                and r.get("context", "").strip()]
    return round(kind_only_accuracy(rows), 1) if rows else None


def trained_parameters(checkpoint: str) -> int:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]
    return sum(v.numel() for k, v in state.items() if v.is_floating_point())


def llm_parameters(llm_dir: str) -> int:
    return sum(t.numel() for t in load_file(os.path.join(llm_dir, "model.safetensors")).values())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exp", required=True)
    parser.add_argument("--size", required=True)
    parser.add_argument("--tokenizer", default="spm", help="the LLM's tokenizer kind, for the title")
    parser.add_argument("--manifest", help="the test manifest: QA with context's kind-only chance beside its figure")
    args = parser.parse_args()
    kind = {"spm": "SentencePiece", "bpe": "byte-level BPE"}.get(args.tokenizer, args.tokenizer)

    results = load_results(os.path.join(args.exp, "eval"))
    results["title"] = (f"Miniature world, size `{args.size}`, LLM tokenizer {kind}, test split (held-out sentences and "
                        "held-out voices). Wav2Prompt and the Encoder-LLM are trained on speech + "
                        "transcripts only, every other task is zero-shot through the LLM's text "
                        "templates. Few-shot fine-tuning is measured on the target domain, in its own section.")
    sweep = sweep_table(results["systems"], results.get("metric_labels", {}))
    for name in [n for n in results["systems"] if n.startswith(SWEEP_PREFIX)]:  # in their own table
        results.setdefault("llm_free_sweep", {})[name] = results["systems"].pop(name)
        for part in ("examples", "instruction_following"):
            results.get(part, {}).pop(name, None)
    claims = check_claims(results["systems"])
    chance = kind_only_chance(args.manifest) if args.manifest else None
    notes = []
    if chance is not None:
        results["sqa_kind_only_acc"] = chance
        notes += [f"QA with context, beside its figures: an LLM answering from a random clause of the asked kind "
                  f"(not reading the passage) scores **{chance:.1f}%** on these test passages "
                  "(`sqa_kind_only_acc`; `local/reading_probe.py`).", ""]
    notes += (["## The paper's claims, in the miniature", ""] + claims + [""] if claims else []) + sweep
    notes += fewshot_section(args.exp, results)
    notes += budgets_section(args.exp, results)
    notes += conditions_table(args.exp, results)
    notes += word_times_section(args.exp, results)
    notes += explained_examples(args.exp, results)
    if notes:
        results["notes"] = "\n".join(notes)
    with open(os.path.join(args.exp, "stage_seconds.json")) as f:
        results["stage_seconds"] = json.load(f)
    concurrent = os.path.join(args.exp, "concurrent_stages.json")  # written by run.sh's overlap
    if os.path.isfile(concurrent):
        with open(concurrent) as f:
            results["concurrent_stages"] = json.load(f)
    params = {"LLM (frozen, trained on text)": llm_parameters(os.path.join(args.exp, "llm"))}
    for run, label in (("ctc", "CTC encoder (initialisation)"), ("wav2prompt", "Wav2Prompt (trained)"),
                       ("cascade", "cascade ASR (s2t_transformer)"), ("encoder_llm", "Encoder-LLM (trained)")):
        checkpoint = os.path.join(args.exp, run, "checkpoint_last.pt")
        if os.path.isfile(checkpoint):
            params[label] = trained_parameters(checkpoint)
    results["parameters"] = params
    curves = plot_experiment_curves(args.exp, CURVES)
    if curves:
        results["training_curves"] = curves
    save_results(args.exp, results)
    total = wall_seconds(results["stage_seconds"], results.get("concurrent_stages"))
    print(metrics_table(results["systems"], results.get("metric_labels")))
    print(f"\nall stages: {total / 60:.1f} min (wall clock); full report: {os.path.join(args.exp, 'results.md')}")


if __name__ == "__main__":
    main()
