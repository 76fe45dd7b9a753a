"""CIF: the plugin's closed form against a per-frame loop and the torch-cif package.

    python benchmarks/cif.py [--quick] [--json]

Batch 16, C = 256, T in {100, 400, 1600} frames, 2 torch threads; with target
lengths (training: weights scaled to U) and without (inference: tail rule);
forward, and forward + backward of sum(fired). The floor is one copy of the
input frames. torch-cif (`pip install torch-cif`) is optional: without it its
columns say so.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from side_by_side import interleaved, load_average, print_json, print_table  # noqa: E402
from wav2prompt_plugin.modules.cif import integrate_and_fire  # noqa: E402
from wav2prompt_plugin.modules.cif_reference import loop_cif_batch  # noqa: E402

try:
    from torch_cif import cif_function
except ImportError:
    cif_function = None

LOOP_MAX_FRAMES = 400  # the per-frame loop takes seconds beyond this


def make_batch(bsz, time, dim, seed=0):
    """Frames, weights (mean 0.3, i.e. ~0.3 vectors per frame), right padding
    (lengths T/2..T) and target lengths near the weights' sum."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(bsz, time, dim, generator=g)
    lengths = torch.randint(time // 2, time + 1, (bsz,), generator=g)
    lengths[0] = time
    padding = torch.arange(time).unsqueeze(0) >= lengths.unsqueeze(1)
    alpha = (torch.rand(bsz, time, generator=g) * 0.6).masked_fill(padding, 0.0)
    targets = (alpha.sum(1) + torch.randint(-2, 3, (bsz,), generator=g)).round().long().clamp(min=1)
    return hidden, alpha, padding, targets


def plugin(hidden, alpha, padding, targets):
    return integrate_and_fire(hidden, alpha, padding, targets).fired


def torch_cif(hidden, alpha, padding, targets):
    return cif_function(hidden, alpha, padding_mask=padding, target_lengths=targets)["cif_out"][0]


def loop(hidden, alpha, padding, targets):
    return torch.cat(loop_cif_batch(hidden, alpha, padding, targets, dtype=hidden.dtype))


def copy(hidden, alpha, padding, targets):
    return hidden.clone()


def timed_call(fn, batch, backward):
    hidden, alpha, padding, targets = batch
    if not backward:
        def run():
            with torch.no_grad():
                fn(hidden, alpha, padding, targets)
        return run
    leaf_h = hidden.clone().requires_grad_()
    leaf_a = alpha.clone().requires_grad_()

    def run_backward():
        leaf_h.grad = leaf_a.grad = None
        out = fn(leaf_h, leaf_a, padding, targets)
        if out.requires_grad:
            out.sum().backward()
    return run_backward


def agreement(batch):
    """Max |plugin - other| over fired vectors where the two define the same thing.

    torch-cif scales training weights to U + 1e-4 (ours to exactly U) and, at
    inference, rescales the tail vector by beta / tail weight (ours keeps the
    tail integral as is), so tail vectors are left out of the inference figure.
    """
    hidden, alpha, padding, targets = batch
    result = {}
    for mode, t in (("train", targets), ("infer", None)):
        ours = integrate_and_fire(hidden, alpha, padding, t)
        ref = loop_cif_batch(hidden, alpha, padding, t)
        result[f"max_abs_diff_vs_loop_{mode}"] = max(
            float((ours.fired[b, : r.size(0)].double() - r).abs().max()) if r.numel() else 0.0
            for b, r in enumerate(ref)
        )
        result[f"counts_equal_loop_{mode}"] = ours.num_fired.tolist() == [r.size(0) for r in ref]
        if cif_function is None:
            continue
        other = cif_function(hidden, alpha, padding_mask=padding, target_lengths=t)
        counts = other["cif_lengths"][0]
        result[f"counts_equal_torch_cif_{mode}"] = bool((counts == ours.num_fired).all())
        # inference: compare the whole vectors only (floor of the weight sum)
        keep = counts if t is not None else torch.floor(ours.weight_sum + 1e-6).long()
        mask = torch.arange(ours.fired.size(1)).unsqueeze(0) < keep.unsqueeze(1)
        width = min(ours.fired.size(1), other["cif_out"][0].size(1))
        diff = (ours.fired[:, :width] - other["cif_out"][0][:, :width]).abs()
        result[f"max_abs_diff_vs_torch_cif_{mode}"] = float(
            (diff * mask[:, :width].unsqueeze(-1)).max()
        )
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (a smoke test)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bsz, dim = 16, 256
    sizes = [100, 400, 1600]
    repeats, loop_repeats = args.repeats, 3
    if args.quick:
        bsz, dim, sizes, repeats, loop_repeats = 4, 32, [40, 80], 3, 1
    if cif_function is None:
        print("torch-cif is not installed (pip install torch-cif): its columns are n/a")
    print(f"CIF, batch {bsz}, C {dim}, {args.threads} threads, median of {repeats} "
          f"interleaved runs (loop: {loop_repeats}); load average before: {load_average()}")

    impls = {"plugin": plugin, "copy": copy, "loop": loop}
    if cif_function is not None:
        impls["torch_cif"] = torch_cif
    rows, cases = [], []
    result = {"speedup_vs_loop": {}, "speedup_vs_torch_cif": {}, "speedup_vs_torch_cif_fwd_bwd": {}}
    for time in sizes:
        batch = make_batch(bsz, time, dim, seed=time)
        result.update({f"{k}_T{time}": v for k, v in agreement(batch).items()})
        for with_targets in (True, False):
            case_batch = batch if with_targets else batch[:3] + (None,)
            for backward in (False, True):
                calls = {name: timed_call(fn, case_batch, backward) for name, fn in impls.items()
                         if name != "loop" or time <= LOOP_MAX_FRAMES}
                best = {}
                t = interleaved(calls, repeats, repeats_of={"loop": loop_repeats}, fastest=best)
                pass_name = "fwd+bwd" if backward else "fwd"
                case = {"T": time, "targets": with_targets, "pass": pass_name,
                        **{f"{k}_ms": v * 1e3 for k, v in t.items()},
                        **{f"{k}_fastest_ms": v * 1e3 for k, v in best.items()}}
                cases.append(case)
                ratio_tc = t["torch_cif"] / t["plugin"] if "torch_cif" in t else None
                ratio_loop = t["loop"] / t["plugin"] if "loop" in t else None
                rows.append([time, "yes" if with_targets else "no", pass_name, t["plugin"] * 1e3,
                             t["torch_cif"] * 1e3 if "torch_cif" in t else "n/a",
                             t["loop"] * 1e3 if "loop" in t else "-", t["copy"] * 1e3,
                             ratio_tc if ratio_tc else "n/a",
                             best["torch_cif"] / best["plugin"] if ratio_tc else "n/a",
                             ratio_loop if ratio_loop else "-"])
                key = "speedup_vs_torch_cif_fwd_bwd" if backward else "speedup_vs_torch_cif"
                if ratio_tc is not None:  # the worse of training and inference mode
                    result[key][str(time)] = min(result[key].get(str(time), ratio_tc), ratio_tc)
                if ratio_loop is not None and not backward:
                    result["speedup_vs_loop"][str(time)] = min(
                        result["speedup_vs_loop"].get(str(time), ratio_loop), ratio_loop)
    print_table(["T", "targets", "pass", "plugin ms", "torch-cif ms", "loop ms", "copy ms",
                 "x vs torch-cif", "(fastest runs)", "x vs loop"], rows)
    print("agreement (max abs diff of fired vectors; inference figures leave the tail vector out):")
    for key in sorted(k for k in result if k.startswith(("max_abs", "counts"))):
        print(f"  {key}: {result[key]}")
    print(f"load average after: {load_average()}")
    if args.json:
        result.update(cases=cases, batch=bsz, dim=dim, threads=args.threads,
                      torch_cif_installed=cif_function is not None)
        print_json(result)


if __name__ == "__main__":
    main()
