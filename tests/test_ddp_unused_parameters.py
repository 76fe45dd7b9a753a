"""The DDP wrapping the GPU path takes, run in-process on CPU over gloo.

On GPUs fairseq's default `--ddp-backend pytorch_ddp` wraps the model in torch
DDP with `find_unused_parameters` from its config; torch then raises at the
second update if a trained parameter had no gradient in the first. The CLI test
of two ranks (test_distributed_training.py) runs legacy_ddp, which tolerates
that, so here fairseq's own DistributedFairseqModel wraps the model built the
way fairseq_cli/train.py builds it (config, task, model, criterion), with only
`device_ids` dropped (torch refuses them for CPU modules). Each configuration
trains three updates; without the plugin's preparation it raises."""
import os

import pytest
import torch
import torch.distributed as dist
from fairseq import options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.models import distributed_fairseq_model
from torch.nn.parallel import DistributedDataParallel

from faults.faults_common import TEMPLATE, TINY_MODEL

pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))
UNFINISHED = "Expected to have finished reduction in the prior iteration"


class CpuDDP(DistributedDataParallel):
    """torch DDP as fairseq's pytorch_ddp calls it, less the GPU's device_ids."""

    def __init__(self, module, device_ids=None, output_device=None, **kwargs):
        calls.append(kwargs)
        super().__init__(module, **kwargs)


calls = []


def build(data, llm, extra):
    """fairseq_cli/train.py's order: config, task, model, then criterion."""
    args = options.parse_args_and_arch(options.get_training_parser(), [
        str(data), "--user-dir", os.path.join(HERE, "..", "wav2prompt_plugin"), "--task", "wav2prompt",
        "--llm-path", llm, "--train-template", TEMPLATE, *TINY_MODEL, "--criterion", "wav2prompt",
        "--cpu", "--max-tokens", "700", "--seed", "3", *extra])
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    task.load_dataset("train")
    return cfg, task, model, criterion


def train_three_updates(cfg, task, model, criterion, store):
    dist.init_process_group("gloo", store=dist.FileStore(str(store), 1), rank=0, world_size=1)
    try:
        wrapped = distributed_fairseq_model.DistributedFairseqModel(
            cfg.distributed_training, model, process_group=dist.group.WORLD, device=torch.device("cpu"))
        batches = task.get_batch_iterator(task.dataset("train"), max_tokens=700, seed=3).next_epoch_itr(
            shuffle=False)
        trained = [p for p in model.parameters() if p.requires_grad]
        for update, sample in zip(range(3), batches):
            model.set_num_updates(update)
            for p in trained:
                p.grad = None
            loss, _, _ = criterion(wrapped, sample)
            loss.backward()
        return trained
    finally:
        dist.destroy_process_group()


CONFIGURATIONS = {
    "ctc-head-unused": ["--ctc-head", "--ctc-weight", "0", "--cif-align-weight", "0"],
    "encoder-freezing": ["--encoder-freezing-updates", "2"],
}


@pytest.fixture(autouse=True)
def cpu_ddp(monkeypatch):
    calls.clear()
    monkeypatch.setattr(distributed_fairseq_model, "DistributedDataParallel", CpuDDP)


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_configurations_with_unused_parameters_train_under_torch_ddp(speech_data, tiny_llm, tmp_path, name):
    cfg, task, model, criterion = build(speech_data, tiny_llm, ["--ddp-backend", "pytorch_ddp",
                                                                 *CONFIGURATIONS[name]])
    trained = train_three_updates(cfg, task, model, criterion, tmp_path / "store")
    assert calls and calls[0]["find_unused_parameters"] is (name == "encoder-freezing")
    # the last update (encoder no longer frozen) reached every trained parameter
    assert all(p.grad is not None for p in trained)
    if name == "ctc-head-unused":
        assert not any(p.requires_grad for p in model.encoder.ctc_proj.parameters())


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_without_the_plugins_preparation_torch_ddp_raises(speech_data, tiny_llm, tmp_path, monkeypatch, name):
    """The negative control: the failure the preparation prevents."""
    import wav2prompt_plugin.tasks.wav2prompt as task_module

    monkeypatch.setattr(task_module, "prepare_for_ddp", lambda *args: None)
    cfg, task, model, criterion = build(speech_data, tiny_llm, ["--ddp-backend", "pytorch_ddp",
                                                                 *CONFIGURATIONS[name]])
    with pytest.raises(RuntimeError, match=UNFINISHED):
        train_three_updates(cfg, task, model, criterion, tmp_path / "store")
