#!/usr/bin/env python3
"""A seeded random subset of a manifest: the few-shot fine-tuning sets.

    python local/subset_manifest.py --manifest data/europarl_st/en-fr_train.tsv --size 1000 \
        --seed 1 --out data/fewshot/en-fr_1000.tsv
"""
import argparse
import os
import random

from common import PrepError


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.manifest, newline="", encoding="utf-8") as f:
        lines = f.read().splitlines()
    header, rows = lines[0], lines[1:]
    if args.size > len(rows):
        raise PrepError(f"{args.manifest}: {len(rows)} rows, fewer than --size {args.size}")
    chosen = sorted(random.Random(args.seed).sample(range(len(rows)), args.size))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        f.write("\n".join([header] + [rows[i] for i in chosen]) + "\n")


if __name__ == "__main__":
    main()
