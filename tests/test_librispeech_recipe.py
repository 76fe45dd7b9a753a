"""recipes/librispeech on stand-in data: tiny directory trees in each corpus's
release layout, every preparation script, then the recipe's own run.sh (its
training configuration with overridden sizes, one update per training stage,
the baselines (cascade ASR, Encoder-LLM), zero-shot evaluation of every system
on every set, few-shot fine-tuning on its scaled schedule, the report and its
claims check) over the tiny LLM. A broken path, column or flag fails here rather
than on a cluster."""
import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import CONTEXTS, SENTENCES
from wav2prompt_plugin.data.audio_features import num_frames

from recipes.librispeech.local.common import PrepError, normalize_transcript

RECIPE = os.path.join(os.path.dirname(__file__), "..", "recipes", "librispeech")

LIBRISPEECH_SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500",
                       "dev-clean", "dev-other", "test-clean", "test-other")
RATE = 16000


def tone(seconds, seed, rate=RATE):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    audio = 0.3 * np.sin(2 * np.pi * (150 + 40 * seed) * t) + 0.05 * rng.standard_normal(t.size)
    return audio.astype(np.float32)


def write_audio(path, seconds, seed, rate=RATE, fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, tone(seconds, seed, rate), rate, format=fmt, subtype="PCM_16")


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def make_librispeech(root):
    for k, subset in enumerate(LIBRISPEECH_SUBSETS):
        speaker, chapter = 19 + k, 198
        folder = os.path.join(root, subset, str(speaker), str(chapter))
        lines = []
        for i in range(3):
            utt = f"{speaker}-{chapter}-{i:04d}"
            write_audio(os.path.join(folder, utt + ".flac"), 1.0 + 0.25 * i, k * 3 + i, fmt="FLAC")
            lines.append(f"{utt} {SENTENCES[(k + i) % len(SENTENCES)].upper()}")
        with open(os.path.join(folder, f"{speaker}-{chapter}.trans.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")


def make_europarl_st(root):
    """Speeches are flac bytes under .m4a names; a stand-in converter decodes them."""
    for n, speech in enumerate(("en.20080924.5.3-204", "en.20090115.7.3-090")):
        write_audio(os.path.join(root, "en", "audios", f"{speech}.m4a"), 6.0, 40 + n, rate=44100, fmt="FLAC")
    translations = {"fr": ["le chat dort", "ouvre la fenêtre", "où habite tom"],
                    "es": ["el gato duerme", "abre la ventana", "dónde vive tom"]}
    for tgt, texts in translations.items():
        for split in ("train", "dev", "test"):
            folder = os.path.join(root, "en", tgt, split)
            os.makedirs(folder)
            segments = ["en.20080924.5.3-204 0.50 2.00", "en.20080924.5.3-204 2.10 4.00",
                        "en.20090115.7.3-090 1.00 3.25"]
            english = ["The cat sleeps in the kitchen.", "Open the window, please!", "Where does Tom live?"]
            for name, lines in (("segments.lst", segments), ("segments.en", english), (f"segments.{tgt}", texts)):
                with open(os.path.join(folder, name), "w") as f:
                    f.write("\n".join(lines) + "\n")


def make_mustc(root):
    for tgt, texts in (("fr", ["le chat dort", "ouvre la fenêtre"]), ("es", ["el gato duerme", "abre la ventana"])):
        base = os.path.join(root, f"en-{tgt}", "data", "tst-COMMON")
        write_audio(os.path.join(base, "wav", "ted_1096.wav"), 5.0, 50)
        os.makedirs(os.path.join(base, "txt"))
        with open(os.path.join(base, "txt", "tst-COMMON.yaml"), "w") as f:
            f.write("- {duration: 1.500000, offset: 0.300000, rW: 6, uW: 0, speaker_id: spk.1096, wav: ted_1096.wav}\n"
                    "- {duration: 2.000000, offset: 2.500000, rW: 4, uW: 0, speaker_id: spk.1096, wav: ted_1096.wav}\n")
        for lang, lines in (("en", ["The cat sleeps in the kitchen.", "Open the window please."]), (tgt, texts)):
            with open(os.path.join(base, "txt", f"tst-COMMON.{lang}"), "w") as f:
                f.write("\n".join(lines) + "\n")


def make_slurp(root):
    records = [("please turn on the light", "iot_hue_lighton"), ("close the door in the bedroom", "iot_cleaning"),
               ("open the window please", "iot_hue_lightoff")]
    os.makedirs(os.path.join(root, "dataset", "slurp"))
    with open(os.path.join(root, "dataset", "slurp", "test.jsonl"), "w") as f:
        for i, (sentence, intent) in enumerate(records):
            files = [f"audio-16000{i}-headset.flac", f"audio-16000{i}.flac"]
            for j, name in enumerate(files):
                write_audio(os.path.join(root, "slurp_real", name), 1.2, 60 + 2 * i + j, fmt="FLAC")
            scenario, action = intent.split("_", 1)
            f.write(json.dumps({"slurp_id": 9000 + i, "sentence": sentence, "intent": intent,
                                "scenario": scenario, "action": action, "tokens": [],
                                "recordings": [{"file": n, "wer": 0.0, "status": "correct"} for n in files]}) + "\n")


def audio_cell(seconds, seed, name):
    buffer = io.BytesIO()
    sf.write(buffer, tone(seconds, seed), RATE, format="WAV", subtype="PCM_16")
    return {"bytes": buffer.getvalue(), "path": name}


def make_parquet_sets(root):
    import pyarrow as pa
    import pyarrow.parquet as pq

    heysquad = [{"audio": audio_cell(1.1, 70 + i, f"q{i}.wav"), "transcription": SENTENCES[4 + i],
                 "question": SENTENCES[4 + i], "context": CONTEXTS[i], "id": f"5733be284776f4190066{i}",
                 "answers": [{"answer_start": 0, "text": ["green", "paris"][i]}], "is_impossible": False,
                 "plausible_answers": []} for i in range(2)]
    llama = [{"question": SENTENCES[9], "answer": "green", "audio": audio_cell(1.0, 80, "x.wav")},
             {"question": SENTENCES[4], "answer": "paris", "audio": audio_cell(1.3, 81, "y.wav")}]
    for name, rows in (("heysquad/data/validation-00000-of-00001.parquet", heysquad),
                       ("llama_questions/data/test-00000-of-00001.parquet", llama)):
        os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), os.path.join(root, name))


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    make_librispeech(str(root / "LibriSpeech"))
    make_europarl_st(str(root / "europarl-st" / "v1.1"))
    make_mustc(str(root / "MUSTC_v1.0"))
    make_slurp(str(root / "slurp"))
    make_parquet_sets(str(root / "hf"))
    converter = root / "convert.py"  # stands in for ffmpeg: any audio -> 16 kHz mono flac
    converter.write_text("import sys, soundfile as sf\nfrom scipy.signal import resample_poly\n"
                         "audio, rate = sf.read(sys.argv[1])\n"
                         "sf.write(sys.argv[2], resample_poly(audio, 160, rate // 100), 16000, format='FLAC')\n")
    return root


@pytest.fixture(scope="module")
def recipe_run(corpora, tiny_llm, tmp_path_factory):
    out = tmp_path_factory.mktemp("recipe")
    root = corpora
    options = {
        "librispeech-root": root / "LibriSpeech", "europarl-st-root": root / "europarl-st" / "v1.1",
        "convert-cmd": f"{sys.executable} {root / 'convert.py'} {{src}} {{dst}}",
        "mustc-root": root / "MUSTC_v1.0", "slurp-dataset": root / "slurp" / "dataset" / "slurp",
        "slurp-audio": root / "slurp" / "slurp_real",
        "heysquad-parquet": root / "hf" / "heysquad" / "data" / "validation-*.parquet",
        "llama-questions-parquet": root / "hf" / "llama_questions" / "data" / "test-*.parquet",
        "add-europarl-asr": "true", "llm-path": tiny_llm, "llm-family": "llama2", "data": out / "data",
        "exp": out / "exp",
        # the sizes a CPU takes in seconds, two CPU ranks for a node's GPUs; everything
        # else (precision --llm-dtype bf16 --autocast-bf16, torchrun, batching) is the recipe's
        "arch": "wav2prompt_tiny", "ctc-arch": "speech_encoder_ctc_tiny", "cpu": "true",
        "gpus-per-node": "2", "num-workers": "0", "max-tokens": "3000",
        "max-update": "1", "ctc-max-update": "1", "warmup-updates": "1",
        # few-shot: the schedule's own update count, on 4 pair presentations: 2 epochs of one update
        "fewshot-examples": "4", "fewshot-sizes": "2", "fewshot-tasks": "st_fr",
        "log-interval": "1", "save-interval-updates": "1", "max-len-b": "4",
        "asr-vocab-size": "100", "asr-max-len-b": "4",
        # the baselines (on by default), every system scored (eval-systems empty), stop rule auto (llama2: on)
    }
    argv = ["bash", os.path.join(RECIPE, "run.sh")]
    for name, value in options.items():
        argv += [f"--{name}", str(value)]
    bin_dir = os.path.dirname(sys.executable)
    repo = os.path.abspath(os.path.join(RECIPE, "..", ".."))
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"run.sh failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return {"data": out / "data", "exp": out / "exp", "log": proc.stdout + proc.stderr}


@pytest.mark.slow
def test_librispeech_manifests(recipe_run, corpora):
    data = recipe_run["data"]
    for k, subset in enumerate(LIBRISPEECH_SUBSETS):
        rows = read_tsv(data / "librispeech" / f"{subset}.tsv")
        assert [r["id"] for r in rows] == [f"{19 + k}-198-{i:04d}" for i in range(3)]
        for i, row in enumerate(rows):
            assert os.path.isabs(row["audio"]) and row["audio"].startswith(str(corpora))  # not copied
            assert int(row["n_frames"]) == num_frames(int((1.0 + 0.25 * i) * RATE))
            assert row["tgt_text"] == SENTENCES[(k + i) % len(SENTENCES)]  # lower-cased
            assert row["speaker"] == str(19 + k)
    train = read_tsv(data / "train" / "train.tsv")
    europarl_asr = read_tsv(data / "europarl_st" / "asr_train.tsv")
    assert len(europarl_asr) == 3  # the same English segments under fr and es, once
    assert len(train) == 9 + 3 and list(train[0]) == ["id", "audio", "n_frames", "tgt_text"]


@pytest.mark.slow
def test_europarl_st_manifests(recipe_run):
    data = recipe_run["data"] / "europarl_st"
    for tgt, first in (("fr", "le chat dort"), ("es", "el gato duerme")):
        rows = read_tsv(data / f"en-{tgt}_test.tsv")
        assert list(rows[0]) == ["id", "audio", "n_frames", "tgt_text", "src_text", tgt]
        assert rows[0]["id"] == "en.20080924.5.3-204_0.50_2.00" and rows[0][tgt] == first
        assert rows[1]["tgt_text"] == "open the window please"
        assert rows[1]["src_text"] == "Open the window, please!"
        audio, rate = sf.read(rows[2]["audio"])
        assert rate == 16000 and len(audio) == int(2.25 * 16000)
        assert int(rows[2]["n_frames"]) == num_frames(len(audio))


@pytest.mark.slow
def test_mustc_slurp_and_qa_manifests(recipe_run):
    data = recipe_run["data"]
    mustc = read_tsv(data / "mustc" / "mustc_en-es_tst-COMMON.tsv")
    assert [r["id"] for r in mustc] == ["ted_1096_0", "ted_1096_1"]
    assert mustc[1]["es"] == "abre la ventana" and mustc[1]["speaker"] == "spk.1096"
    assert len(sf.read(mustc[1]["audio"])[0]) == 2 * RATE
    slurp = read_tsv(data / "slurp" / "slurp_test.tsv")
    assert len(slurp) == 6  # every recording, as SLURP's evaluation counts them
    assert slurp[0]["intent"] == "iot_hue_lighton"
    assert slurp[0]["intents"] == "iot_cleaning, iot_hue_lightoff, iot_hue_lighton"
    heysquad = read_tsv(data / "spoken_qa" / "heysquad_validation.tsv")
    assert [(r["answer"], r["context"], r["tgt_text"]) for r in heysquad] == [
        ("green", CONTEXTS[0], SENTENCES[4]), ("paris", CONTEXTS[1], SENTENCES[5])]
    llama = read_tsv(data / "spoken_qa" / "llama_questions_test.tsv")
    assert "context" not in llama[0] and llama[1]["answer"] == "paris"
    assert int(llama[1]["n_frames"]) == num_frames(int(1.3 * RATE))


TASKS = ("st_fr", "st_es", "st_fr_mustc", "st_es_mustc", "intent", "sqa", "sqqa", "asr_other", "asr")
SYSTEMS = ("text_topline", "cascade", "wav2prompt", "encoder_llm")


@pytest.mark.slow
def test_zero_shot_and_few_shot_results(recipe_run, tiny_llm):
    exp = recipe_run["exp"]
    results = json.loads((exp / "results.json").read_text())
    templates = json.loads(open(os.path.join(RECIPE, "conf", "templates", "llama2.json")).read())
    task_figures = {f"{t}_{templates[t]['metric']}" for t in TASKS}
    assert set(results["systems"]) == set(SYSTEMS) | {"wav2prompt_ft2"}
    for system in SYSTEMS:  # every system x every task, its hypotheses written
        assert task_figures <= set(results["systems"][system]), system
        for task in TASKS:
            assert (exp / "eval" / "hyps" / f"{system}.{task}.tsv").is_file(), (system, task)
        settings = results["settings"][system]
        assert settings["beam"] == 5 and settings["repetition_penalty"] == 1.5
        assert settings["stop_at_newline"] is True  # auto: on for llama2
        assert settings["templates"]["intent"] == templates["intent"]["template"]
    assert "cif_len_exact" in results["systems"]["wav2prompt"]
    assert set(results["systems"]["wav2prompt_ft2"]) >= {"st_fr_bleu"}
    # each speech system scored with its own checkpoint, the cascade with its ASR's hypotheses
    for system in ("wav2prompt", "encoder_llm"):
        assert results["settings"][system]["checkpoint"].endswith(f"{system}/checkpoint_best.pt")
    assert results["settings"]["wav2prompt_ft2"]["checkpoint"].endswith("fewshot/st_fr_2/checkpoint_best.pt")
    assert "/asr/hyps/" in results["settings"]["cascade"]["asr_hypotheses"]
    report = (exp / "results.md").read_text()
    assert "| En→Fr BLEU |" in report and "## The paper's claims" in report
    # the claims check: (a)-(c) measured on the stand-in figures, (d) not (no ablation in this recipe)
    claims = {c["claim"][:3]: c for c in results["paper_claims"]}
    assert set(claims) == {"(a)", "(b)", "(c)", "(d)"}
    assert all(claims[k]["holds"] in (True, False) for k in ("(a)", "(b)", "(c)"))
    assert claims["(d)"]["holds"] is None and "not measured" in report
    assert all(f"{t}_" in "".join(claims["(a)"]["figures"]) for t in TASKS)


@pytest.mark.slow
def test_every_stage_wrote_its_outputs(recipe_run):
    data, exp = recipe_run["data"], recipe_run["exp"]
    for run in ("ctc", "wav2prompt", "encoder_llm", "asr", "fewshot/st_fr_2"):
        assert (exp / run / "checkpoint_best.pt").is_file() and (exp / run / "done").is_file(), run
    for name in ("config.yaml", "spm.model", "spm.dict.txt", "train.tsv", "dev.tsv", "test.tsv"):
        assert (data / "asr" / name).is_file(), name
    # the cascade's test manifest: every test set, fbank in fairseq's zip layout, frames as Wav2Prompt counts them
    rows = read_tsv(data / "asr" / "test.tsv")
    assert [t for t in dict.fromkeys(r["task"] for r in rows)] == list(TASKS)
    clean = {r["id"]: r for r in read_tsv(data / "librispeech" / "test-clean.tsv")}
    for row in (r for r in rows if r["task"] == "asr"):
        assert row["audio"].split(":")[0].endswith("fbank/test.zip") and row["n_frames"] == clean[row["id"]]["n_frames"]
    from wav2prompt_plugin.data.audio_features import load_features
    first = rows[0]
    assert load_features(first["audio"]).shape == (int(first["n_frames"]), 80)
    # its hypotheses: one per test row, in groups whose ids name one hypothesis each
    assert len(read_tsv(exp / "asr" / "asr_hyps.tsv")) == len(rows)
    groups = (exp / "asr" / "hyps" / "groups.txt").read_text().split()
    assert sorted(t for tasks in groups[1::2] for t in tasks.split(",")) == sorted(TASKS)
    assert set(json.loads((exp / "stage_seconds.json").read_text())) == {
        "0. prepare", "1. encoder_init", "2. wav2prompt", "3. baselines", "4. zero_shot", "5. fewshot", "6. report"}


@pytest.mark.slow
def test_checkpoints_hold_the_recipe_configuration(recipe_run):
    exp = recipe_run["exp"]
    state = torch.load(exp / "wav2prompt" / "checkpoint_best.pt", map_location="cpu", weights_only=False)
    assert not [k for k in state["model"] if ".llm." in k or k.startswith("decoder.llm")]
    assert state["cfg"]["task"]["train_template"] == "Repeat the English text. Text: {speech} Repeat:"
    assert state["cfg"]["criterion"]["mse_type"] == "normalized"
    assert state["cfg"]["model"]["encoder_init_checkpoint"].endswith("ctc/checkpoint_best.pt")
    # the recipe's default precision and launch trained it: bf16 LLM, bf16 autocast, two ranks
    assert state["cfg"]["model"]["llm_dtype"] == "bf16" and state["cfg"]["model"]["autocast_bf16"] is True
    assert not state["cfg"]["common"]["bf16"] and not state["cfg"]["common"]["fp16"]
    assert state["cfg"]["distributed_training"]["distributed_world_size"] == 2
    assert state["cfg"]["dataset"]["required_batch_size_multiple"] == 1
    assert "distributed init (rank 1)" in recipe_run["log"]
    fewshot = torch.load(exp / "fewshot" / "st_fr_2" / "checkpoint_best.pt", map_location="cpu", weights_only=False)
    assert fewshot["cfg"]["task"]["target_column"] == "fr"
    # the few-shot schedule: 2 epochs of 2 pairs (ceil(4 / 2)) x one update each, lr 1e-4 after 10 warm-up
    # updates falling linearly to 1e-7; validation and checkpoints by updates only, never by epoch
    cfg = fewshot["cfg"]
    assert cfg["optimization"]["max_update"] == 2 and fewshot["optimizer_history"][-1]["num_updates"] == 2
    assert cfg["lr_scheduler"]["_name"] == "polynomial_decay" and cfg["lr_scheduler"]["warmup_updates"] == 10
    assert cfg["lr_scheduler"]["end_learning_rate"] == 1e-7 and cfg["optimization"]["lr"] == [1e-4]
    assert cfg["dataset"]["validate_interval"] == cfg["checkpoint"]["save_interval"] == 1000000
    assert cfg["dataset"]["validate_interval_updates"] == cfg["checkpoint"]["save_interval_updates"] == 20
    assert fewshot["cfg"]["task"]["train_template"].endswith("French:")
    assert fewshot["cfg"]["checkpoint"]["finetune_from_model"].endswith("wav2prompt/checkpoint_best.pt")


@pytest.mark.slow
def test_templates_fit_the_manifests(recipe_run):
    """Every task of both families reads only columns its test set has."""
    from wav2prompt_plugin.evaluation.runner import task_rows
    from wav2prompt_plugin.evaluation.tasks_file import TasksFile
    from wav2prompt_plugin.data.manifest import read_manifest

    data = recipe_run["data"]
    sets = {"asr": "librispeech/test-clean.tsv", "asr_other": "librispeech/test-other.tsv",
            "st_fr": "europarl_st/en-fr_test.tsv", "st_es": "europarl_st/en-es_test.tsv",
            "st_fr_mustc": "mustc/mustc_en-fr_tst-COMMON.tsv", "st_es_mustc": "mustc/mustc_en-es_tst-COMMON.tsv",
            "intent": "slurp/slurp_test.tsv", "sqa": "spoken_qa/heysquad_validation.tsv",
            "sqqa": "spoken_qa/llama_questions_test.tsv"}
    for family in ("llama2", "bloomz"):
        tasks = TasksFile(os.path.join(RECIPE, "conf", "templates", f"{family}.json")).tasks
        assert set(tasks) == set(sets)
        for name, task in tasks.items():
            manifest = read_manifest(str(data / sets[name]))
            assert task_rows(manifest.rows, manifest.columns, name, task)


def test_bad_release_files_are_named(tmp_path):
    from recipes.librispeech.local import prepare_europarl_st, prepare_librispeech

    folder = tmp_path / "LibriSpeech" / "dev-clean" / "1" / "2"
    folder.mkdir(parents=True)
    (folder / "1-2.trans.txt").write_text("1-2-0000 HELLO\n1-2-0001\n")
    write_audio(str(folder / "1-2-0000.flac"), 1.0, 0, fmt="FLAC")
    with pytest.raises(PrepError, match=r"1-2.trans.txt:2: expected"):
        prepare_librispeech.subset_rows(str(tmp_path / "LibriSpeech"), "dev-clean")
    (folder / "1-2.trans.txt").write_text("1-2-0000 HELLO\n1-2-0009 WORLD\n")
    with pytest.raises(PrepError, match=r"1-2.trans.txt:2: audio .*1-2-0009.flac does not exist"):
        prepare_librispeech.subset_rows(str(tmp_path / "LibriSpeech"), "dev-clean")

    make_europarl_st(str(tmp_path / "ep"))
    with open(tmp_path / "ep" / "en" / "fr" / "test" / "segments.fr", "a") as f:
        f.write("une ligne de trop\n")
    args = type("Args", (), {"root": str(tmp_path / "ep"), "src": "en", "out": str(tmp_path / "out"),
                             "convert_cmd": "true {src} {dst}"})
    with pytest.raises(PrepError, match=r"segments.fr \(4 lines\)"):
        prepare_europarl_st.split_rows(args, "fr", "test")


def test_transcript_normalisation():
    assert normalize_transcript("HE SAID 'NO' TO MISTER O'NEILL") == "he said 'no' to mister o'neill"
    assert normalize_transcript("Open the window, please!  Now.") == "open the window please now"
    assert normalize_transcript("It’s 2010—really?") == "it's 2010 really"


def test_cascade_hypotheses_group_sets_whose_ids_agree(tmp_path, monkeypatch):
    """An id that names two different utterances (MuST-C's ted_<talk>_<n>, cut per language pair) puts its
    sets in different groups; sets whose shared ids have one hypothesis (Europarl-ST's fr and es) share one."""
    from recipes.librispeech.local import cascade_hypotheses

    rows = [("st_fr", "a", "x"), ("st_fr", "b", "y"), ("st_es", "a", "x"), ("st_fr_mustc", "ted_1_0", "p"),
            ("st_es_mustc", "ted_1_0", "q"), ("asr", "c", "z")]
    (tmp_path / "test.tsv").write_text("id\taudio\tn_frames\ttgt_text\ttask\n" + "".join(
        f"{i}\tzip:0:1\t10\tt\t{task}\n" for task, i, _ in rows))
    (tmp_path / "hyps.tsv").write_text("id\thyp\n" + "".join(f"{i}\t{h}\n" for _, i, h in rows))
    monkeypatch.setattr(sys, "argv", ["cascade_hypotheses.py", "--hyps", str(tmp_path / "hyps.tsv"), "--manifest",
                                      str(tmp_path / "test.tsv"), "--out", str(tmp_path / "out")])
    cascade_hypotheses.main()
    assert (tmp_path / "out" / "groups.txt").read_text() == "0 st_fr,st_es,st_fr_mustc,asr\n1 st_es_mustc\n"
    assert read_tsv(tmp_path / "out" / "1.tsv") == [{"id": "ted_1_0", "hyp": "q"}]
    assert {r["id"]: r["hyp"] for r in read_tsv(tmp_path / "out" / "0.tsv")} == {
        "a": "x", "b": "y", "ted_1_0": "p", "c": "z"}


def test_claims_without_their_systems_are_not_measured():
    """The paper-scale report lists every claim; one whose systems or figures were not run is "not measured"."""
    from wav2prompt_plugin.evaluation.paper_claims import check_claims, claims

    only = {"wav2prompt": {"st_fr_bleu": 20.0, "asr_wer": 8.0}, "wav2prompt_ft100": {"st_es_bleu": 25.0}}
    assert [c["holds"] for c in claims(only, not_measured=True)] == [None] * 4
    lines = check_claims(only, not_measured=True)
    assert len(lines) == 6 and all(line.endswith("| not measured |") for line in lines[2:])
    assert "no cascade results" in lines[2] and "(c) wav2prompt_ft100" in lines[4]
    # a cascade without the fine-tuned figure: (c) not measured rather than a KeyError
    only["cascade"] = {"st_fr_bleu": 18.0, "asr_wer": 9.0}
    c = [x for x in claims(only, not_measured=True) if x["claim"].startswith("(c)")][0]
    assert c["holds"] is None and c["figures"] == ["no figure both wav2prompt_ft100 and cascade have"]
    assert check_claims(only)[2].startswith("| (a)") and check_claims(only)[2].endswith("| yes |")
