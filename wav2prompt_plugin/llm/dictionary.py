"""A fairseq Dictionary aligned one-to-one with an LLM's vocabulary.

fairseq index i is LLM token id i, so target tensors go straight into the
LLM's embedding and its logits straight into fairseq's SequenceGenerator. The
specials are the LLM's own: eos and unk as its tokenizer defines them; pad is
its pad token, or its unk token when it has no pad distinct from eos (LLaMA-2),
or one index past the LLM's vocabulary when it has neither (GPT-2, Qwen,
LLaMA-3), because fairseq must never treat eos, or any token of text, as
padding. Prompts start with what the tokenizer itself puts before text
(data/templates.py), not with whatever bos the tokenizer defines.
"""
import logging

from fairseq.data import Dictionary

from wav2prompt_plugin.llm.loading import LLMPathError

logger = logging.getLogger(__name__)


class LLMDictionary(Dictionary):
    def __init__(self, tokenizer, vocab_size: int):
        super().__init__(add_special_symbols=False)
        vocab_size = max(vocab_size, len(tokenizer))
        pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        for idx in range(vocab_size):
            piece = pieces[idx] if idx < len(pieces) else None
            # fairseq joins symbols with spaces; a piece holding whitespace (or
            # a repeated or missing one) gets a unique placeholder instead
            if not piece or any(c.isspace() for c in piece) or piece in self.indices:
                piece = f"<llm_token_{idx}>"
            self.indices[piece] = idx
            self.symbols.append(piece)
            self.count.append(1)

        self.eos_index = _require(tokenizer.eos_token_id, "eos", tokenizer)
        self.unk_index = tokenizer.unk_token_id
        # fairseq pads targets and prompts with pad, ignores it in the loss and
        # never generates it: it must be no token of text. The tokenizer's pad
        # where it is not eos; else its unk (LLaMA-2: never in text, since its
        # pieces cover every byte); else an index past the LLM's vocabulary
        # (GPT-2, Qwen, LLaMA-3), which FrozenLLMDecoder never embeds and
        # scores -inf
        pad = tokenizer.pad_token_id
        if pad is None or pad == self.eos_index:
            pad = self.unk_index
        if pad is None or pad == self.eos_index:
            pad = self.add_symbol("<wav2prompt_pad>")
        self.pad_index = pad
        self.llm_vocab_size = vocab_size  # indices from here on are the plugin's own
        if self.unk_index is None or self.unk_index == self.eos_index:
            self.unk_index = pad
        self.bos_index = self.eos_index  # fairseq's first decoder input, which the prompt replaces
        self.bos_word, self.pad_word = self.symbols[self.bos_index], self.symbols[pad]
        self.eos_word, self.unk_word = self.symbols[self.eos_index], self.symbols[self.unk_index]
        self.nspecial = 0

    def pieces_to_ids(self, text: str):
        """Inverse of `string()`: space-separated pieces back to token ids."""
        return [self.indices.get(p, self.unk_index) for p in text.split()]


def _require(value, name, tokenizer):
    if value is None:
        raise LLMPathError(f"the tokenizer of {tokenizer.name_or_path!r} has no {name} token")
    return value
