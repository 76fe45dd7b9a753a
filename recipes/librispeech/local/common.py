"""What every preparation script here shares: manifest writing, fbank frame
counts from audio headers, transcript normalisation, segment cutting.

Manifests are fairseq S2T TSVs (`id audio n_frames tgt_text` + task columns);
`n_frames` counts the plugin's 10 ms fbank frames (wav2prompt_plugin's
`num_frames`), which `--max-tokens` batching and `--max-source-positions` use.
"""
import csv
import os
import re
import shlex
import subprocess
import unicodedata
from typing import Dict, Iterable, List, Sequence

import soundfile as sf

from wav2prompt_plugin.data.audio_features import SAMPLE_RATE, num_frames


class PrepError(ValueError):
    pass


def fbank_frames(path: str) -> int:
    """Fbank frames of an audio file, from its header (no decoding)."""
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise PrepError(f"{path}: cannot read audio header ({e})") from None
    return num_frames(int(info.frames * SAMPLE_RATE / info.samplerate))


def normalize_transcript(text: str) -> str:
    """The transcript the LLM reads and Wav2Prompt is trained to produce.

    LibriSpeech is upper case without punctuation; we lower-case it (LLaMA-2 and
    BLOOMZ tokenize all-caps text into many rare pieces) and keep apostrophes.
    Other corpora (Europarl-ST, MuST-C, SLURP, QA questions) are brought to the
    same form, so that WER and the CIF length are measured alike everywhere.
    """
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    text = re.sub(r"[^\w' ]+", " ", text)
    return " ".join(text.replace("_", " ").split())


def clean_field(text: str) -> str:
    """One TSV field: tabs and line breaks become spaces."""
    return " ".join(text.split())


def write_manifest(path: str, rows: Sequence[Dict], columns: Sequence[str]) -> None:
    """Write atomically; refuse rows with an empty required field or a repeated id."""
    seen = set()
    for row in rows:
        for column in ("id", "audio", "n_frames"):
            if str(row.get(column, "")).strip() == "":
                raise PrepError(f"{path}: row {row.get('id')!r} has an empty {column!r}")
        if row["id"] in seen:
            raise PrepError(f"{path}: duplicate id {row['id']!r}")
        seen.add(row["id"])
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, escapechar=None)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([clean_field(str(row[c])) for c in columns])
    os.replace(path + ".tmp", path)


def read_lines(path: str) -> List[str]:
    if not os.path.isfile(path):
        raise PrepError(f"{path} does not exist")
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def check_same_length(paths: Iterable[str], lists: Iterable[list]) -> None:
    paths, lengths = list(paths), [len(x) for x in lists]
    if len(set(lengths)) > 1:
        raise PrepError("parallel files differ in length: " +
                        ", ".join(f"{p} ({n} lines)" for p, n in zip(paths, lengths)))


def cut_segment(source: str, start: float, end: float, dest: str) -> int:
    """Write seconds [start, end) of `source` to `dest` (flac, once); its fbank frames."""
    if not os.path.isfile(dest):
        info = sf.info(source)
        first, last = int(round(start * info.samplerate)), int(round(end * info.samplerate))
        if not 0 <= first < last <= info.frames + info.samplerate // 100:
            raise PrepError(f"{source}: segment {start}-{end} s lies outside its "
                            f"{info.frames / info.samplerate:.2f} s")
        audio, rate = sf.read(source, start=first, stop=min(last, info.frames), dtype="int16")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        sf.write(dest + ".tmp.flac", audio, rate)
        os.replace(dest + ".tmp.flac", dest)
    return fbank_frames(dest)


def convert_audio(command: str, source: str, dest: str) -> None:
    """Run the conversion command (e.g. ffmpeg) once; `{src}` and `{dst}` are filled in."""
    if os.path.isfile(dest):
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = dest + ".tmp" + os.path.splitext(dest)[1]
    argv = [a.replace("{src}", source).replace("{dst}", tmp) for a in shlex.split(command)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True)
    except FileNotFoundError:
        raise PrepError(f"audio conversion needs {argv[0]!r} (e.g. apt-get install ffmpeg), "
                        "or another --convert-cmd") from None
    if proc.returncode != 0 or not os.path.isfile(tmp):
        raise PrepError(f"converting {source} failed: {' '.join(argv)}\n{proc.stderr[-2000:]}")
    os.replace(tmp, dest)
