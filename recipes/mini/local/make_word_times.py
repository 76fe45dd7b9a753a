#!/usr/bin/env python3
"""Test sentences whose word boundaries are known: each word spoken alone, then joined.

For every row of a split of the corpus (default: test), each word of its transcript is synthesised
on its own by espeak-ng with the row's held-out voice and one speed and pitch for the sentence,
trimmed to its loud part (the frames within 40 dB of its loudest one, no margin), and the words
are joined with pauses of 0-200 ms (0.1 s of silence before the first and after the last). The
places where each word's audio was put are its true start and end: the reference for CIF's word
timestamps (`wav2prompt-eval --timestamps`), which no forced aligner would give as exactly.

Writes OUT/wav/, OUT/fbank/, the manifests <split>.tsv (fbank) and <split>_wav.tsv (wav) with the
split's columns plus `word_times` ("start-end" in seconds per word, space separated). Every random
choice is seeded by (--seed, utterance id). Kept if <split>.tsv exists.

Usage:
    python make_word_times.py --speech data/default/speech --out data/default/word_times [--split test]
"""
import argparse
import csv
import os
import random
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf

from synthesize import MANIFEST_COLUMNS, PITCH, SAMPLE_RATE, SPEED_WPM, fbank, speak, to_16k, trim_silence, \
    write_manifest

EDGE_S = 0.1
PAUSE_S = (0.0, 0.2)


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def joined_words(row, seed):
    """The row's words spoken one by one and joined: (int16 audio, [(start, end)] in seconds)."""
    rng = random.Random(f"{seed}/word_times/{row['id']}")
    speed, pitch = rng.randint(*SPEED_WPM), rng.randint(*PITCH)
    edge = np.zeros(round(EDGE_S * SAMPLE_RATE), dtype=np.int16)
    pieces, times, at = [edge], [], len(edge)
    for i, word in enumerate(row["tgt_text"].split()):
        if i:
            pause = np.zeros(round(rng.uniform(*PAUSE_S) * SAMPLE_RATE), dtype=np.int16)
            pieces.append(pause)
            at += len(pause)
        audio = trim_silence(to_16k(speak(word, row["speaker"], speed, pitch)), margin=0)
        pieces.append(audio)
        times.append((at / SAMPLE_RATE, (at + len(audio)) / SAMPLE_RATE))
        at += len(audio)
    pieces.append(edge)
    return np.concatenate(pieces), times


def make_one(job):
    row, out, seed = job
    audio, times = joined_words(row, seed)
    wav, npy = out / "wav" / f"{row['id']}.wav", out / "fbank" / f"{row['id']}.npy"
    sf.write(wav, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    feats = fbank(audio)
    np.save(npy, feats)
    base = {c: row.get(c, "") for c in MANIFEST_COLUMNS}
    base.update(n_frames=feats.shape[0], word_times=" ".join(f"{s:.4f}-{e:.4f}" for s, e in times))
    return dict(base, audio=str(npy)), dict(base, audio=str(wav))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", required=True, help="the corpus' speech directory (its <split>.tsv)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    if (out / f"{args.split}.tsv").exists():
        return
    start = time.time()
    for sub in ("wav", "fbank"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rows = read_rows(Path(args.speech) / f"{args.split}.tsv")
    with Pool(args.jobs) as pool:
        made = pool.map(make_one, [(r, out, args.seed) for r in rows], chunksize=8)
    columns = MANIFEST_COLUMNS + ("word_times",)
    write_manifest(out / f"{args.split}_wav.tsv", [w for _, w in made], columns)
    write_manifest(out / f"{args.split}.tsv", [f for f, _ in made], columns)  # last: the set is whole
    print(f"word times: {len(rows)} {args.split} utterances in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
