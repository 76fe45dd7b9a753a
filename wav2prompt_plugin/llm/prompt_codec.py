"""How an LLM family's tokenizer writes running text: the home of family quirks in prompts.

The LLM reads one running text: ``template.fill(row, transcript)`` (the
template's texts, the speech's transcript and the fields, joined by single
spaces), followed by a space and the target. Its token ids are written
segment by segment exactly as the LLM's tokenizer writes that whole text:

- the special tokens the tokenizer puts before plain text lead (LLaMA's
  ``<s>``; none for BLOOM, GPT-2 and Qwen, whose tokenizers add none);
- the first segment is tokenized as the start of a text; every later one as
  text that follows a space, so that byte-level BPE tokenizers (GPT-2, BLOOM,
  Qwen, LLaMA-3) give its first word its leading-space token (``Ġword``), as
  they do inside the whole text. SentencePiece tokenizers with a dummy prefix
  (LLaMA-2) write both alike;
- a token starts a word where the tokenizer writes a space before it in
  running text (SentencePiece's ``▁`` and byte-level BPE's ``Ġ`` alike).

E_s stands where the transcript's tokens would, and is trained against those
tokens (L_MSE, and CIF's count U) as they are written at that place; the
targets are written as text that follows the prompt. The text topline and the
LLM's own text training use the same functions with the transcript in place
of E_s, so speech and text prompts differ only where E_s stands.

Every rule here asks the tokenizer rather than naming a family, so a new
family needs no branch; tests/test_llm_families.py checks each family the
project supports. The other family differences live with what they concern:
the pad token (llm/dictionary.py), dtype, position limits and the cache
(llm/loading.py, llm/decoder.py), the line-break tokens (modules/newline_stop.py).
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from wav2prompt_plugin.data.templates import PromptTemplate, TemplateError


# "following" segments are tokenized behind this text and a space, then the
# anchor's own tokens are cut off: a tokenizer's pre-tokenizer splits before a
# space-led word, so the segment gets the tokens it has inside running text
ANCHOR = "a"


def leading_special_tokens(tokenizer) -> List[int]:
    """The ids the tokenizer puts before plain text (`tokenizer(text)` with its
    special tokens): what the LLM saw at the start of its training texts."""
    plain = tokenizer(ANCHOR, add_special_tokens=False)["input_ids"]
    full = tokenizer(ANCHOR)["input_ids"]
    start = next((i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain), 0)
    return list(full[:start])


def encode_segments(tokenizer, texts: Sequence[str], at_start: bool = False) -> List[List[int]]:
    """Token ids of text segments as they are written in running text: at its
    start (`at_start`), or after a space. No special tokens; blank texts give []."""
    texts = [t.strip() for t in texts]
    todo = [i for i, t in enumerate(texts) if t]
    out: List[List[int]] = [[] for _ in texts]
    if not todo:
        return out
    if at_start:
        ids = tokenizer([texts[i] for i in todo], add_special_tokens=False)["input_ids"]
        for i, x in zip(todo, ids):
            out[i] = list(x)
        return out
    anchor = tokenizer(ANCHOR, add_special_tokens=False)["input_ids"]
    ids = tokenizer([f"{ANCHOR} {texts[i]}" for i in todo], add_special_tokens=False)["input_ids"]
    for i, x in zip(todo, ids):
        if list(x[:len(anchor)]) != anchor:
            raise TemplateError(
                f"the tokenizer {getattr(tokenizer, 'name_or_path', '')!r} merges {texts[i]!r} with the "
                "text before it; a prompt segment cannot be tokenized on its own"
            )
        out[i] = list(x[len(anchor):])
    return out


def encode_segment(tokenizer, text: str, at_start: bool = False) -> List[int]:
    return encode_segments(tokenizer, [text], at_start)[0]


def encode_prompt_segments(tokenizer, prefix: str, postfix: str,
                           specials: Optional[List[int]] = None) -> Tuple[List[int], List[int]]:
    """Token ids before and after the speech prompt. The prefix starts the text
    (after the tokenizer's leading special tokens); the postfix follows E_s."""
    head = leading_special_tokens(tokenizer) if specials is None else list(specials)
    return head + encode_segment(tokenizer, prefix, at_start=True), encode_segment(tokenizer, postfix)


def speech_at_start(template: PromptTemplate) -> bool:
    """Whether the speech starts the running text (nothing of the template before it)."""
    return not template._prefix.strip()


def encode_speech_texts(tokenizer, template: PromptTemplate, texts: Sequence[str]) -> List[List[int]]:
    """The ids of texts at the template's {speech}: what E_s stands for there."""
    return encode_segments(tokenizer, texts, at_start=speech_at_start(template))


def text_prompt_ids(tokenizer, template: PromptTemplate, row: Mapping[str, str], text: str) -> List[int]:
    """The prompt of the text topline: the transcript's tokens where E_s would stand."""
    prefix, postfix = template.split(row)
    pre, post = encode_prompt_segments(tokenizer, prefix, postfix)
    return pre + encode_speech_texts(tokenizer, template, [text])[0] + post


class WordBoundaries:
    """Which token ids start a word, as the tokenizer writes them in running text (after the anchor
    text that prompt segments are written behind)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.anchor = tokenizer(ANCHOR, add_special_tokens=False)["input_ids"]
        self.special = set(getattr(tokenizer, "all_special_ids", []))
        self._starts: Dict[int, bool] = {}

    def starts_word(self, token_id: int) -> bool:
        if token_id not in self._starts:
            text = self.tokenizer.decode(self.anchor + [token_id], skip_special_tokens=True)
            self._starts[token_id] = token_id in self.special or text[len(ANCHOR):][:1].isspace()
        return self._starts[token_id]

    def words(self, token_ids: Sequence[int], spans: Sequence[Dict[str, float]]) -> List[dict]:
        """Tokens grouped into words: each word's text, start, end and token indices."""
        groups: List[List[int]] = []
        for i, token in enumerate(token_ids):
            if not groups or self.starts_word(token):
                groups.append([])
            groups[-1].append(i)
        out = []
        for group in groups:
            text = self.tokenizer.decode([token_ids[i] for i in group], skip_special_tokens=True).strip()
            out.append({"word": text, "start": spans[group[0]]["start"], "end": spans[group[-1]]["end"],
                        "tokens": group})
        return out
