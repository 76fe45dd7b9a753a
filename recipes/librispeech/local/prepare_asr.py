#!/usr/bin/env python3
"""The cascade's ASR data for fairseq's own `speech_to_text` task (stage 3): 80-dim fbank of every
utterance in fairseq's stored-zip layout, manifests pointing into it, a SentencePiece vocabulary on
the training transcripts and the config.yaml the task reads.

fairseq's S2T loader computes the fbank of a .flac/.wav only through pyKaldi or torchaudio, neither of
them a dependency here, so the features are computed once with the plugin's kaldi-native-fbank (the
features Wav2Prompt reads) and stored as fairseq's own LibriSpeech preparation stores them: one .npy
per utterance in an uncompressed zip, `audio` = `<zip>:<byte offset>:<bytes>` (float32: about 115 GB
for 960 h). The vocabulary is trained as the miniature recipe trains it (recipes/mini/local/prepare_asr.py).

    python local/prepare_asr.py --out data/asr --train data/train/train.tsv --dev data/train/dev.tsv \
        --test asr=data/librispeech/test-clean.tsv --test st_fr=data/europarl_st/en-fr_test.tsv ... \
        --vocab-size 10000 --spec-augment "freq_mask_N=2,freq_mask_F=27,..."

Writes OUT/{train,dev,test}.tsv (`id audio n_frames tgt_text`; test.tsv also `task`: every --test set
in one manifest, in the order given, so one fairseq-generate decodes them all), OUT/fbank/<split>.zip,
spm.model, spm.dict.txt and, last, config.yaml (its presence means the directory is complete).
"""
import argparse
import io
import logging
import os
import struct
import sys
import zipfile
from multiprocessing import Pool

import numpy as np
import yaml

from common import write_manifest
from wav2prompt_plugin.data.audio_features import load_features
from wav2prompt_plugin.data.manifest import read_manifest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
from asr_vocab import train_vocab  # noqa: E402  (shared with the miniature recipe)

logger = logging.getLogger("prepare_asr")


def fbank_npy(audio: str) -> bytes:
    features = load_features(audio, utterance_cmvn=False)  # config.yaml applies utterance CMVN
    buffer = io.BytesIO()
    np.save(buffer, features.astype(np.float32))
    return buffer.getvalue()


def write_zip(path: str, audio: list, jobs: int) -> dict:
    """Each distinct audio file's fbank as <n>.npy in a stored zip; audio -> `zip:offset:bytes`."""
    distinct = list(dict.fromkeys(audio))
    names = {}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path + ".tmp", "w", zipfile.ZIP_STORED, allowZip64=True) as archive, \
            Pool(jobs) as pool:
        for n, data in enumerate(pool.imap(fbank_npy, distinct, chunksize=16)):
            archive.writestr(f"{n}.npy", data)
            names[f"{n}.npy"] = distinct[n]
            if (n + 1) % 10000 == 0:
                logger.info(f"{path}: {n + 1} of {len(distinct)} utterances")
    os.replace(path + ".tmp", path)
    return zip_slices(path, names)


def zip_slices(path: str, names: dict) -> dict:
    """audio -> `<zip>:<offset>:<bytes>` of its .npy (offsets read from each local header)."""
    slices = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as f:
        for info in archive.infolist():
            f.seek(info.header_offset)
            header = f.read(30)
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            offset = info.header_offset + 30 + name_length + extra_length
            slices[names[info.filename]] = f"{os.path.abspath(path)}:{offset}:{info.file_size}"
    return slices


def features_frames(slice_: str) -> int:
    """Frames of a stored .npy, from its header."""
    path, offset, size = slice_.rsplit(":", 2)
    with open(path, "rb") as f:
        f.seek(int(offset))
        data = io.BytesIO(f.read(min(int(size), 256)))
    version = np.lib.format.read_magic(data)
    shape, _, _ = np.lib.format._read_array_header(data, version)
    return int(shape[0])


def split_rows(out: str, split: str, sources: list, jobs: int) -> list:
    """(task, manifest path) pairs -> rows with `audio` into OUT/fbank/<split>.zip."""
    manifests = [(task, read_manifest(path, required=["tgt_text"])) for task, path in sources]
    audio = [row["audio"] for _, m in manifests for row in m.rows]
    zip_path = os.path.join(out, "fbank", f"{split}.zip")
    if os.path.isfile(zip_path):  # computed by an earlier run
        names = {f"{n}.npy": a for n, a in enumerate(dict.fromkeys(audio))}
        slices = zip_slices(zip_path, names)
    else:
        slices = write_zip(zip_path, audio, jobs)
    rows = []
    for task, manifest in manifests:
        for row in manifest.rows:
            feature = slices[row["audio"]]
            rows.append({"id": row["id"], "audio": feature, "n_frames": features_frames(feature),
                         "tgt_text": row["tgt_text"], "task": task})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--train", required=True, help="the ASR training manifest (Wav2Prompt's)")
    parser.add_argument("--dev", required=True)
    parser.add_argument("--test", action="append", default=[], metavar="TASK=PATH",
                        help="a test set the cascade decodes (repeatable)")
    parser.add_argument("--vocab-size", type=int, default=10000)
    parser.add_argument("--spec-augment", default="", help="'name=value,...' SpecAugment for the training split")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="fbank processes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")

    tests = [tuple(item.split("=", 1)) for item in args.test]
    if any(len(t) != 2 for t in tests):
        raise SystemExit(f"--test: expected TASK=PATH, got {args.test}")
    for split, sources in (("train", [("asr", args.train)]), ("dev", [("asr", args.dev)]), ("test", tests)):
        if not sources:
            continue
        rows = split_rows(args.out, split, sources, args.jobs)
        columns = ["id", "audio", "n_frames", "tgt_text"] + (["task"] if split == "test" else [])
        (write_rows if split == "test" else write_manifest)(os.path.join(args.out, f"{split}.tsv"), rows, columns)
        logger.info(f"{args.out}/{split}.tsv: {len(rows)} utterances")
        if split == "train":
            train_vocab([r["tgt_text"] for r in rows], os.path.join(os.path.abspath(args.out), "spm"),
                        args.vocab_size)

    config = {
        "input_feat_per_channel": 80,
        "input_channels": 1,
        "vocab_filename": "spm.dict.txt",
        "bpe_tokenizer": {"bpe": "sentencepiece", "sentencepiece_model": "spm.model"},
        "feature_transforms": {"*": ["utterance_cmvn"], "_train": ["utterance_cmvn"]},
    }
    if args.spec_augment:
        config["feature_transforms"]["_train"].append("specaugment")
        config["specaugment"] = {k: float(v) if "." in v else int(v)
                                 for k, v in (item.split("=") for item in args.spec_augment.split(","))}
    with open(os.path.join(args.out, "config.yaml"), "w") as f:
        yaml.safe_dump(config, f)


def write_rows(path: str, rows: list, columns: list) -> None:
    """The test manifest: an utterance in two test sets (e.g. Europarl-ST En→Fr and En→Es share their
    English segments) is a row of each, so ids repeat here, which write_manifest refuses."""
    import csv

    with open(path + ".tmp", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, escapechar=None)
        writer.writerow(columns)
        writer.writerows([" ".join(str(row[c]).split()) for c in columns] for row in rows)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
