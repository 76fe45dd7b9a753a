"""One Wav2Prompt training update, broken down, and the options that trade
time for memory: activation checkpointing in the frozen LLM, bf16 autocast.

    python benchmarks/train_step.py [--quick] [--json]

An update is what fairseq-train does per batch: the `wav2prompt` criterion's
forward (speech encoder + CIF + projection, then the frozen LLM), backward
through the LLM into E_s and the encoder, and an Adam step. Timed in parts
with module hooks and a gradient hook on E_s (the LLM's backward ends when
E_s's gradient arrives). Activation memory is the size of the tensors autograd
saves for backward (weights excluded), measured exactly with saved-tensor
hooks; peak RSS is the whole process's. Also: padding in batches built by
--max-tokens from the length-sorted order the dataset gives fairseq, against
shuffled batches, on the miniature recipe's training manifest when present.
"""
import argparse
import csv
import os
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixtures import make_llm, make_speech_manifest  # noqa: E402
from side_by_side import finish, load_average, peak_rss_mb, print_table  # noqa: E402

MINI_TRAIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "recipes/mini/data/default/speech/train.tsv")

SIZES = {
    # wav2prompt_tiny as registered
    "tiny": dict(encoder_type="transformer", conv_kernel_sizes="3,3", conv_channels=256,
                 encoder_embed_dim=256, encoder_ffn_embed_dim=1024, encoder_layers=4,
                 encoder_attention_heads=4),
    # wav2prompt_base's shape (Conformer, rel_pos, k=5 subsampler), half width, 6 layers
    "base-like": dict(encoder_type="conformer", conv_kernel_sizes="5,5", conv_channels=512,
                      encoder_embed_dim=256, encoder_ffn_embed_dim=1024, encoder_layers=6,
                      encoder_attention_heads=4, pos_enc_type="rel_pos"),
}
VARIANTS = {"fp32": {}, "checkpointing": {"llm_activation_checkpointing": True},
            "bf16 autocast": {"autocast_bf16": True}}


def build(data_dir, llm_dir, size, variant):
    from wav2prompt_plugin.criterions.wav2prompt import Wav2PromptCriterion
    from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig, Wav2PromptModel
    from wav2prompt_plugin.tasks.wav2prompt import Wav2PromptTask, Wav2PromptTaskConfig

    task = Wav2PromptTask.setup_task(Wav2PromptTaskConfig(
        data=data_dir, llm_path=llm_dir, train_subset="train", seed=1))
    task.load_dataset("train")
    cfg = Wav2PromptConfig(max_source_positions=6000, **SIZES[size], **VARIANTS[variant])
    torch.manual_seed(1)
    model = Wav2PromptModel.build_model(cfg, task).train()
    criterion = Wav2PromptCriterion(task)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    return task, model, criterion, optimizer


class StepTimer:
    """Marks times at module boundaries and at E_s's gradient."""

    def __init__(self, model):
        self.marks = {}
        enc, dec = model.encoder, model.decoder
        enc.register_forward_pre_hook(lambda *_: self.mark("start"))
        enc.register_forward_hook(self.encoder_done)
        dec.register_forward_hook(lambda *_: self.mark("llm_forward_done"))

    def mark(self, name):
        self.marks[name] = time.perf_counter()

    def encoder_done(self, module, args, out):
        self.mark("encoder_done")
        out["speech_prompt"][0].register_hook(lambda g: self.mark("llm_backward_done"))


def saved_activation_bytes(fn, model):
    """Bytes autograd keeps for backward: all, and those saved inside the LLM."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen, total = set(), {"all": 0, "llm": 0}
    in_llm = [False]
    hooks = [model.decoder.register_forward_pre_hook(lambda *_: in_llm.__setitem__(0, True)),
             model.decoder.register_forward_hook(lambda *_: in_llm.__setitem__(0, False))]

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in weights and ptr not in seen:
            seen.add(ptr)
            total["all"] += t.untyped_storage().nbytes()
            total["llm"] += t.untyped_storage().nbytes() if in_llm[0] else 0
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    for h in hooks:
        h.remove()
    return total


def update(model, criterion, optimizer, sample, timer):
    optimizer.zero_grad()
    loss, _, _ = criterion(model, sample)
    timer.mark("loss_done")
    loss.backward()
    timer.mark("backward_done")
    optimizer.step()
    timer.mark("end")
    return loss


def padding_by_batching(frames, max_tokens, seed=0):
    """Padded / real frames for batches of --max-tokens, sorted vs shuffled order."""
    from fairseq.data import data_utils

    frames = np.asarray(frames, dtype=np.int64)
    result = {}
    rng = np.random.RandomState(seed)
    orders = {"length-sorted": np.argsort(-frames, kind="stable"), "shuffled": rng.permutation(len(frames))}
    for name, order in orders.items():
        batches = data_utils.batch_by_size(order, lambda i: int(frames[i]), max_tokens=max_tokens)
        real = sum(int(frames[b].sum()) for b in batches)
        padded = sum(int(frames[b].max()) * len(b) for b in batches)
        result[name] = {"batches": len(batches), "padding_fraction": (padded - real) / padded}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one step (a smoke test)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "wav2prompt_bench"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hidden, layers, vocab, sizes = 384, 4, 2048, list(SIZES)
    if args.quick:
        hidden, layers, vocab, sizes, args.repeats, args.batch = 64, 2, 256, ["tiny"], 1, 2
    llm_dir = make_llm(os.path.join(args.work_dir, f"llm_{hidden}x{layers}_v{vocab}"),
                       hidden=hidden, layers=layers, vocab=vocab, heads=4)
    # utterances of 1.5-4.5 s, the miniature recipe's range
    frames = np.random.RandomState(0).randint(150, 450, size=args.batch)
    data_dir = os.path.join(args.work_dir, f"speech_{args.batch}")
    if not os.path.exists(os.path.join(data_dir, "train.tsv")):
        make_speech_manifest(data_dir, "train", frames)
    audio_seconds = frames.sum() / 100
    print(f"training update, batch {args.batch} utterances ({audio_seconds:.1f} s of audio), "
          f"LLM LLaMA width {hidden} x {layers} layers, vocabulary {vocab}, {args.threads} threads, "
          f"median of {args.repeats} interleaved updates; load average before: {load_average()}")

    rows, result = [], {"sizes": {}}
    for size in sizes:
        runs = {v: build(data_dir, llm_dir, size, v) for v in VARIANTS}
        sample = runs["fp32"][0].datasets["train"].collater(
            [runs["fp32"][0].datasets["train"][i] for i in range(args.batch)])
        timers = {v: StepTimer(r[1]) for v, r in runs.items()}
        parts = defaultdict(lambda: defaultdict(list))
        activation = {}
        for v, (task, model, criterion, optimizer) in runs.items():
            update(model, criterion, optimizer, sample, timers[v])  # warm-up
            activation[v] = saved_activation_bytes(
                lambda: criterion(model, sample)[0].backward(), model)
        for r in range(args.repeats):
            names = list(runs)
            for v in names[r % len(names):] + names[: r % len(names)]:
                task, model, criterion, optimizer = runs[v]
                update(model, criterion, optimizer, sample, timers[v])
                m = timers[v].marks
                parts[v]["encoder+CIF fwd"].append(m["encoder_done"] - m["start"])
                parts[v]["LLM fwd"].append(m["llm_forward_done"] - m["encoder_done"])
                parts[v]["LLM bwd"].append(m["llm_backward_done"] - m["loss_done"])
                parts[v]["encoder bwd"].append(m["backward_done"] - m["llm_backward_done"])
                parts[v]["optimizer"].append(m["end"] - m["backward_done"])
                parts[v]["total"].append(m["end"] - m["start"])
        result["sizes"][size] = {}
        for v in runs:
            med = {k: float(np.median(x)) for k, x in parts[v].items()}
            llm = med["LLM fwd"] + med["LLM bwd"]
            entry = {
                **{f"{k}_ms": x * 1e3 for k, x in med.items()},
                "utterances_per_s": args.batch / med["total"],
                "audio_seconds_per_s": audio_seconds / med["total"],
                "fraction_outside_llm": 1 - llm / med["total"],
                "activation_mb": activation[v]["all"] / 2**20,
                "llm_activation_mb": activation[v]["llm"] / 2**20,
            }
            result["sizes"][size][v] = entry
            rows.append([size, v] + [med[k] * 1e3 for k in ("encoder+CIF fwd", "LLM fwd", "LLM bwd",
                                                           "encoder bwd", "optimizer", "total")]
                        + [entry["utterances_per_s"], entry["audio_seconds_per_s"],
                           entry["fraction_outside_llm"], entry["activation_mb"],
                           entry["llm_activation_mb"]])
        base = result["sizes"][size]
        result["sizes"][size]["checkpointing_activation_saving"] = 1 - (
            base["checkpointing"]["activation_mb"] / base["fp32"]["activation_mb"])
        result["sizes"][size]["checkpointing_llm_activation_saving"] = 1 - (
            base["checkpointing"]["llm_activation_mb"] / base["fp32"]["llm_activation_mb"])
        result["sizes"][size]["checkpointing_time_ratio"] = (
            base["checkpointing"]["total_ms"] / base["fp32"]["total_ms"])
        result["sizes"][size]["bf16_speedup"] = base["fp32"]["total_ms"] / base["bf16 autocast"]["total_ms"]
    print_table(["encoder", "variant", "enc fwd ms", "LLM fwd ms", "LLM bwd ms", "enc bwd ms",
                 "adam ms", "total ms", "utt/s", "audio s/s", "outside LLM", "activations MB",
                 "in LLM MB"], rows)
    for size in sizes:
        s = result["sizes"][size]
        print(f"{size}: checkpointing saves {100 * s['checkpointing_activation_saving']:.0f}% of "
              f"activation memory ({100 * s['checkpointing_llm_activation_saving']:.0f}% of the LLM's) at {s['checkpointing_time_ratio']:.2f}x the step time; "
              f"bf16 autocast {s['bf16_speedup']:.2f}x the fp32 speed")
    result["peak_rss_mb"] = peak_rss_mb()
    print(f"peak RSS of this process (all variants): {result['peak_rss_mb']:.0f} MB")

    if os.path.exists(MINI_TRAIN) and not args.quick:
        with open(MINI_TRAIN) as f:
            manifest_frames = [int(r["n_frames"]) for r in csv.DictReader(f, delimiter="\t")]
        result["batching"] = padding_by_batching(manifest_frames, max_tokens=20000)
        for name, b in result["batching"].items():
            print(f"--max-tokens 20000 on {MINI_TRAIN}: {name} order, {b['batches']} batches, "
                  f"{100 * b['padding_fraction']:.1f}% of the frames are padding")
    finish(result, args.json)


if __name__ == "__main__":
    main()
