"""A fault in the N-th training batch of a process, for the scripts that run
fairseq-train with one injected (faulty_train.py, traced_train.py)."""


def in_training_batch(forward, at: int, fault):
    """The criterion's `forward`, with the loss of the `at`-th training batch
    replaced by `fault(loss)` (which may raise instead)."""
    batches = [0]

    def faulty(self, model, sample, reduce=True):
        loss, sample_size, log = forward(self, model, sample, reduce)
        if model.training:
            batches[0] += 1
            if batches[0] == at:
                loss = fault(loss)
        return loss, sample_size, log

    return faulty


def nan(loss):
    return loss * float("nan")
