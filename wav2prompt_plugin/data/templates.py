"""Prompt templates: text around the speech prompt, with fields from the manifest.

A template such as ``"Translate into French: {speech} French:"`` has exactly one
``{speech}`` placeholder; other ``{name}`` fields are filled from the manifest
row (e.g. a text ``{context}`` for spoken QA). Literal braces are written
``{{`` and ``}}``, as in ``str.format``.

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
  (LLaMA-2) write both alike.

E_s stands where the transcript's tokens would, and is trained against those
tokens (L_MSE, and CIF's count U) as they are written at that place; the
targets are written as text that follows the prompt. The text topline and the
LLM's own text training use the same functions with the transcript in place
of E_s, so speech and text prompts differ only where E_s stands.
"""
import string
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple

from wav2prompt_plugin.runtime.errors import InputError

SPEECH_FIELD = "speech"


class TemplateError(InputError):
    pass


class PromptTemplate:
    def __init__(self, text: str):
        self.text = text
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as e:
            raise TemplateError(f"prompt template {text!r} is malformed: {e}") from None
        names = [name for _, name, _, _ in parsed if name is not None]
        if any(name == "" or not name.isidentifier() for name in names):
            raise TemplateError(
                f"prompt template {text!r} has an empty or positional field; "
                "use named fields such as {speech} or {context}"
            )
        if names.count(SPEECH_FIELD) != 1:
            raise TemplateError(
                f"prompt template {text!r} must contain exactly one {{{SPEECH_FIELD}}} "
                f"placeholder (found {names.count(SPEECH_FIELD)})"
            )
        self.fields = sorted({n for n in names if n != SPEECH_FIELD})
        # the template's own texts, between and around its fields
        self.words = [text.strip() for text, *_ in parsed if text.strip()]
        self._prefix, self._postfix = text.split("{" + SPEECH_FIELD + "}")

    def check_columns(self, columns: Iterable[str], source: str) -> None:
        missing = [f for f in self.fields if f not in set(columns)]
        if missing:
            raise TemplateError(
                f"prompt template {self.text!r} uses field {{{missing[0]}}}, "
                f"but {source} has no column {missing[0]!r} "
                f"(columns: {', '.join(sorted(columns))})"
            )

    def split(self, row: Mapping[str, str]) -> Tuple[str, str]:
        """The (prefix, postfix) texts around the speech prompt for one row."""
        values = {f: row[f] for f in self.fields}
        return self._prefix.format_map(values), self._postfix.format_map(values)

    def fill(self, row: Mapping[str, str], speech_text: str) -> str:
        """The whole prompt as text, with `speech_text` in place of the speech."""
        prefix, postfix = self.split(row)
        return " ".join(s for s in (prefix.strip(), speech_text.strip(), postfix.strip()) if s)

    def __repr__(self):
        return f"PromptTemplate({self.text!r})"


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
