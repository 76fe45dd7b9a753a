#!/usr/bin/env python3
"""The cascade's ASR hypotheses of every test set, in as few `wav2prompt-eval --asr-hypotheses` files
as their ids allow.

fairseq-generate decodes data/asr/test.tsv (every test set, one after the other, its `task` column
naming the set) once; recipes/mini/local/asr_hypotheses.py turns its output into `id hyp` rows in the
manifest's order. wav2prompt-eval finds a hypothesis by id, but an id can name different audio in two
sets (MuST-C's `ted_<talk>_<n>` is cut per language pair), so the sets are put in groups within which
no id has two different hypotheses (Europarl-ST's En→Fr and En→Es share their English segments, and
share a group). Writes OUT/<k>.tsv (`id hyp`) and OUT/groups.txt, one `<k> <task>,<task>...` line each.

    python local/cascade_hypotheses.py --hyps exp/asr/asr_hyps.tsv --manifest data/asr/test.tsv --out exp/asr/hyps
"""
import argparse
import csv
import os


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\"))


def group_tasks(rows, hyps):
    """[(tasks, {id: hyp})]: each task in the first group where none of its ids has another hypothesis."""
    by_task = {}
    for row, hyp in zip(rows, hyps):
        by_task.setdefault(row["task"], {})[row["id"]] = hyp["hyp"]
    groups = []
    for task, texts in by_task.items():
        for tasks, merged in groups:
            if all(merged.get(i, text) == text for i, text in texts.items()):
                tasks.append(task)
                merged.update(texts)
                break
        else:
            groups.append(([task], dict(texts)))
    return groups


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hyps", required=True, help="asr_hypotheses.py's output for --manifest")
    parser.add_argument("--manifest", required=True, help="the cascade's test manifest (with a task column)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rows, hyps = read_tsv(args.manifest), read_tsv(args.hyps)
    if [r["id"] for r in rows] != [h["id"] for h in hyps]:
        raise SystemExit(f"{args.hyps}: its ids are not those of {args.manifest}, row by row")
    os.makedirs(args.out, exist_ok=True)
    lines = []
    for k, (tasks, merged) in enumerate(group_tasks(rows, hyps)):
        with open(os.path.join(args.out, f"{k}.tsv"), "w", newline="") as f:
            writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, escapechar="\\")
            writer.writerow(["id", "hyp"])
            writer.writerows(merged.items())
        lines.append(f"{k} {','.join(tasks)}\n")
    with open(os.path.join(args.out, "groups.txt"), "w") as f:
        f.writelines(lines)
    print(f"{args.out}: hypotheses of {len(rows)} test rows in {len(lines)} group(s)")


if __name__ == "__main__":
    main()
