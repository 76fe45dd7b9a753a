"""The seconds an epoch's data loading takes as fairseq-train iterates the task:
a new batch iterator every epoch (the task's datasets do not declare
can_reuse_epoch_itr_across_epochs), `--num-workers 1`, fairseq's prefetch
thread, and the process fixes the plugin's commands install. Compared: the
task's loader workers as the plugin sets them (`persistent_workers` False) and
as fairseq's default (True), whose worker outlives its epoch until the old
loader is freed, and whose shutdown then waits for it.

    python benchmarks/epoch_loader.py [--epochs 4] [--batches 1] [--work-dir DIR] [--quick] [--json]

Few batches an epoch (a few-shot fine-tuning: 100 pairs, 3 batches) show the
per-epoch cost; no model runs, so the time is the loader's alone.
"""
import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fixtures import make_llm, make_speech_manifest  # noqa: E402
from side_by_side import finish, load_average, print_table  # noqa: E402


def epoch_seconds(task, epochs: int, max_tokens: int) -> list:
    dataset = task.datasets["train"]
    seconds = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        itr = task.get_batch_iterator(dataset, max_tokens=max_tokens, num_workers=1, epoch=epoch,
                                      data_buffer_size=10, seed=1).next_epoch_itr(shuffle=True)
        for _ in itr:
            pass
        seconds.append(time.perf_counter() - start)
    del itr
    gc.collect()  # the last loader, untimed, before the other variant runs
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batches", type=int, default=1, help="batches an epoch")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant, in alternation")
    parser.add_argument("--work-dir", help="where the LLM and manifest are built (default: a temporary directory)")
    parser.add_argument("--quick", action="store_true", help="2 epochs, one run each")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.repeats = 2, 1

    from wav2prompt_plugin.runtime.process import prepare_process
    from wav2prompt_plugin.tasks.wav2prompt import Wav2PromptTask, Wav2PromptTaskConfig

    prepare_process()  # as wav2prompt-train
    print(f"load average before: {load_average()}")
    work = args.work_dir or tempfile.mkdtemp(prefix="epoch_loader_")
    llm = make_llm(os.path.join(work, "llm"), hidden=64, layers=1, heads=2, vocab=512)
    per_batch, frames = 8, 300
    make_speech_manifest(work, "train", [frames] * (per_batch * args.batches))
    tasks = {}
    for name, persistent in (("plugin (not persistent)", False), ("fairseq default (persistent)", True)):
        task = Wav2PromptTask.setup_task(Wav2PromptTaskConfig(data=work, llm_path=llm, persistent_workers=persistent))
        task.cfg.train_subset = "train"
        task.load_dataset("train")
        tasks[name] = task
    runs = {name: [] for name in tasks}
    for r in range(args.repeats):  # in alternation, rotating order
        names = list(tasks)[r % 2:] + list(tasks)[:r % 2]
        for name in names:
            runs[name] += epoch_seconds(tasks[name], args.epochs, per_batch * frames)
    medians = {name: statistics.median(s) for name, s in runs.items()}
    plugin, default = medians["plugin (not persistent)"], medians["fairseq default (persistent)"]
    print(f"{args.epochs} epochs of {args.batches} batch(es), {args.repeats} run(s) each; "
          "seconds an epoch (median over epochs and runs):")
    print_table(["loader workers", "s per epoch", "max s"],
                [[name, medians[name], max(runs[name])] for name in tasks])
    print(f"fairseq's default over the plugin's: {default / plugin:.1f}x")
    if not args.work_dir:
        shutil.rmtree(work)
    finish({"s_per_epoch": medians, "default_over_plugin": default / plugin, "epochs": args.epochs}, args.json)


if __name__ == "__main__":
    main()
