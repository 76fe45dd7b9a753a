#!/usr/bin/env python3
"""Spoken question answering sets released as Hugging Face parquet shards.

Two sets, one reader (their releases share the layout `data/<split>-*.parquet`
with an `audio` column of {bytes, path} structs):

* `--set heysquad`: HeySQuAD (human-spoken SQuAD v1.1 questions; yijingwu/HeySQuAD_human):
  columns question, context, answers [{text, answer_start}], id, audio. Spoken
  question + text context: task `sqa`.
* `--set llama_questions`: LLaMA-Questions (spoken questions answered from the
  LLM's memory; fixie-ai/llama-questions): columns question, answer, audio.
  Spoken query, no context: task `sqqa`.

The audio bytes are written once to OUT/<set>_<split>/<id>.<ext>. Writes
OUT/<set>_<split>.tsv with columns `id audio n_frames tgt_text question answer`
(+ `context`): `tgt_text` the normalised question (WER, text topline), `answer`
the first reference answer. Column names can be overridden where a copy of a
release differs.

    python local/prepare_spoken_qa.py --set heysquad --parquet '/data/HeySQuAD_human/data/validation-*.parquet' \
        --split validation --out data/spoken_qa
"""
import argparse
import glob
import io
import logging
import os

import soundfile as sf

from common import PrepError, fbank_frames, normalize_transcript, write_manifest

SETS = {
    "heysquad": {"question": "question", "answer": "answers", "context": "context", "id": "id"},
    "llama_questions": {"question": "question", "answer": "answer", "context": None, "id": None},
}
logger = logging.getLogger("prepare_spoken_qa")


def parquet_rows(pattern: str):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise PrepError("reading parquet needs pyarrow (pip install -r requirements.txt)") from None
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise PrepError(f"no parquet files match {pattern!r}")
    for path in paths:
        for number, row in enumerate(pq.read_table(path).to_pylist()):
            yield path, number, row


def first_answer(value, where: str) -> str:
    if isinstance(value, dict) and isinstance(value.get("text"), list):  # SQuAD's {"text": [...]}
        value = value["text"]
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict):
        value = value.get("text", "")
    if not isinstance(value, str) or not value.strip():
        raise PrepError(f"{where}: no answer text")
    return value


def audio_suffix(audio: dict, data: bytes) -> str:
    suffix = os.path.splitext(audio.get("path") or "")[1].lower()
    if suffix in (".wav", ".flac", ".ogg"):
        return suffix
    return {"RIFF": ".wav", "fLaC": ".flac", "OggS": ".ogg"}.get(data[:4].decode("latin-1"), ".wav")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", required=True, choices=sorted(SETS))
    parser.add_argument("--parquet", required=True, help="glob of the split's parquet shards")
    parser.add_argument("--split", required=True, help="name for the output, e.g. validation, test")
    parser.add_argument("--out", required=True)
    for field in ("question", "answer", "context", "id"):
        parser.add_argument(f"--{field}-column", help=f"override the release's {field} column")
    parser.add_argument("--audio-column", default="audio")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")
    names = {f: getattr(args, f"{f}_column") or SETS[args.set][f] for f in ("question", "answer", "context", "id")}
    audio_dir = os.path.join(args.out, f"{args.set}_{args.split}")
    rows = []
    for path, number, row in parquet_rows(args.parquet):
        where = f"{path}: row {number}"
        missing = [c for c in [names["question"], names["answer"], args.audio_column]
                   + [c for c in (names["context"], names["id"]) if c] if c not in row]
        if missing:
            raise PrepError(f"{where}: no column {missing[0]!r} (columns: {', '.join(row)})")
        if row.get("is_impossible"):
            continue
        audio = row[args.audio_column] or {}
        data = audio.get("bytes")
        if not data:
            raise PrepError(f"{where}: the {args.audio_column!r} column holds no audio bytes")
        utt = str(row[names["id"]]) if names["id"] else f"{args.split}_{len(rows):06d}"
        dest = os.path.abspath(os.path.join(audio_dir, utt + audio_suffix(audio, data)))
        if not os.path.isfile(dest):
            try:
                sf.info(io.BytesIO(data))
            except (sf.LibsndfileError, RuntimeError) as e:
                raise PrepError(f"{where}: audio bytes are not readable ({e})") from None
            os.makedirs(audio_dir, exist_ok=True)
            with open(dest + ".tmp", "wb") as f:
                f.write(data)
            os.replace(dest + ".tmp", dest)
        item = {"id": utt, "audio": dest, "n_frames": fbank_frames(dest),
                "tgt_text": normalize_transcript(row[names["question"]]),
                "question": row[names["question"]], "answer": first_answer(row[names["answer"]], where)}
        if names["context"]:
            item["context"] = row[names["context"]]
        rows.append(item)
    columns = ["id", "audio", "n_frames", "tgt_text", "question", "answer"] + (["context"] if names["context"] else [])
    out = os.path.join(args.out, f"{args.set}_{args.split}.tsv")
    write_manifest(out, rows, columns)
    logger.info(f"{out}: {len(rows)} questions")


if __name__ == "__main__":
    main()
