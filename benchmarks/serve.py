"""Decoding through a vLLM server (backends/vllm.py) against the built-in decoder, side by side.

    python benchmarks/serve.py --checkpoint recipes/mini/exp/default/wav2prompt/checkpoint_last.pt \
        --llm-path recipes/mini/exp/default/llm --manifest recipes/mini/data/default/speech/test.tsv [--json]

Utterances per second over the manifest's utterances, greedy, under one template, at 1, 4 and 16
requests at once: the built-in decoder decodes batches of that many (its way of serving several at
once), the vLLM backend has that many requests in flight, each batch's prompts computed here first.
The server's start-up is timed apart, as a deployment pays it once. Both sides' answers are compared:
the count of identical hypotheses is printed (greedy fp32: all of them). The two alternate batch by
batch, so that the machine's load changes hit both alike.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from side_by_side import finish, load_average, print_table  # noqa: E402
from vllm_server import vllm_server  # noqa: E402

TEMPLATE = "Translate the English text into French: {speech} French:"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--llm-path", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--template", default=TEMPLATE)
    parser.add_argument("--utterances", type=int, default=96, help="the first N of the manifest")
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--max-len-b", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    from wav2prompt_plugin.backends.vllm import VLLMBackend
    from wav2prompt_plugin.evaluation.runner import load_rows
    from wav2prompt_plugin.inference import Wav2PromptInference

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    rows = load_rows(args.manifest)[0][: args.utterances]
    audio = [r["audio"] for r in rows]
    print(f"load average before: {load_average()}; {len(rows)} utterances of {args.manifest}")
    builtin = Wav2PromptInference(args.checkpoint, llm_path=args.llm_path, max_len_b=args.max_len_b,
                                  trim_silence=False)
    result = {"utterances": len(rows), "template": args.template}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with vllm_server(args.llm_path, os.path.join(tmp, "server.log"), kv_cache_gib=2) as url:
            result["server_start_s"] = time.perf_counter() - start
            table = []
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                remote = Wav2PromptInference(args.checkpoint, llm_path=args.llm_path, max_len_b=args.max_len_b,
                                             trim_silence=False, backend=VLLMBackend(url, concurrency=concurrency))
                seconds, hyps = {"builtin": 0.0, "vllm": 0.0}, {"builtin": [], "vllm": []}
                for i in range(0, len(audio), concurrency):
                    batch = audio[i:i + concurrency]
                    order = (("builtin", builtin), ("vllm", remote))
                    for name, model in (order if (i // concurrency) % 2 == 0 else order[::-1]):
                        t = time.perf_counter()
                        hyps[name] += model.generate(batch, args.template)
                        seconds[name] += time.perf_counter() - t
                same = sum(a == b for a, b in zip(hyps["builtin"], hyps["vllm"]))
                row = {"concurrency": concurrency, "builtin_utt_per_s": len(audio) / seconds["builtin"],
                       "vllm_utt_per_s": len(audio) / seconds["vllm"], "identical": same}
                row["vllm_over_builtin"] = row["vllm_utt_per_s"] / row["builtin_utt_per_s"]
                table.append(row)
    result["rows"] = table
    print(f"vLLM server start-up: {result['server_start_s']:.1f} s (paid once)")
    print_table(["at once", "built-in utt/s", "vLLM utt/s", "vLLM / built-in", "identical answers"],
                [[r["concurrency"], r["builtin_utt_per_s"], r["vllm_utt_per_s"], r["vllm_over_builtin"],
                  f"{r['identical']}/{len(rows)}"] for r in table])
    finish(result, args.json)


if __name__ == "__main__":
    main()
