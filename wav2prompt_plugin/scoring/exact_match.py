"""`--scoring exact_match`: share of hypotheses equal to the reference (intent, QA)."""
from dataclasses import dataclass, field

from fairseq.dataclass import FairseqDataclass
from fairseq.scoring import BaseScorer, register_scorer


def normalize_answer(text: str, lowercase: bool = True) -> str:
    text = " ".join(text.split())
    return text.lower() if lowercase else text


@dataclass
class ExactMatchConfig(FairseqDataclass):
    exact_match_case_sensitive: bool = field(
        default=False, metadata={"help": "compare case-sensitively"}
    )


@register_scorer("exact_match", dataclass=ExactMatchConfig)
class ExactMatchScorer(BaseScorer):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.lowercase = not cfg.exact_match_case_sensitive
        self.correct = 0

    def add_string(self, ref: str, pred: str):
        self.ref.append(ref)
        self.pred.append(pred)
        self.correct += normalize_answer(ref, self.lowercase) == normalize_answer(pred, self.lowercase)

    def score(self) -> float:
        return 100.0 * self.correct / len(self.ref) if self.ref else 0.0

    def result_string(self) -> str:
        return f"Exact match: {self.score():.2f} ({self.correct}/{len(self.ref)})"
