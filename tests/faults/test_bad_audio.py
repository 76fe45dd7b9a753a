"""Bad audio: every bad row reported with its manifest line before training,
or skipped with a count under --skip-bad-rows; faults only a full decode finds
are named by manifest line when the row is read, never a bare worker traceback."""
import logging
import os
import re

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli
from faults_common import make_task, read_rows, train_command, write_split, error_report
from wav2prompt_plugin.data.audio_features import AudioError, header_num_frames
from wav2prompt_plugin.data.manifest import ManifestError

# found from headers at start-up: manifest line -> expected reason
HEADER_FAULTS = {
    2: r"audio file /nowhere/missing.wav does not exist",
    3: r"zero.wav is empty \(0 bytes\)",
    4: r"corrupt.wav: not a readable audio file",
    5: r"n_frames \d+, but the audio has \d+ frames",
    6: r"rate8k.wav: sample rate 8000 Hz, expected 16000",
    7: r"stereo.wav: 2 channels, expected mono audio",
    8: r"\d+ frames > --max-source-positions \d+",
    9: r"feats40.npy: features of shape \(\d+, 40\), expected T x 80",
}
# found only when the audio is decoded: manifest line -> expected reason
CONTENT_FAULTS = {10: r"audio samples contain NaN or inf", 11: r"cannot decode audio"}


@pytest.fixture(scope="module")
def bad_audio(speech_data, tmp_path_factory):
    """train.tsv: 24 rows, the first 10 broken each in its own way."""
    root = tmp_path_factory.mktemp("bad_audio")
    rows = read_rows(speech_data, "train")
    wave = lambda i: sf.read(rows[i]["audio"], dtype="float32")[0]  # noqa: E731

    def put(i, name, write):
        path = str(root / name)
        write(path)
        rows[i]["audio"] = path

    rows[0]["audio"] = "/nowhere/missing.wav"
    put(1, "zero.wav", lambda p: open(p, "wb").close())
    put(2, "corrupt.wav", lambda p: open(p, "wb").write(b"RIFF\x00\x01" + bytes(200)))
    data = open(rows[3]["audio"], "rb").read()
    put(3, "truncated.wav", lambda p: open(p, "wb").write(data[: len(data) // 2]))
    put(4, "rate8k.wav", lambda p: sf.write(p, wave(4)[::2], 8000, subtype="PCM_16"))
    put(5, "stereo.wav", lambda p: sf.write(p, np.stack([wave(5)] * 2, 1), 16000))
    long_wave = np.concatenate([wave(i) for i in range(6, 12)])
    put(6, "long.wav", lambda p: sf.write(p, long_wave, 16000))
    rows[6]["n_frames"] = str(header_num_frames(rows[6]["audio"]))
    feats40 = np.zeros((int(rows[7]["n_frames"]), 40), dtype=np.float32)
    put(7, "feats40.npy", lambda p: np.save(p, feats40))
    nan = wave(8)
    nan[len(nan) // 2] = np.nan
    put(8, "nan.wav", lambda p: sf.write(p, nan, 16000, subtype="FLOAT"))
    sf.write(str(root / "full.flac"), wave(9), 16000)
    flac = open(root / "full.flac", "rb").read()
    put(9, "truncated.flac", lambda p: open(p, "wb").write(flac[: len(flac) // 2]))
    write_split(root, "train", rows)
    write_split(root, "dev", read_rows(speech_data, "dev"))
    good = max(int(r["n_frames"]) for r in rows[10:])
    return {"dir": str(root), "max_frames": (good + int(rows[6]["n_frames"])) // 2}


def test_every_bad_row_reported_at_load(bad_audio, tiny_llm):
    task = make_task(bad_audio["dir"], tiny_llm, max_source_positions=bad_audio["max_frames"])
    with pytest.raises(ManifestError) as error:
        task.load_dataset("train")
    report = str(error.value).splitlines()
    assert re.match(r"8 bad rows in .*train.tsv \(--skip-bad-rows skips bad rows\):$", report[0])
    assert len(report) == 1 + len(HEADER_FAULTS)
    for line, (expected, reason) in zip(report[1:], HEADER_FAULTS.items()):
        assert re.match(rf".*train.tsv:{expected}: id 'train_{expected - 2}': .*{reason}", line), line


def test_skip_bad_rows_counts_and_skips(bad_audio, tiny_llm, caplog):
    task = make_task(bad_audio["dir"], tiny_llm, max_source_positions=bad_audio["max_frames"],
                     skip_bad_rows=True)
    with caplog.at_level(logging.INFO):
        task.load_dataset("train")
    assert "train.tsv: skipped 8 bad row(s) of 24 (--skip-bad-rows)" in caplog.text
    dataset = task.datasets["train"]
    assert len(dataset) == 16
    caplog.clear()
    batch = dataset.collater([dataset[i] for i in range(len(dataset))])
    assert batch["nsentences"] == 14
    for line, reason in CONTENT_FAULTS.items():
        assert re.search(rf"skipped .*train.tsv:{line}: id 'train_{line - 2}': .*{reason}", caplog.text)


def test_content_fault_names_manifest_line(bad_audio, tiny_llm):
    task = make_task(bad_audio["dir"], tiny_llm, max_source_positions=bad_audio["max_frames"],
                     skip_bad_rows=True)
    task.load_dataset("train")
    dataset = task.datasets["train"]
    dataset.skip_bad_rows = False  # rows bad by header are gone; content faults now raise
    for index, (line, reason) in enumerate(CONTENT_FAULTS.items()):
        with pytest.raises(AudioError, match=rf"train.tsv:{line}: id 'train_{line - 2}': .*{reason}"):
            dataset[index]


def test_resample_audio_accepts_other_rates(bad_audio, tiny_llm):
    task = make_task(bad_audio["dir"], tiny_llm, max_source_positions=bad_audio["max_frames"],
                     resample_audio=True)
    with pytest.raises(ManifestError) as error:
        task.load_dataset("train")
    assert "7 bad rows" in str(error.value) and "rate8k.wav" not in str(error.value)


@pytest.mark.slow
def test_fairseq_train_lists_bad_rows_and_does_not_train(bad_audio, tiny_llm, tmp_path):
    proc = run_cli(train_command(bad_audio["dir"], tiny_llm, tmp_path / "ckpt", 2, extra=[
        "--max-source-positions", str(bad_audio["max_frames"])]), check=False)
    report = error_report(proc, "ManifestError").splitlines()
    assert report[0].startswith("ManifestError: 8 bad rows in ")
    assert [int(re.search(r"train.tsv:(\d+):", l).group(1)) for l in report[1:]] == list(HEADER_FAULTS)
    assert "begin training" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_fairseq_train_worker_reports_content_fault_by_line(bad_audio, tiny_llm, tmp_path):
    rows = read_rows(bad_audio["dir"], "train")
    data = write_split(tmp_path / "data", "train", rows[8:9] + rows[10:])
    write_split(data, "dev", read_rows(bad_audio["dir"], "dev"))
    command = train_command(data, tiny_llm, tmp_path / "ckpt", 3, extra=["--num-workers", "1"])
    report = error_report(run_cli(command, check=False), "AudioError")
    assert re.fullmatch(r"AudioError: \S+/train.tsv:2: id 'train_8': \S+nan.wav: audio samples "
                        r"contain NaN or inf", report), report


@pytest.mark.slow
def test_fairseq_train_skips_bad_rows_and_trains(bad_audio, tiny_llm, tmp_path):
    proc = run_cli(train_command(bad_audio["dir"], tiny_llm, tmp_path / "ckpt", 3, extra=[
        "--max-source-positions", str(bad_audio["max_frames"]), "--skip-bad-rows",
        "--num-workers", "1"]))
    log = proc.stdout + proc.stderr
    assert "skipped 8 bad row(s) of 24 (--skip-bad-rows)" in log
    assert re.search(r"skipped \S+train.tsv:10: id 'train_8': .*NaN or inf", log)
    assert "done training" in log and os.path.isfile(tmp_path / "ckpt" / "checkpoint_last.pt")
