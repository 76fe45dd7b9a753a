"""Prompt templates: text around the speech prompt, with fields from the manifest.

A template such as ``"Translate into French: {speech} French:"`` has exactly one
``{speech}`` placeholder; other ``{name}`` fields are filled from the manifest
row (e.g. a text ``{context}`` for spoken QA). Literal braces are written
``{{`` and ``}}``, as in ``str.format``.

The LLM input is ``[bos] + enc(prefix) + E_s + enc(postfix)`` where each text
segment is tokenized on its own (`encode_segment`). The text topline and the
LLM's own text training use the same function with the transcript in place of
E_s, so speech and text prompts differ only where E_s stands.
"""
import string
from typing import Iterable, List, Mapping, Optional, Tuple

from wav2prompt_plugin.errors import InputError

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


def encode_segment(tokenizer, text: str) -> List[int]:
    """Token ids of one text segment, without special tokens."""
    text = text.strip()
    if not text:
        return []
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_prompt_segments(
    tokenizer, bos: Optional[int], prefix: str, postfix: str
) -> Tuple[List[int], List[int]]:
    """Token ids before and after the speech prompt (bos leads, when the LLM has one)."""
    head = [bos] if bos is not None else []
    return head + encode_segment(tokenizer, prefix), encode_segment(tokenizer, postfix)


def text_prompt_ids(
    tokenizer, bos: Optional[int], template: PromptTemplate, row: Mapping[str, str], text: str
) -> List[int]:
    """The prompt of the text topline: the transcript's tokens where E_s would stand."""
    prefix, postfix = template.split(row)
    pre, post = encode_prompt_segments(tokenizer, bos, prefix, postfix)
    return pre + encode_segment(tokenizer, text) + post

