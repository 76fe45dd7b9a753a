#!/usr/bin/env python3
"""SLURP -> manifests for zero-shot intent classification.

Release layout read here:

    SLURP/dataset/slurp/<split>.jsonl   one utterance per line: slurp_id, sentence,
                                        intent (<scenario>_<action>), recordings [{file, ...}]
    AUDIO/<file>                        slurp_real/*.flac (the real recordings)

Writes OUT/slurp_<split>.tsv with columns
`id audio n_frames tgt_text intent intents`, one row per recording (`--recordings
all`, SLURP's own evaluation) or per utterance (`first`, `headset`). `intent` is
SLURP's label as written (e.g. `alarm_set`); `intents` is the comma-separated
list of every label in the jsonl files read, so a template can offer the LLM the
label set (`{intents}`) for zero-shot classification.

    python local/prepare_slurp.py --dataset /data/slurp/dataset/slurp \
        --audio /data/slurp/audio/slurp_real --out data/slurp --splits devel,test
"""
import argparse
import json
import logging
import os

from common import PrepError, fbank_frames, normalize_transcript, write_manifest

logger = logging.getLogger("prepare_slurp")


def read_jsonl(path: str):
    if not os.path.isfile(path):
        raise PrepError(f"{path} does not exist")
    items = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as e:
                raise PrepError(f"{path}:{number}: not JSON ({e})") from None
            missing = [k for k in ("slurp_id", "sentence", "intent", "recordings") if k not in item]
            if missing:
                raise PrepError(f"{path}:{number}: SLURP record without {missing[0]!r}")
            items.append((number, item))
    return items


def choose(recordings, how: str):
    if how == "all":
        return recordings
    if how == "headset":
        return [r for r in recordings if "headset" in r["file"]][:1]
    return recordings[:1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="SLURP's dataset/slurp directory (*.jsonl)")
    parser.add_argument("--audio", required=True, help="directory of the recordings (slurp_real)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--splits", default="test")
    parser.add_argument("--recordings", default="all", choices=["all", "first", "headset"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")
    splits = {s: read_jsonl(os.path.join(args.dataset, f"{s}.jsonl")) for s in args.splits.split(",")}
    labels = ", ".join(sorted({item["intent"] for items in splits.values() for _, item in items}))
    for split, items in splits.items():
        rows = []
        path = os.path.join(args.dataset, f"{split}.jsonl")
        for number, item in items:
            for recording in choose(item["recordings"], args.recordings):
                audio = os.path.abspath(os.path.join(args.audio, recording["file"]))
                if not os.path.isfile(audio):
                    raise PrepError(f"{path}:{number}: audio {audio} does not exist")
                rows.append({"id": f"{item['slurp_id']}_{os.path.splitext(recording['file'])[0]}",
                             "audio": audio, "n_frames": fbank_frames(audio),
                             "tgt_text": normalize_transcript(item["sentence"]),
                             "intent": item["intent"], "intents": labels})
        out = os.path.join(args.out, f"slurp_{split}.tsv")
        write_manifest(out, rows, ("id", "audio", "n_frames", "tgt_text", "intent", "intents"))
        logger.info(f"{out}: {len(rows)} recordings of {len(items)} utterances")


if __name__ == "__main__":
    main()
