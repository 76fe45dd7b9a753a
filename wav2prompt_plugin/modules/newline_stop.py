"""`--stop-at-newline`: end each hypothesis at its first line break, during generation.

A base LLM (LLaMA-2-7B base) does not end a one-line answer with eos: it writes a
line break and goes on ("French: ...\\nEnglish: ..."). fairseq's SequenceGenerator
ends a hypothesis only at eos, so after a token whose text holds a line break the
only next token allowed is eos (log-prob 0, every other token -inf): greedy and beam
search alike stop there instead of spending steps, and beam scores, on what follows.

Line-break tokens are found through the tokenizer, each id decoded alone, never
listed by hand: "\\n" is LLaMA-2's byte token <0x0A>, and byte-level BPE with
LLaMA-3's or Qwen's pre-tokenizer split merges punctuation with a following break
into one token (".\\n"). What such a token holds before the break belongs to the
answer: `cut` keeps it and drops the rest of the text from the first break on.
"""
import logging

import torch

logger = logging.getLogger(__name__)


class NewlineStop:
    def __init__(self, tokenizer, eos: int):
        texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=True)
        self.line_break_ids = torch.tensor([i for i, text in enumerate(texts) if "\n" in text], dtype=torch.long)
        self.eos = eos
        if self.line_break_ids.numel() == 0:
            logger.warning(f"--stop-at-newline: no token of {tokenizer.name_or_path!r} decodes to a line break; "
                           "hypotheses end at eos as without it")

    def log_probs(self, lprobs: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        """lprobs: B x 1 x V, generated: B x N ids so far -> lprobs, with eos forced
        in each row whose last generated token holds a line break."""
        if generated.size(1) == 0:
            return lprobs
        ended = torch.isin(generated[:, -1], self.line_break_ids.to(generated.device))  # B
        forced = torch.full_like(lprobs, float("-inf"))
        forced[..., self.eos] = 0.0
        return torch.where(ended.view(-1, 1, 1), forced, lprobs)

    @staticmethod
    def cut(text: str) -> str:
        return text.split("\n", 1)[0]
