"""Loading the frozen LLM: peak host memory and time of the plugin's loader
against a plain Hugging Face from_pretrained, on an LLM saved in bf16.

    python benchmarks/llm_load.py [--quick] [--json]

The LLM is a randomly initialised LLaMA of 1.1 B parameters (TinyLlama's
shape: width 2048, 22 layers, 32 heads, 4 key-value heads, 32,000-entry
vocabulary), built once in --work-dir directly in bf16 (no float32 copy) and
saved with save_pretrained; --quick uses a LLaMA of a few hundred thousand.

Each loader runs in a fresh Python process, in rotating order, after the
weights have been read once so that every load finds them in the page cache:
  - plugin: `load_frozen_llm(path)` (--llm-dtype auto, on the CPU);
  - plain: `AutoModelForCausalLM.from_pretrained(path)`, what users write;
  - fp32: `from_pretrained(path, dtype=torch.float32)`, the plugin's loader
    before --llm-dtype auto (its default was fp32).
Memory is the child's peak RSS (getrusage ru_maxrss, which counts the pages of
the memory-mapped weight files it touched) minus its own peak RSS after its
imports, before the load; every child imports the same: torch, transformers,
LLaMA's modeling code, fairseq and the plugin's loader. It is taken twice:
after the load call, and after every parameter and buffer has then been read
once (as the first forward pass reads them): a load that keeps the weights as
views of the memory-mapped file touches none of them until then. Time is the
load call's wall time; each figure is the median of the runs.
Bar: the plugin's peak RSS added by the load and the read <= 1.3 x the size
of the bf16 weights.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from side_by_side import finish, load_average, peak_rss_mb, print_table  # noqa: E402

SIZES = {
    "1.1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                 num_key_value_heads=4, vocab_size=32000),
    "quick": dict(hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=1000),
}
LOADERS = ("plugin", "plain", "fp32")
BAR = 1.3


def build_llm(out_dir: str, size: str) -> str:
    """A random LLaMA initialised in bf16 and saved in bf16 (once)."""
    if os.path.exists(os.path.join(out_dir, "config.json")):
        return out_dir
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    config = LlamaConfig(max_position_embeddings=2048, tie_word_embeddings=False, **SIZES[size])
    AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained(out_dir)
    return out_dir


def weight_files(llm_dir: str):
    return [os.path.join(llm_dir, f) for f in sorted(os.listdir(llm_dir)) if f.endswith(".safetensors")]


def child(loader: str, llm_dir: str):
    """Runs in a fresh process: one load, its figures as JSON on stdout."""
    import time

    import torch
    from transformers import AutoModelForCausalLM, LlamaForCausalLM  # noqa: F401  (the modeling code)

    from wav2prompt_plugin.llm.loading import load_frozen_llm

    imported = peak_rss_mb()
    start = time.perf_counter()
    if loader == "plugin":
        llm = load_frozen_llm(llm_dir)
    elif loader == "plain":
        llm = AutoModelForCausalLM.from_pretrained(llm_dir)
    else:
        llm = AutoModelForCausalLM.from_pretrained(llm_dir, dtype=torch.float32)
    seconds = time.perf_counter() - start
    loaded = peak_rss_mb()
    with torch.no_grad():
        for tensor in [*llm.parameters(), *llm.buffers()]:
            tensor.sum()
    print(json.dumps({"import_rss_mb": imported, "load_rss_mb": loaded - imported,
                      "read_rss_mb": peak_rss_mb() - imported, "load_s": seconds,
                      "dtype": str(llm.dtype).replace("torch.", ""), "device": str(llm.device),
                      "params": sum(p.numel() for p in llm.parameters())}))


def run_child(threads: int, *args) -> str:
    """This script in a fresh process. Linux starts a child's ru_maxrss at its
    parent's RSS, hence a parent that never imports torch."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(threads), PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *args],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny LLaMA, one load each (a smoke test)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--repeats", type=int, default=3, help="loads per loader")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "wav2prompt_bench"))
    parser.add_argument("--child", nargs=2, metavar=("LOADER", "LLM_DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, metavar=("LLM_DIR", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    if args.build:
        return build_llm(*args.build)
    size = "quick" if args.quick else "1.1b"
    repeats = 1 if args.quick else args.repeats
    llm_dir = os.path.join(args.work_dir, f"llama_{size}_bf16")
    run_child(args.threads, "--build", llm_dir, size)
    weights_mb = sum(os.path.getsize(f) for f in weight_files(llm_dir)) / 2 ** 20
    for path in weight_files(llm_dir):  # into the page cache, so that no loader pays the first read
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
    print(f"loading a random LLaMA ({size}) saved in bf16, {weights_mb:.0f} MiB of weights, on the CPU; "
          f"{repeats} load(s) per loader, each in a fresh process; load average before: {load_average()}")
    runs = {name: [] for name in LOADERS}
    for r in range(repeats):
        for name in LOADERS[r % len(LOADERS):] + LOADERS[: r % len(LOADERS)]:
            runs[name].append(json.loads(run_child(args.threads, "--child", name, llm_dir).splitlines()[-1]))
    result = {"size": size, "weights_mb": weights_mb, "repeats": repeats, "loaders": {}}
    table = []
    for name in LOADERS:
        first = runs[name][0]
        entry = {key: first[key] for key in ("dtype", "device", "params")}
        for key in ("import_rss_mb", "load_rss_mb", "read_rss_mb", "load_s"):
            entry[key] = statistics.median(r[key] for r in runs[name])
        entry["read_rss_over_weights"] = entry["read_rss_mb"] / weights_mb
        result["loaders"][name] = entry
        table.append([name, entry["dtype"], entry["import_rss_mb"], entry["load_rss_mb"], entry["read_rss_mb"],
                      entry["read_rss_over_weights"], entry["load_s"]])
    print_table(["loader", "dtype", "RSS after imports MiB", "added by load MiB", "added once read MiB",
                 "x weights", "load s"], table)
    plugin = result["loaders"]["plugin"]
    result["params"] = plugin["params"]
    result["plugin_read_rss_over_weights"] = plugin["read_rss_over_weights"]
    result["bar_met"] = plugin["read_rss_over_weights"] <= BAR
    print(f"bar (plugin's peak RSS added by load + read <= {BAR} x bf16 weights): "
          f"{'met' if result['bar_met'] else 'NOT met'} ({plugin['read_rss_over_weights']:.2f} x)")
    finish(result, args.json)


if __name__ == "__main__":
    main()
