#!/usr/bin/env python3
"""Few-shot fine-tuning sets: N (speech, translation) pairs from the training split (or another).

    python make_fewshot.py --speech data/speech --sizes 100,500 --out data/fewshot --seed 1
    python make_fewshot.py --speech data/target --pool pool --sizes 100,500 --out data/target_fewshot/seed2 --seed 2

The second draws from the target domain's pool (synthesize_target.py): a seed per draw.

Each set holds N distinct training sentences, one utterance (one voice) each,
with every manifest column (so the target can be `fr` and the transcript
`tgt_text`); smaller sets are subsets of larger ones. Sentences of the test
manifest are refused, so no test sentence is ever fine-tuned on. The dev
manifest is linked beside each set for fairseq's validation.  --seed alone decides
the draw: sets of different seeds differ.
"""
import argparse
import csv
import os
import random


def read_rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return reader.fieldnames, list(reader)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", required=True, help="directory of train/dev/test.tsv")
    parser.add_argument("--pool", default="train", help="the manifest (in --speech) the pairs are drawn from")
    parser.add_argument("--sizes", required=True, help="comma-separated numbers of pairs")
    parser.add_argument("--target", default="fr", help="column the pairs must have non-empty")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    pool = os.path.join(args.speech, f"{args.pool}.tsv")
    columns, train = read_rows(pool)
    _, test = read_rows(os.path.join(args.speech, "test.tsv"))
    if args.target not in columns:
        raise SystemExit(f"{pool} has no column {args.target!r}")
    by_sentence = {}
    for row in train:
        if row[args.target].strip():
            by_sentence.setdefault(row["tgt_text"], []).append(row)
    sentences = sorted(by_sentence)
    rng = random.Random(args.seed)
    rng.shuffle(sentences)
    sizes = sorted(int(n) for n in args.sizes.split(","))
    if sizes[-1] > len(sentences):
        raise SystemExit(f"{pool} has {len(sentences)} sentences with {args.target!r}, "
                         f"fewer than {sizes[-1]}")
    chosen = [dict(rng.choice(by_sentence[s])) for s in sentences[: sizes[-1]]]
    root = os.path.abspath(args.speech)
    for row in chosen:  # the sets live elsewhere: relative audio paths must stay valid
        row["audio"] = os.path.join(root, row["audio"])
    leaked = {r["tgt_text"] for r in chosen} & {r["tgt_text"] for r in test}
    if leaked:
        raise SystemExit(f"{args.pool} sentence {sorted(leaked)[0]!r} is also a test sentence")
    for n in sizes:
        out = os.path.join(args.out, f"ft{n}")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "train.tsv"), "w", newline="") as f:
            writer = csv.DictWriter(f, columns, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None,
                                    lineterminator="\n")
            writer.writeheader()
            writer.writerows(chosen[:n])
        dev = os.path.join(out, "dev.tsv")
        if not os.path.lexists(dev):
            os.symlink(os.path.relpath(os.path.join(args.speech, "dev.tsv"), out), dev)
        print(f"{out}/train.tsv: {n} pairs")


if __name__ == "__main__":
    main()
