"""`wav2prompt-eval`: score trained speech-prompt models and text baselines on a test set.

    wav2prompt-eval --checkpoint exp/checkpoint_best.pt --llm-path /models/llm \
        --manifest data/test.tsv --tasks-file tasks.json --out exp/eval

Systems: `wav2prompt` and `encoder_llm` (a --checkpoint of that model), and
through the same LLM decoder with text at {speech}: `text_topline` (the
reference transcript) and `cascade` (an ASR model's hypotheses, --asr-hypotheses).

The tasks file maps a task name to its prompt template, target column, metric
(wer | bleu | acc), and optionally the sentence `kinds` it applies to (rows are
selected by a `kind` column when the manifest has one) and the `label` of its
figure in results.md:

    {"st_fr": {"template": "Translate into French: {speech} French:",
               "target": "fr", "metric": "bleu", "label": "En→Fr BLEU"}}

A bleu task's target column names the language it translates into, for the
instruction-following rates.

Tasks scored on other test sets take `--task-manifest TASK=PATH` (one model
load for every set).

Each system's figures go to `results.json` as `<task>_<metric>` (merged with
what the directory already holds for that system, so tasks of several test sets
can be gathered in one directory), hypotheses to `hyps/<system>.<task>.tsv`,
and `results.md` is rendered from the whole. With --train-manifest, every task
but transcription also gets its instruction-following rates (see
evaluation/instruction_following.py), and with --paraphrases the same under a
second wording of each task's instruction.

For `wav2prompt`, each utterance also gets a confidence (analysis/confidence.py) from its
transcription under the tasks file's transcription task (the one whose target is
--transcript-column, whatever --tasks selects; a task under that same template takes
those transcriptions as its hypotheses, so no utterance is decoded twice under one
template): a `confidence` column in the hypotheses files, and in results.json its AUROC for
"the transcript has an error" (`confidence_auroc`) and the WER of the 80% most
confident utterances (`wer_confident80`) on --manifest. `--min-confidence X`
puts a refusal marker in place of the answer of every utterance below X, which
the figures then count (`<task>_refused`, the share refused). `--timestamps` writes
`<name>.timestamps.jsonl`: per --manifest utterance the tokens the LLM read (each E_s vector's
nearest token) and the words they make, with their times in seconds from CIF (analysis/timestamps.py);
where the manifest has true word times (a `word_times` column), their errors go to results.json
(`word_start_err_ms_median`, `_p90`, the same for the end; evaluation/word_times.py).

`--trim-silence` cuts the leading and trailing silence of each audio file before the speech systems
hear it (data/voice_activity.py), as `Wav2PromptInference` and the demo do by default. It is off
here by default so that test figures stay those of the audio as given, comparable with earlier runs
and with fairseq-generate; a manifest of .npy features cannot be trimmed and is refused with it.

Longer than the house's 250 lines: the runner (systems × tasks, its figures and files) is still here
beside the argparse; it belongs in evaluation/ as a library without argparse.
"""
import argparse
import csv
import json
import logging
import os
import time
from typing import Dict, List

import editdistance

from wav2prompt_plugin.runtime.process import prepare_process
from wav2prompt_plugin.analysis.confidence import REFUSAL, auroc
from wav2prompt_plugin.data.manifest import read_manifest
from wav2prompt_plugin.data.templates import PromptTemplate, encode_speech_texts
from wav2prompt_plugin.evaluation.instruction_following import InstructionFollowing
from wav2prompt_plugin.evaluation.metrics import METRICS
from wav2prompt_plugin.evaluation.prompt_distance import PromptDistance
from wav2prompt_plugin.evaluation.report import load_results, save_results
from wav2prompt_plugin.evaluation.training_cost import training_cost
from wav2prompt_plugin.evaluation.word_times import COLUMN as WORD_TIMES, WordTimeErrors, parse_word_times

logger = logging.getLogger("wav2prompt_plugin.eval")
SPEECH_SYSTEMS = {"wav2prompt", "encoder_llm"}
TEXT_SYSTEMS = {"text_topline", "cascade"}


def load_tasks(path: str, names: List[str], tasks: Dict[str, dict] = None) -> Dict[str, dict]:
    """The tasks `names` (default: all) of the tasks file, checked; `tasks`: the file's contents, if read."""
    if tasks is None:
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
        if not isinstance(task.get("label", ""), str):
            raise SystemExit(f"{path}: task {name!r} has a label that is not a string")
        PromptTemplate(task["template"])
    return {n: tasks[n] for n in names or list(tasks)}


def transcription_template(task_file: Dict[str, dict], selected: Dict[str, dict], column: str):
    """The template wav2prompt's confidence is measured under: that of the task whose target is the
    transcript column, among the selected tasks if one is, else in the whole tasks file (a model scored
    with `--tasks st_fr` alone is judged on what it heard, not on its French); None where the file has
    none (transcribe() then uses the model's training template)."""
    for pool in (selected, task_file):
        for task in pool.values():
            if isinstance(task, dict) and task.get("target") == column and "template" in task \
                    and not PromptTemplate(task["template"]).fields:
                return task["template"]
    return None


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


def load_asr_hypotheses(path: str) -> Dict[str, str]:
    """id -> ASR hypothesis, from a TSV with columns id and hyp."""
    if not path:
        raise SystemExit("system 'cascade' needs --asr-hypotheses")
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not {"id", "hyp"} <= set(reader.fieldnames or []):
            raise SystemExit(f"{path}: needs columns id and hyp (has {reader.fieldnames})")
        return {row["id"]: row["hyp"] or "" for row in reader}


def speech_text(system, rows, args) -> List[str]:
    """What a text system puts at {speech}: the transcript, or the ASR hypothesis."""
    if system == "text_topline":
        return [r[args.transcript_column] for r in rows]
    missing = [r["id"] for r in rows if r["id"] not in args.hypotheses]
    if missing:
        raise SystemExit(f"{args.asr_hypotheses}: no hypothesis for id {missing[0]!r} "
                         f"({len(missing)} test ids missing)")
    return [args.hypotheses[r["id"]] for r in rows]


def run_system(system, generator, rows, template, args) -> List[str]:
    hyps = []
    for batch in batches(rows, args.batch_size):
        if system in SPEECH_SYSTEMS:
            hyps += generator.generate([r["audio"] for r in batch], template, batch)
        else:
            hyps += generator.generate_from_text(speech_text(system, batch, args), template, batch)
    return hyps


def prompt_figures(system, generator, rows, args) -> Dict[str, float]:
    """LLM prompt positions per second of speech; for Wav2Prompt also the share of
    utterances whose number of fired vectors equals / is within 1 of U, and how
    close E_s is to the transcript's embeddings (evaluation/prompt_distance.py)."""
    exact = within1 = 0
    seconds = 0.0
    positions_total = 0
    tokenizer = generator.task.tokenizer
    # U as the model was trained on it: the transcript's tokens at its template's {speech}
    trained = generator.task.train_template
    if system == "wav2prompt":
        distance = PromptDistance(generator.model.decoder.llm.get_input_embeddings().weight)
    for batch in batches(rows, args.batch_size):
        transcripts = encode_speech_texts(tokenizer, trained, [r[args.transcript_column] for r in batch])
        if system in SPEECH_SYSTEMS:
            prompts = generator.speech_prompts([r["audio"] for r in batch])
            positions = [p.size(0) for p in prompts]
        else:
            positions = [len(x) for x in encode_speech_texts(tokenizer, trained, speech_text(system, batch, args))]
        for i, (row, n, tokens) in enumerate(zip(batch, positions, transcripts)):
            u = len(tokens)
            exact += n == u
            within1 += abs(n - u) <= 1
            positions_total += n
            seconds += int(row["n_frames"]) / 100.0
            if system == "wav2prompt":
                distance.add(prompts[i], tokens)
    figures = {"prompt_positions_per_second": positions_total / max(seconds, 1e-9)}
    if system == "wav2prompt":
        figures.update(cif_len_exact=100.0 * exact / max(len(rows), 1),
                       cif_len_within1=100.0 * within1 / max(len(rows), 1), **distance.figures())
    return figures


def write_hyps(out_dir, system, name, rows, refs, hyps, heard=None):
    os.makedirs(os.path.join(out_dir, "hyps"), exist_ok=True)
    with open(os.path.join(out_dir, "hyps", f"{system}.{name}.tsv"), "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, escapechar="\\")
        writer.writerow(["id", "ref", "hyp"] + (["confidence"] if heard else []))
        writer.writerows([r["id"], ref, hyp.replace("\t", " ")] + ([f"{h['confidence']:.4f}"] if heard else [])
                         for r, ref, hyp, h in zip(rows, refs, hyps, heard or [None] * len(rows)))


def transcribed(generator, rows, args, cache) -> List[dict]:
    """What `Wav2PromptInference.transcribe` says of each row's audio, once per file in a run: under the
    template of the task that transcribes (its target the transcript column), else the model's own."""
    todo = sorted({r["audio"]: r for r in rows if r["audio"] not in cache}.values(), key=lambda r: int(r["n_frames"]))
    for batch in batches(todo, args.batch_size):
        heard = generator.transcribe([r["audio"] for r in batch], args.transcription_template,
                                     timestamps=args.timestamps)
        cache.update(zip((r["audio"] for r in batch), heard))
    return [cache[r["audio"]] for r in rows]


def refuse(hyps, heard, args) -> List[str]:
    """--min-confidence: the refusal marker in place of each answer below the threshold."""
    if heard is None or args.min_confidence is None:
        return hyps
    return [REFUSAL if h["confidence"] < args.min_confidence else hyp for hyp, h in zip(hyps, heard)]


def confidence_figures(rows, heard, args) -> Dict[str, float]:
    """How well the confidence tells a transcript with an error from one without, on `rows`."""
    refs = [r[args.transcript_column] for r in rows]
    texts = [h["text"] for h in heard]
    scores = [h["confidence"] for h in heard]
    confident = sorted(range(len(rows)), key=lambda i: -scores[i])[: round(0.8 * len(rows))]
    figures = {"confidence_mean": sum(scores) / max(len(scores), 1),
               "wer_confident80": METRICS["wer"]([refs[i] for i in confident], [texts[i] for i in confident])}
    area = auroc(scores, [editdistance.eval(r.split(), t.split()) > 0 for r, t in zip(refs, texts)])
    if area == area:  # NaN where every transcript is right, or every one wrong
        figures["confidence_auroc"] = area
    return figures


def word_time_figures(rows, heard, args) -> Dict[str, float]:
    """--timestamps on a manifest with true word times: how far CIF's are (evaluation/word_times.py)."""
    errors = WordTimeErrors()
    for row, h in zip(rows, heard):
        errors.add(h["words"], parse_word_times(row[WORD_TIMES], row[args.transcript_column],
                                                f"{args.manifest}, id {row['id']}"))
    return errors.figures()


def write_timestamps(out_dir, name, rows, heard):
    """--timestamps: per utterance what the LLM read and when, one JSON object per line."""
    path = os.path.join(out_dir, f"{name}.timestamps.jsonl")
    keys = ("text", "confidence", "duration", "tokens", "words")
    with open(path, "w", encoding="utf-8") as f:
        for row, h in zip(rows, heard):
            f.write(json.dumps({"id": row["id"], "audio": row["audio"], **{k: h[k] for k in keys}},
                               ensure_ascii=False) + "\n")
    logger.info(f"{name}: CIF timestamps of {len(rows)} utterances in {path}")


def refuse_features(loaded):
    """--trim-silence cuts audio: a manifest whose rows hold features would be scored untrimmed."""
    from wav2prompt_plugin.data.audio_features import load_waveform

    for path, (rows, _) in loaded.items():
        if rows and load_waveform(rows[0]["audio"]) is None:
            raise SystemExit(f"--trim-silence: {path} holds features ({rows[0]['audio']}), not audio; "
                             "silence is cut from audio files (e.g. the recipes' <split>_wav.tsv)")


def build_generator(system, args):
    from wav2prompt_plugin.inference import LLMGenerator, Wav2PromptInference

    gen = dict(beam=args.beam, max_len_b=args.max_len_b, repetition_penalty=args.repetition_penalty,
               stop_at_newline=args.stop_at_newline, device=args.device)
    if system in SPEECH_SYSTEMS:
        if not args.checkpoint:
            raise SystemExit(f"system {system!r} needs --checkpoint")
        return Wav2PromptInference(args.checkpoint, llm_path=args.llm_path, trim_silence=args.trim_silence,
                                   **gen)
    if system not in TEXT_SYSTEMS:
        raise SystemExit(f"unknown system {system!r} (systems: {', '.join(sorted(SPEECH_SYSTEMS | TEXT_SYSTEMS))})")
    if system == "cascade" and not hasattr(args, "hypotheses"):
        args.hypotheses = load_asr_hypotheses(args.asr_hypotheses)
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


def load_paraphrases(path: str, tasks: Dict[str, dict]) -> Dict[str, str]:
    if not path:
        return {}
    with open(path) as f:
        paraphrases = json.load(f)
    for name, template in paraphrases.items():
        if name not in tasks:
            raise SystemExit(f"{path}: no task {name!r} in the tasks file")
        PromptTemplate(template)
    return {n: t for n, t in paraphrases.items() if n in tasks}


def instruction_following(name, task_name, task, chosen, hyps, generator, system, args, heard=None):
    """Rates under the task's template and, if given, under its paraphrase."""
    rates = args.following.rates(task_name, task, chosen, hyps)
    paraphrase = args.paraphrase_templates.get(task_name)
    if paraphrase:
        para_hyps = refuse(run_system(system, generator, chosen, paraphrase, args), heard, args)
        write_hyps(args.out, name, f"{task_name}.paraphrased", chosen, [r[task["target"]] for r in chosen],
                   para_hyps, heard)
        para = args.following.rates(task_name, task, chosen, para_hyps)
        rates.update({f"{k}_paraphrased": v for k, v in para.items()})
        rates[f"{task['metric']}_paraphrased"] = METRICS[task["metric"]](
            [r[task["target"]] for r in chosen], para_hyps)
    return rates


def evaluate(args):
    with open(args.tasks_file) as f:
        task_file = json.load(f)
    tasks = load_tasks(args.tasks_file, args.tasks.split(",") if args.tasks else [], task_file)
    manifests = task_manifests(args, tasks)
    loaded = {path: load_rows(path) for path in set(manifests.values()) | ({args.manifest} - {None})}
    if args.trim_silence:
        refuse_features(loaded)
    results = load_results(args.out)
    results.setdefault("metric_labels", {}).update(
        {f"{n}_{t['metric']}": t["label"] for n, t in tasks.items() if t.get("label")})
    args.paraphrase_templates = load_paraphrases(args.paraphrases, tasks)
    args.transcription_template = transcription_template(task_file, tasks, args.transcript_column)
    args.following = None
    if args.train_manifest:
        train_rows, _ = load_rows(args.train_manifest)
        args.following = InstructionFollowing(train_rows, tasks, args.transcript_column)
    for system in args.systems.split(","):
        # a cascade is named when it is the only system (one per ASR model: cascade_ctc, ...)
        named = system in SPEECH_SYSTEMS or (system == "cascade" and args.systems == "cascade")
        name = args.name if named and args.name else system
        generator = build_generator(system, args)
        system_start = time.perf_counter()
        figures, examples, following, heard_by_audio = {}, {}, {}, {}
        for task_name, task in tasks.items():
            chosen = task_rows(*loaded[manifests[task_name]], task_name, task)
            if not chosen:
                logger.warning(f"task {task_name}: no rows in {manifests[task_name]}")
                continue
            refs = [r[task["target"]] for r in chosen]
            heard = transcribed(generator, chosen, args, heard_by_audio) if system == "wav2prompt" else None
            if heard is not None and task["template"] == args.transcription_template:
                texts = [h["text"] for h in heard]  # transcribed() decoded them under this very template
            else:
                texts = run_system(system, generator, chosen, task["template"], args)
            hyps = refuse(texts, heard, args)
            key = f"{task_name}_{task['metric']}"
            figures[key] = METRICS[task["metric"]](refs, hyps)
            if heard is not None and args.min_confidence is not None:
                figures[f"{task_name}_refused"] = 100.0 * sum(h == REFUSAL for h in hyps) / len(hyps)
            examples[task_name] = [{"id": r["id"], "ref": ref, "hyp": hyp}
                                   for r, ref, hyp in list(zip(chosen, refs, hyps))[: args.examples]]
            write_hyps(args.out, name, task_name, chosen, refs, hyps, heard)
            logger.info(f"{name} {key}: {figures[key]:.2f} ({len(chosen)} rows)")
            if args.following and args.following.applies_to(task):
                following[task_name] = instruction_following(
                    name, task_name, task, chosen, hyps, generator, system, args, heard)
        if args.manifest:
            rows = loaded[args.manifest][0]
            start = time.perf_counter()
            figures.update(prompt_figures(system, generator, sorted(rows, key=lambda r: int(r["n_frames"])), args))
            if system == "wav2prompt" and rows and args.transcript_column in rows[0]:
                figures.update(confidence_figures(rows, transcribed(generator, rows, args, heard_by_audio), args))
            if system == "wav2prompt" and args.timestamps:
                heard = transcribed(generator, rows, args, heard_by_audio)
                write_timestamps(args.out, name, rows, heard)
                if rows and WORD_TIMES in rows[0]:
                    figures.update(word_time_figures(rows, heard, args))
            logger.info(f"{name}: prompt lengths and E_s figures of {len(rows)} rows in "
                        f"{time.perf_counter() - start:.1f} s (the tasks: {start - system_start:.1f} s)")
        if system in SPEECH_SYSTEMS:
            figures.update(training_cost(generator.model, generator.training_counts))
        # merged per system, so one --out can gather tasks evaluated on different test sets
        results["systems"].setdefault(name, {}).update(figures)
        if following:
            results.setdefault("instruction_following", {}).setdefault(name, {}).update(following)
        results.setdefault("examples", {}).setdefault(name, {}).update(examples)
        settings = results.setdefault("settings", {}).setdefault(name, {})
        settings.update({
            "checkpoint": args.checkpoint if system in SPEECH_SYSTEMS else None,
            "asr_hypotheses": args.asr_hypotheses if system == "cascade" else None,
            "paraphrases": args.paraphrase_templates or None,
            "llm_path": args.llm_path, "beam": args.beam, "repetition_penalty": args.repetition_penalty,
            "stop_at_newline": args.stop_at_newline,
            "min_confidence": args.min_confidence if system == "wav2prompt" else None,
        })
        settings.setdefault("manifests", {}).update({t: manifests[t] for t in examples})
        settings.setdefault("templates", {}).update({t: tasks[t]["template"] for t in tasks})
        save_results(args.out, results)
    return results


def main(argv=None):
    prepare_process()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="trained Wav2Prompt checkpoint (speech systems)")
    parser.add_argument("--llm-path", help="local LLM directory (default: the checkpoint's)")
    parser.add_argument("--manifest", help="test TSV, or a directory of TSVs (CIF lengths are measured on it)")
    parser.add_argument("--task-manifest", action="append", default=[], metavar="TASK=PATH",
                        help="score TASK on its own test set (repeatable); the others use --manifest")
    parser.add_argument("--tasks-file", required=True, help="JSON: task -> template, target, metric")
    parser.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    parser.add_argument("--systems", default="wav2prompt",
                        help="comma-separated: wav2prompt, encoder_llm, text_topline, cascade")
    parser.add_argument("--name", default="", help="name for the speech system in the results (e.g. wav2prompt_ft100), "
                        "or for the cascade when it is the only system (e.g. cascade_ctc)")
    parser.add_argument("--asr-hypotheses", default="", help="cascade: TSV of id and hyp (ASR output per test id)")
    parser.add_argument("--train-manifest", default="",
                        help="training TSV(s): word lists and answer sets for the instruction-following rates")
    parser.add_argument("--paraphrases", default="",
                        help="JSON: task -> a second wording of its template, for the instruction-following rates")
    parser.add_argument("--transcript-column", default="tgt_text")
    parser.add_argument("--out", required=True)
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--max-len-b", type=int, default=60)
    parser.add_argument("--repetition-penalty", type=float, default=1.0,
                        help="Hugging Face's repetition_penalty on generated tokens (paper: 1.5)")
    parser.add_argument("--stop-at-newline", action="store_true",
                        help="end each hypothesis at its first line break, in every system (base LLMs "
                        "go on after a one-line answer)")
    parser.add_argument("--llm-dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                        help="dtype of the LLM for text-only systems (speech systems use the checkpoint's)")
    parser.add_argument("--min-confidence", type=float, default=None, metavar="X",
                        help=f"wav2prompt: write {REFUSAL!r} instead of the answer of each utterance whose "
                             "confidence is below X (0-1), and score it as such")
    parser.add_argument("--timestamps", action="store_true",
                        help="wav2prompt: write <name>.timestamps.jsonl, each --manifest utterance's tokens and "
                             "words as the LLM read them, with CIF's times in seconds (analysis/timestamps.py)")
    parser.add_argument("--trim-silence", action="store_true",
                        help="speech systems: cut each audio file's leading and trailing silence first "
                             "(data/voice_activity.py; off by default, so figures are those of the audio as given)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--examples", type=int, default=3, help="example outputs kept per task")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.min_confidence is not None:
        if "wav2prompt" not in args.systems.split(","):
            parser.error(f"--min-confidence applies to the wav2prompt system only (--systems {args.systems})")
        if not 0 <= args.min_confidence <= 1:
            parser.error(f"--min-confidence {args.min_confidence}: a confidence lies in [0, 1]")
    if args.timestamps and ("wav2prompt" not in args.systems.split(",") or not args.manifest):
        parser.error(f"--timestamps: times come from the wav2prompt system's CIF on --manifest "
                     f"(--systems {args.systems}, --manifest {args.manifest or 'not given'})")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    evaluate(args)
    with open(os.path.join(args.out, "results.md")) as f:
        print(f.read().split("## ")[0])


if __name__ == "__main__":
    main()
