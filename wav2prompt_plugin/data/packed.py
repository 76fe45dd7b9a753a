"""Per-row sequences (token ids, strings) packed in one flat numpy array with offsets.

A list of 281 k Python lists or strings is 281 k objects whose reference counts
change as they are read, so every forked data-loader worker ends up with its own
copy of their pages; two numpy buffers stay shared, and are several times smaller.
"""
from itertools import chain
from typing import Sequence

import numpy as np


class PackedSequences:
    """values[offsets[i]:offsets[i + 1]] is row i."""

    def __init__(self, values: np.ndarray, offsets: np.ndarray):
        self.values = values
        self.offsets = offsets

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]], dtype=np.int32) -> "PackedSequences":
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.fromiter(chain.from_iterable(rows), dtype=dtype, count=int(offsets[-1]))
        return cls(values, offsets)

    @classmethod
    def of(cls, rows) -> "PackedSequences":
        return rows if isinstance(rows, cls) else cls.from_lists(rows)

    @classmethod
    def concatenate(cls, parts: Sequence["PackedSequences"]) -> "PackedSequences":
        starts = np.cumsum([0] + [len(p.values) for p in parts[:-1]])
        offsets = [parts[0].offsets[:1]] + [p.offsets[1:] + start for p, start in zip(parts, starts)]
        return cls(np.concatenate([p.values for p in parts]), np.concatenate(offsets))

    def __len__(self):
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        return self.values[self.offsets[index]:self.offsets[index + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def select(self, indices: Sequence[int]) -> "PackedSequences":
        """The rows at `indices`, in that order, as a new packed array."""
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths[indices]
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # position of each output value in self.values: its row's start, plus its place in the row
        starts = np.repeat(self.offsets[:-1][indices] - offsets[:-1], lengths)
        return type(self)(self.values[starts + np.arange(offsets[-1])], offsets)

    @property
    def nbytes(self) -> int:
        return self.values.nbytes + self.offsets.nbytes


class PackedStrings(PackedSequences):
    """Strings as UTF-8 bytes; row i reads back as a str."""

    @classmethod
    def from_lists(cls, rows: Sequence[str], dtype=np.uint8) -> "PackedStrings":
        encoded = [s.encode("utf-8") for s in rows]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(np.frombuffer(b"".join(encoded), dtype=dtype), offsets)

    def __getitem__(self, index: int) -> str:
        return self.values[self.offsets[index]:self.offsets[index + 1]].tobytes().decode("utf-8")
