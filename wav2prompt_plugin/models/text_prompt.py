"""Text in place of speech: the text topline and the ASR-LLM cascade.

`TextPromptModel` feeds the LLM's own embeddings of a text (the reference
transcript, or an ASR hypothesis) where Wav2Prompt puts E_s, through the very
same frozen-LLM decoder, prompt assembly and fairseq SequenceGenerator, so the
systems differ only in what stands at {speech}.
"""
import torch
from fairseq.models import FairseqEncoder, FairseqEncoderDecoderModel


class PromptEncoder(FairseqEncoder):
    """Base of the encoders whose output is a prompt for the frozen LLM."""

    PROMPT_KEYS = ("prompt_prefix_tokens", "prompt_prefix_lengths", "prompt_postfix_tokens",
                   "prompt_postfix_lengths")

    def prompt_out(self, speech_prompt, lengths, prompt, **extra):
        out = {"speech_prompt": [speech_prompt], "speech_prompt_lengths": [lengths]}
        # which utterance each row is: after beam expansion the decoder fills
        # the KV cache once per utterance, not once per beam
        out["utterance_rows"] = [torch.arange(lengths.size(0), device=lengths.device)]
        out.update({k: [v] for k, v in extra.items()})
        out.update({k: [prompt[k]] for k in self.PROMPT_KEYS})
        return out

    def reorder_encoder_out(self, encoder_out, new_order):
        return {k: [t.index_select(0, new_order) for t in v] for k, v in encoder_out.items()}


class TextPromptEncoder(PromptEncoder):
    def __init__(self, decoder):
        super().__init__(None)
        self.embed_tokens = decoder.embed_tokens  # the LLM's own, nothing trained

    def forward(self, src_tokens, src_lengths, **prompt):
        """src_tokens: B x L text token ids (right padded)."""
        mask = src_tokens.new_ones(src_tokens.shape).cumsum(1) <= src_lengths.unsqueeze(1)
        embeds = self.embed_tokens(src_tokens) * mask.unsqueeze(-1)
        return self.prompt_out(embeds, src_lengths, prompt)


class TextPromptModel(FairseqEncoderDecoderModel):
    @classmethod
    def from_decoder(cls, decoder):
        return cls(TextPromptEncoder(decoder), decoder)

    def max_positions(self):
        return None
