"""Prompt templates: text around the speech prompt, with fields from the manifest.

A template such as ``"Translate into French: {speech} French:"`` has exactly one
``{speech}`` placeholder; other ``{name}`` fields are filled from the manifest
row (e.g. a text ``{context}`` for spoken QA). Literal braces are written
``{{`` and ``}}``, as in ``str.format``.

How a template's texts become the LLM's token ids, family by family, is
llm/prompt_codec.py.
"""
import string
from typing import Iterable, Mapping, Tuple

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
