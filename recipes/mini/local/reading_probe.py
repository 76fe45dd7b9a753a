#!/usr/bin/env python3
"""Probe how the mini LLM learns to read a passage: QA with context alone.

A LLaMA of ``train_llm.py``'s shape learns only the QA-with-context task, from
new passages drawn for it (each seen once, so it cannot learn them by heart), and
is scored on the new passages of ``train_llm.py --eval-split new``.  Beside its
accuracy the probe prints ``kind_only_acc``: what an LLM would score that
answers from a clause of the asked kind (``has a <colour>`` for colour and who,
``put … in`` for where, ``has <number>`` for how many), picked at random among
those of the passage, without matching the question's person or object.  An
accuracy at that figure means the LLM has learnt where answers stand, not to
read.

Training passages (``--passages``):

* ``world``: the world's generator (``make_world.context_question``);
* ``same-kind``: three clauses of the asked kind with three people and three
  objects: only matching the person or the object answers;
* ``hard``: two distractors of the asked kind, one with the asked person and one
  with the asked object: only matching both answers.

Writes OUT/probe.json (figures, training log, hypotheses) and the tokenizer.

Usage:
    python reading_probe.py --world DIR --tasks tasks.json --out DIR \
        [--size default|smoke] [--passages world|same-kind|hard] [--steps 600] [--layers 4] [--lr 2e-3] [--seed 1]
"""
import argparse
import json
import logging
import os
import random
from typing import Dict, List, Sequence, Tuple

import torch

import make_world as world
import train_llm

TASK = "sqa"
# The first word of a question names its type (make_world.ask).
QUESTION_TYPE = {"what": "colour", "who": "who", "where": "where", "how": "count"}


def clause_kind(clause: str) -> str:
    """own, put or count, from the wording of make_world.clause."""
    words = clause.split()
    return "put" if words[1] == "put" else "own" if words[2] in ("a", "an") else "count"


def kind_only_accuracy(rows: Sequence[Dict[str, str]]) -> float:
    """Expected accuracy (%) of answering from a random clause of the asked kind."""
    expected = 0.0
    for row in rows:
        kind = world.QUESTION_FACT[QUESTION_TYPE[row["en"].split()[0]]]
        expected += 1 / sum(clause_kind(c) == kind for c in row["context"].split(" and "))
    return 100 * expected / len(rows)


def probe_passage(rng: random.Random, hard: bool) -> Tuple[str, str, str, str, str, str]:
    """A row (en, fr, es, intent, answer, context) of a same-kind or hard passage."""
    def distractor(qtype, target, facts):
        if hard:
            # the first distractor shares the person, the second the object
            name = target[1] if len(facts) == 1 else rng.choice(world.NAMES)
            obj = rng.choice(world.OBJECTS) if len(facts) == 1 else target[2]
        else:
            name, obj = rng.choice(world.NAMES), rng.choice(world.OBJECTS)
            if any(name == f[1] or obj == f[2] for f in facts):
                return None
        return world.passage_fact(rng, world.QUESTION_FACT[qtype], name, obj)

    return world.passage_question(rng, distractor)


def training_rows(rows: Sequence[Dict[str, str]], passages: str, count: int,
                  seed: int) -> List[Dict[str, str]]:
    """`count` new TRAIN passages, none with a dev or test question."""
    if passages == "world":
        return train_llm.fresh_rows(rows, {"context_question": count}, seed)
    rng, held_out = random.Random(seed), {r["en"] for r in rows if r["split"] != "train"}
    drawn = []
    while len(drawn) < count:
        row = dict(zip(world.HEADER[3:], probe_passage(rng, passages == "hard")))
        if row["en"] not in held_out:
            drawn.append({**row, "split": "train", "kind": "context_question"})
    return drawn


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", required=True, help="directory of make_world.py's output")
    parser.add_argument("--tasks", required=True, help="tasks.json")
    parser.add_argument("--out", required=True)
    parser.add_argument("--size", choices=sorted(train_llm.SIZES), default="default",
                        help="the world's size (sets the vocabulary)")
    parser.add_argument("--passages", choices=("world", "same-kind", "hard"), default="world")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--layers", type=int, default=train_llm.MODEL["num_hidden_layers"])
    parser.add_argument("--lr", type=float, default=train_llm.OPTIM["lr"], help="peak learning rate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")
    torch.set_num_threads(args.threads)
    rows, facts = train_llm.read_world(args.world)
    tasks = train_llm.load_tasks(args.tasks)
    task = {TASK: tasks[TASK]}
    tokenizer = train_llm.train_tokenizer(train_llm.tokenizer_corpus(rows, facts, tasks), args.out,
                                          train_llm.SIZES[args.size]["vocab_size"]["spm"], args.threads)
    # one new passage an example: no passage comes back
    fresh = training_rows(rows, args.passages, args.steps * train_llm.BATCH_SIZE, args.seed)
    examples = train_llm.build_examples(tokenizer, [], [], task, {}, fresh)
    model = train_llm.build_model(tokenizer, args.seed, num_hidden_layers=args.layers)
    log = train_llm.train(model, examples, args.steps, args.seed, train_llm.BATCH_SIZE, True, 100,
                          {**train_llm.OPTIM, "lr": args.lr})
    scored = [r for r in train_llm.new_text_rows(rows, fresh) if r["kind"] == "context_question"]
    figures, outputs = train_llm.evaluate(model, tokenizer, scored, task, "new")
    figures["kind_only_acc"] = round(kind_only_accuracy(scored), 2)
    with open(os.path.join(args.out, "probe.json"), "w") as f:
        json.dump({"passages": args.passages, "steps": args.steps, "layers": args.layers, "lr": args.lr,
                   "seed": args.seed, "metrics": figures, "log": log, "hypotheses": outputs},
                  f, indent=1)
    print(f"QA with context on {len(scored)} new passages after {args.steps} steps on "
          f"{args.passages} passages: {figures}")


if __name__ == "__main__":
    main()
