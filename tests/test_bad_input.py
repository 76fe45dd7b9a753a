"""Bad input gets an error that names the file, row or field, at start-up."""
import os
import shutil

import pytest

from conftest import run_cli, write_manifest
from wav2prompt_plugin.data.audio_features import AudioError, load_features
from wav2prompt_plugin.data.llm_dictionary import LLMPathError
from wav2prompt_plugin.data.manifest import ManifestError
from wav2prompt_plugin.data.templates import TemplateError
from wav2prompt_plugin.tasks.wav2prompt import Wav2PromptTask, Wav2PromptTaskConfig


def manifest_copy(speech_data, tmp_path, edit=None, columns=None):
    """A copy of dev.tsv (absolute audio paths) with rows changed by `edit`."""
    import csv

    with open(os.path.join(speech_data, "dev.tsv")) as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for row in rows:
        row["audio"] = os.path.join(speech_data, row["audio"])
    if edit:
        edit(rows)
    write_manifest(str(tmp_path / "dev.tsv"), rows, columns or list(rows[0].keys()))
    return str(tmp_path)


def task(data, llm, **kwargs):
    return Wav2PromptTask.setup_task(Wav2PromptTaskConfig(data=data, llm_path=llm, **kwargs))


def test_missing_audio_names_file_and_line(speech_data, tiny_llm, tmp_path):
    data = manifest_copy(speech_data, tmp_path, lambda rows: rows[2].update(audio="/nowhere/x.wav"))
    with pytest.raises(ManifestError, match=r"dev.tsv:4: audio file /nowhere/x.wav does not exist"):
        task(data, tiny_llm).load_dataset("dev")


def test_empty_transcript_names_row(speech_data, tiny_llm, tmp_path):
    data = manifest_copy(speech_data, tmp_path, lambda rows: rows[1].update(tgt_text=" "))
    with pytest.raises(ManifestError, match=r"dev.tsv:3: empty 'tgt_text' for id 'dev_1'"):
        task(data, tiny_llm).load_dataset("dev")


def test_unknown_template_field_names_field_and_manifest(speech_data, tiny_llm, tmp_path):
    data = manifest_copy(speech_data, tmp_path)
    t = task(data, tiny_llm, train_template="Q: {speech} about {topic}")
    with pytest.raises(TemplateError, match=r"uses field \{topic\}, but manifest .*dev.tsv has no column 'topic'"):
        t.load_dataset("dev")


def test_template_without_speech_fails_at_setup(speech_data, tiny_llm):
    with pytest.raises(TemplateError, match=r"exactly one \{speech\}"):
        task(speech_data, tiny_llm, train_template="Translate into French:")


def test_missing_column_and_duplicate_ids(speech_data, tiny_llm, tmp_path):
    data = manifest_copy(speech_data, tmp_path, columns=["id", "audio", "n_frames", "context"])
    with pytest.raises(ManifestError, match=r"has no column 'tgt_text'"):
        task(data, tiny_llm).load_dataset("dev")
    data = manifest_copy(speech_data, tmp_path, lambda rows: rows[3].update(id="dev_0"))
    with pytest.raises(ManifestError, match=r"dev.tsv:5: duplicate id 'dev_0' \(first at line 2\)"):
        task(data, tiny_llm).load_dataset("dev")


def test_wrong_llm_path(speech_data, tmp_path):
    with pytest.raises(LLMPathError, match=r"--llm-path '/no/such/llm' is not a directory"):
        task(speech_data, "/no/such/llm")
    os.makedirs(tmp_path / "empty")
    with pytest.raises(LLMPathError, match=r"has no config.json"):
        task(speech_data, str(tmp_path / "empty"))


def test_corrupt_audio_names_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav file")
    with pytest.raises(AudioError, match=r"bad.wav: cannot read audio"):
        load_features(str(bad))


def test_fairseq_train_reports_bad_row_before_training(speech_data, tiny_llm, tmp_path):
    data = manifest_copy(speech_data, tmp_path, lambda rows: rows[0].update(audio="/gone.wav"))
    shutil.copy(os.path.join(data, "dev.tsv"), os.path.join(data, "train.tsv"))
    proc = run_cli([
        "fairseq-train", data, "--user-dir", "wav2prompt_plugin", "--task", "wav2prompt",
        "--llm-path", tiny_llm, "--arch", "wav2prompt_tiny", "--criterion", "wav2prompt",
        "--optimizer", "adam", "--lr", "1e-3", "--max-tokens", "2000", "--max-update", "1",
        "--save-dir", str(tmp_path / "ckpt"), "--cpu", "--valid-subset", "dev",
    ], check=False)
    assert proc.returncode != 0
    assert "dev.tsv:2: audio file /gone.wav does not exist" in proc.stderr
    assert "begin training epoch" not in proc.stdout + proc.stderr


def test_spec_augment_masks_training_split_only(speech_data, tiny_llm):
    import numpy as np

    t = task(speech_data, tiny_llm, spec_augment="freq_mask_N=2,freq_mask_F=10,time_mask_N=2,time_mask_T=10")
    t.cfg.train_subset = "train"
    t.load_dataset("train")
    t.load_dataset("dev")
    plain = task(speech_data, tiny_llm)
    plain.load_dataset("train")
    plain.load_dataset("dev")
    np.random.seed(0)
    masked = t.datasets["train"][0]["source"]
    assert (masked != plain.datasets["train"][0]["source"]).any()
    assert (t.datasets["dev"][0]["source"] == plain.datasets["dev"][0]["source"]).all()
