"""LLM positions per second of speech: Wav2Prompt (CIF, about one per token)
against an Encoder-LLM (encoder frames stacked k at a time), and what it costs
the LLM's prefill.

    python benchmarks/prompt_length.py [--manifest test.tsv] [--checkpoint w2p.pt] [--json]

Wav2Prompt: the number of vectors the trained checkpoint's CIF fires (when a
checkpoint is given or the miniature recipe's exists), and the transcript's
LLM tokens (what CIF is trained to fire). Encoder-LLM: ceil(T' / k) positions,
T' the frames after the recipe's conv subsampler (3 stride-2 convolutions:
100 / 8 = 12.5 frames per second), k = 2 and 4.

FLOPs model of a prefill of L positions through a decoder-only LLM with N
non-embedding parameters, n layers of width d: 2 N L (matrix products) +
2 n d L^2 (attention scores and weighted sum, causal half of 4 n d L^2),
evaluated for LLaMA-2-7B (N = 6.5e9, n = 32, d = 4096) with the speech
prompt alone and inside a template of 12 text positions.
"""
import argparse
import csv
import math
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from side_by_side import print_json, print_table  # noqa: E402

MINI = os.path.join(ROOT, "recipes/mini")
LLAMA2_7B = dict(params=6.5e9, layers=32, width=4096)
TEMPLATE_POSITIONS = 12  # e.g. "<s> Translate the English text into French: {speech} French:"


def subsampled(frames: int, convs: int = 3) -> int:
    for _ in range(convs):  # fairseq Conv1dSubsampler: floor((n - 1) / 2 + 1)
        frames = int(math.floor((frames - 1) / 2 + 1))
    return frames


def prefill_flops(length: int, llm=LLAMA2_7B) -> float:
    return 2 * llm["params"] * length + 2 * llm["layers"] * llm["width"] * length ** 2


def cif_lengths(checkpoint, llm_path, audio):
    from wav2prompt_plugin.inference import Wav2PromptInference

    model = Wav2PromptInference(checkpoint, llm_path=llm_path, trim_silence=False)  # the frames n_frames counts
    return [n for i in range(0, len(audio), 16) for n in model.prompt_lengths(audio[i:i + 16])]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", default=os.path.join(MINI, "data/default/speech/test.tsv"))
    parser.add_argument("--llm-path", default=os.path.join(MINI, "exp/default/llm"))
    parser.add_argument("--checkpoint", default=os.path.join(MINI, "exp/default/wav2prompt/checkpoint_last.pt"))
    parser.add_argument("--max-utterances", type=int, default=0, help="0: all")
    parser.add_argument("--quick", action="store_true", help="20 utterances, no checkpoint")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    with open(args.manifest) as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if args.quick:
        args.max_utterances = 20
    if args.max_utterances:
        rows = rows[: args.max_utterances]
    tokenizer = AutoTokenizer.from_pretrained(args.llm_path, local_files_only=True)
    frames = np.array([int(r["n_frames"]) for r in rows])
    seconds = frames.sum() / 100
    systems = {"Wav2Prompt, transcript tokens": np.array(
        [len(tokenizer(r["tgt_text"], add_special_tokens=False)["input_ids"]) for r in rows])}
    if os.path.exists(args.checkpoint) and not args.quick:
        audio = [r["audio"] if os.path.isabs(r["audio"]) else
                 os.path.join(os.path.dirname(args.manifest), r["audio"]) for r in rows]
        systems["Wav2Prompt, CIF fired"] = np.array(cif_lengths(args.checkpoint, args.llm_path, audio))
    encoder_frames = np.array([subsampled(int(n)) for n in frames])
    for k in (2, 4):
        systems[f"Encoder-LLM, stack {k}"] = np.ceil(encoder_frames / k).astype(int)

    reference = "Wav2Prompt, CIF fired" if "Wav2Prompt, CIF fired" in systems else "Wav2Prompt, transcript tokens"
    flops = {name: (sum(prefill_flops(int(n)) for n in lengths),
                    sum(prefill_flops(int(n) + TEMPLATE_POSITIONS) for n in lengths))
             for name, lengths in systems.items()}
    table, result = [], {"utterances": len(rows), "audio_seconds": float(seconds),
                         "encoder_frames_per_s": float(encoder_frames.sum() / seconds), "systems": {}}
    for name, lengths in systems.items():
        entry = {
            "positions_per_s": float(lengths.sum() / seconds),
            "mean_positions": float(lengths.mean()),
            "prefill_flops_ratio_vs_wav2prompt": flops[name][0] / flops[reference][0],
            "prefill_flops_ratio_with_template": flops[name][1] / flops[reference][1],
        }
        result["systems"][name] = entry
        table.append([name, entry["positions_per_s"], entry["mean_positions"],
                      entry["prefill_flops_ratio_vs_wav2prompt"], entry["prefill_flops_ratio_with_template"]])
    print(f"{len(rows)} utterances of {args.manifest} ({seconds:.0f} s; encoder "
          f"{result['encoder_frames_per_s']:.1f} frames/s); prefill FLOPs relative to {reference!r}, "
          f"LLaMA-2-7B shape")
    print_table(["system", "LLM positions / s", "per utterance", "prefill FLOPs x",
                 f"x with {TEMPLATE_POSITIONS}-position template"], table)
    result["reference"] = reference
    if args.json:
        print_json(result)


if __name__ == "__main__":
    main()
