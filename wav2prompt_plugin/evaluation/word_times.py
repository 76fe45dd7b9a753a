"""How far CIF's word times are from known word boundaries.

A test manifest may carry each utterance's true word times in a `word_times` column ("start-end"
in seconds per word of its transcript, space separated; "?" for a time not known). The model's words (analysis/timestamps.py) are
paired with the transcript's by their text, in order (difflib's longest matching blocks: a
misheard word is left out, not paired with its neighbour), and each pair gives an error of its
start and of its end. Over a test set: the median and 90th percentile of their absolute values,
in milliseconds, and the share of reference words (with a known start) that were paired.
"""
import difflib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

COLUMN = "word_times"


def parse_word_times(text: str, transcript: str, where: str = "") -> List[Tuple[str, Optional[float], Optional[float]]]:
    """(word, start, end) per word of the transcript; "?" in the column (None here): not known."""
    words = transcript.split()
    spans = text.split()
    if len(spans) != len(words):
        raise ValueError(f"{where}: {len(spans)} word times for the {len(words)} words of {transcript!r}")
    out = []
    for word, span in zip(words, spans):
        start, sep, end = span.partition("-")
        try:
            out.append((word, *(None if t == "?" else float(t) for t in (start, end))))
        except ValueError:
            raise ValueError(f"{where}: word time {span!r} is not start-end in seconds") from None
        if not sep:
            raise ValueError(f"{where}: word time {span!r} is not start-end in seconds")
    return out


def paired_errors(hyp_words: Sequence[Dict], ref_words: Sequence[Tuple[str, Optional[float], Optional[float]]]):
    """(start errors, end errors) in seconds, one per known time of a reference word the hypothesis
    has in place."""
    hyp_text = [w["word"].lower() for w in hyp_words]
    ref_text = [w.lower() for w, _, _ in ref_words]
    starts, ends = [], []
    for block in difflib.SequenceMatcher(None, hyp_text, ref_text, autojunk=False).get_matching_blocks():
        for i in range(block.size):
            hyp, (_, ref_start, ref_end) = hyp_words[block.a + i], ref_words[block.b + i]
            if ref_start is not None:
                starts.append(hyp["start"] - ref_start)
            if ref_end is not None:
                ends.append(hyp["end"] - ref_end)
    return starts, ends


class WordTimeErrors:
    def __init__(self):
        self.starts: List[float] = []
        self.ends: List[float] = []
        self.reference_words = 0

    def add(self, hyp_words: Sequence[Dict], ref_words: Sequence[Tuple[str, float, float]]):
        starts, ends = paired_errors(hyp_words, ref_words)
        self.starts += starts
        self.ends += ends
        self.reference_words += sum(start is not None for _, start, _ in ref_words)

    def figures(self) -> Dict[str, float]:
        """word_start_err_ms_median / _p90, the same for the end, and word_times_paired (%)."""
        out = {"word_times_paired": 100.0 * len(self.starts) / max(self.reference_words, 1)}
        for name, errors in (("start", self.starts), ("end", self.ends)):
            if errors:
                ms = 1000 * np.abs(np.asarray(errors))
                out[f"word_{name}_err_ms_median"] = float(np.median(ms))
                out[f"word_{name}_err_ms_p90"] = float(np.percentile(ms, 90))
        return out
