"""`wav2prompt-eval`: score a trained Wav2Prompt (and the text topline) on a test set.

    wav2prompt-eval --checkpoint exp/checkpoint_best.pt --llm-path /models/llm \
        --manifest data/test.tsv --tasks-file tasks.json --out exp/eval

The tasks file maps a task name to its prompt template, target column, metric
(wer | bleu | acc) and optionally the sentence `kinds` it applies to (rows are
selected by a `kind` column when the manifest has one):

    {"st_fr": {"template": "Translate into French: {speech} French:",
               "target": "fr", "metric": "bleu"}}

Tasks scored on other test sets take `--task-manifest TASK=PATH` (one model
load for every set).

Each system's figures go to `results.json` as `<task>_<metric>` (merged with
what the directory already holds for that system, so tasks of several test sets
can be gathered in one directory), hypotheses to `hyps/<system>.<task>.tsv`,
and `results.md` is rendered from the whole.
"""
import argparse
import csv
import json
import logging
import os
from typing import Dict, List

from wav2prompt_plugin.data.manifest import read_manifest
from wav2prompt_plugin.data.templates import PromptTemplate, encode_segment
from wav2prompt_plugin.evaluation.metrics import METRICS
from wav2prompt_plugin.evaluation.report import load_results, save_results

logger = logging.getLogger("wav2prompt_plugin.eval")
SPEECH_SYSTEMS = {"wav2prompt"}


def load_tasks(path: str, names: List[str]) -> Dict[str, dict]:
    with open(path) as f:
        tasks = json.load(f)
    for name in names or list(tasks):
        if name not in tasks:
            raise SystemExit(f"{path}: no task {name!r} (tasks: {', '.join(tasks)})")
        task = tasks[name]
        for key in ("template", "target", "metric"):
            if key not in task:
                raise SystemExit(f"{path}: task {name!r} has no {key!r}")
        if task["metric"] not in METRICS:
            raise SystemExit(f"{path}: task {name!r} has unknown metric {task['metric']!r}")
        PromptTemplate(task["template"])
    return {n: tasks[n] for n in names or list(tasks)}


def load_rows(path: str):
    paths = [path] if path.endswith(".tsv") else sorted(
        os.path.join(path, p) for p in os.listdir(path) if p.endswith(".tsv"))
    rows, columns = [], None
    for p in paths:
        manifest = read_manifest(p)
        rows += manifest.rows
        columns = manifest.columns if columns is None else [c for c in columns if c in manifest.columns]
    return rows, columns or []


def task_rows(rows, columns, name, task):
    PromptTemplate(task["template"]).check_columns(columns, "the manifest")
    if task["target"] not in columns:
        raise SystemExit(f"task {name!r}: the manifest has no target column {task['target']!r}")
    kinds = set(task.get("kinds", []))
    chosen = [r for r in rows if r[task["target"]].strip()
              and (not kinds or "kind" not in columns or r["kind"] in kinds)]
    return sorted(chosen, key=lambda r: int(r["n_frames"]))


def batches(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def run_system(system, generator, rows, task, args) -> List[str]:
    hyps = []
    for batch in batches(rows, args.batch_size):
        if system in SPEECH_SYSTEMS:
            hyps += generator.generate([r["audio"] for r in batch], task["template"], batch)
        else:
            hyps += generator.generate_from_text(
                [r[args.transcript_column] for r in batch], task["template"], batch)
    return hyps


def cif_lengths(generator, rows, args) -> Dict[str, float]:
    """Share of utterances whose number of fired vectors equals / is within 1 of U."""
    exact = within1 = 0
    seconds = 0.0
    fired_total = 0
    for batch in batches(rows, args.batch_size):
        fired = generator.prompt_lengths([r["audio"] for r in batch])
        for row, n in zip(batch, fired):
            u = len(encode_segment(generator.task.tokenizer, row[args.transcript_column]))
            exact += n == u
            within1 += abs(n - u) <= 1
            fired_total += n
            seconds += int(row["n_frames"]) / 100.0
    return {
        "cif_len_exact": 100.0 * exact / max(len(rows), 1),
        "cif_len_within1": 100.0 * within1 / max(len(rows), 1),
        "prompt_positions_per_second": fired_total / max(seconds, 1e-9),
    }


def write_hyps(out_dir, system, name, rows, refs, hyps):
    os.makedirs(os.path.join(out_dir, "hyps"), exist_ok=True)
    with open(os.path.join(out_dir, "hyps", f"{system}.{name}.tsv"), "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, escapechar="\\")
        writer.writerow(["id", "ref", "hyp"])
        writer.writerows([r["id"], ref, hyp.replace("\t", " ")] for r, ref, hyp in zip(rows, refs, hyps))


def build_generator(system, args):
    from wav2prompt_plugin.inference import LLMGenerator, Wav2PromptInference

    gen = dict(beam=args.beam, max_len_b=args.max_len_b, repetition_penalty=args.repetition_penalty,
               device=args.device)
    if system in SPEECH_SYSTEMS:
        if not args.checkpoint:
            raise SystemExit(f"system {system!r} needs --checkpoint")
        return Wav2PromptInference(args.checkpoint, llm_path=args.llm_path, **gen)
    if not args.llm_path:
        raise SystemExit(f"system {system!r} needs --llm-path")
    return LLMGenerator.from_llm_path(args.llm_path, llm_dtype=args.llm_dtype, **gen)


def task_manifests(args, tasks) -> Dict[str, str]:
    """The manifest each task is scored on: --task-manifest TASK=PATH, else --manifest."""
    chosen = {}
    for item in args.task_manifest:
        name, sep, path = item.partition("=")
        if not sep or name not in tasks:
            raise SystemExit(f"--task-manifest {item!r}: expected TASK=PATH with TASK one of {', '.join(tasks)}")
        chosen[name] = path
    for name in tasks:
        if name not in chosen:
            if not args.manifest:
                raise SystemExit(f"task {name!r} has no manifest: give --manifest or --task-manifest {name}=PATH")
            chosen[name] = args.manifest
    return chosen


def evaluate(args):
    tasks = load_tasks(args.tasks_file, args.tasks.split(",") if args.tasks else [])
    manifests = task_manifests(args, tasks)
    loaded = {path: load_rows(path) for path in set(manifests.values()) | ({args.manifest} - {None})}
    results = load_results(args.out)
    for system in args.systems.split(","):
        name = args.name if system in SPEECH_SYSTEMS and args.name else system
        generator = build_generator(system, args)
        figures, examples = {}, {}
        for task_name, task in tasks.items():
            chosen = task_rows(*loaded[manifests[task_name]], task_name, task)
            if not chosen:
                logger.warning(f"task {task_name}: no rows in {manifests[task_name]}")
                continue
            refs = [r[task["target"]] for r in chosen]
            hyps = run_system(system, generator, chosen, task, args)
            key = f"{task_name}_{task['metric']}"
            figures[key] = METRICS[task["metric"]](refs, hyps)
            examples[task_name] = [{"id": r["id"], "ref": ref, "hyp": hyp}
                                   for r, ref, hyp in list(zip(chosen, refs, hyps))[: args.examples]]
            write_hyps(args.out, name, task_name, chosen, refs, hyps)
            logger.info(f"{name} {key}: {figures[key]:.2f} ({len(chosen)} rows)")
        if system in SPEECH_SYSTEMS and args.manifest:
            rows = loaded[args.manifest][0]
            figures.update(cif_lengths(generator, sorted(rows, key=lambda r: int(r["n_frames"])), args))
        # merged per system, so one --out can gather tasks evaluated on different test sets
        results["systems"].setdefault(name, {}).update(figures)
        results.setdefault("examples", {}).setdefault(name, {}).update(examples)
        settings = results.setdefault("settings", {}).setdefault(name, {})
        settings.update({
            "checkpoint": args.checkpoint if system in SPEECH_SYSTEMS else None,
            "llm_path": args.llm_path, "beam": args.beam, "repetition_penalty": args.repetition_penalty,
        })
        settings.setdefault("manifests", {}).update({t: manifests[t] for t in examples})
        settings.setdefault("templates", {}).update({t: tasks[t]["template"] for t in tasks})
        save_results(args.out, results)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="trained Wav2Prompt checkpoint (speech systems)")
    parser.add_argument("--llm-path", help="local LLM directory (default: the checkpoint's)")
    parser.add_argument("--manifest", help="test TSV, or a directory of TSVs (CIF lengths are measured on it)")
    parser.add_argument("--task-manifest", action="append", default=[], metavar="TASK=PATH",
                        help="score TASK on its own test set (repeatable); the others use --manifest")
    parser.add_argument("--tasks-file", required=True, help="JSON: task -> template, target, metric")
    parser.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    parser.add_argument("--systems", default="wav2prompt", help="comma-separated: wav2prompt, text_topline")
    parser.add_argument("--name", default="", help="name for the speech system in the results (e.g. wav2prompt_ft100)")
    parser.add_argument("--transcript-column", default="tgt_text")
    parser.add_argument("--out", required=True)
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--max-len-b", type=int, default=60)
    parser.add_argument("--repetition-penalty", type=float, default=1.0,
                        help="Hugging Face's repetition_penalty on generated tokens (paper: 1.5)")
    parser.add_argument("--llm-dtype", default="fp32", choices=["fp32", "bf16", "fp16"],
                        help="dtype of the LLM for text-only systems (speech systems use the checkpoint's)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--examples", type=int, default=3, help="example outputs kept per task")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    evaluate(args)
    with open(os.path.join(args.out, "results.md")) as f:
        print(f.read().split("## ")[0])


if __name__ == "__main__":
    main()
