"""Hugging Face's `repetition_penalty` for fairseq's SequenceGenerator.

fairseq's generator has no repetition penalty (only --no-repeat-ngram-size).
This applies transformers' own `RepetitionPenaltyLogitsProcessor` where
`generate()` applies it for a prompt given as `inputs_embeds`: a speech prompt
has no token ids, so only the tokens generated so far are penalised; greedy
search (beam 1) penalises the logits, beam search the log-probabilities (which
it does not renormalise afterwards).
"""
import torch


class RepetitionPenalty:
    def __init__(self, penalty: float, beam: int):
        from transformers import RepetitionPenaltyLogitsProcessor

        if not penalty > 0:
            raise ValueError(f"--repetition-penalty must be > 0 (1.0: none), got {penalty}")
        self.processor = RepetitionPenaltyLogitsProcessor(float(penalty))
        self.on_log_probs = beam > 1

    def log_probs(self, logits: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        """logits: B x 1 x V (float32), generated: B x N ids -> B x 1 x V log-probabilities."""
        scores = logits[:, -1, :]
        if self.on_log_probs:
            scores = self.processor(generated, torch.log_softmax(scores, -1))
        else:
            scores = torch.log_softmax(self.processor(generated, scores), -1)
        return scores.unsqueeze(1)
