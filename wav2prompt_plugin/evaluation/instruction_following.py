"""Does a system do the task it is asked, or fall back to its training task?

The paper's "task over-fitting": an Encoder-LLM trained on ASR keeps
transcribing when the prompt asks for a translation. Two rates per task:

- follows: the output is of the asked kind — for a translation task (metric
  bleu; its target column names the language), the output's language is the
  target one; for any other task (intent, QA), the output is one of the
  answers seen in training.
- transcript leak: the output is closer, in word edit distance, to the English
  transcript than to the reference.

A refusal (`wav2prompt-eval --min-confidence`) is neither.

The language check counts words that occur in one language's training text
only (English: the transcripts): it needs nothing but the training manifest,
and it knows the data's own names, which a general language-ID model would
not. Outputs with no such word, or a tie, count as not following.
"""
from collections import Counter
from typing import Dict, List, Mapping, Optional, Sequence

import editdistance

from wav2prompt_plugin.analysis.confidence import REFUSAL
from wav2prompt_plugin.scoring.exact_match import normalize_answer


class LanguageIdentifier:
    def __init__(self, texts_by_language: Mapping[str, Sequence[str]]):
        vocab = {lang: {w for t in texts for w in t.lower().split()} for lang, texts in texts_by_language.items()}
        owners = Counter(w for words in vocab.values() for w in words)
        self.words = {lang: {w for w in words if owners[w] == 1} for lang, words in vocab.items()}
        empty = [lang for lang, words in self.words.items() if not words]
        if empty:
            raise ValueError(f"no word belongs to language {empty[0]!r} alone; cannot tell languages apart")

    def identify(self, text: str) -> Optional[str]:
        """The language with most words of its own in `text`; None for no such word or a tie."""
        words = text.lower().split()
        counts = Counter({lang: sum(w in own for w in words) for lang, own in self.words.items()})
        ranked = counts.most_common(2)
        if not ranked or ranked[0][1] == 0 or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
            return None
        return ranked[0][0]


def transcript_leak(hyp: str, transcript: str, ref: str) -> bool:
    words = hyp.split()
    return editdistance.eval(words, transcript.split()) < editdistance.eval(words, ref.split())


class InstructionFollowing:
    """Rates for the tasks of a tasks file, from the training manifest's rows."""

    def __init__(self, train_rows: List[Dict[str, str]], tasks: Dict[str, dict], transcript_column: str):
        self.transcript_column = transcript_column
        targets = {t["target"] for t in tasks.values() if t["metric"] == "bleu" and t["target"] != transcript_column}
        self.languages = sorted(lang for lang in targets if train_rows and lang in train_rows[0])
        self.language_id = LanguageIdentifier(
            {"en": [r[transcript_column] for r in train_rows],
             **{lang: [r[lang] for r in train_rows] for lang in self.languages}}
        )
        self.answers = {
            name: {normalize_answer(r[task["target"]]) for r in train_rows if r.get(task["target"], "").strip()}
            for name, task in tasks.items() if task["target"] not in self.languages
        }

    def applies_to(self, task: dict) -> bool:
        """Every task but transcription itself."""
        return task["target"] != self.transcript_column

    def follows(self, name: str, task: dict, hyp: str) -> bool:
        if hyp == REFUSAL:
            return False
        if task["target"] in self.languages:
            return self.language_id.identify(hyp) == task["target"]
        return normalize_answer(hyp) in self.answers[name]

    def rates(self, name: str, task: dict, rows, hyps: Sequence[str]) -> Dict[str, float]:
        refs = [r[task["target"]] for r in rows]
        follows = sum(self.follows(name, task, h) for h in hyps)
        leaks = sum(h != REFUSAL and transcript_leak(h, r[self.transcript_column], ref)
                    for h, r, ref in zip(hyps, rows, refs))
        n = max(len(hyps), 1)
        return {"follows": 100.0 * follows / n, "transcript_leak": 100.0 * leaks / n}
