"""A clean exit when training stops in the middle of an epoch, and no
traceback when an epoch's data loader starts its workers.

fairseq prefetches batches in a daemon thread (`BackgroundConsumer`, used
whenever ``--data-buffer-size`` > 0, the default). When `fairseq-train` stops at
``--max-update`` mid-epoch, the process exits while that thread may be inside a
torch call that has released the GIL (collating a batch). On Python 3.11 a
daemon thread that asks for the GIL during interpreter shutdown is ended with
`pthread_exit`, whose unwinding through pybind11's GIL guard calls
`std::terminate`: the run aborts (exit 134) after its checkpoint was saved, and
a recipe under ``set -e`` stops there.

At exit the plugin ends every live consumer first: it lets the batch in hand
finish, then makes the thread stop (its length limit, checked after each batch,
set to zero) while draining the queue the thread may be blocked on. Nothing in
fairseq offers to close the consumer, hence its two private fields.

Each epoch, fairseq builds a new DataLoader, whose worker is forked while the
previous epoch's loader iterator is garbage not yet collected (a reference
cycle). The child inherits that garbage; when the child's collector frees it,
its `__del__` asks whether the parent's worker is alive and prints
``Exception ignored ... AssertionError: can only test a child process``, once
an epoch. Collecting garbage just before a fork frees it in the parent, where
its workers are shut down as they should be.
"""
import atexit
import gc
import os
import queue
import threading

from fairseq.data.iterators import BackgroundConsumer


def stop_background_consumers(timeout: float = 60.0) -> None:
    for thread in threading.enumerate():
        if not isinstance(thread, BackgroundConsumer):
            continue
        thread._max_len = 0  # checked after each batch it produces
        for _ in range(int(timeout / 0.05)):
            if not thread.is_alive():
                break
            try:
                while True:  # unblock a `put` on a full queue
                    thread._queue.get_nowait()
            except queue.Empty:
                pass
            thread.join(0.05)


_installed = False


def install_loader_shutdown():
    global _installed
    if not _installed:
        atexit.register(stop_background_consumers)
        os.register_at_fork(before=gc.collect)
        _installed = True
