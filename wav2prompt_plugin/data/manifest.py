"""Reading fairseq speech-to-text TSV manifests, with errors that name the row.

Columns: ``id  audio  n_frames  tgt_text`` plus any others (``speaker``,
``src_text``, task fields used by templates). ``n_frames`` counts 10 ms feature
frames. Relative audio paths are taken relative to the manifest's directory.
"""
import csv
import logging
import os
from dataclasses import dataclass
from typing import Dict, List, Sequence

from wav2prompt_plugin.data.audio_features import AudioError, split_slice
from wav2prompt_plugin.runtime.errors import InputError

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("id", "audio", "n_frames")


class ManifestError(InputError):
    pass


@dataclass
class Manifest:
    path: str
    columns: List[str]
    rows: List[Dict[str, str]]
    line_numbers: List[int]

    def where(self, index: int) -> str:
        return f"{self.path}:{self.line_numbers[index]}"

    def __len__(self):
        return len(self.rows)


def read_manifest(path: str, required: Sequence[str] = ()) -> Manifest:
    if not os.path.isfile(path):
        raise ManifestError(f"manifest {path} does not exist")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        columns = list(reader.fieldnames or [])
        for name in list(REQUIRED_COLUMNS) + list(required):
            if name not in columns:
                raise ManifestError(
                    f"manifest {path} has no column {name!r} (columns: {', '.join(columns)})"
                )
        rows, lines, first_seen, problems = [], [], {}, []
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                problems.append(f"{path}:{line}: expected {len(columns)} tab-separated fields")
                continue
            if row["id"] in first_seen:
                problems.append(
                    f"{path}:{line}: duplicate id {row['id']!r} (first at line {first_seen[row['id']]})"
                )
                continue
            first_seen[row["id"]] = line
            try:
                int(row["n_frames"])
            except ValueError:
                problems.append(f"{path}:{line}: n_frames {row['n_frames']!r} is not an integer")
                continue
            row["audio"] = _resolve(row["audio"], os.path.dirname(os.path.abspath(path)))
            rows.append(row)
            lines.append(line)
    _raise_if(problems, path)
    return Manifest(path, columns, rows, lines)


def _resolve(audio: str, root: str) -> str:
    try:
        file_path, slices = split_slice(audio)
    except AudioError:
        file_path, slices = audio, []  # reported with the row's other audio faults
    if os.path.isabs(file_path):
        return audio
    resolved = os.path.join(root, file_path)
    return resolved + "".join(f":{s}" for s in slices)


def report_bad_rows(manifest: Manifest, problems: Dict[int, List[str]], skip: bool) -> List[int]:
    """Stop with every bad row and its reasons, or (`skip`) log them and return
    the indices of the good rows."""
    lines = [
        f"{manifest.where(i)}: id {manifest.rows[i]['id']!r}: {'; '.join(reasons)}"
        for i, reasons in sorted(problems.items())
    ]
    if not skip:
        _raise_if(lines, manifest.path, hint=" (--skip-bad-rows skips bad rows)")
    if lines:
        logger.warning(
            f"{manifest.path}: skipped {len(lines)} bad row(s) of {len(manifest)} (--skip-bad-rows)"
        )
        for line in lines:
            logger.info(f"skipped {line}")
    return [i for i in range(len(manifest)) if i not in problems]


def _raise_if(problems: List[str], path: str, hint: str = ""):
    if len(problems) == 1:
        raise ManifestError(problems[0] + hint)
    if problems:
        raise ManifestError(f"{len(problems)} bad rows in {path}{hint}:\n" + "\n".join(problems))
