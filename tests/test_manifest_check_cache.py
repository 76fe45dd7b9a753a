"""The manifest's per-row checks (audio headers, tokenization) run once and are
reused from their cache file while manifest, audio, tokenizer and options stay
the same; anything else checks the rows again."""
import csv
import logging
import os

import numpy as np
import pytest
import soundfile as sf

from conftest import build_tiny_llm, write_manifest
from wav2prompt_plugin.data import row_checks
from wav2prompt_plugin.data.manifest import ManifestError
from wav2prompt_plugin.tasks.wav2prompt import Wav2PromptTask, Wav2PromptTaskConfig

TEMPLATE = "repeat {speech} text"


def make_task(data, llm, **kwargs):
    cfg = Wav2PromptTaskConfig(data=str(data), llm_path=llm, train_template=TEMPLATE, **kwargs)
    return Wav2PromptTask.setup_task(cfg)


@pytest.fixture
def data(speech_data, tmp_path):
    """A copy of train.tsv (absolute audio paths) in its own directory."""
    with open(os.path.join(speech_data, "train.tsv")) as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for row in rows:
        row["audio"] = os.path.join(speech_data, row["audio"])
    os.makedirs(tmp_path / "data")
    write_manifest(str(tmp_path / "data" / "train.tsv"), rows, list(rows[0]))
    return tmp_path / "data"


@pytest.fixture
def counted(monkeypatch):
    """Calls of the header reads and of the tokenizer, per column tokenized."""
    calls = {"headers": 0, "tokenized": 0}

    def header(*args):
        calls["headers"] += 1
        return real_header(*args)

    def encode(*args):
        calls["tokenized"] += 1
        return real_encode(*args)

    real_header, real_encode = row_checks.header_num_frames, row_checks.encode_texts
    monkeypatch.setattr(row_checks, "header_num_frames", header)
    monkeypatch.setattr(row_checks, "encode_texts", encode)
    return calls


def load(data, llm, split="train", **kwargs):
    task = make_task(data, llm, **kwargs)
    task.load_dataset(split)
    return task.datasets[split]


def rows_of(dataset):
    """Everything a dataset holds per row, as plain Python values."""
    return [(dataset.audio[i], int(dataset.sizes[i]), dataset.names[i], dataset.targets[i].tolist(),
             dataset.transcripts[i].tolist(), dataset.prompts[i]) for i in range(len(dataset))]


def encode(llm, text):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(llm, local_files_only=True)(text, add_special_tokens=False)["input_ids"]


def edit_manifest(data, edit):
    path = str(data / "train.tsv")
    with open(path) as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    edit(rows)
    write_manifest(path, rows, list(rows[0]))


def test_second_load_reads_no_header_and_gives_the_same_dataset(data, tiny_llm, counted):
    first = load(data, tiny_llm)
    # target and transcript are one column here: tokenized once
    assert counted == {"headers": 24, "tokenized": 1}
    assert os.path.isfile(data / "train.tsv.row_checks.npz")
    second = load(data, tiny_llm)
    assert counted == {"headers": 24, "tokenized": 1}
    assert rows_of(second) == rows_of(first) and len(first) == 24
    assert second[5]["target"].tolist() == first[5]["target"].tolist()
    assert second[5]["target"].tolist()[-1] == first.dictionary.eos()


def test_a_changed_row_checks_the_rows_again(data, tiny_llm, counted):
    load(data, tiny_llm)
    edit_manifest(data, lambda rows: rows[3].update(tgt_text="the old man sees the box"))
    dataset = load(data, tiny_llm)
    assert counted == {"headers": 48, "tokenized": 2}
    assert dataset.targets[3].tolist() == encode(tiny_llm, "the old man sees the box")


def test_another_tokenizer_checks_the_rows_again(data, tiny_llm, counted, tmp_path):
    load(data, tiny_llm)
    smaller_vocab = build_tiny_llm(str(tmp_path / "llm"), vocab_size=90)
    dataset = load(data, smaller_vocab)
    assert counted["headers"] == 48
    text = "the cat sleeps in the kitchen"
    assert dataset.targets[0].tolist() == encode(smaller_vocab, text) != encode(tiny_llm, text)


@pytest.mark.parametrize("option", [{"resample_audio": True}, {"transcript_column": "context"}])
def test_an_option_of_the_checks_checks_the_rows_again(data, tiny_llm, counted, option):
    load(data, tiny_llm)
    load(data, tiny_llm, **option)
    assert counted["headers"] == 48


def test_limits_apply_to_cached_facts_without_a_new_check(data, tiny_llm, counted):
    load(data, tiny_llm)
    longest = int(np.max(load(data, tiny_llm).sizes))
    with pytest.raises(ManifestError, match=rf"{longest} frames > --max-source-positions {longest - 1}"):
        load(data, tiny_llm, max_source_positions=longest - 1)
    assert counted["headers"] == 24


def test_a_corrupt_cache_is_ignored_and_rewritten(data, tiny_llm, counted, caplog):
    first = load(data, tiny_llm)
    cache = data / "train.tsv.row_checks.npz"
    cache.write_bytes(cache.read_bytes()[:300])
    with caplog.at_level(logging.WARNING):
        second = load(data, tiny_llm)
    assert f"ignoring the unreadable row-check cache {cache}" in caplog.text
    assert counted["headers"] == 48 and rows_of(second) == rows_of(first)
    load(data, tiny_llm)
    assert counted["headers"] == 48  # the rewritten cache is whole


def test_bad_rows_are_reported_alike_from_the_cache(data, tiny_llm, counted, tmp_path):
    def break_rows(rows):
        rows[1]["audio"] = "/nowhere/missing.wav"
        rows[4]["n_frames"] = str(int(rows[4]["n_frames"]) // 2)
        rows[6]["tgt_text"] = "\u200b"

    edit_manifest(data, break_rows)
    reports = []
    for _ in range(2):
        with pytest.raises(ManifestError) as error:
            load(data, tiny_llm)
        reports.append(str(error.value))
    assert counted["headers"] == 24
    assert reports[0] == reports[1]
    lines = reports[0].splitlines()
    assert lines[0].startswith("3 bad rows in ") and len(lines) == 4
    assert lines[1].endswith("train.tsv:3: id 'train_1': audio file /nowhere/missing.wav does not exist")
    assert "train.tsv:6: id 'train_4': n_frames" in lines[2] and "(truncated audio" in lines[2]
    assert lines[3].endswith("train.tsv:8: id 'train_6': 'tgt_text' '\\u200b' tokenizes to no text")


def test_a_changed_audio_file_has_its_header_read_again(data, tiny_llm, counted, tmp_path):
    wav = str(tmp_path / "replaced.wav")
    sf.write(wav, np.zeros(16000, dtype=np.float32), 16000, subtype="PCM_16")
    edit_manifest(data, lambda rows: rows[2].update(audio=wav, n_frames="98"))
    load(data, tiny_llm)
    sf.write(wav, np.zeros(8000, dtype=np.float32), 8000, subtype="PCM_16")
    with pytest.raises(ManifestError, match=r"train.tsv:4: id 'train_2': .*sample rate 8000 Hz"):
        load(data, tiny_llm)
    assert counted["headers"] == 25


def test_a_read_only_manifest_directory_caches_in_the_user_cache(data, tiny_llm, counted, tmp_path,
                                                                 monkeypatch, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))
    real_replace = os.replace

    def replace(src, dst):
        if os.path.dirname(dst) == str(data):
            raise PermissionError(13, "Permission denied", dst)
        real_replace(src, dst)

    monkeypatch.setattr(row_checks.os, "replace", replace)
    with caplog.at_level(logging.INFO):
        load(data, tiny_llm)
    assert f"cannot write the row-check cache {data / 'train.tsv.row_checks.npz'}" in caplog.text
    assert sorted(os.listdir(data)) == ["train.tsv"]  # no temporary file left behind
    assert len(os.listdir(tmp_path / "user_cache" / "wav2prompt" / "row_checks")) == 1
    load(data, tiny_llm)
    assert counted["headers"] == 24


def test_only_rank_0_writes_the_cache(data, tiny_llm, monkeypatch):
    monkeypatch.setattr(row_checks, "get_global_rank", lambda: 1)
    assert len(load(data, tiny_llm)) == 24
    assert sorted(os.listdir(data)) == ["train.tsv"]
