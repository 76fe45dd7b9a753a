"""Systems × tasks on test sets: the figures, hypotheses and files of one evaluation, without argparse.

    from wav2prompt_plugin.evaluation.runner import EvaluationConfig, evaluate
    evaluate(EvaluationConfig(tasks_file="tasks.json", out="exp/eval", manifest="test.tsv",
                              systems=["wav2prompt"], checkpoint="exp/checkpoint_last.pt"))

`wav2prompt-eval` (cli/evaluate.py) is this with a parser; its help says what each figure and file is.
Each system's figures are merged into `out/results.json` (so tasks of several test sets can be gathered
in one directory), hypotheses go to `out/hyps/<name>.<task>.tsv`, and `results.md` is rendered from
the whole.

Longer than the house's 250 lines: one evaluation's figures (per task, per manifest: prompt lengths, E_s,
confidence, word times, instruction following) share what `Evaluation` reads once; the systems, the tasks
file, the metrics and the report stand on their own beside it.
"""
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import editdistance

from wav2prompt_plugin.analysis.confidence import REFUSAL, auroc
from wav2prompt_plugin.data.manifest import read_manifest
from wav2prompt_plugin.data.templates import PromptTemplate
from wav2prompt_plugin.llm.prompt_codec import encode_speech_texts
from wav2prompt_plugin.evaluation.instruction_following import InstructionFollowing
from wav2prompt_plugin.evaluation.metrics import METRICS
from wav2prompt_plugin.evaluation.prompt_distance import PromptDistance
from wav2prompt_plugin.evaluation.report import load_results, save_results
from wav2prompt_plugin.evaluation.systems import SPEECH_SYSTEMS, build_system, read_asr_hypotheses
from wav2prompt_plugin.evaluation.tasks_file import TasksFile, read_paraphrases
from wav2prompt_plugin.evaluation.word_times import COLUMN as WORD_TIMES, WordTimeErrors, parse_word_times
from wav2prompt_plugin.runtime.errors import InputError

logger = logging.getLogger("wav2prompt_plugin.eval")


@dataclass
class EvaluationConfig:
    """One evaluation: wav2prompt-eval's options (see its --help), checked where they combine."""

    tasks_file: str
    out: str
    tasks: Sequence[str] = ()  # none: every task of the file
    systems: Sequence[str] = ("wav2prompt",)
    manifest: Optional[str] = None  # a test TSV or a directory of them; prompt figures are measured on it
    task_manifests: Dict[str, str] = field(default_factory=dict)  # task -> its own test set
    checkpoint: Optional[str] = None
    llm_path: Optional[str] = None
    name: str = ""  # the speech system's name in the results, or the cascade's when it is the only system
    asr_hypotheses: str = ""
    train_manifest: str = ""
    paraphrases: str = ""
    transcript_column: str = "tgt_text"
    beam: int = 1
    max_len_b: int = 60
    repetition_penalty: float = 1.0
    stop_at_newline: bool = False
    llm_dtype: str = "auto"
    min_confidence: Optional[float] = None
    timestamps: bool = False
    trim_silence: bool = False
    batch_size: int = 32
    examples: int = 3
    device: str = "cpu"
    backend: str = "fairseq"  # where the LLM decodes: fairseq (in this process) or vllm (a server)
    vllm_url: str = ""
    vllm_concurrency: int = 16

    def __post_init__(self):
        self.systems = [s for s in self.systems if s]
        if self.backend not in ("fairseq", "vllm"):
            raise InputError(f"--backend {self.backend}: fairseq or vllm")
        if (self.backend == "vllm") != bool(self.vllm_url):
            raise InputError("--backend vllm needs --vllm-url (and --vllm-url needs --backend vllm)")
        if self.backend == "vllm":
            from wav2prompt_plugin.backends.vllm import refuse_unsupported

            refuse_unsupported(self.beam, self.repetition_penalty)
        if self.min_confidence is not None:
            if "wav2prompt" not in self.systems:
                raise InputError(f"--min-confidence applies to the wav2prompt system only "
                                 f"(--systems {','.join(self.systems)})")
            if not 0 <= self.min_confidence <= 1:
                raise InputError(f"--min-confidence {self.min_confidence}: a confidence lies in [0, 1]")
        if self.timestamps and ("wav2prompt" not in self.systems or not self.manifest):
            raise InputError(f"--timestamps: times come from the wav2prompt system's CIF on --manifest "
                             f"(--systems {','.join(self.systems)}, --manifest {self.manifest or 'not given'})")

    def system_name(self, system: str) -> str:
        # a cascade is named when it is the only system (one per ASR model: cascade_ctc, ...)
        named = system in SPEECH_SYSTEMS or (system == "cascade" and self.systems == ["cascade"])
        return self.name if named and self.name else system


def load_rows(path: str):
    """The rows of a manifest, or of every .tsv of a directory, and the columns they all have."""
    paths = [path] if path.endswith(".tsv") else sorted(
        os.path.join(path, p) for p in os.listdir(path) if p.endswith(".tsv"))
    rows, columns = [], None
    for p in paths:
        manifest = read_manifest(p)
        rows += manifest.rows
        columns = manifest.columns if columns is None else [c for c in columns if c in manifest.columns]
    return rows, columns or []


def task_rows(rows, columns, name, task):
    """The rows a task is scored on (its kinds, a non-empty target), shortest first."""
    PromptTemplate(task["template"]).check_columns(columns, "the manifest")
    if task["target"] not in columns:
        raise InputError(f"task {name!r}: the manifest has no target column {task['target']!r}")
    kinds = set(task.get("kinds", []))
    chosen = [r for r in rows if r[task["target"]].strip()
              and (not kinds or "kind" not in columns or r["kind"] in kinds)]
    return sorted(chosen, key=lambda r: int(r["n_frames"]))


def batches(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def task_manifests(config: EvaluationConfig, tasks) -> Dict[str, str]:
    """The manifest each task is scored on: its own, else config.manifest."""
    for name in config.task_manifests:
        if name not in tasks:
            raise InputError(f"--task-manifest {name}=...: {name!r} is not among the tasks ({', '.join(tasks)})")
    chosen = dict(config.task_manifests)
    for name in tasks:
        if name not in chosen:
            if not config.manifest:
                raise InputError(f"task {name!r} has no manifest: give --manifest or --task-manifest {name}=PATH")
            chosen[name] = config.manifest
    return chosen


def write_hyps(out_dir, name, task_name, rows, refs, hyps, heard=None):
    import csv

    os.makedirs(os.path.join(out_dir, "hyps"), exist_ok=True)
    with open(os.path.join(out_dir, "hyps", f"{name}.{task_name}.tsv"), "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, escapechar="\\")
        writer.writerow(["id", "ref", "hyp"] + (["confidence"] if heard else []))
        writer.writerows([r["id"], ref, hyp.replace("\t", " ")] + ([f"{h['confidence']:.4f}"] if heard else [])
                         for r, ref, hyp, h in zip(rows, refs, hyps, heard or [None] * len(rows)))


def confidence_figures(refs: List[str], heard: List[dict]) -> Dict[str, float]:
    """How well the confidence tells a transcript with an error (against `refs`) from one without."""
    texts = [h["text"] for h in heard]
    scores = [h["confidence"] for h in heard]
    confident = sorted(range(len(refs)), key=lambda i: -scores[i])[: round(0.8 * len(refs))]
    figures = {"confidence_mean": sum(scores) / max(len(scores), 1),
               "wer_confident80": METRICS["wer"]([refs[i] for i in confident], [texts[i] for i in confident])}
    area = auroc(scores, [editdistance.eval(r.split(), t.split()) > 0 for r, t in zip(refs, texts)])
    if area == area:  # NaN where every transcript is right, or every one wrong
        figures["confidence_auroc"] = area
    return figures


def write_timestamps(out_dir, name, rows, heard):
    """Per utterance what the LLM read and when, one JSON object per line."""
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
            raise InputError(f"--trim-silence: {path} holds features ({rows[0]['audio']}), not audio; "
                             "silence is cut from audio files (e.g. the recipes' <split>_wav.tsv)")


class Evaluation:
    """What one evaluation reads once (tasks, test sets, paraphrases, training word lists) and scores
    each system with."""

    def __init__(self, config: EvaluationConfig):
        self.config = config
        tasks_file = TasksFile(config.tasks_file)
        self.tasks = tasks_file.select(config.tasks)
        self.manifests = task_manifests(config, self.tasks)
        self.loaded = {p: load_rows(p) for p in set(self.manifests.values()) | ({config.manifest} - {None})}
        if config.trim_silence:
            refuse_features(self.loaded)
        self.paraphrases = read_paraphrases(config.paraphrases, self.tasks)
        # Wav2Prompt's confidence comes from its transcription under the file's transcription task
        self.transcription_template = tasks_file.transcription_template(self.tasks, config.transcript_column)
        self.following = None
        if config.train_manifest:
            self.following = InstructionFollowing(load_rows(config.train_manifest)[0], self.tasks,
                                                  config.transcript_column)
        self.hypotheses = read_asr_hypotheses(config.asr_hypotheses) if "cascade" in config.systems else None

    def answers(self, system, rows, template) -> List[str]:
        hyps = []
        for batch in batches(rows, self.config.batch_size):
            hyps += system.answer(batch, template)
        return hyps

    def transcribed(self, system, rows, cache) -> List[dict]:
        """What Wav2Prompt's transcribe() says of each row's audio, once per file in a run."""
        todo = sorted({r["audio"]: r for r in rows if r["audio"] not in cache}.values(),
                      key=lambda r: int(r["n_frames"]))
        for batch in batches(todo, self.config.batch_size):
            cache.update(zip((r["audio"] for r in batch),
                             system.transcribe(batch, self.transcription_template, self.config.timestamps)))
        return [cache[r["audio"]] for r in rows]

    def refuse(self, hyps, heard) -> List[str]:
        """--min-confidence: the refusal marker in place of each answer below the threshold."""
        if heard is None or self.config.min_confidence is None:
            return hyps
        return [REFUSAL if h["confidence"] < self.config.min_confidence else hyp for hyp, h in zip(hyps, heard)]

    def prompt_figures(self, system, rows) -> Dict[str, float]:
        """LLM prompt positions per second of speech; for Wav2Prompt also the share of utterances whose
        number of fired vectors equals / is within 1 of U, and how close E_s is to the transcript's
        embeddings (evaluation/prompt_distance.py)."""
        column, generator = self.config.transcript_column, system.generator
        exact = within1 = positions_total = 0
        seconds = 0.0
        if system.transcribes:
            distance = PromptDistance(generator.model.decoder.llm.get_input_embeddings().weight)
        for batch in batches(rows, self.config.batch_size):
            # U as the model was trained on it: the transcript's tokens at its template's {speech}
            transcripts = encode_speech_texts(generator.task.tokenizer, generator.task.train_template,
                                              [r[column] for r in batch])
            prompts = system.prompts(batch) if system.speech else None
            positions = [p.size(0) for p in prompts] if prompts is not None else system.prompt_lengths(batch)
            for i, (row, n, tokens) in enumerate(zip(batch, positions, transcripts)):
                exact += n == len(tokens)
                within1 += abs(n - len(tokens)) <= 1
                positions_total += n
                seconds += int(row["n_frames"]) / 100.0
                if system.transcribes:
                    distance.add(prompts[i], tokens)
        figures = {"prompt_positions_per_second": positions_total / max(seconds, 1e-9)}
        if system.transcribes:
            figures.update(cif_len_exact=100.0 * exact / max(len(rows), 1),
                           cif_len_within1=100.0 * within1 / max(len(rows), 1), **distance.figures())
        return figures

    def instruction_following(self, name, task_name, task, chosen, hyps, system, heard=None):
        """Rates under the task's template and, if given, under its paraphrase."""
        rates = self.following.rates(task_name, task, chosen, hyps)
        paraphrase = self.paraphrases.get(task_name)
        if paraphrase:
            refs = [r[task["target"]] for r in chosen]
            para_hyps = self.refuse(self.answers(system, chosen, paraphrase), heard)
            write_hyps(self.config.out, name, f"{task_name}.paraphrased", chosen, refs, para_hyps, heard)
            para = self.following.rates(task_name, task, chosen, para_hyps)
            rates.update({f"{k}_paraphrased": v for k, v in para.items()})
            rates[f"{task['metric']}_paraphrased"] = METRICS[task["metric"]](refs, para_hyps)
        return rates

    def score(self, kind: str, results: dict):
        """One system on every task; its figures, examples and settings merged into `results`."""
        config = self.config
        name = config.system_name(kind)
        system = build_system(kind, config, self.hypotheses)
        system_start = time.perf_counter()
        figures, examples, following, heard_by_audio = {}, {}, {}, {}
        for task_name, task in self.tasks.items():
            chosen = task_rows(*self.loaded[self.manifests[task_name]], task_name, task)
            if not chosen:
                logger.warning(f"task {task_name}: no rows in {self.manifests[task_name]}")
                continue
            refs = [r[task["target"]] for r in chosen]
            heard = self.transcribed(system, chosen, heard_by_audio) if system.transcribes else None
            if heard is not None and task["template"] == self.transcription_template:
                texts = [h["text"] for h in heard]  # transcribed() decoded them under this very template
            else:
                texts = self.answers(system, chosen, task["template"])
            hyps = self.refuse(texts, heard)
            key = f"{task_name}_{task['metric']}"
            figures[key] = METRICS[task["metric"]](refs, hyps)
            if heard is not None and config.min_confidence is not None:
                figures[f"{task_name}_refused"] = 100.0 * sum(h == REFUSAL for h in hyps) / len(hyps)
            examples[task_name] = [{"id": r["id"], "ref": ref, "hyp": hyp}
                                   for r, ref, hyp in list(zip(chosen, refs, hyps))[: config.examples]]
            write_hyps(config.out, name, task_name, chosen, refs, hyps, heard)
            logger.info(f"{name} {key}: {figures[key]:.2f} ({len(chosen)} rows)")
            if self.following and self.following.applies_to(task):
                following[task_name] = self.instruction_following(name, task_name, task, chosen, hyps, system, heard)
        if config.manifest:
            figures.update(self.manifest_figures(system, name, heard_by_audio, system_start))
        figures.update(system.training_cost())
        # merged per system, so one `out` can gather tasks evaluated on different test sets
        results["systems"].setdefault(name, {}).update(figures)
        if following:
            results.setdefault("instruction_following", {}).setdefault(name, {}).update(following)
        results.setdefault("examples", {}).setdefault(name, {}).update(examples)
        settings = results.setdefault("settings", {}).setdefault(name, {})
        settings.update({
            "checkpoint": config.checkpoint if system.speech else None,
            "asr_hypotheses": config.asr_hypotheses if kind == "cascade" else None,
            "paraphrases": self.paraphrases or None,
            "llm_path": config.llm_path, "beam": config.beam, "repetition_penalty": config.repetition_penalty,
            "stop_at_newline": config.stop_at_newline, "backend": config.backend,
            "vllm_url": config.vllm_url or None,
            "min_confidence": config.min_confidence if system.transcribes else None,
        })
        settings.setdefault("manifests", {}).update({t: self.manifests[t] for t in examples})
        settings.setdefault("templates", {}).update({t: self.tasks[t]["template"] for t in self.tasks})

    def manifest_figures(self, system, name, heard_by_audio, system_start) -> Dict[str, float]:
        """On config.manifest: prompt lengths and E_s figures; for Wav2Prompt its confidence's worth and,
        with timestamps, its word times."""
        config, rows = self.config, self.loaded[self.config.manifest][0]
        start = time.perf_counter()
        figures = self.prompt_figures(system, sorted(rows, key=lambda r: int(r["n_frames"])))
        if system.transcribes and rows and config.transcript_column in rows[0]:
            heard = self.transcribed(system, rows, heard_by_audio)
            figures.update(confidence_figures([r[config.transcript_column] for r in rows], heard))
        if system.transcribes and config.timestamps:
            heard = self.transcribed(system, rows, heard_by_audio)
            write_timestamps(config.out, name, rows, heard)
            if rows and WORD_TIMES in rows[0]:
                errors = WordTimeErrors()
                for row, h in zip(rows, heard):
                    errors.add(h["words"], parse_word_times(row[WORD_TIMES], row[config.transcript_column],
                                                            f"{config.manifest}, id {row['id']}"))
                figures.update(errors.figures())
        logger.info(f"{name}: prompt lengths and E_s figures of {len(rows)} rows in "
                    f"{time.perf_counter() - start:.1f} s (the tasks: {start - system_start:.1f} s)")
        return figures


def evaluate(config: EvaluationConfig) -> dict:
    """Every system of `config` on its tasks; results.json (merged with what `config.out` holds) and
    results.md are written after each system."""
    evaluation = Evaluation(config)
    results = load_results(config.out)
    results.setdefault("metric_labels", {}).update(
        {f"{n}_{t['metric']}": t["label"] for n, t in evaluation.tasks.items() if t.get("label")})
    for kind in config.systems:
        evaluation.score(kind, results)
        save_results(config.out, results)
    return results
