"""How close a speech prompt E_s is to the LLM's embeddings of the transcript.

The paper's argument is that L_MSE keeps E_s in the LLM's text-embedding space;
these figures measure it on a test set, per utterance and summed:

- normalised MSE: sum ||E_s[u] - Emb(y_u)||^2 / sum ||Emb(y_u)||^2, the
  criterion's "normalized" L_MSE (both sums over the utterance's positions);
- cosine: the mean cosine of E_s[u] and Emb(y_u);
- nearest-token accuracy: the share of E_s vectors whose nearest input
  embedding (cosine) is the transcript's token at that position.

The three need a position-by-position pairing, so they count utterances whose
fired count equals U. Over every utterance, the nearest tokens are aligned to
the transcript by edit distance: 1 - edits / U, summed over utterances (below 0
where E_s has many more vectors than U).
"""
from typing import Dict, List, Sequence

import editdistance
import torch
import torch.nn.functional as F


class PromptDistance:
    """Sums over a test set; `figures()` turns them into percentages and means."""

    def __init__(self, embeddings: torch.Tensor):
        """embeddings: V x D, the LLM's input embedding table."""
        self.table = embeddings.detach().float().cpu()
        self.unit_table = F.normalize(self.table, dim=-1)
        self.squared_error = self.squared_norm = self.cosine = 0.0
        self.nearest_right = self.paired_vectors = self.paired_utterances = 0
        self.aligned_edits = self.aligned_tokens = self.utterances = 0
        self.nearest_tokens: List[List[int]] = []

    def add(self, speech_prompt: torch.Tensor, transcript: Sequence[int]):
        """speech_prompt: U' x D, the fired vectors of one utterance; transcript: its U token ids."""
        prompt = speech_prompt.detach().float().cpu()
        nearest = (F.normalize(prompt, dim=-1) @ self.unit_table.T).argmax(-1).tolist()
        self.nearest_tokens.append(nearest)
        self.utterances += 1
        self.aligned_edits += editdistance.eval(nearest, list(transcript))
        self.aligned_tokens += len(transcript)
        if len(nearest) != len(transcript) or not transcript:
            return
        text = self.table[torch.tensor(list(transcript), dtype=torch.long)]
        self.squared_error += float((prompt - text).pow(2).sum())
        self.squared_norm += float(text.pow(2).sum())
        self.cosine += float(F.cosine_similarity(prompt, text, dim=-1).sum())
        self.nearest_right += sum(n == t for n, t in zip(nearest, transcript))
        self.paired_vectors += len(transcript)
        self.paired_utterances += 1

    def figures(self) -> Dict[str, float]:
        if not self.utterances:
            return {}
        out = {"prompt_token_acc_aligned": 100.0 * (1 - self.aligned_edits / max(self.aligned_tokens, 1))}
        if self.paired_vectors:
            out.update(
                prompt_nmse=self.squared_error / max(self.squared_norm, 1e-12),
                prompt_cosine=self.cosine / self.paired_vectors,
                prompt_token_acc=100.0 * self.nearest_right / self.paired_vectors,
            )
        return out
