#!/usr/bin/env python3
"""fairseq-generate's output (D-<index> lines) -> a TSV of test id and ASR hypothesis.

    python asr_hypotheses.py --generate-output generate-test.txt --manifest test.tsv --out asr_hyps.tsv

fairseq's S2T dataset numbers utterances by their row in the manifest; the
cascade needs them by id, which is what `wav2prompt-eval --asr-hypotheses` reads.
"""
import argparse
import csv
import re


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generate-output", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    with open(args.manifest, newline="") as f:
        ids = [row["id"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    with open(args.generate_output) as f:
        hyps = {int(i): text for i, text in re.findall(r"^D-(\d+)\t\S+\t(.*)$", f.read(), re.M)}
    missing = [i for i in range(len(ids)) if i not in hyps]
    if missing:
        raise SystemExit(f"{args.generate_output}: no hypothesis for row {missing[0]} of {args.manifest} "
                         f"(id {ids[missing[0]]!r}; {len(missing)} missing)")
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, escapechar="\\")
        writer.writerow(["id", "hyp"])
        writer.writerows([ids[i], hyps[i].replace("\t", " ")] for i in range(len(ids)))
    print(f"{args.out}: {len(ids)} ASR hypotheses")


if __name__ == "__main__":
    main()
