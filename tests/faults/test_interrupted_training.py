"""kill -9 during training and during checkpoint writes: rerunning the same
command resumes from the last complete checkpoint and ends where an
uninterrupted run ends (parameters, optimizer state, data position)."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import run_cli
from faults_common import error_report, train_command

pytestmark = pytest.mark.slow

UPDATES = 12
# SpecAugment on: its random masks must come out the same after a resume
EXTRA = ["--save-interval-updates", "2", "--disable-validation",
         "--spec-augment", "freq_mask_N=1,freq_mask_F=9,time_mask_N=1,time_mask_T=9"]
FAULTY_TRAIN = os.path.join(os.path.dirname(__file__), "faulty_train.py")


def checkpoint_updates(save_dir):
    """Updates of checkpoint_last.pt, which must always load."""
    state = torch.load(os.path.join(save_dir, "checkpoint_last.pt"), map_location="cpu", weights_only=False)
    return state["optimizer_history"][-1]["num_updates"]


def resumed_from(log):
    return [int(n) for n in re.findall(r"Loaded checkpoint \S+ \(epoch \d+ @ (\d+) updates\)", log)]


def last_saved(log, default):
    """Updates of the last checkpoint the run reported complete."""
    saved = re.findall(r"Saved checkpoint \S+ \(epoch \d+ @ (\d+) updates", log)
    return int(saved[-1]) if saved else default


def env():
    return dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="2")


def run_killed_mid_write(fault, nth, command):
    """fairseq-train dying halfway through its nth checkpoint save / copy."""
    proc = subprocess.run([sys.executable, FAULTY_TRAIN, fault, str(nth)] + command[1:], env=env(),
                          capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def run_killed_after_first_save(command, log_path):
    """A real fairseq-train, sent SIGKILL once it has saved a checkpoint."""
    exe = os.path.join(os.path.dirname(sys.executable), command[0])
    with open(log_path, "w") as log:
        proc = subprocess.Popen([exe] + command[1:], env=env(), stdout=log, stderr=subprocess.STDOUT)
        while proc.poll() is None and "Saved checkpoint" not in open(log_path).read():
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "training ended before it could be killed"
    return open(log_path).read()


@pytest.fixture(scope="module")
def uninterrupted(speech_data, tiny_llm, tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("uninterrupted")
    run_cli(train_command(speech_data, tiny_llm, save_dir, UPDATES, EXTRA))
    return str(save_dir)


def test_killed_runs_resume_to_the_uninterrupted_result(uninterrupted, speech_data, tiny_llm, tmp_path):
    save_dir = tmp_path / "ckpt"
    command = train_command(speech_data, tiny_llm, save_dir, UPDATES, EXTRA)

    run_killed_after_first_save(command, tmp_path / "killed.log")
    first = checkpoint_updates(save_dir)
    assert 2 <= first < UPDATES

    log = run_killed_mid_write("save", 1, command)  # its next checkpoint half-serialised
    assert resumed_from(log) == [first]
    assert [p.name for p in save_dir.glob("*.tmp")]  # what the kill left behind
    assert checkpoint_updates(save_dir) == first

    log = run_killed_mid_write("copy", 1, command)  # dies copying a checkpoint to checkpoint_last.pt
    assert resumed_from(log) == [first]
    assert (save_dir / "checkpoint_last.pt.tmp").exists()
    last = checkpoint_updates(save_dir)
    assert last == last_saved(log, first) < UPDATES

    log = run_cli(command).stdout
    assert resumed_from(log) == [last]

    done = torch.load(os.path.join(uninterrupted, "checkpoint_last.pt"), map_location="cpu", weights_only=False)
    resumed = torch.load(os.path.join(save_dir, "checkpoint_last.pt"), map_location="cpu", weights_only=False)
    assert resumed["optimizer_history"][-1]["num_updates"] == UPDATES
    assert resumed["extra_state"]["train_iterator"] == done["extra_state"]["train_iterator"]
    for name, value in done["model"].items():
        torch.testing.assert_close(resumed["model"][name], value, rtol=1e-5, atol=1e-6, msg=name)
    for key, state in done["last_optimizer_state"]["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(resumed["last_optimizer_state"]["state"][key][name], value,
                                       rtol=1e-5, atol=1e-7)


def test_resuming_against_another_llm_is_refused(uninterrupted, speech_data, other_llm):
    command = train_command(speech_data, other_llm, uninterrupted, UPDATES + 2, EXTRA)
    report = error_report(run_cli(command, check=False), "LLMMismatchError")
    assert len(report.splitlines()) == 1
    assert "checkpoint was trained against the LLM at" in report and other_llm in report
