"""The reading probe: the kind-only ceiling, its passages, and a short run."""
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / "recipes" / "mini" / "local"
TASKS = ROOT / "recipes" / "mini" / "conf" / "tasks.json"


@pytest.fixture(scope="module")
def probe():
    from recipes.mini.local import reading_probe

    return reading_probe


def row(question, context):
    return {"en": question, "context": context}


def test_kind_only_accuracy_counts_the_clauses_of_the_asked_kind(probe):
    context = "sara has a red box and tom has an orange cup and tom put the box in the garden"
    assert probe.kind_only_accuracy([row("what colour is the box of sara", context)]) == 50.0
    assert probe.kind_only_accuracy([row("who has an orange cup", context)]) == 50.0
    assert probe.kind_only_accuracy([row("where did tom put the box", context)]) == 100.0
    counted = "sara has three boxes and tom has two cups and lena has four hats"
    assert probe.kind_only_accuracy([row("how many cups does tom have", counted),
                                     row("where did tom put the box", context)]) == pytest.approx((100 / 3 + 100) / 2)


def person_and_object(clause, kind):
    words = clause.split()
    return words[0], words[3] if kind == "put" else words[-1]


@pytest.mark.parametrize("hard", [False, True])
def test_probe_passages_leave_only_matching_to_answer(probe, hard):
    world = probe.world
    rng = random.Random(0)
    for _ in range(200):
        en, _, _, _, answer, context = probe.probe_passage(rng, hard)
        clauses = context.split(" and ")
        kind = world.QUESTION_FACT[probe.QUESTION_TYPE[en.split()[0]]]
        assert len(clauses) == 3 and all(probe.clause_kind(c) == kind for c in clauses)
        if en.startswith("who"):
            # "who has a white shoe": one clause holds "a white shoe", and its person answers
            asked = [c for c in clauses if c.endswith(en[len("who has "):])]
            assert len(asked) == 1 and asked[0].split()[0] == answer
        else:
            asked = [c for c in clauses if set(person_and_object(c, kind)) <= set(en.split())]
            assert len(asked) == 1 and f" {answer} " in f" {asked[0]} "
        keys = [person_and_object(c, kind) for c in clauses]
        # hard: one distractor shares the asked person, the other the asked object
        assert len({p for p, _ in keys}) == len({o for _, o in keys}) == (2 if hard else 3)


@pytest.mark.slow
def test_short_probe_writes_its_figures(probe, smoke_world, tmp_path):
    world, out = smoke_world, tmp_path / "probe"
    proc = subprocess.run(
        [sys.executable, str(LOCAL / "reading_probe.py"), "--world", str(world), "--tasks", str(TASKS),
         "--out", str(out), "--size", "smoke", "--passages", "hard", "--steps", "4", "--lr", "5e-4"],
        capture_output=True, text=True, cwd=LOCAL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "probe.json").read_text())
    assert set(result["metrics"]) == {"sqa_acc", "kind_only_acc"}
    assert 0 <= result["metrics"]["sqa_acc"] <= 100 and 50 < result["metrics"]["kind_only_acc"] < 100
    assert len(result["hypotheses"]["sqa"]) == 300 and result["log"][-1]["step"] == 4
    # the peak learning rate asked for, reached at the end of warmup (one step of four)
    assert result["lr"] == 5e-4 and result["log"][0]["lr"] == pytest.approx(5e-4, rel=1e-3)
