"""A batch whose loss is not finite skipped with a log line, instead of fairseq's FloatingPointError."""
import logging

import torch
from fairseq.optim.amp_optimizer import AMPOptimizer


def zero_like(value):
    return torch.zeros_like(value) if torch.is_tensor(value) else type(value)(0)


class SkipNonFiniteLoss:
    """A mixin for a FairseqTask (before it among the bases): its `train_step`."""

    _finite_sample = None  # a batch for zero-gradient backwards, see train_step

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        """fairseq's train_step, except that a batch whose loss is not finite is
        skipped with a log line: no gradient from it and, when no other batch
        of the update contributes, no optimizer step (the update counter still
        advances). fairseq would stop with FloatingPointError in fp32/bf16
        (with --fp16 its loss scaler skips overflowing gradients itself)."""
        model.train()
        model.set_num_updates(update_num)
        loss, sample_size, logging_output = self._forward(sample, model, criterion, optimizer)
        if torch.isfinite(loss) and self._finite_sample is None:
            self._finite_sample = sample
        if ignore_grad:
            loss *= 0
        if not torch.isfinite(loss):
            ids = sample["id"].tolist()
            logging.getLogger(type(self).__module__).warning(  # under the task's name, as fairseq's own records
                f"update {update_num + 1}: non-finite loss ({loss.item()}) on a batch of "
                f"{len(ids)} utterances (dataset indices {ids}); batch skipped"
            )
            loss = loss.detach()  # frees this batch's graph before the one below
            if torch.distributed.is_initialized():
                self._zero_backward(model, criterion, optimizer, sample)
            # same keys and types as a trained batch: the ranks' all-reduces of
            # logging outputs pack tensors and numbers into separate buffers
            return loss, zero_like(sample_size), {k: zero_like(v) for k, v in logging_output.items()}
        with torch.autograd.profiler.record_function("backward"):
            optimizer.backward(loss)
        return loss, sample_size, logging_output

    @staticmethod
    def _forward(sample, model, criterion, optimizer):
        with torch.autograd.profiler.record_function("forward"):
            with torch.autocast("cuda", enabled=isinstance(optimizer, AMPOptimizer)):
                return criterion(model, sample)

    def _zero_backward(self, model, criterion, optimizer, sample):
        """A forward and backward that contribute zero gradients, so that this
        rank joins the others' gradient all-reduce. torch DDP all-reduces from
        hooks armed by its own forward: a backward without one would leave the
        other ranks waiting. The forward runs on this process's first batch
        with a finite loss (fairseq's trainer keeps its first batch as a dummy
        the same way): the non-finite batch could give NaN gradients even
        times zero, and does only when no finite batch came before it."""
        loss, _, _ = self._forward(self._finite_sample or sample, model, criterion, optimizer)
        optimizer.backward(torch.nan_to_num(loss, nan=0.0, posinf=0.0, neginf=0.0) * 0.0)
