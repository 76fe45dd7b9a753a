"""The per-row start-up checks of a manifest that read files or run the tokenizer,
done once per manifest and kept in a cache file.

At LibriSpeech 960 h scale (281 k rows) reading every audio header and
tokenizing and decoding every text takes tens of seconds (more on a cold
network filesystem), on every rank at every restart
(benchmarks/manifest_startup.py). What these checks find (`RowFacts`) depends only on the
manifest, its audio files, the tokenizer and --resample-audio; the task applies
its limits (--max-source-positions, ...) to them afresh at each start
(`Wav2PromptTask.bad_rows`), so changing a limit needs no new check.

A cache file is used only when its key matches: a hash of the manifest's bytes
and absolute path (relative audio paths resolve against it), the tokenizer's
files and class, the columns tokenized, --resample-audio, the versions of the
libraries that read headers and tokenize, and CACHE_VERSION. Audio files are
compared by (size, mtime_ns, inode), one stat each at every start; rows whose
file changed have their header read again.

Global rank 0 writes the cache, atomically (a temporary file, then
os.replace): beside the manifest, or under $XDG_CACHE_HOME/wav2prompt
(~/.cache/wav2prompt) when the manifest's directory is not writable. The other
ranks check the rows themselves on a first start, and read rank 0's file at
later ones when they share its filesystem.

A few lines over the house's 250: the cache's key, its file and the checks that fill it are one
contract, kept together.
"""
import hashlib
import logging
import os
import uuid
import zipfile
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
from fairseq.distributed.utils import get_global_rank

from wav2prompt_plugin.data.audio_features import AudioError, header_num_frames, split_slice
from wav2prompt_plugin.data.manifest import Manifest
from wav2prompt_plugin.data.packed import PackedSequences, PackedStrings
from wav2prompt_plugin.llm.prompt_codec import encode_segments

logger = logging.getLogger(__name__)

# bump when check_rows, or what it calls, changes what it finds for the same input
CACHE_VERSION = 2
# the tokenizer's files besides its vocab_files_names, as save_pretrained writes them
TOKENIZER_FILES = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
TOKENIZE_CHUNK = 16384  # rows per tokenizer call: bounds the Python lists alive at once


@dataclass
class RowFacts:
    """What the per-row checks found, per manifest row."""

    header_frames: np.ndarray  # int64; -1 where the header could not be read
    audio_errors: Dict[int, str]  # row -> why its header could not be read
    file_stamps: np.ndarray  # int64 rows x 3: (size, mtime_ns, inode) of the audio file; -1 if absent
    tokens: Dict[str, PackedSequences]  # text spec (see text_spec) -> token ids of its column's text
    no_text: Dict[str, np.ndarray]  # column -> bool: no ids, or ids that decode to blank text


AT_START = "@start"


def text_spec(column: str, at_start: bool = False) -> str:
    """A column's texts as written in running text: after a space (targets, a
    transcript after the template's prefix), or at the text's start."""
    return column + AT_START if at_start else column


def spec_column(spec: str) -> Tuple[str, bool]:
    return (spec[:-len(AT_START)], True) if spec.endswith(AT_START) else (spec, False)


def row_facts(manifest: Manifest, tokenizer, columns: Sequence[str], resample_audio: bool) -> RowFacts:
    """The facts of every row of `manifest`, from its cache when that is current.
    `columns`: text specs (`text_spec`) of the columns to tokenize."""
    columns = list(dict.fromkeys(columns))  # a column that is target and transcript is tokenized once
    stamps = file_stamps(audio_file(row["audio"]) for row in manifest.rows)
    key = cache_key(manifest.path, tokenizer, columns, resample_audio)
    facts = read_cache(manifest.path, key, columns, len(manifest))
    if facts is None:
        logger.info(f"{manifest.path}: checking {len(manifest)} rows (audio headers, tokenization)")
        facts = check_rows(manifest, tokenizer, columns, resample_audio, stamps)
    else:
        changed = np.flatnonzero((facts.file_stamps != stamps).any(axis=1))
        if len(changed) == 0:
            return facts
        logger.info(f"{manifest.path}: {len(changed)} audio file(s) changed since the rows were "
                    "checked; reading their headers again")
        read_headers(manifest, changed, resample_audio, facts)
        facts.file_stamps = stamps
    if get_global_rank() == 0:
        write_cache(manifest.path, key, columns, facts)
    return facts


def check_rows(manifest: Manifest, tokenizer, columns: List[str], resample_audio: bool,
               stamps: np.ndarray) -> RowFacts:
    facts = RowFacts(np.full(len(manifest), -1, dtype=np.int64), {}, stamps, {}, {})
    for spec in columns:
        column, at_start = spec_column(spec)
        texts = [row[column] for row in manifest.rows]
        facts.tokens[spec], facts.no_text[spec] = encode_texts(tokenizer, texts, at_start)
    read_headers(manifest, range(len(manifest)), resample_audio, facts)
    return facts


def encode_texts(tokenizer, texts: List[str], at_start: bool) -> Tuple[PackedSequences, np.ndarray]:
    parts, no_text = [PackedSequences.from_lists([])], []  # the empty part: a manifest without rows
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        ids = encode_segments(tokenizer, texts[start:start + TOKENIZE_CHUNK], at_start)
        # text of the tokens: a transcript of zero-width or control characters
        # becomes a lone word-boundary piece, which is no text either
        decoded = tokenizer.batch_decode(ids, skip_special_tokens=True)
        no_text.extend(not x or not text.strip() for x, text in zip(ids, decoded))
        parts.append(PackedSequences.from_lists(ids))
    return PackedSequences.concatenate(parts), np.array(no_text, dtype=bool)


def read_headers(manifest: Manifest, rows: Iterable[int], resample_audio: bool, facts: RowFacts):
    for i in map(int, rows):  # numpy indices: the errors are keyed by int
        facts.audio_errors.pop(i, None)
        try:
            facts.header_frames[i] = header_num_frames(manifest.rows[i]["audio"], resample_audio)
        except AudioError as e:
            facts.header_frames[i] = -1
            facts.audio_errors[i] = str(e)


def audio_file(audio: str) -> str:
    try:
        return split_slice(audio)[0]
    except AudioError:
        return audio  # a malformed slice: its header read reports it


def file_stamps(files: Iterable[str]) -> np.ndarray:
    seen, stamps = {}, []  # rows slicing one zip file stat it once
    for path in files:
        if path not in seen:
            try:
                st = os.stat(path)
                seen[path] = (st.st_size, st.st_mtime_ns, st.st_ino)
            except OSError:
                seen[path] = (-1, -1, -1)
        stamps.append(seen[path])
    return np.array(stamps, dtype=np.int64).reshape(-1, 3)


def cache_key(manifest_path: str, tokenizer, columns: List[str], resample_audio: bool) -> Optional[str]:
    """None when the tokenizer was not loaded from a local directory (nothing to hash)."""
    import tokenizers
    import transformers

    directory = tokenizer.name_or_path
    if not os.path.isdir(directory):
        return None
    key = hashlib.sha256(repr((
        CACHE_VERSION, os.path.abspath(manifest_path), columns, resample_audio, type(tokenizer).__name__,
        transformers.__version__, tokenizers.__version__, sf.__libsndfile_version__,
    )).encode())
    key.update(_file_digest(manifest_path))
    for name in sorted(set(tokenizer.vocab_files_names.values()) | set(TOKENIZER_FILES)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            key.update(name.encode() + b"\0" + _file_digest(path))
    return key.hexdigest()


def _file_digest(path: str) -> bytes:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").digest()


def cache_files(manifest_path: str) -> List[str]:
    """Where the cache may be: beside the manifest, then in the user's cache directory."""
    path = os.path.abspath(manifest_path)
    user_dir = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                            "wav2prompt", "row_checks")
    digest = hashlib.sha256(path.encode()).hexdigest()[:16]  # one file per manifest path
    return [f"{path}.row_checks.npz",
            os.path.join(user_dir, f"{os.path.basename(path)}.{digest}.row_checks.npz")]


def read_cache(manifest_path: str, key: Optional[str], columns: List[str], num_rows: int) -> Optional[RowFacts]:
    if key is None:
        return None
    for file in cache_files(manifest_path):
        if not os.path.exists(file):
            continue
        try:
            with np.load(file, allow_pickle=False) as arrays:
                if str(arrays["key"]) != key:
                    continue  # another manifest, tokenizer or option: stale
                facts = _unpack(arrays, columns, num_rows)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            logger.warning(f"ignoring the unreadable row-check cache {file} ({e})")
            continue
        logger.info(f"{manifest_path}: row checks from {file}")
        return facts
    return None


def write_cache(manifest_path: str, key: Optional[str], columns: List[str], facts: RowFacts):
    if key is None:
        logger.info(f"{manifest_path}: row checks not cached (the tokenizer has no local directory)")
        return
    arrays = _pack(key, columns, facts)
    for file in cache_files(manifest_path):
        tmp = f"{file}.{uuid.uuid4().hex}.tmp"
        try:
            os.makedirs(os.path.dirname(file), exist_ok=True)
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, file)  # readers see the old file or the whole new one
        except OSError as e:
            logger.info(f"cannot write the row-check cache {file} ({e})")
            if os.path.exists(tmp):
                os.remove(tmp)
            continue
        logger.info(f"{manifest_path}: row checks cached in {file}")
        return
    logger.warning(f"{manifest_path}: row checks not cached; the next start checks every row again")


def _pack(key: str, columns: List[str], facts: RowFacts) -> Dict[str, np.ndarray]:
    error_rows = sorted(facts.audio_errors)
    errors = PackedStrings.from_lists([facts.audio_errors[i] for i in error_rows])
    arrays = {
        "key": np.array(key), "header_frames": facts.header_frames, "file_stamps": facts.file_stamps,
        "error_rows": np.array(error_rows, dtype=np.int64),
        "error_values": errors.values, "error_offsets": errors.offsets,
    }
    for j, column in enumerate(columns):
        arrays[f"tokens{j}_values"] = facts.tokens[column].values
        arrays[f"tokens{j}_offsets"] = facts.tokens[column].offsets
        arrays[f"no_text{j}"] = facts.no_text[column]
    return arrays


def _unpack(arrays, columns: List[str], num_rows: int) -> RowFacts:
    errors = PackedStrings(arrays["error_values"], arrays["error_offsets"])
    facts = RowFacts(
        header_frames=arrays["header_frames"], file_stamps=arrays["file_stamps"],
        audio_errors={int(i): errors[n] for n, i in enumerate(arrays["error_rows"])},
        tokens={c: PackedSequences(arrays[f"tokens{j}_values"], arrays[f"tokens{j}_offsets"])
                for j, c in enumerate(columns)},
        no_text={c: arrays[f"no_text{j}"] for j, c in enumerate(columns)},
    )
    shapes_agree = (
        facts.header_frames.shape == (num_rows,) and facts.file_stamps.shape == (num_rows, 3)
        and all(len(t) == num_rows and t.offsets[-1] == len(t.values) for t in facts.tokens.values())
        and all(m.shape == (num_rows,) for m in facts.no_text.values())
    )
    if not shapes_agree:
        raise ValueError(f"its arrays do not have the manifest's {num_rows} rows")
    return facts
