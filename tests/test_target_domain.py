"""The mini recipe's target domain (make_world.py's council): its translations, its splits, that no ASR
data holds it, its speech (synthesize_target.py) and its few-shot draws (make_fewshot.py --pool pool)."""
import csv
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / "recipes" / "mini" / "local"

from recipes.mini.local import make_world, synthesize, synthesize_target


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def write_sentences(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, make_world.HEADER, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None,
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(script, *args):
    proc = subprocess.run([sys.executable, str(LOCAL / script), *map(str, args)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def rows(smoke_world):
    return read_tsv(smoke_world / "sentences.tsv")


@pytest.fixture(scope="module")
def council(rows):
    return [r for r in rows if r["domain"] == "council"]


@pytest.fixture(scope="module")
def council_text(rows):
    return [r for r in rows if r["domain"] == "council_text"]


@pytest.fixture(scope="module")
def target(smoke_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("target") / "target"
    stdout = run("synthesize_target.py", "--sentences", smoke_world / "sentences.tsv", "--out", out, "--jobs", 2)
    return out, stdout


@pytest.fixture(scope="module")
def asr_corpus(smoke_world, council, council_text, tmp_path_factory):
    """synthesize.py (with --variety, as the recipe) and prepare_asr.py on a few general sentences per
    split beside every council sentence: what an ASR stage trains on."""
    tmp = tmp_path_factory.mktemp("asr_corpus")
    rows = read_tsv(smoke_world / "sentences.tsv")
    general = [r for split in synthesize.SPLITS
               for r in [r for r in rows if r["domain"] == "general" and r["split"] == split][:3]]
    write_sentences(tmp / "sentences.tsv", general + council + council_text)
    run("synthesize.py", "--sentences", tmp / "sentences.tsv", "--out", tmp / "speech", "--size", "smoke",
        "--variety", "--jobs", 2)
    run("prepare_asr.py", "--speech", tmp / "speech", "--out", tmp / "asr", "--vocab-size", 40)
    return tmp


def test_translations_follow_the_rules():
    """Hand-checked: agreement of participles and adjectives, French du/des and Spanish del, word order."""
    w = make_world
    by_en = {t.en: t for t in w.BODIES + w.OFFICIALS + w.EVENTS}
    doc = {d.en: d for d in w.DOCUMENTS}
    verb = {v.en: v for v in w.COUNCIL_VERBS}
    adj = {a.en: a for a in w.BODY_ADJS + w.DOCUMENT_ADJS}
    topic = {t[0]: t for t in w.TOPICS}
    portfolio = {p[0]: p for p in w.PORTFOLIOS}
    time = {t[0]: t for t in w.COUNCIL_TIMES}
    members = w.official_phrase(by_en["member"], plural=True,
                                body=w.body_phrase(by_en["council"], adj=adj["regional"]))
    budget = w.document_phrase(doc["budget"], adj=adj["annual"], topic=topic["schools"])
    assert w.vote(members, True, budget) == (
        "the members of the regional council vote against the annual budget for schools",
        "les membres du conseil régional votent contre le budget annuel pour les écoles",
        "los miembros del consejo regional votan en contra del presupuesto anual para las escuelas")
    proposals = w.document_phrase(doc["proposal"], plural=True, topic=topic["pensions"])
    assert w.passive(proposals, verb["rejects"], w.body_phrase(by_en["senate"]), time["on monday"]) == (
        "the proposals on pensions are rejected by the senate on monday",
        "les propositions sur les retraites sont rejetées par le sénat lundi",
        "las propuestas sobre las pensiones son rechazadas por el senado el lunes")
    clause = w.active(w.body_phrase(by_en["government"], adj=adj["federal"]), verb["supports"],
                      w.document_phrase(doc["reform"], topic=topic["housing"]))
    assert w.reported(w.official_phrase(by_en["minister"], portfolio=portfolio["health"]), clause) == (
        "the minister of health says that the federal government supports the reform of housing",
        "le ministre de la santé dit que le gouvernement fédéral soutient la réforme du logement",
        "el ministro de sanidad dice que el gobierno federal apoya la reforma de la vivienda")
    assert w.event(by_en["meeting"], topic["roads"], ("is postponed", "pp", "pp")) == (
        "the meeting on roads is postponed", "la réunion sur les routes est reportée",
        "la reunión sobre las carreteras es aplazada")
    strategy = w.document_phrase(doc["strategy"], definite=False, adj=adj["ambitious"])
    assert w.modal(w.official_phrase(by_en["senator"], plural=True), w.MODALS[2], verb["signs"], strategy) == (
        "the senators cannot sign an ambitious strategy",
        "les sénateurs ne peuvent pas signer une stratégie ambitieuse",
        "los senadores no pueden firmar una estrategia ambiciosa")


@pytest.mark.slow
def test_splits(rows, council, council_text):
    splits = {s: [r for r in council if r["split"] == s] for s in ("train", "target_dev", "target_test")}
    assert {s: len(v) for s, v in splits.items()} == {"train": 60, "target_dev": 8, "target_test": 20}
    assert {r["kind"] for r in council} == {"describe"} and not any(r["intent"] or r["answer"] for r in council)
    assert all(r["id"].startswith("council-") for r in council)
    sentences = {s: {r["en"] for r in v} for s, v in splits.items()}
    assert not sentences["train"] & (sentences["target_test"] | sentences["target_dev"])
    assert not sentences["target_dev"] & sentences["target_test"]
    # text for the LLM alone: train rows, none of them spoken
    assert len(council_text) == 40 and {r["split"] for r in council_text} == {"train"}
    assert not {r["en"] for r in council_text} & {r["en"] for r in council}
    # the general world keeps its splits, the council's held-out ones are out of every general consumer
    assert {r["split"] for r in rows if r["domain"] == "general"} == set(synthesize.SPLITS)


@pytest.mark.slow
def test_llm_learns_the_domains_text_but_not_its_held_out_sentences(smoke_world, council, council_text):
    from recipes.mini.local import train_llm

    rows, facts = train_llm.read_world(str(smoke_world))
    tasks = train_llm.load_tasks(str(ROOT / "recipes" / "mini" / "conf" / "tasks.json"))
    held_out = {r["en"] for r in council if r["split"] != "train"}
    text = {r["en"] for r in council + council_text} - held_out
    for name in ("asr", "st_fr", "st_es"):
        assert text <= {r["en"] for r in train_llm.task_rows(rows, tasks[name], "train")}, name
        assert not {r["domain"] for r in train_llm.task_rows(rows, tasks[name], "test")} - {"general"}, name
    assert not held_out & set(train_llm.tokenizer_corpus(rows, facts, tasks))


@pytest.mark.slow
@pytest.mark.parametrize("size", ["smoke", "default"])
def test_the_general_world_mentions_the_domains_words_never_its_sentences(size):
    rows, facts = make_world.build_world(seed=1, size=size)
    general = [r for r in rows if r[9] == "general"]
    council = [r for r in rows if r[9].startswith("council")]
    own = make_world.council_words()
    assert not {r[3] for r in general} & {r[3] for r in council}
    # the council's words beside its own are the shared slots' words, each the general world's
    shared = {w for t in make_world.SHARED_TOPICS + make_world.DAYS for w in t[0].split()}
    shared |= {w for n in make_world.PEOPLE for w in (n.en, n.en_pl)} | set(make_world.NAMES)
    shared |= {w for v in make_world.SHARED_VERBS for w in (v.en, v.en_pl)}
    council_words = {w for r in council for w in r[3].split()}
    general_words = {w for r in general for w in f"{r[3]} {r[8]}".split()} | {w for f in facts for w in f.split()}
    assert council_words - make_world.FUNCTION_WORDS - own <= shared
    assert size == "smoke" or shared <= general_words  # (smoke's 160 describe sentences miss a few)
    assert len(council_words & own) > 100 and len(council_words & shared) > 40
    # every council sentence holds a word of its own; a share of the general describe sentences mention one
    assert all(set(r[3].split()) & own for r in council)
    describe = [r for r in general if r[2] == "describe"]
    mentions = [r for r in describe if set(r[3].split()) & own]
    share = make_world.MENTION  # within three standard deviations of a binomial draw
    assert abs(len(mentions) / len(describe) - share) < 3 * (share * (1 - share) / len(describe)) ** 0.5
    assert not any(set(r[3].split()) & own for r in general if r[2] != "describe")
    if size == "default":  # the ASR data hear nearly every word of the council's, a few times each
        heard = Counter(w for r in describe if r[1] == "train" for w in r[3].split())
        used = council_words & own
        assert len([w for w in used if heard[w]]) >= 0.95 * len(used)
        assert sorted(heard[w] for w in used)[len(used) // 2] >= 3
    splits = [r[1] for r in rows if r[9] == "council"]
    expected = make_world.TARGET_COUNTS[size]
    assert [splits.count(make_world.TARGET_SPLITS[s]) for s in ("train", "dev", "test")] == \
        [expected["train"], expected["dev"], expected["test"]]
    assert sum(r[9] == "council_text" for r in rows) == expected["text"]


@pytest.mark.slow
def test_no_asr_data_holds_the_domain(smoke_world, council, council_text, asr_corpus):
    """Neither the speech corpus nor the cascade's ASR data holds a council sentence (its words, in general
    sentences); nor would the whole smoke world's training voices (planned from every general sentence)."""
    sentences = {r["en"] for r in council + council_text}
    own_words = make_world.council_words()
    for manifest in ("speech/train.tsv", "speech/dev.tsv", "speech/test.tsv", "asr/train.tsv", "asr/dev.tsv"):
        transcripts = [r["tgt_text"] for r in read_tsv(asr_corpus / manifest)]
        assert transcripts and not set(transcripts) & sentences, manifest
    # its words are heard, in the general sentences that mention them (their share and reach: above)
    assert {w for r in read_tsv(asr_corpus / "speech/train.tsv") for w in r["tgt_text"].split()} & own_words
    general = synthesize.read_sentences(smoke_world / "sentences.tsv")
    planned = synthesize.plan_utterances(general, 1, seed=1, variety=True)
    assert len(planned) == 470 and not {t["row"]["en"] for t in planned} & sentences


@pytest.mark.slow
def test_target_speech(target, council):
    out, stdout = target
    expected = {"pool": "train", "dev": "target_dev", "test": "target_test"}
    for name, split in expected.items():
        manifest = read_tsv(out / f"{name}.tsv")
        with open(out / f"{name}.tsv", encoding="utf-8") as f:
            assert f.readline().rstrip("\n").split("\t") == list(synthesize.MANIFEST_COLUMNS)
        assert sorted(r["tgt_text"] for r in manifest) == sorted(r["en"] for r in council if r["split"] == split)
        assert {r["speaker"] for r in manifest} == {"festival:ked_diphone"}
        for r in manifest:
            assert os.path.exists(r["audio"]) and r["audio"].endswith(".npy") and int(r["n_frames"]) > 50
            assert r["fr"] and r["es"] and r["kind"] == "describe"
    pool, test = ({r["tgt_text"] for r in read_tsv(out / f"{n}.tsv")} for n in ("pool", "test"))
    assert not pool & test
    # a voice and a noise training never has
    assert synthesize_target.VOICE not in synthesize.TRAIN_FESTIVAL_VOICES
    assert set(synthesize.NOISE_KINDS) == {"white", "brown"}
    assert "made 88 new utterance(s)" in stdout


@pytest.mark.slow
def test_target_speech_is_deterministic(council, target, tmp_path):
    """From nothing, in one process rather than two, the dev and test utterances come out byte for byte."""
    out, _ = target
    held_out = write_sentences(tmp_path / "sentences.tsv", [r for r in council if r["split"] != "train"])
    again = tmp_path / "again"
    run("synthesize_target.py", "--sentences", held_out, "--out", again, "--jobs", 1)
    for name in ("dev", "test", "test_wav"):
        assert (out / f"{name}.tsv").read_text().replace(str(out), "") == \
            (again / f"{name}.tsv").read_text().replace(str(again), "")
    for r in read_tsv(out / "test_wav.tsv") + read_tsv(out / "dev_wav.tsv"):
        mine = Path(r["audio"])
        assert mine.read_bytes() == (again / "wav" / mine.name).read_bytes()
        npy = Path("fbank") / f"{mine.stem}.npy"
        assert (out / npy).read_bytes() == (again / npy).read_bytes()


@pytest.mark.slow
def test_fewshot_draws(target, tmp_path):
    out, _ = target
    pool = {r["tgt_text"] for r in read_tsv(out / "pool.tsv")}
    test = {r["tgt_text"] for r in read_tsv(out / "test.tsv")}
    drawn = {}
    for seed in (1, 2):
        run("make_fewshot.py", "--speech", out, "--pool", "pool", "--sizes", "20,50", "--target", "fr",
            "--out", tmp_path / f"seed{seed}", "--seed", seed)
        for n in (20, 50):
            ft = tmp_path / f"seed{seed}" / f"ft{n}"
            sentences = [r["tgt_text"] for r in read_tsv(ft / "train.tsv")]
            assert len(sentences) == len(set(sentences)) == n
            assert set(sentences) <= pool and not set(sentences) & test
            assert (ft / "dev.tsv").read_text() == (out / "dev.tsv").read_text()
            drawn[seed, n] = set(sentences)
    assert drawn[1, 20] <= drawn[1, 50] and drawn[2, 20] <= drawn[2, 50]
    assert drawn[1, 20] != drawn[2, 20] and drawn[1, 50] != drawn[2, 50]


@pytest.mark.slow
def test_run_sh_target_speech(council, tmp_path):
    """run.sh's target_speech makes the speech and the draws of each seed of --ft-seeds once, then finds them."""
    data = tmp_path / "data"
    (data / "world").mkdir(parents=True)
    some = [r for split, n in (("train", 12), ("target_dev", 2), ("target_test", 4))
            for r in [r for r in council if r["split"] == split][:n]]
    write_sentences(data / "world" / "sentences.tsv", some)
    function = subprocess.run(["sed", "-n", "/^target_speech() {/,/^}/p", str(ROOT / "recipes/mini/run.sh")],
                              capture_output=True, text=True, check=True).stdout
    script = f"set -euo pipefail; {function}\ndata={data} seed=1 ft_seeds='3 4' jobs=2 ft_sizes='5 10' ft_target=fr; " \
             "target_speech; date -r $data/target/test.tsv +%s%N > $data/first; target_speech"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT / "recipes" / "mini", env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("made 18 new utterance(s)") == 1
    assert (data / "first").read_text().strip() == str((data / "target" / "test.tsv").stat().st_mtime_ns)
    for k in (3, 4):
        for n in (5, 10):
            assert len(read_tsv(data / "target_fewshot" / f"seed{k}" / f"ft{n}" / "train.tsv")) == n
