#!/usr/bin/env python3
"""LibriSpeech -> fairseq S2T manifests (audio stays where it is).

Reads ROOT/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt (lines
`<utt-id> <TRANSCRIPT>`) and the flac files beside it, and writes
OUT/<subset>.tsv with columns `id audio n_frames tgt_text speaker`, where
`audio` is the absolute flac path and `tgt_text` the lower-cased transcript
(local/common.py). With all three training subsets present it also writes
OUT/train-960.tsv, their union.

    python local/prepare_librispeech.py --root /data/LibriSpeech --out data/librispeech
"""
import argparse
import glob
import logging
import os

from common import PrepError, fbank_frames, normalize_transcript, write_manifest

SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500",
           "dev-clean", "dev-other", "test-clean", "test-other")
TRAIN_960 = ("train-clean-100", "train-clean-360", "train-other-500")
COLUMNS = ("id", "audio", "n_frames", "tgt_text", "speaker")

logger = logging.getLogger("prepare_librispeech")


def subset_rows(root: str, subset: str):
    transcripts = sorted(glob.glob(os.path.join(root, subset, "*", "*", "*.trans.txt")))
    if not transcripts:
        raise PrepError(f"{os.path.join(root, subset)}: no <speaker>/<chapter>/*.trans.txt files")
    rows = []
    for path in transcripts:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                utt, _, text = line.strip().partition(" ")
                if not utt or not text.strip():
                    raise PrepError(f"{path}:{number}: expected '<utterance-id> <TRANSCRIPT>'")
                audio = os.path.join(os.path.dirname(path), utt + ".flac")
                if not os.path.isfile(audio):
                    raise PrepError(f"{path}:{number}: audio {audio} does not exist")
                rows.append({"id": utt, "audio": os.path.abspath(audio), "n_frames": fbank_frames(audio),
                             "tgt_text": normalize_transcript(text), "speaker": utt.split("-")[0]})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="directory holding train-clean-100/, dev-clean/, ...")
    parser.add_argument("--out", required=True)
    parser.add_argument("--subsets", default=",".join(SUBSETS), help="comma-separated; missing ones fail")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")
    prepared = {}
    for subset in args.subsets.split(","):
        out = os.path.join(args.out, f"{subset}.tsv")
        prepared[subset] = subset_rows(args.root, subset)
        write_manifest(out, prepared[subset], COLUMNS)
        hours = sum(r["n_frames"] for r in prepared[subset]) / 360000
        logger.info(f"{out}: {len(prepared[subset])} utterances, {hours:.1f} h")
    if all(s in prepared for s in TRAIN_960):
        write_manifest(os.path.join(args.out, "train-960.tsv"),
                       [r for s in TRAIN_960 for r in prepared[s]], COLUMNS)


if __name__ == "__main__":
    main()
