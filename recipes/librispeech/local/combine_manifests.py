#!/usr/bin/env python3
"""Concatenate manifests on their shared columns (e.g. LibriSpeech 960 h +
Europarl-ST English ASR data into one training manifest).

    python local/combine_manifests.py --out data/train/train.tsv \
        data/librispeech/train-960.tsv data/europarl_st/asr_train.tsv
"""
import argparse

from common import write_manifest
from wav2prompt_plugin.data.manifest import read_manifest


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifests", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    manifests = [read_manifest(path, required=["tgt_text"]) for path in args.manifests]
    columns = [c for c in manifests[0].columns if all(c in m.columns for m in manifests)]
    write_manifest(args.out, [row for m in manifests for row in m.rows], columns)


if __name__ == "__main__":
    main()
