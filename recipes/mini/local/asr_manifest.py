#!/usr/bin/env python3
"""A manifest for the cascade's ASR data directory: the same rows with absolute audio paths.

    python asr_manifest.py --manifest data/target/test.tsv --out data/asr/target_test.tsv

fairseq's speech_to_text task reads every split from one directory and resolves relative
audio paths against its config's `audio_root` (the ASR corpus); a manifest of another
directory (the target domain's, a few-shot draw) goes in with its paths made absolute.
"""
import argparse
import csv
import os


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    root = os.path.dirname(os.path.abspath(args.manifest))
    with open(args.manifest, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        columns, rows = reader.fieldnames, list(reader)
    for row in rows:
        row["audio"] = os.path.join(root, row["audio"])  # an absolute path stays as it is
    with open(args.out + ".tmp", "w", newline="") as f:
        writer = csv.DictWriter(f, columns, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None,
                                escapechar="\\", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
