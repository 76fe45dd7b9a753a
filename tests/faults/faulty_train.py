"""fairseq-train with one fault injected, deterministically.

    python faulty_train.py FAULT N FAIRSEQ-TRAIN-ARGS...

save: the N-th checkpoint serialisation writes half its bytes, then SIGKILL;
copy: the N-th file copy (checkpoint_1_K.pt -> checkpoint_last.pt) does the same;
nan-loss: the N-th training batch's loss is NaN.
"""
import io
import os
import shutil
import signal
import sys

import torch

fault, at, calls = sys.argv[1], int(sys.argv[2]), [0]


def write_half_and_die(data: bytes, f):
    f.write(data[: len(data) // 2])
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def killed_mid_write(real):
    def call(src, dst, *args, **kwargs):
        calls[0] += 1
        if calls[0] < at:
            return real(src, dst, *args, **kwargs)
        if fault == "save":  # torch.save(obj, file)
            buffer = io.BytesIO()
            real(src, buffer, *args, **kwargs)
            write_half_and_die(buffer.getvalue(), dst)
        with open(src, "rb") as f, open(dst, "wb") as out:  # shutil.copyfile(src, dst)
            write_half_and_die(f.read(), out)

    return call


def nan_loss(real):
    def forward(self, model, sample, reduce=True):
        loss, sample_size, log = real(self, model, sample, reduce)
        if model.training:
            calls[0] += 1
            if calls[0] == at:
                loss = loss * float("nan")
        return loss, sample_size, log

    return forward


if fault == "save":
    torch.save = killed_mid_write(torch.save)
elif fault == "copy":
    shutil.copyfile = killed_mid_write(shutil.copyfile)
else:
    from batch_faults import in_training_batch, nan
    from wav2prompt_plugin.criterions.wav2prompt import Wav2PromptCriterion

    Wav2PromptCriterion.forward = in_training_batch(Wav2PromptCriterion.forward, at, nan)

from fairseq_cli.train import cli_main  # noqa: E402

sys.argv = ["fairseq-train"] + sys.argv[3:]
cli_main()
