#!/usr/bin/env python3
"""Europarl-ST (v1.1 release layout) -> manifests for En->X speech translation.

Release layout read here (ROOT is the directory holding `en/`):

    ROOT/en/audios/<speech-id>.m4a                  whole speeches
    ROOT/en/<tgt>/<split>/segments.lst              `<speech-id> <start-s> <end-s>` per line
    ROOT/en/<tgt>/<split>/segments.en               English transcript, line-aligned
    ROOT/en/<tgt>/<split>/segments.<tgt>            reference translation, line-aligned

Each needed speech is converted once to 16 kHz mono flac (OUT/speeches/,
`--convert-cmd`, ffmpeg by default: libsndfile cannot read m4a/AAC), and each
segment is cut from it into OUT/segments/ (one flac per segment, shared by the
En->Fr and En->Es sets). Writes OUT/en-<tgt>_<split>.tsv with columns
`id audio n_frames tgt_text src_text <tgt>`: `tgt_text` the normalised English
transcript (for WER, the text topline and L_MSE/L_QUA), `src_text` the English
as released, `<tgt>` the reference translation (BLEU, and the target of few-shot
fine-tuning). With `--asr-splits train` it also writes OUT/asr_<split>.tsv, the
English ASR data of those splits over all target languages without repeats
(the NAACL version of the paper adds such in-domain English ASR data to training).

    python local/prepare_europarl_st.py --root /data/europarl-st/v1.1 --out data/europarl_st \
        --tgts fr,es --splits dev,test --asr-splits train
"""
import argparse
import logging
import os

from common import (PrepError, check_same_length, convert_audio, cut_segment, normalize_transcript,
                    read_lines, write_manifest)

FFMPEG = "ffmpeg -nostdin -loglevel error -y -i {src} -ac 1 -ar 16000 {dst}"
logger = logging.getLogger("prepare_europarl_st")


def split_rows(args, tgt: str, split: str):
    folder = os.path.join(args.root, args.src, tgt, split)
    paths = [os.path.join(folder, name) for name in ("segments.lst", f"segments.{args.src}", f"segments.{tgt}")]
    segments, sources, targets = (read_lines(p) for p in paths)
    check_same_length(paths, (segments, sources, targets))
    rows = []
    for number, (segment, source, target) in enumerate(zip(segments, sources, targets), 1):
        fields = segment.split()
        try:
            speech, start, end = fields[0], float(fields[1]), float(fields[2])
        except (IndexError, ValueError):
            raise PrepError(f"{paths[0]}:{number}: expected '<speech-id> <start> <end>'") from None
        m4a = os.path.join(args.root, args.src, "audios", f"{speech}.m4a")
        if not os.path.isfile(m4a):
            raise PrepError(f"{paths[0]}:{number}: audio {m4a} does not exist")
        flac = os.path.join(args.out, "speeches", f"{speech}.flac")
        convert_audio(args.convert_cmd, m4a, flac)
        seg_id = f"{speech}_{start:.2f}_{end:.2f}"
        audio = os.path.abspath(os.path.join(args.out, "segments", f"{seg_id}.flac"))
        n_frames = cut_segment(flac, start, end, audio)
        if not source.strip() or not target.strip():
            raise PrepError(f"{folder}: empty transcript or translation on line {number}")
        rows.append({"id": seg_id, "audio": audio, "n_frames": n_frames,
                     "tgt_text": normalize_transcript(source), "src_text": source, tgt: target})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="the release directory holding en/")
    parser.add_argument("--out", required=True)
    parser.add_argument("--src", default="en")
    parser.add_argument("--tgts", default="fr,es")
    parser.add_argument("--splits", default="dev,test")
    parser.add_argument("--asr-splits", default="", help="e.g. train: English ASR training data")
    parser.add_argument("--convert-cmd", default=FFMPEG, help="m4a -> 16 kHz mono flac; {src} {dst}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")
    tgts = args.tgts.split(",")
    for split in args.splits.split(","):
        for tgt in tgts:
            rows = split_rows(args, tgt, split)
            out = os.path.join(args.out, f"{args.src}-{tgt}_{split}.tsv")
            write_manifest(out, rows, ("id", "audio", "n_frames", "tgt_text", "src_text", tgt))
            logger.info(f"{out}: {len(rows)} segments")
    for split in filter(None, args.asr_splits.split(",")):
        unique = {}
        for tgt in tgts:
            for row in split_rows(args, tgt, split):
                unique.setdefault(row["id"], row)
        out = os.path.join(args.out, f"asr_{split}.tsv")
        write_manifest(out, list(unique.values()), ("id", "audio", "n_frames", "tgt_text", "src_text"))
        logger.info(f"{out}: {len(unique)} segments, {sum(r['n_frames'] for r in unique.values()) / 360000:.1f} h")


if __name__ == "__main__":
    main()
