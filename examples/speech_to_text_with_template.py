"""Run a trained Wav2Prompt on wav files with any prompt template.

    python examples/speech_to_text_with_template.py \
        --checkpoint exp/checkpoint_best.pt --llm-path /models/llama-2-7b \
        --template "Translate the English text into French: {speech} French:" a.wav b.wav

Template fields other than {speech} are given as --field name=value.
"""
import argparse

from wav2prompt_plugin.inference import Wav2PromptInference


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("audio", nargs="+", help="16 kHz mono .wav/.flac files")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--llm-path", default=None, help="default: the path stored in the checkpoint")
    parser.add_argument("--template", default="{speech}")
    parser.add_argument("--field", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--beam", type=int, default=1)
    args = parser.parse_args()

    fields = dict(f.split("=", 1) for f in args.field)
    w2p = Wav2PromptInference(args.checkpoint, llm_path=args.llm_path, beam=args.beam)
    for path, text in zip(args.audio, w2p.generate(args.audio, args.template, fields)):
        print(f"{path}\t{text}")


if __name__ == "__main__":
    main()
