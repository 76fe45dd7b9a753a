"""Helpers shared by the fault-injection tests: manifests to break, a tiny
fairseq-train command, and what a clean one-line error looks like."""
import csv
import os

from conftest import write_manifest
from wav2prompt_plugin.tasks.wav2prompt import Wav2PromptTask, Wav2PromptTaskConfig

TEMPLATE = "repeat {speech} text"
TINY_MODEL = [
    "--arch", "wav2prompt_tiny", "--encoder-layers", "1", "--encoder-embed-dim", "28",
    "--encoder-ffn-embed-dim", "44", "--encoder-attention-heads", "2", "--conv-channels", "20",
    "--dropout", "0.0", "--attention-dropout", "0.0", "--activation-dropout", "0.0",
]


def read_rows(speech_data, split):
    """A split's manifest rows, audio paths made absolute."""
    with open(os.path.join(speech_data, f"{split}.tsv")) as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for row in rows:
        row["audio"] = os.path.join(speech_data, row["audio"])
    return rows


def write_split(data_dir, split, rows, columns=None):
    os.makedirs(data_dir, exist_ok=True)
    write_manifest(os.path.join(data_dir, f"{split}.tsv"), rows, columns or list(rows[0].keys()))
    return str(data_dir)


def make_task(data, llm, **kwargs):
    return Wav2PromptTask.setup_task(Wav2PromptTaskConfig(data=str(data), llm_path=llm, **kwargs))


def train_command(data, llm, save_dir, updates, extra=()):
    return [
        "fairseq-train", str(data), "--user-dir", "wav2prompt_plugin", "--task", "wav2prompt",
        "--llm-path", llm, "--train-template", TEMPLATE, *TINY_MODEL,
        "--criterion", "wav2prompt", "--optimizer", "adam", "--lr", "3e-3",
        "--max-tokens", "1200", "--max-update", str(updates), "--save-dir", str(save_dir),
        "--no-epoch-checkpoints", "--log-format", "simple", "--log-interval", "1",
        "--num-workers", "0", "--cpu", "--valid-subset", "dev", "--seed", "7", *extra,
    ]


def error_report(proc, name):
    """A failed run's report of bad input: from `name: ` to the end of stderr,
    with no traceback anywhere."""
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr[proc.stderr.rindex(f"{name}: "):].strip()
