"""The frozen LLM as a fairseq incremental decoder.

Wraps any Hugging Face causal LM loaded from a local directory. Its parameters
never require grad and it stays in eval mode (no dropout) while the speech side
trains, yet gradients flow through it into the prompt embeddings. The decoder
input is ``[Emb(prefix); E_s; Emb(postfix); Emb(target_<u)]``: prompts are left
padded so every utterance's target starts at the same position, which lets
fairseq's SequenceGenerator step all beams together over the LLM's KV cache.
"""
import inspect
import logging
from typing import Dict

import torch
from fairseq.models import FairseqIncrementalDecoder

from wav2prompt_plugin.llm.loading import checkpoint_llm_layers, llm_max_positions
from wav2prompt_plugin.runtime.errors import InputError

logger = logging.getLogger(__name__)


class PromptTooLongError(InputError):
    pass


def exclude_frozen_llm_from_ddp(model: torch.nn.Module):
    """Tell torch DDP to leave every frozen LLM inside `model` alone.

    DDP broadcasts all parameters and buffers from rank 0 when it wraps a model
    (7B LLM weights over the network at start-up) and tracks them for gradient
    reduction; every rank loads the same LLM from --llm-path and it never has a
    gradient. Names are relative to `model`, the module fairseq gives to DDP;
    aliases (tied embeddings) are listed under each of their names.
    """
    from torch.nn.parallel import DistributedDataParallel

    names = [
        f"{prefix}.llm.{name}" if prefix else f"llm.{name}"
        for prefix, module in model.named_modules() if isinstance(module, FrozenLLMDecoder)
        for named in (module.llm.named_parameters, module.llm.named_buffers)
        for name, _ in named(remove_duplicate=False)
    ]
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, names)


class FrozenLLMDecoder(FairseqIncrementalDecoder):
    def __init__(self, dictionary, llm, activation_checkpointing: bool = False):
        super().__init__(dictionary)
        self.llm = llm
        self.llm.requires_grad_(False)
        if activation_checkpointing:
            checkpoint_llm_layers(llm)
        self.embed_dim = llm.get_input_embeddings().embedding_dim
        self.max_llm_positions = llm_max_positions(llm.config)
        self._takes_position_ids = "position_ids" in inspect.signature(llm.forward).parameters
        self.repetition_penalty = None  # a generation setting: Wav2PromptTask.build_generator sets it
        self.newline_stop = None  # likewise (modules/newline_stop.py)
        # the checkpoint holds only what trains: drop the LLM on save, and do
        # not report it missing on load (it comes from --llm-path)
        self._register_state_dict_hook(_drop_llm_weights)
        self.register_load_state_dict_post_hook(_ignore_missing_llm_weights)

    def train(self, mode: bool = True):
        super().train(mode)
        self.llm.eval()
        return self

    @property
    def embed_tokens_count(self) -> int:
        """Rows of the LLM's input embedding table (the dictionary may hold a pad past them)."""
        return self.llm.get_input_embeddings().num_embeddings

    @property
    def llm_dtype(self):
        return self.llm.get_input_embeddings().weight.dtype

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        embedding = self.llm.get_input_embeddings()
        # the dictionary's own pad past the LLM's vocabulary (dictionary.py)
        # stands only where the mask hides it: any row will do there
        tokens = tokens.masked_fill(tokens >= embedding.num_embeddings, 0)
        return embedding(tokens)

    def build_prompt(self, encoder_out: Dict):
        """Left-padded ``[Emb(prefix); E_s; Emb(postfix)]``: B x P x D and its mask."""
        segments = [
            (self.embed_tokens(encoder_out["prompt_prefix_tokens"][0]),
             encoder_out["prompt_prefix_lengths"][0]),
            (encoder_out["speech_prompt"][0].to(self.llm_dtype),
             encoder_out["speech_prompt_lengths"][0]),
            (self.embed_tokens(encoder_out["prompt_postfix_tokens"][0]),
             encoder_out["prompt_postfix_lengths"][0]),
        ]
        bsz = segments[0][0].size(0)
        total = sum(lengths for _, lengths in segments)
        width = int(total.max()) if bsz > 0 else 0
        prompt = segments[0][0].new_zeros(bsz, width, self.embed_dim)
        offset = width - total  # left padding of each row
        rows = torch.arange(bsz, device=prompt.device).unsqueeze(1)
        for values, lengths in segments:
            steps = torch.arange(values.size(1), device=prompt.device).unsqueeze(0)
            valid = steps < lengths.unsqueeze(1)  # B x S
            dest = (offset.unsqueeze(1) + steps)[valid]
            prompt = prompt.index_put((rows.expand_as(valid)[valid], dest), values[valid])
            offset = offset + lengths
        mask = torch.arange(width, device=prompt.device).unsqueeze(0) >= (width - total).unsqueeze(1)
        return prompt, mask.long()

    def _run(self, embeds, mask, positions, cache=None, keep=0):
        kwargs = dict(inputs_embeds=embeds, attention_mask=mask, use_cache=cache is not False)
        if self._takes_position_ids:
            kwargs["position_ids"] = positions
        if cache not in (None, False):
            kwargs["cache"] = cache
        return self.llm(**kwargs, logits_to_keep=keep)

    def _check_length(self, length: int):
        if length > self.max_llm_positions:
            raise PromptTooLongError(
                f"LLM input of {length} positions exceeds the LLM's maximum of "
                f"{self.max_llm_positions} (prompt + target); shorten the template or "
                "the utterance (--max-source-positions)"
            )

    def forward(self, prev_output_tokens, encoder_out=None, incremental_state=None, **unused):
        """prev_output_tokens: B x N, starting with fairseq's bos (eos) which the
        prompt replaces. Returns logits B x N x V predicting target_1..target_N."""
        if incremental_state is not None:
            return self._forward_incremental(prev_output_tokens, encoder_out, incremental_state)
        prompt, mask = self.build_prompt(encoder_out)
        targets = self.embed_tokens(prev_output_tokens[:, 1:])
        embeds = torch.cat([prompt, targets], dim=1)
        mask = torch.cat([mask, mask.new_ones(targets.shape[:2])], dim=1)
        self._check_length(embeds.size(1))
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        out = self._run(embeds, mask, positions, cache=False, keep=prev_output_tokens.size(1))
        # what the LLM ran over, padding included: the compute accounting of the criterion
        return out.logits, {"attn": None, "llm_input_shape": tuple(embeds.shape[:2])}

    def _forward_incremental(self, prev_output_tokens, encoder_out, incremental_state):
        state = self.get_incremental_state(incremental_state, "llm")
        if state is None and _is_beam_copy(encoder_out, prev_output_tokens):
            return self._prefill_once_per_utterance(prev_output_tokens, encoder_out, incremental_state)
        if state is None:
            prompt, mask = self.build_prompt(encoder_out)
            targets = self.embed_tokens(prev_output_tokens[:, 1:])
            embeds = torch.cat([prompt, targets], dim=1)
            mask = torch.cat([mask, mask.new_ones(targets.shape[:2])], dim=1)
            positions = (mask.cumsum(1) - 1).clamp(min=0)
            cache = None
        else:
            embeds = self.embed_tokens(prev_output_tokens[:, -1:])
            mask = torch.cat([state["mask"], state["mask"].new_ones(embeds.size(0), 1)], dim=1)
            positions = state["positions"][:, -1:] + 1
            cache = state["cache"]
            if mask.size(1) > self.max_llm_positions:
                # the prompt fitted and the hypotheses filled the LLM's context: end them
                # (left padding gives every row the same length, so all end here)
                logits = embeds.new_full((embeds.size(0), 1, len(self.dictionary)), float("-inf"))
                logits[:, :, self.dictionary.eos()] = 0.0
                return logits, {"attn": None}
        self._check_length(mask.size(1))
        out = self._run(embeds, mask, positions, cache=cache, keep=1)
        self.set_incremental_state(
            incremental_state, "llm", {"cache": out.cache, "mask": mask, "positions": positions}
        )
        # fairseq's bos (eos) leads; what follows is what the generator produced
        return out.logits, {"attn": None, "generated_tokens": prev_output_tokens[:, 1:]}

    def _prefill_once_per_utterance(self, prev_output_tokens, encoder_out, incremental_state):
        """The prompt of each utterance through the LLM once, then its KV cache
        copied to the utterance's beams (rows of one utterance are identical
        until the first token is chosen)."""
        rows = encoder_out["utterance_rows"][0]
        _, copy_of = torch.unique(rows, return_inverse=True)  # row -> its utterance
        first = torch.full((int(copy_of.max()) + 1,), rows.numel(), device=rows.device)
        first = first.scatter_reduce(0, copy_of, torch.arange(rows.numel(), device=rows.device), "amin")
        unique_out = {k: [v[0].index_select(0, first)] for k, v in encoder_out.items()}
        logits, extra = self._forward_incremental(
            prev_output_tokens.index_select(0, first), unique_out, incremental_state
        )
        self.reorder_incremental_state(incremental_state, copy_of)
        extra["generated_tokens"] = prev_output_tokens[:, 1:]
        return logits.index_select(0, copy_of), extra

    def reorder_incremental_state(self, incremental_state, new_order):
        state = self.get_incremental_state(incremental_state, "llm")
        if state is None:
            return
        state["cache"].reorder_cache(new_order)
        state["mask"] = state["mask"].index_select(0, new_order)
        state["positions"] = state["positions"].index_select(0, new_order)
        self.set_incremental_state(incremental_state, "llm", state)

    def get_normalized_probs(self, net_output, log_probs, sample=None):
        logits = net_output[0].float()
        if logits.size(-1) < len(self.dictionary):  # the dictionary's pad past the LLM's vocabulary
            logits = torch.nn.functional.pad(logits, (0, len(self.dictionary) - logits.size(-1)),
                                             value=float("-inf"))
        generated = (net_output[1] or {}).get("generated_tokens") if len(net_output) > 1 else None
        if generated is None or (self.repetition_penalty is None and self.newline_stop is None):
            return torch.log_softmax(logits, -1) if log_probs else torch.softmax(logits, -1)
        if self.repetition_penalty is not None:
            lprobs = self.repetition_penalty.log_probs(logits, generated)
        else:
            lprobs = torch.log_softmax(logits, -1)
        if self.newline_stop is not None:  # after the penalty: a forced eos stays forced
            lprobs = self.newline_stop.log_probs(lprobs, generated)
        return lprobs if log_probs else lprobs.exp()

    def max_positions(self):
        return self.max_llm_positions


def _is_beam_copy(encoder_out, prev_output_tokens) -> bool:
    """First step over rows of which some repeat an utterance (beam search)."""
    rows = encoder_out.get("utterance_rows") if encoder_out else None
    if rows is None or prev_output_tokens.size(1) != 1:
        return False
    return bool(torch.unique(rows[0]).numel() < rows[0].numel())


def _drop_llm_weights(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + "llm.")]:
        del state_dict[key]


def _ignore_missing_llm_weights(module, incompatible_keys):
    missing = incompatible_keys.missing_keys
    missing[:] = [k for k in missing if ".llm." not in k and not k.startswith("llm.")]
