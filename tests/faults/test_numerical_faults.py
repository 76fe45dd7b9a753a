"""Numerical faults: a batch with a non-finite loss is skipped with a log line
and training goes on; the loss stays finite with a bf16/fp16 LLM and autocast."""
import logging
import os
import subprocess
import sys

import pytest
import torch

from conftest import run_cli
from faults_common import TEMPLATE, make_task, train_command
from wav2prompt_plugin.criterions.wav2prompt import Wav2PromptCriterion
from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig, Wav2PromptModel

FAULTY_TRAIN = os.path.join(os.path.dirname(__file__), "faulty_train.py")


class PlainOptimizer:
    def backward(self, loss):
        loss.backward()


@pytest.fixture(scope="module")
def setup(speech_data, tiny_llm):
    task = make_task(speech_data, tiny_llm, train_template=TEMPLATE)
    task.load_dataset("dev")
    dataset = task.datasets["dev"]
    sample = dataset.collater([dataset[i] for i in range(len(dataset))])
    return task, sample


def build_model(task, llm_dtype="fp32"):
    torch.manual_seed(5)
    cfg = Wav2PromptConfig(
        encoder_type="transformer", conv_kernel_sizes="3,3", conv_channels=20, encoder_embed_dim=28,
        encoder_ffn_embed_dim=44, encoder_layers=1, encoder_attention_heads=2, dropout=0.0,
        attention_dropout=0.0, activation_dropout=0.0, max_source_positions=6000, llm_dtype=llm_dtype,
    )
    return Wav2PromptModel.build_model(cfg, task)


def test_nonfinite_loss_skips_the_batch(setup, monkeypatch, caplog):
    task, sample = setup
    model, criterion = build_model(task), Wav2PromptCriterion(task)
    _, sample_size, _ = task.train_step(sample, model, criterion, PlainOptimizer(), update_num=3)
    assert sample_size > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)

    model.zero_grad(set_to_none=True)
    real = criterion.forward

    def overflowing(model, sample):
        loss, sample_size, log = real(model, sample)
        return loss * float("inf"), sample_size, log

    monkeypatch.setattr(criterion, "forward", overflowing)
    with caplog.at_level(logging.WARNING):
        _, sample_size, log = task.train_step(sample, model, criterion, PlainOptimizer(), update_num=4)
    assert "update 5: non-finite loss (inf) on a batch of 4 utterances" in caplog.text
    assert sample_size == 0 and not any(log.values())  # adds nothing to the logged means
    assert all(p.grad is None for p in model.parameters())  # so the optimizer changes nothing


@pytest.mark.slow
def test_fairseq_train_skips_nan_batch_and_goes_on(speech_data, tiny_llm, tmp_path):
    save_dir = tmp_path / "ckpt"
    command = train_command(speech_data, tiny_llm, save_dir, 4, [
        "--disable-validation", "--save-interval-updates", "1", "--batch-size", "2"])
    proc = subprocess.run([sys.executable, FAULTY_TRAIN, "nan-loss", "3"] + command[1:],
                          env=dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="2"),
                          capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "update 3: non-finite loss (nan)" in log and "batch skipped" in log
    assert "done training" in log
    states = [torch.load(save_dir / f"checkpoint_1_{n}.pt", map_location="cpu", weights_only=False)
              for n in (2, 3, 4)]
    # the skipped update left parameters and Adam's state as they were; the next one trained
    for name, value in states[0]["model"].items():
        assert torch.isfinite(value.float()).all()
        assert torch.equal(states[1]["model"][name], value), name
    assert any(not torch.equal(states[2]["model"][n], v) for n, v in states[1]["model"].items())
    adam = [s["last_optimizer_state"]["state"][0]["step"] for s in states]
    assert adam[0] == adam[1] and adam[2] == adam[1] + 1


@pytest.mark.parametrize("llm_dtype", ["bf16", "fp16"])
def test_loss_stays_finite_with_half_precision_llm(setup, llm_dtype):
    task, sample = setup
    criterion = Wav2PromptCriterion(task)
    reference = criterion(build_model(task), sample)[2]
    model = build_model(task, llm_dtype)
    loss, _, log = criterion(model, sample)
    loss.backward()
    for term in ("ce", "mse", "qua"):
        assert torch.isfinite(log[term])
        torch.testing.assert_close(log[term], reference[term], rtol=0.05, atol=0.0)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


def test_loss_stays_finite_under_bf16_autocast(setup):
    task, sample = setup
    criterion = Wav2PromptCriterion(task)
    model = build_model(task)
    reference = criterion(model, sample)[2]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _, log = criterion(model, sample)
    loss.backward()
    for term in ("ce", "mse", "qua"):
        assert torch.isfinite(log[term])
        torch.testing.assert_close(log[term], reference[term], rtol=0.05, atol=0.0)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
