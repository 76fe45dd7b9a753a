#!/usr/bin/env python3
"""MuST-C (v1.0 release layout) -> manifests for En->X speech translation.

Release layout read here (ROOT holds en-fr/, en-es/, ...):

    ROOT/en-<tgt>/data/<split>/txt/<split>.yaml   one segment per line:
        - {duration: 3.5, offset: 16.08, rW: 9, uW: 0, speaker_id: spk.1096, wav: ted_1096.wav}
    ROOT/en-<tgt>/data/<split>/txt/<split>.en     English transcript, line-aligned
    ROOT/en-<tgt>/data/<split>/txt/<split>.<tgt>  reference translation, line-aligned
    ROOT/en-<tgt>/data/<split>/wav/ted_<n>.wav    whole talks, 16 kHz

Segments are cut into OUT/segments/ (flac), as fairseq's own MuST-C preparation
cuts them. Writes OUT/mustc_en-<tgt>_<split>.tsv with columns
`id audio n_frames tgt_text src_text <tgt> speaker`.

    python local/prepare_mustc.py --root /data/MUSTC_v1.0 --out data/mustc --tgts fr,es --splits tst-COMMON
"""
import argparse
import logging
import os

import yaml

from common import PrepError, check_same_length, cut_segment, normalize_transcript, read_lines, write_manifest

logger = logging.getLogger("prepare_mustc")


def split_rows(root: str, out: str, tgt: str, split: str):
    txt = os.path.join(root, f"en-{tgt}", "data", split, "txt")
    yaml_path = os.path.join(txt, f"{split}.yaml")
    if not os.path.isfile(yaml_path):
        raise PrepError(f"{yaml_path} does not exist")
    with open(yaml_path, encoding="utf-8") as f:
        segments = yaml.load(f, Loader=yaml.BaseLoader)  # strings only: ids stay as written
    paths = [yaml_path] + [os.path.join(txt, f"{split}.{lang}") for lang in ("en", tgt)]
    sources, targets = read_lines(paths[1]), read_lines(paths[2])
    check_same_length(paths, (segments, sources, targets))
    rows, count = [], {}
    for number, (seg, source, target) in enumerate(zip(segments, sources, targets), 1):
        try:
            wav, offset, duration = seg["wav"], float(seg["offset"]), float(seg["duration"])
        except (KeyError, TypeError, ValueError):
            raise PrepError(f"{yaml_path}: segment {number} lacks wav/offset/duration") from None
        talk = os.path.splitext(wav)[0]
        source_wav = os.path.join(root, f"en-{tgt}", "data", split, "wav", wav)
        if not os.path.isfile(source_wav):
            raise PrepError(f"{yaml_path}: segment {number}: audio {source_wav} does not exist")
        count[talk] = count.get(talk, -1) + 1
        seg_id = f"{talk}_{count[talk]}"  # fairseq's MuST-C segment ids
        audio = os.path.abspath(os.path.join(out, "segments", f"en-{tgt}_{split}", f"{seg_id}.flac"))
        rows.append({"id": seg_id, "audio": audio, "n_frames": cut_segment(source_wav, offset, offset + duration, audio),
                     "tgt_text": normalize_transcript(source), "src_text": source, tgt: target,
                     "speaker": seg.get("speaker_id", "")})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="directory holding en-fr/, en-es/")
    parser.add_argument("--out", required=True)
    parser.add_argument("--tgts", default="fr,es")
    parser.add_argument("--splits", default="tst-COMMON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")
    for tgt in args.tgts.split(","):
        for split in args.splits.split(","):
            rows = split_rows(args.root, args.out, tgt, split)
            out = os.path.join(args.out, f"mustc_en-{tgt}_{split}.tsv")
            write_manifest(out, rows, ("id", "audio", "n_frames", "tgt_text", "src_text", tgt, "speaker"))
            logger.info(f"{out}: {len(rows)} segments")


if __name__ == "__main__":
    main()
