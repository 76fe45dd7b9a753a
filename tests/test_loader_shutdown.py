"""Exiting while fairseq's prefetch thread is busy: no abort, the thread is ended."""
import subprocess
import sys
import textwrap

import torch
from fairseq.data.iterators import BufferedIterator

from wav2prompt_plugin.loader_shutdown import stop_background_consumers


class EndlessBatches:
    """Batches collated the way a collater pads: row assignments, which release the GIL."""

    def __len__(self):
        return 10 ** 6

    def __iter__(self):
        row = torch.randn(4000)
        while True:
            out = torch.zeros(64, 4000)
            for i in range(64):
                out[i, :] = row
            yield out


def test_exit_while_a_batch_is_being_collated_is_clean():
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {repr(__file__.rsplit('/', 1)[0])})
        from wav2prompt_plugin.cli.process import prepare_process
        prepare_process()  # what the plugin's commands (and --user-dir) install; a bare import does not
        from test_loader_shutdown import EndlessBatches
        from fairseq.data.iterators import BufferedIterator
        itr = BufferedIterator(10 ** 6, EndlessBatches())
        next(itr)
        print("done")
    """)
    for _ in range(3):  # without the commands' exit hook these abort (exit 134, or -6)
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip().endswith("done")


def test_consumers_blocked_on_a_full_queue_or_mid_batch_are_ended():
    full = BufferedIterator(2, EndlessBatches())
    busy = BufferedIterator(10 ** 6, EndlessBatches())
    next(full), next(busy)
    threads = [full._consumer, busy._consumer]
    assert all(t.is_alive() for t in threads)
    stop_background_consumers(timeout=30)
    assert not any(t.is_alive() for t in threads)
