"""wav2prompt-train with what a test needs to see of each rank.

    [torchrun ...] traced_train.py FAIRSEQ-TRAIN-ARGS...

TRACE_DIR: each checkpoint write appends its path to saves.rank<R>, and after
every update the rank's trained parameters go to params.rank<R>.pt.
NAN_RANK, NAN_AT: that rank's NAN_AT-th training batch gets a NaN loss.
FAIL_RANK, FAIL_AT: that rank raises in its FAIL_AT-th training batch.
"""
import os
import sys

import torch
from fairseq import checkpoint_utils
from fairseq.trainer import Trainer

from batch_faults import in_training_batch, nan
from wav2prompt_plugin.cli.train import main
from wav2prompt_plugin.criterions.wav2prompt import Wav2PromptCriterion

trace_dir = os.environ["TRACE_DIR"]
rank = os.environ.get("RANK", "0")


def recorded_save(real):
    def save(obj, filename, *args, **kwargs):
        with open(os.path.join(trace_dir, f"saves.rank{rank}"), "a") as f:
            f.write(os.path.basename(str(filename)) + "\n")
        return real(obj, filename, *args, **kwargs)
    return save


def params_after_update(real):
    def train_step(self, samples, raise_oom=False):
        out = real(self, samples, raise_oom)
        trained = {n: p.detach().clone() for n, p in self._model.named_parameters() if p.requires_grad}
        torch.save(trained, os.path.join(trace_dir, f"params.rank{rank}.pt"))
        return out
    return train_step


def fail(loss):
    raise RuntimeError(f"injected failure on rank {rank}")


checkpoint_utils.torch_persistent_save = recorded_save(checkpoint_utils.torch_persistent_save)
Trainer.train_step = params_after_update(Trainer.train_step)
if rank == os.environ.get("NAN_RANK"):
    Wav2PromptCriterion.forward = in_training_batch(Wav2PromptCriterion.forward, int(os.environ["NAN_AT"]), nan)
if rank == os.environ.get("FAIL_RANK"):
    Wav2PromptCriterion.forward = in_training_batch(Wav2PromptCriterion.forward, int(os.environ["FAIL_AT"]), fail)
main(sys.argv[1:])
