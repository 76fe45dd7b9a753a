"""`wav2prompt-ctc-transcribe`: a CTC encoder checkpoint's greedy transcripts of a manifest.

    wav2prompt-ctc-transcribe --checkpoint exp/ctc/checkpoint_last.pt --manifest test.tsv --out hyps.tsv

Writes a TSV of `id` and `hyp`, in the manifest's order: what `wav2prompt-eval --systems cascade
--asr-hypotheses` reads, so the recipes' CTC initialisation stage is also a cascade's ASR that
costs no training of its own. With a `tgt_text` column, prints the WER.
"""
import argparse
import csv
import logging

from wav2prompt_plugin.runtime.process import prepare_process


def main(argv=None):
    prepare_process()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a speech_encoder_ctc checkpoint")
    parser.add_argument("--llm-path", help="local LLM directory whose tokenizer writes the text (default: the checkpoint's)")
    parser.add_argument("--manifest", required=True, help="TSV of id, audio, n_frames (fairseq's speech-to-text)")
    parser.add_argument("--out", required=True, help="TSV of id and hyp")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")

    from wav2prompt_plugin.data.manifest import read_manifest
    from wav2prompt_plugin.evaluation.metrics import word_error_rate
    from wav2prompt_plugin.inference import CtcTranscriber

    rows = read_manifest(args.manifest).rows
    model = CtcTranscriber(args.checkpoint, llm_path=args.llm_path, device=args.device)
    order = sorted(range(len(rows)), key=lambda i: int(rows[i]["n_frames"]))  # batches of like lengths
    hyps = [""] * len(rows)
    for start in range(0, len(order), args.batch_size):
        batch = order[start:start + args.batch_size]
        for i, text in zip(batch, model.transcribe([rows[i]["audio"] for i in batch])):
            hyps[i] = text
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, escapechar="\\")
        writer.writerow(["id", "hyp"])
        writer.writerows([r["id"], h.replace("\t", " ")] for r, h in zip(rows, hyps))
    summary = f"{args.out}: {len(rows)} CTC transcripts"
    if rows and "tgt_text" in rows[0]:
        summary += f", WER {word_error_rate([r['tgt_text'] for r in rows], hyps):.2f}"
    print(summary)


if __name__ == "__main__":
    main()
