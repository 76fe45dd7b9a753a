#!/usr/bin/env python3
"""The cascade's ASR data config: a SentencePiece vocabulary on the training
transcripts and the config.yaml fairseq's `speech_to_text` task reads.

    python prepare_asr.py --speech data/speech --out data/asr --vocab-size 300

The manifests are the Wav2Prompt ones (id, audio, n_frames, tgt_text, ...;
audio is an .npy fbank that fairseq's S2T loader reads as is), linked into
--out because the task looks for its vocabulary beside them.
fairseq ships the same steps in examples/speech_to_text/data_utils.py
(gen_vocab, gen_config_yaml), but that module needs pandas and a speech
toolkit we do not install, so the few lines are written here.
"""
import argparse
import csv
import os
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
from asr_vocab import train_vocab  # noqa: E402  (shared with the LibriSpeech recipe)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", required=True, help="directory of train/dev/test.tsv manifests")
    parser.add_argument("--out", required=True)
    parser.add_argument("--vocab-size", type=int, default=300)
    parser.add_argument("--spec-augment", default="",
                        help="'name=value,...' SpecAugment settings for the training split")
    args = parser.parse_args()

    train = os.path.join(args.speech, "train.tsv")
    with open(train, newline="") as f:
        texts = [row["tgt_text"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    if not texts:
        raise SystemExit(f"{train}: no rows")
    os.makedirs(args.out, exist_ok=True)
    for split in ("train", "dev", "test"):
        link = os.path.join(args.out, f"{split}.tsv")
        if not os.path.lexists(link):
            os.symlink(os.path.relpath(os.path.join(args.speech, f"{split}.tsv"), args.out), link)
    prefix = os.path.join(os.path.abspath(args.out), "spm")
    train_vocab(texts, prefix, args.vocab_size)

    config = {
        "input_feat_per_channel": 80,
        "input_channels": 1,
        "vocab_filename": "spm.dict.txt",
        "audio_root": os.path.abspath(args.speech),  # relative audio paths are relative to the manifests
        "bpe_tokenizer": {"bpe": "sentencepiece", "sentencepiece_model": "spm.model"},
        "feature_transforms": {"*": ["utterance_cmvn"], "_train": ["utterance_cmvn"]},
    }
    if args.spec_augment:
        config["feature_transforms"]["_train"].append("specaugment")
        config["specaugment"] = {
            k: float(v) if "." in v else int(v)
            for k, v in (item.split("=") for item in args.spec_augment.split(","))
        }
    with open(os.path.join(args.out, "config.yaml"), "w") as f:
        yaml.safe_dump(config, f)
    print(f"{args.out}: SentencePiece vocabulary from {len(texts)} transcripts, config.yaml")


if __name__ == "__main__":
    main()
