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

The evaluation itself is evaluation/runner.py (`EvaluationConfig`, `evaluate`), the systems
evaluation/systems.py, the tasks file evaluation/tasks_file.py; this module is the parser.
"""
import argparse
import logging
import os

from wav2prompt_plugin.analysis.confidence import REFUSAL
from wav2prompt_plugin.evaluation.runner import EvaluationConfig, evaluate
from wav2prompt_plugin.runtime.process import prepare_process


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
    parser.add_argument("--backend", default="fairseq", choices=["fairseq", "vllm"],
                        help="where the LLM decodes: fairseq (this process, the default) or vllm (a vLLM server "
                             "started with --enable-prompt-embeds; greedy only: backends/vllm.py)")
    parser.add_argument("--vllm-url", default="", help="--backend vllm: the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--vllm-concurrency", type=int, default=16,
                        help="--backend vllm: requests in flight at once (the server batches them)")
    args = vars(parser.parse_args(argv))
    task_manifests = {}
    for item in args.pop("task_manifest"):
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--task-manifest {item!r}: expected TASK=PATH")
        task_manifests[name] = path
    args.update(tasks=args["tasks"].split(","), systems=args["systems"].split(","), task_manifests=task_manifests)
    config = EvaluationConfig(**args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    evaluate(config)
    with open(os.path.join(config.out, "results.md")) as f:
        print(f.read().split("## ")[0])


if __name__ == "__main__":
    main()
