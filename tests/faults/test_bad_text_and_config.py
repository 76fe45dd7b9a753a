"""Bad text and configuration: an error naming the file, row, field or option,
at start-up; from fairseq-train, one line and no traceback."""
import json
import os
import shutil

import pytest

from conftest import run_cli
from faults_common import error_report, make_task, read_rows, train_command, write_split
from wav2prompt_plugin.llm.loading import LLMPathError
from wav2prompt_plugin.data.manifest import ManifestError
from wav2prompt_plugin.data.templates import TemplateError


def dev_copy(speech_data, tmp_path, edit=None, columns=None):
    """A copy of dev.tsv (absolute audio paths) with rows changed by `edit`."""
    rows = read_rows(speech_data, "dev")
    if edit:
        edit(rows)
    return write_split(tmp_path, "dev", rows, columns)


def llm_copy(tiny_llm, tmp_path, **config):
    """The tiny LLM's directory with config.json values changed."""
    path = str(tmp_path / "llm")
    shutil.copytree(tiny_llm, path)
    with open(os.path.join(path, "config.json")) as f:
        values = json.load(f)
    values.update(config)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(values, f)
    return path


def test_empty_transcript_names_row(speech_data, tiny_llm, tmp_path):
    data = dev_copy(speech_data, tmp_path, lambda rows: rows[1].update(tgt_text=" "))
    with pytest.raises(ManifestError, match=r"^\S+dev.tsv:3: id 'dev_1': empty 'tgt_text' \(--skip-bad-rows skips bad rows\)$"):
        make_task(data, tiny_llm).load_dataset("dev")


def test_transcript_without_text_tokens_names_row(speech_data, tiny_llm, tmp_path):
    data = dev_copy(speech_data, tmp_path, lambda rows: rows[2].update(tgt_text="\u200b\u200b"))
    with pytest.raises(ManifestError, match=r"dev.tsv:4: id 'dev_2': 'tgt_text' '\\u200b\\u200b' tokenizes to no text"):
        make_task(data, tiny_llm).load_dataset("dev")


def test_manifest_without_usable_rows(speech_data, tiny_llm, tmp_path):
    data = dev_copy(speech_data, tmp_path, lambda rows: [r.update(tgt_text=" ") for r in rows])
    with pytest.raises(ManifestError, match=r"manifest \S+dev.tsv has no usable rows"):
        make_task(data, tiny_llm, skip_bad_rows=True).load_dataset("dev")


def test_unknown_template_field_names_field_and_manifest(speech_data, tiny_llm, tmp_path):
    data = dev_copy(speech_data, tmp_path)
    task = make_task(data, tiny_llm, train_template="Q: {speech} about {topic}")
    with pytest.raises(TemplateError, match=r"uses field \{topic\}, but manifest .*dev.tsv has no column 'topic'"):
        task.load_dataset("dev")


def test_template_without_speech_fails_at_setup(speech_data, tiny_llm):
    with pytest.raises(TemplateError, match=r"exactly one \{speech\}"):
        make_task(speech_data, tiny_llm, train_template="Translate into French:")


def test_missing_column_and_duplicate_ids(speech_data, tiny_llm, tmp_path):
    data = dev_copy(speech_data, tmp_path, columns=["id", "audio", "n_frames", "context"])
    with pytest.raises(ManifestError, match=r"has no column 'tgt_text'"):
        make_task(data, tiny_llm).load_dataset("dev")
    data = dev_copy(speech_data, tmp_path, lambda rows: rows[3].update(id="dev_0"))
    with pytest.raises(ManifestError, match=r"dev.tsv:5: duplicate id 'dev_0' \(first at line 2\)"):
        make_task(data, tiny_llm).load_dataset("dev")


def test_wrong_or_missing_llm_path(speech_data, tmp_path):
    with pytest.raises(LLMPathError, match=r"--llm-path is required"):
        make_task(speech_data, "")
    with pytest.raises(LLMPathError, match=r"--llm-path '/no/such/llm' is not a directory"):
        make_task(speech_data, "/no/such/llm")
    os.makedirs(tmp_path / "empty")
    with pytest.raises(LLMPathError, match=r"has no config.json"):
        make_task(speech_data, str(tmp_path / "empty"))


def test_tokenizer_of_another_llm(speech_data, tiny_llm, tmp_path):
    with pytest.raises(LLMPathError, match=r"tokenizer .* has \d+ tokens but the LLM only 100 embeddings"):
        make_task(speech_data, llm_copy(tiny_llm, tmp_path / "a", vocab_size=100))
    with pytest.raises(LLMPathError, match=r"tokenizer .* has eos id 2 but the LLM's config.json says 5"):
        make_task(speech_data, llm_copy(tiny_llm, tmp_path / "b", eos_token_id=5))


@pytest.mark.parametrize("fault, error, message", [
    ("template", "TemplateError", "must contain exactly one {speech} placeholder"),
    ("llm_path", "LLMPathError", "--llm-path '/no/such/llm' is not a directory"),
    ("duplicate", "ManifestError", "train.tsv:3: duplicate id 'dev_0' (first at line 2)"),
])
@pytest.mark.slow
def test_fairseq_train_reports_bad_input_in_one_line(speech_data, tiny_llm, tmp_path, fault, error, message):
    rows = read_rows(speech_data, "dev")
    if fault == "duplicate":
        rows[1]["id"] = "dev_0"
    data = write_split(tmp_path, "train", rows)
    write_split(data, "dev", read_rows(speech_data, "dev"))
    command = train_command(data, "/no/such/llm" if fault == "llm_path" else tiny_llm, tmp_path / "ckpt", 1)
    if fault == "template":
        command += ["--train-template", "Translate:"]
    report = error_report(run_cli(command, check=False), error)
    assert len(report.splitlines()) == 1 and message in report, report


@pytest.mark.parametrize("options, edit, message", [
    ({"target_column": "context"}, None,
     "--target-column 'context' is not the transcript: name the column of the utterances' transcripts"),
    ({}, lambda row: row.update(src_text=row["tgt_text"]),
     "has a src_text column, as fairseq's speech-translation manifests do, where tgt_text is the translation"),
    ({"transcript_column": "english"}, None, "--transcript-column 'english': manifest"),
])
def test_a_transcript_that_may_be_the_translation_must_be_named(speech_data, tiny_llm, tmp_path, options, edit,
                                                                message):
    """Few-shot data with tgt_text as the translation would silently scale CIF
    to, and compute L_MSE against, the translation's tokens."""
    from wav2prompt_plugin.tasks.wav2prompt import TranscriptColumnError

    rows = read_rows(speech_data, "train")
    for row in rows:
        (edit or (lambda r: None))(row)
    data = write_split(tmp_path, "train", rows)
    with pytest.raises(TranscriptColumnError, match=message.replace("(", r"\(")):
        make_task(data, tiny_llm, **options).load_dataset("train")
    # named, or none: it trains
    named = {**options, "transcript_column": "tgt_text"} if "transcript_column" not in options else {
        "transcript_column": ""}
    task = make_task(data, tiny_llm, **named)
    task.load_dataset("train")
    assert (task.dataset("train").transcripts is None) is (named["transcript_column"] == "")
