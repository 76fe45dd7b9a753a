"""Reading fairseq speech-to-text TSV manifests, with errors that name the row.

Columns: ``id  audio  n_frames  tgt_text`` plus any others (``speaker``,
``src_text``, task fields used by templates). ``n_frames`` counts 10 ms feature
frames. Relative audio paths are taken relative to the manifest's directory.
"""
import csv
import os
from dataclasses import dataclass
from typing import Dict, List, Sequence

from fairseq.data.audio.audio_utils import parse_path

REQUIRED_COLUMNS = ("id", "audio", "n_frames")


class ManifestError(ValueError):
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
    file_path, slices = parse_path(audio) if ":" in audio else (audio, [])
    if os.path.isabs(file_path):
        return audio
    resolved = os.path.join(root, file_path)
    return resolved + "".join(f":{s}" for s in slices)


def check_audio_exists(manifest: Manifest) -> None:
    problems = []
    for i, row in enumerate(manifest.rows):
        file_path = parse_path(row["audio"])[0]
        if not os.path.isfile(file_path):
            problems.append(f"{manifest.where(i)}: audio file {file_path} does not exist")
    _raise_if(problems, manifest.path)


def check_nonempty(manifest: Manifest, column: str) -> None:
    problems = [
        f"{manifest.where(i)}: empty {column!r} for id {row['id']!r}"
        for i, row in enumerate(manifest.rows)
        if not row[column].strip()
    ]
    _raise_if(problems, manifest.path)


def _raise_if(problems: List[str], path: str, shown: int = 10):
    if problems:
        more = f"\n... and {len(problems) - shown} more" if len(problems) > shown else ""
        raise ManifestError(
            f"{len(problems)} bad row(s) in {path}:\n" + "\n".join(problems[:shown]) + more
        )
