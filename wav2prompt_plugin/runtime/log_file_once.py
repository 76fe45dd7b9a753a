"""Each record once in fairseq-train's `--log-file`.

fairseq's `progress_bar.progress_bar()` attaches a new `logging.FileHandler` for
`--log-file` to its module's logger on every call, and fairseq-train calls it
for every epoch and every validation: after N of them each record is written N
times (a 2,100-update run of the mini recipe wrote its 105 progress records 819
times). The wrapper below attaches the handler on the first call only.
"""
import logging
import os


def install_log_file_once():
    """Idempotent."""
    from fairseq.logging import progress_bar as module

    if getattr(module.progress_bar, "log_file_once", False):
        return
    original = module.progress_bar

    def progress_bar(*args, log_file=None, **kwargs):
        if log_file is not None and any(isinstance(h, logging.FileHandler) and h.baseFilename == os.path.abspath(log_file)
                                        for h in module.logger.handlers):
            log_file = None  # attached by an earlier call
        return original(*args, log_file=log_file, **kwargs)

    progress_bar.log_file_once = True
    module.progress_bar = progress_bar
