"""The mini recipe's world generator: determinism, file format and its promises."""
import importlib.util
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "recipes" / "mini" / "local" / "make_world.py"
COLUMNS = ["id", "split", "kind", "en", "fr", "es", "intent", "answer", "context", "domain"]
KINDS = {"describe", "command", "question", "context_question"}


def generate(out, seed=1):
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--seed", str(seed),
                    "--size", "smoke"], check=True, capture_output=True, text=True)
    return out


def read_rows(path):
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "", "file ends with a newline"
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:-1]]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = generate(tmp_path_factory.mktemp("world"))
    header, rows = read_rows(out / "sentences.tsv")
    return out, header, [dict(zip(header, r)) for r in rows], rows


@pytest.fixture(scope="module")
def world():
    spec = importlib.util.spec_from_file_location("make_world", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_same_seed_same_bytes(smoke, tmp_path):
    first = smoke[0]
    again = generate(tmp_path / "again")
    for name in ("sentences.tsv", "facts.tsv"):
        assert (first / name).read_bytes() == (again / name).read_bytes()
    other = generate(tmp_path / "other", seed=2)
    assert (first / "sentences.tsv").read_bytes() != (other / "sentences.tsv").read_bytes()


def test_format(smoke):
    out, header, rows, raw = smoke
    assert header == COLUMNS
    assert all(len(r) == len(COLUMNS) for r in raw)
    assert {(r["domain"], r["split"]) for r in rows} == {
        ("general", "train"), ("general", "dev"), ("general", "test"),
        ("council", "train"), ("council", "target_dev"), ("council", "target_test"), ("council_text", "train")}
    assert {r["kind"] for r in rows} == KINDS
    for r in rows:
        assert re.fullmatch(r"[a-z]+( [a-z]+)*", r["en"]), r["en"]
        assert r["fr"] and r["es"], r
        assert not re.search(r"[^\w' ]", r["fr"] + r["es"]), r
    facts = out.joinpath("facts.tsv").read_text(encoding="utf-8").splitlines()
    assert facts[0] == "fact" and len(facts) > 50


def test_smoke_sizes(smoke):
    counts = Counter(r["split"] for r in smoke[2] if r["domain"] == "general")
    assert 350 <= counts["train"] <= 450 and 20 <= counts["dev"] <= 40 and 30 <= counts["test"] <= 50
    test_kinds = Counter(r["kind"] for r in smoke[2] if r["split"] == "test")
    assert min(test_kinds[k] for k in KINDS) >= 8
    target = Counter((r["domain"], r["split"]) for r in smoke[2] if r["domain"] != "general")
    assert target == {("council", "train"): 60, ("council", "target_dev"): 8, ("council", "target_test"): 20,
                      ("council_text", "train"): 40}


def test_splits_disjoint(smoke):
    sentences = [r["en"] for r in smoke[2]]
    assert len(sentences) == len(set(sentences))
    assert len({r["id"] for r in smoke[2]}) == len(sentences)


def test_labels(smoke):
    for r in smoke[2]:
        assert bool(r["intent"]) == (r["kind"] == "command"), r
        assert bool(r["answer"]) == (r["kind"] in ("question", "context_question")), r
        assert bool(r["context"]) == (r["kind"] == "context_question"), r
        if r["intent"]:
            assert re.fullmatch(r"[a-z]+( [a-z]+){0,2}", r["intent"])
        if r["context"]:
            assert f" {r['answer']} " in f" {r['context']} ", r


def test_default_world(world):
    rows, facts = world.build_world(seed=1, size="default")
    rows = [dict(zip(COLUMNS, r)) for r in rows]
    target = Counter(r["split"] for r in rows if r["domain"] == "council")
    assert target["train"] >= 600 and 60 <= target["target_dev"] <= 100 and target["target_test"] >= 300
    rows = [r for r in rows if r["domain"] == "general"]
    splits = Counter(r["split"] for r in rows)
    assert 2700 <= splits["train"] <= 3300 and splits["dev"] >= 100 and splits["test"] >= 250
    test_kinds = Counter(r["kind"] for r in rows if r["split"] == "test")
    assert min(test_kinds[k] for k in KINDS) >= 60
    intents = {r["intent"] for r in rows if r["kind"] == "command"}
    assert len(intents) >= 10 and "" not in intents
    wordings = Counter(intent for (intent, _), w in world.COMMANDS for _ in w)
    assert min(wordings.values()) >= 4
    # every held-out question is about a fact stated in facts.tsv and asked in train
    train = {(r["answer"], w) for r in rows if r["split"] == "train" and r["kind"] == "question"
             for w in r["en"].split()}
    for r in rows:
        if r["split"] != "train" and r["kind"] == "question":
            name = next(w for w in r["en"].split() if w in world.NAMES)
            assert (r["answer"], name) in train, r
            assert any(name in f.split() and r["answer"] in f.split() for f in facts), r
