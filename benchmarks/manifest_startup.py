"""Start-up at LibriSpeech 960 h scale: the task's load_dataset on a first start
(every row checked) and on a later one (row checks from their cache), the
dataset's memory per 100 k rows, and how fairseq's --max-tokens batches fill.

    python benchmarks/manifest_startup.py [--rows 281241] [--max-tokens 20000] [--quick] [--json]

The manifest has LibriSpeech 960 h's 281,241 rows (columns as
recipes/librispeech/local/prepare_librispeech.py writes them, absolute audio
paths). Its lengths are synthetic, drawn LibriSpeech-like: 62% around 14.6 s
(12-17 s), 33% between 1 and 11 s, 5% between 17 and 35 s (mean about 12.3 s);
they are not LibriSpeech's own. Every row has its own path, a hard link into a
pool of `--pool` real 16 kHz PCM wav files whose lengths are drawn from that
mixture, so each row's n_frames is that of its file. The pool's files are
silent and sparse (a header, then a hole): header reads and stats cost what
they cost on any wav, and the pool takes almost no disk. Transcripts: about
2.7 words per second (LibriSpeech's rate) from the benchmark vocabulary, a
small LLaMA's SentencePiece tokenizer (benchmarks/fixtures.py).

Start-up: wall time of `Wav2PromptTask.load_dataset("train")`, one process (one
rank), with a warm page cache (the files were just written); the first start
with no cache file, the later one reading it (median of 3). Memory: bytes Python and numpy
keep allocated (tracemalloc) after a load, for the dataset alone and for the
manifest rows the task keeps besides it, against the same rows in the layout
before the cache (token ids as lists of lists, tokenized twice when target and
transcript are one column; paths and names as lists of str).

Batches: the dataset's `ordered_indices` (longest first, ties shuffled under
fairseq's numpy_seed(seed + epoch)) cut by its `batch_by_size` (fairseq's
data_utils.batch_by_size, plus the tail fairseq drops when the multiple is
above 1), as fairseq's get_batch_iterator does. Fill = frames in the batch /
--max-tokens; padded = longest utterance x batch size / --max-tokens (what the
encoder computes on).
"""
import argparse
import csv
import gc
import os
import random
import shutil
import struct
import sys
import tempfile
import time
import tracemalloc

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixtures import make_llm, sentence  # noqa: E402
from side_by_side import load_average, print_json, print_table  # noqa: E402

LIBRISPEECH_960_ROWS = 281241
WORDS_PER_SECOND = 2.7
MULTIPLES = (8, 4, 2, 1)


def librispeech_like_seconds(rng: np.random.RandomState, n: int) -> np.ndarray:
    """Utterance lengths in seconds: most 12-17 s, a tail of short ones, a few long."""
    kind = rng.choice(3, size=n, p=[0.62, 0.33, 0.05])
    return np.where(kind == 0, np.clip(rng.normal(14.6, 1.0, n), 12.0, 17.0),
                    np.where(kind == 1, rng.uniform(1.0, 11.0, n), rng.uniform(17.0, 35.0, n)))


def write_silent_wav(path: str, samples: int, rate: int = 16000):
    """A mono 16-bit PCM wav; its samples are a hole in a sparse file (silence)."""
    data = 2 * samples
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt "
                + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16) + b"data" + struct.pack("<I", data))
        f.truncate(44 + data)


def build_manifest(out_dir: str, rows: int, pool: int, seed: int = 0) -> str:
    """train.tsv of `rows` rows, each its own hard link into `pool` wav files; built once."""
    from wav2prompt_plugin.data.audio_features import num_frames

    path = os.path.join(out_dir, "train.tsv")
    if os.path.exists(os.path.join(out_dir, ".done")):
        return path
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(os.path.join(out_dir, "pool"))
    rng = np.random.RandomState(seed)
    # the pool's lengths: evenly spaced quantiles of the mixture, so that few files follow it closely
    quantiles = np.quantile(librispeech_like_seconds(rng, 10 ** 6), (np.arange(pool) + 0.5) / pool)
    samples = np.round(quantiles * 16000).astype(np.int64)
    for j, n in enumerate(samples):
        write_silent_wav(os.path.join(out_dir, "pool", f"{j}.wav"), int(n))
    choice = rng.randint(pool, size=rows)
    words = random.Random(seed)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None)
        writer.writerow(["id", "audio", "n_frames", "tgt_text", "speaker"])
        for i, j in enumerate(choice):
            speaker, chapter = 100 + i // 120, i // 30  # LibriSpeech-like ids and folders
            folder = os.path.join(out_dir, "audio", str(speaker), str(chapter))
            os.makedirs(folder, exist_ok=True)
            audio = os.path.join(folder, f"{speaker}-{chapter}-{i:04d}.wav")
            os.link(os.path.join(out_dir, "pool", f"{j}.wav"), audio)
            count = max(1, round(WORDS_PER_SECOND * samples[j] / 16000))
            writer.writerow([f"{speaker}-{chapter}-{i:04d}", audio, num_frames(int(samples[j])),
                             sentence(words, count, count), speaker])
    open(os.path.join(out_dir, ".done"), "w").close()
    return path


def make_task(data_dir: str, llm_dir: str):
    from wav2prompt_plugin.tasks.wav2prompt import Wav2PromptTask, Wav2PromptTaskConfig

    return Wav2PromptTask.setup_task(Wav2PromptTaskConfig(
        data=data_dir, llm_path=llm_dir, train_template="{speech}", train_subset="train", seed=1))


def timed_start(data_dir: str, llm_dir: str):
    """Seconds of load_dataset, and of its two named parts."""
    import wav2prompt_plugin.tasks.wav2prompt as task_module

    parts = {"read_manifest": 0.0, "row_facts": 0.0}
    originals = {name: getattr(task_module, name) for name in parts}

    def timing(name):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                parts[name] += time.perf_counter() - start
        return run

    task = make_task(data_dir, llm_dir)
    for name in parts:
        setattr(task_module, name, timing(name))
    try:
        start = time.perf_counter()
        task.load_dataset("train")
        total = time.perf_counter() - start
    finally:
        for name, function in originals.items():
            setattr(task_module, name, function)
    return total, parts, task


def retained_bytes(data_dir: str, llm_dir: str):
    """Bytes kept after a load: (dataset, the task's manifest rows)."""
    task = make_task(data_dir, llm_dir)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    task.load_dataset("train")
    gc.collect()
    with_manifest = tracemalloc.get_traced_memory()[0] - before
    del task.manifests["train"]
    gc.collect()
    dataset = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return dataset, with_manifest - dataset, task.datasets["train"]


def old_layout_bytes(dataset) -> int:
    """The same rows as the dataset held them before: Python lists and strings."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    rows = range(len(dataset))
    old = ([dataset.targets[i].tolist() for i in rows], [dataset.transcripts[i].tolist() for i in rows],
           [dataset.audio[i] for i in rows], [dataset.names[i] for i in rows])
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del old
    return size


def batch_fill(dataset, max_tokens: int, multiple: int, seed: int = 1, epoch: int = 1):
    from fairseq.data import data_utils

    with data_utils.numpy_seed(seed + epoch):
        indices = dataset.ordered_indices()
    stock = data_utils.batch_by_size(indices, dataset.num_tokens, dataset.num_tokens_vec(indices),
                                     max_tokens, None, multiple)
    batches = dataset.batch_by_size(indices, max_tokens, None, multiple)
    sizes = dataset.sizes
    frames = np.array([sizes[b].sum() for b in batches])
    padded = np.array([sizes[b].max() * len(b) for b in batches])
    return {
        "batches": len(batches),
        "utterances_per_batch": float(np.mean([len(b) for b in batches])),
        "fill": float(frames.sum() / (len(batches) * max_tokens)),
        "padded_fill": float(padded.sum() / (len(batches) * max_tokens)),
        "padding_share": float(1 - frames.sum() / padded.sum()),
        "stock_fairseq_dropped_rows": int(len(indices) - sum(len(b) for b in stock)),
        "rows_batched": int(sum(len(b) for b in batches)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=LIBRISPEECH_960_ROWS)
    parser.add_argument("--pool", type=int, default=3000, help="distinct wav files the rows link to")
    parser.add_argument("--max-tokens", type=int, default=20000, help="the recipe's, per GPU")
    parser.add_argument("--quick", action="store_true", help="2,000 rows, 50 files (a smoke test)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "wav2prompt_bench"))
    args = parser.parse_args()
    if args.quick:
        args.rows, args.pool = 2000, 50
    from wav2prompt_plugin.data.row_checks import cache_files

    load_before = load_average()
    llm_dir = make_llm(os.path.join(args.work_dir, "llm_64x1_v512"), hidden=64, layers=1, heads=2, vocab=512)
    data_dir = os.path.join(args.work_dir, f"startup_{args.rows}_{args.pool}")
    start = time.perf_counter()
    manifest = build_manifest(data_dir, args.rows, args.pool)
    build_seconds = time.perf_counter() - start
    for file in cache_files(manifest):
        if os.path.exists(file):
            os.remove(file)

    first, first_parts, _ = timed_start(data_dir, llm_dir)
    later, later_parts, _ = sorted((timed_start(data_dir, llm_dir) for _ in range(3)), key=lambda r: r[0])[1]
    dataset_bytes, manifest_bytes, dataset = retained_bytes(data_dir, llm_dir)
    old_bytes = old_layout_bytes(dataset)
    per_100k = 1e5 / len(dataset) / 2 ** 20
    seconds = dataset.sizes / 100
    in_12_16 = float(np.mean((seconds >= 12) & (seconds <= 16)))

    print(f"{len(dataset)} rows, {seconds.sum() / 3600:.0f} h: {seconds.mean():.1f} s mean, "
          f"{seconds.min():.1f}-{seconds.max():.1f} s, {100 * in_12_16:.0f}% in 12-16 s; "
          f"manifest built in {build_seconds:.0f} s (once per work dir); load average {load_before}")
    print_table(["start", "load_dataset s", "read_manifest s", "row checks s", "rest s"], [
        [name, total, parts["read_manifest"], parts["row_facts"],
         total - parts["read_manifest"] - parts["row_facts"]]
        for name, total, parts in (("first (no cache)", first, first_parts), ("later (cache)", later, later_parts))
    ])
    print()
    print_table(["memory per 100 k rows", "MB"], [
        ["dataset (packed)", dataset_bytes * per_100k],
        ["dataset, lists as before", old_bytes * per_100k],
        ["task.manifests (rows kept beside it)", manifest_bytes * per_100k],
    ])
    print()
    fills = {m: batch_fill(dataset, args.max_tokens, m) for m in MULTIPLES}
    print(f"--max-tokens {args.max_tokens}, batches of one epoch on one GPU")
    print_table(["multiple", "batches", "utt/batch", "fill", "padded fill", "padding", "fairseq drops"], [
        [m, f["batches"], f["utterances_per_batch"], f["fill"], f["padded_fill"], f["padding_share"],
         f["stock_fairseq_dropped_rows"]] for m, f in fills.items()
    ])
    result = {
        "rows": len(dataset), "hours": float(seconds.sum() / 3600), "mean_seconds": float(seconds.mean()),
        "share_12_16_s": in_12_16, "first_start_s": first, "later_start_s": later,
        "later_start_parts_s": later_parts, "first_start_parts_s": first_parts,
        "later_start_under_10_s": later < 10,
        "dataset_mb_per_100k_rows": dataset_bytes * per_100k,
        "old_layout_mb_per_100k_rows": old_bytes * per_100k,
        "task_manifest_mb_per_100k_rows": manifest_bytes * per_100k,
        "max_tokens": args.max_tokens, "batches": {str(m): f for m, f in fills.items()},
        "load_average_before": load_before, "load_average_after": load_average(),
    }
    assert all(f["rows_batched"] == len(dataset) for f in fills.values())
    if args.json:
        print_json(result)


if __name__ == "__main__":
    main()
