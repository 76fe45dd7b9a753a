"""Corpus-level metrics on detokenized text, all as percentages."""
from typing import Sequence

import editdistance
import sacrebleu

from wav2prompt_plugin.scoring.exact_match import normalize_answer


def word_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    errors = sum(editdistance.eval(r.split(), h.split()) for r, h in zip(refs, hyps))
    words = sum(len(r.split()) for r in refs)
    return 100.0 * errors / max(words, 1)


def bleu(refs: Sequence[str], hyps: Sequence[str]) -> float:
    return sacrebleu.corpus_bleu(list(hyps), [list(refs)]).score


def accuracy(refs: Sequence[str], hyps: Sequence[str]) -> float:
    correct = sum(normalize_answer(r) == normalize_answer(h) for r, h in zip(refs, hyps))
    return 100.0 * correct / max(len(refs), 1)


METRICS = {"wer": word_error_rate, "bleu": bleu, "acc": accuracy}
LOWER_IS_BETTER = {"wer"}
