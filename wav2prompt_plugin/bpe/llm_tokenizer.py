"""`--bpe llm_tokenizer`: detokenize LLM token pieces for fairseq-generate.

fairseq-generate prints `tgt_dict.string(ids)` (space-separated pieces) through
`bpe.decode`; this maps the pieces back to ids and lets the LLM's own tokenizer
turn them into text, so printed hypotheses are plain text for any tokenizer
(SentencePiece, byte-level BPE).
"""
from dataclasses import dataclass, field

from fairseq.data.encoders import register_bpe
from fairseq.dataclass import FairseqDataclass

from wav2prompt_plugin.llm.dictionary import LLMDictionary
from wav2prompt_plugin.llm.loading import load_llm_tokenizer
from wav2prompt_plugin.modules.newline_stop import NewlineStop


@dataclass
class LLMTokenizerConfig(FairseqDataclass):
    llm_tokenizer_path: str = field(
        default="", metadata={"help": "LLM directory whose tokenizer detokenizes output"}
    )


@register_bpe("llm_tokenizer", dataclass=LLMTokenizerConfig)
class LLMTokenizerBPE:
    def __init__(self, cfg=None, tokenizer=None, dictionary=None, stop_at_newline=False):
        if tokenizer is None:
            tokenizer = load_llm_tokenizer(cfg.llm_tokenizer_path)
        self.tokenizer = tokenizer
        self.dictionary = dictionary or LLMDictionary(tokenizer, len(tokenizer))
        self.stop_at_newline = stop_at_newline  # the task's --stop-at-newline

    def encode(self, x: str) -> str:
        ids = self.tokenizer(x, add_special_tokens=False)["input_ids"]
        return self.dictionary.string(ids)

    def decode(self, x: str) -> str:
        ids = self.dictionary.pieces_to_ids(x)
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return (NewlineStop.cut(text) if self.stop_at_newline else text).strip()

    def is_beginning_of_word(self, x: str) -> bool:
        return x.startswith("\u2581") or x.startswith("\u0120")
