"""`wav2prompt-explain`: what the LLM heard in each utterance, and when, as a picture and as JSON.

    wav2prompt-explain --checkpoint exp/checkpoint_best.pt --out explain/ a.wav b.wav \
        --template "Translate the English text into French: {speech} French:"

Per audio file, OUT/<name>.png (analysis/explain_picture.py: spectrogram, CIF weights and firing points,
each prompt vector's nearest LLM token under its span, the words, the answer) and OUT/<name>.json
(the same numbers: the transcript and confidence, tokens and words with their times in seconds,
α per encoder frame, and the LLM's answer under --template). Reading these changes nothing the
model computes.
"""
import argparse
import json
import logging
import os

from wav2prompt_plugin.cli.arguments import add_model_arguments, load_model
from wav2prompt_plugin.runtime.process import prepare_process


def explain(args):
    from wav2prompt_plugin.data.audio_features import load_features
    from wav2prompt_plugin.data.templates import PromptTemplate
    from wav2prompt_plugin.analysis.explain_picture import draw

    if args.template:
        PromptTemplate(args.template)
    model = load_model(args)
    heard = model.transcribe(args.audio, timestamps=True)
    answers = model.generate(args.audio, args.template) if args.template else [None] * len(args.audio)
    os.makedirs(args.out, exist_ok=True)
    names = [os.path.splitext(os.path.basename(a))[0] for a in args.audio]
    written = []
    for path, name, item, answer in zip(args.audio, names, heard, answers):
        if names.count(name) > 1:  # same file name in two directories
            name = f"{name}.{len(written)}"
        item = dict(item, audio=path, template=args.template or None, answer=answer)
        with open(os.path.join(args.out, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(item, f, ensure_ascii=False, indent=1)
        png = draw(item, load_features(path, utterance_cmvn=False), os.path.join(args.out, f"{name}.png"))
        written.append(png)
        print(f"{png}: heard {item['text']!r} (confidence {item['confidence']:.2f})"
              + (f", answer {answer!r}" if answer is not None else ""))
    return written


def main(argv=None):
    prepare_process()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audio", nargs="+", help="wav (or .npy fbank) files")
    parser.add_argument("--template", default="", help="a task's prompt template with {speech}: its answer "
                        "goes under the picture (the transcript, under the model's own template, always does)")
    parser.add_argument("--out", required=True, help="directory for the PNG and JSON files")
    add_model_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    explain(args)


if __name__ == "__main__":
    main()
