"""The one supported mixed precision (--llm-dtype bf16 --autocast-bf16) and the
flag combinations refused at start-up, each with one line saying what to use."""
import json
import os

import pytest
import torch
from fairseq import options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf

from conftest import run_cli
from faults.faults_common import TEMPLATE, TINY_MODEL, error_report, train_command
from wav2prompt_plugin.training.precision import PrecisionError

HERE = os.path.dirname(os.path.abspath(__file__))


def parse(data, llm, extra):
    args = options.parse_args_and_arch(options.get_training_parser(), [
        str(data), "--user-dir", os.path.join(HERE, "..", "wav2prompt_plugin"), "--task", "wav2prompt",
        "--llm-path", llm, "--train-template", TEMPLATE, *TINY_MODEL, "--criterion", "wav2prompt",
        "--cpu", "--max-tokens", "700", *extra])
    return convert_namespace_to_omegaconf(args)


def build(cfg):
    task = tasks.setup_task(cfg.task)
    return task, task.build_model(cfg.model)


@pytest.mark.parametrize("flags, message", [
    (["--bf16"], "--bf16 puts fairseq in TPU mode"),
    (["--memory-efficient-bf16"], "--memory-efficient-bf16 puts fairseq in TPU mode"),
    (["--fp16"], "--fp16 casts the whole model, LLM included, to fp16"),
    (["--memory-efficient-fp16"], "--memory-efficient-fp16 casts the whole model"),
    (["--amp", "--llm-dtype", "bf16"], "--amp (fp16 autocast) with --llm-dtype bf16 mixes two half types"),
    (["--amp", "--autocast-bf16"], "--amp (fp16 autocast) with --llm-dtype fp32 and --autocast-bf16"),
    (["--llm-dtype", "fp16"], "--llm-dtype fp16 backpropagates through the LLM in fp16"),
])
def test_combinations_that_would_train_something_else_are_refused(speech_data, tiny_llm, flags, message):
    with pytest.raises(PrecisionError) as error:
        build(parse(speech_data, tiny_llm, flags))
    assert message in str(error.value)
    assert "use --llm-dtype bf16 --autocast-bf16" in str(error.value)


@pytest.mark.slow
def test_the_refusal_is_one_line_before_anything_trains(speech_data, tiny_llm, tmp_path):
    for flags in (["--fp16"], ["--amp", "--llm-dtype", "bf16"]):
        proc = run_cli(train_command(speech_data, tiny_llm, tmp_path, 1, flags), cwd=os.path.join(HERE, ".."),
                       check=False)
        report = error_report(proc, "PrecisionError")
        assert len(report.splitlines()) == 1 and "use --llm-dtype bf16 --autocast-bf16" in report
        assert not os.path.exists(tmp_path / "checkpoint_last.pt")


def test_what_stays_allowed(speech_data, tiny_llm):
    """fp32 throughout, --amp over an fp32 LLM, an fp16 LLM for decoding."""
    build(parse(speech_data, tiny_llm, []))
    build(parse(speech_data, tiny_llm, ["--amp"]))
    task = tasks.setup_task(parse(speech_data, tiny_llm, ["--llm-dtype", "fp16"]).task)
    cfg = parse(speech_data, tiny_llm, ["--llm-dtype", "fp16"]).model
    assert task.build_model(cfg, from_checkpoint=True).decoder.llm.dtype == torch.float16


def test_the_supported_recipe(speech_data, tiny_llm):
    """bf16 LLM weights with fp32 RoPE buffers, fp32 trained weights and
    gradients, fp32 loss terms, under bf16 autocast."""
    cfg = parse(speech_data, tiny_llm, ["--llm-dtype", "bf16", "--autocast-bf16"])
    task, model = build(cfg)
    criterion = task.build_criterion(cfg.criterion)
    llm = model.decoder.llm
    assert {p.dtype for p in llm.parameters()} == {torch.bfloat16}
    assert {b.dtype for n, b in llm.named_buffers() if n.endswith("inv_freq")} == {torch.float32}
    trained = [p for p in model.parameters() if p.requires_grad]
    assert {p.dtype for p in trained} == {torch.float32}
    task.load_dataset("train")
    batch = next(iter(task.get_batch_iterator(task.dataset("train"), max_tokens=700).next_epoch_itr(
        shuffle=False)))
    loss, _, logging_output = criterion(model, batch)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert {p.grad.dtype for p in trained if p.grad is not None} == {torch.float32}
    assert all(p.grad is not None for p in trained)


def save_in_fp16(llm, out):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(llm, dtype=torch.float16).save_pretrained(out)
    AutoTokenizer.from_pretrained(llm).save_pretrained(out)
    assert json.load(open(os.path.join(out, "config.json")))["dtype"] == "float16"
    return str(out)


def test_auto_resolves_before_the_rules_and_is_stored(speech_data, tiny_llm, tmp_path):
    """An LLM saved in fp16 (LLaMA-2's config says float16) under the default
    `--llm-dtype auto` trains in bf16, which the checkpoint records."""
    llm = save_in_fp16(tiny_llm, tmp_path / "fp16_llm")
    cfg = parse(speech_data, llm, [])
    assert cfg.model.llm_dtype == "auto"
    _, model = build(cfg)
    assert cfg.model.llm_dtype == "bf16" and model.decoder.llm.dtype == torch.bfloat16
    with pytest.raises(PrecisionError, match="--amp .fp16 autocast. with --llm-dtype bf16"):
        build(parse(speech_data, llm, ["--amp"]))
