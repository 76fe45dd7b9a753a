"""A vLLM server as the frozen LLM: the plugin computes each prompt's embeddings, vLLM continues them.

    python -m vllm.entrypoints.openai.api_server --model /models/llama-2-7b --enable-prompt-embeds \\
        --dtype bfloat16 --tensor-parallel-size 2 --host 127.0.0.1 --port 8000

Each prompt ([Emb(prefix); E_s; Emb(postfix)] for Wav2Prompt, the embedded text for the text systems)
goes to the server's Completions endpoint as `prompt_embeds`, the base64 of `torch.save` of its L x H
tensor (vLLM's format), one request per prompt, several at once (the server batches them). What comes
back are token ids, which the caller writes as text with its own tokenizer, as the built-in decoder does.

Decoding is fairseq's greedy search restated in vLLM's sampling parameters, so that both give the same
tokens and scores: temperature 0; at least one token (fairseq forbids eos at the first step); the
dictionary's pad never generated (a logit bias of -100: for LLaMA-2 pad is unk); the line-break tokens
as stop tokens under stop_at_newline; eos's log-probability at every step, so that the caller scores
the eos fairseq forces after max_len_b tokens (it asks for one token more). vLLM cannot honour
beam search with embedding prompts (it answers 501), and its repetition penalty reads stale token ids
of another request for them: both are refused here, not sent.

Before a model decodes through a server, `check_llm` asks the server what it serves: its tokenizer
must write a probe text as the checkpoint's LLM does, and where the served path
is readable here, the fingerprint of its embeddings must be the checkpoint's.
"""
import base64
import io
import json
import logging
import os
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

import torch

from wav2prompt_plugin.runtime.errors import InputError

logger = logging.getLogger(__name__)
# a text whose tokens differ between any two tokenizers the plugin supports: cased, spaced, digits, accents
PROBE = "Translate into French: the 3 big cats sleep. Le café est déjà prêt\n"


class VLLMError(InputError):
    """The server cannot be reached, answers an error, or serves another LLM."""


class VLLMUnavailable(VLLMError):
    """The server is down or did not answer in time (the service answers 503/504)."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


def refuse_unsupported(beam: int, repetition_penalty: float):
    """The decoding options vLLM cannot honour for embedding prompts, refused in one line."""
    if beam != 1:
        raise VLLMError(f"--beam {beam}: vLLM refuses beam search for embedding prompts (HTTP 501); "
                        "the vLLM backend decodes greedily (--beam 1)")
    if repetition_penalty != 1.0:
        raise VLLMError(f"--repetition-penalty {repetition_penalty}: vLLM's penalty reads stale token ids "
                        "for embedding prompts; the vLLM backend decodes without one (--repetition-penalty 1.0)")


def encode_embeds(embeds: torch.Tensor) -> str:
    """vLLM's `prompt_embeds`: base64 of torch.save of an L x H tensor."""
    buffer = io.BytesIO()
    torch.save(embeds.detach().cpu().contiguous(), buffer)
    return base64.b64encode(buffer.getvalue()).decode()


class VLLMBackend:
    """An OpenAI-style vLLM server at `url` (http://host:port), started with --enable-prompt-embeds."""

    def __init__(self, url: str, timeout: float = 300.0, concurrency: int = 16):
        self.url = url.rstrip("/")
        if self.url.endswith("/v1"):
            self.url = self.url[:-3]
        self.timeout, self.concurrency = timeout, concurrency
        self._model = None

    def _request(self, path: str, body: Optional[dict] = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("error", {}).get("message", detail)
            except (ValueError, AttributeError):
                pass
            raise VLLMError(f"the vLLM server at {self.url} answered {e.code} to {path}: {detail}") from None
        except (socket.timeout, TimeoutError):
            raise VLLMUnavailable(f"the vLLM server at {self.url} did not answer {path} within "
                                  f"{self.timeout:g} s", timed_out=True) from None
        except (urllib.error.URLError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise VLLMUnavailable(f"the vLLM server at {self.url} did not answer {path} within "
                                      f"{self.timeout:g} s", timed_out=True) from None
            raise VLLMUnavailable(f"cannot reach the vLLM server at {self.url} ({reason})") from None

    def served_model(self) -> dict:
        """The served model's entry of /v1/models: id, root (its path), max_model_len."""
        if self._model is None:
            models = self._request("/v1/models").get("data") or []
            if len(models) != 1:
                raise VLLMError(f"the vLLM server at {self.url} serves {len(models)} models; "
                                "the backend needs one")
            self._model = models[0]
        return self._model

    def check_llm(self, tokenizer, fingerprint: str, llm_path: str):
        """Refuse a server whose LLM is not the one the model was trained against."""
        model = self.served_model()
        served = model.get("root") or model["id"]
        expected = tokenizer(PROBE)["input_ids"]
        got = self._request("/tokenize", {"model": model["id"], "prompt": PROBE, "add_special_tokens": True})
        if list(got.get("tokens", [])) != list(expected):
            raise VLLMError(f"the vLLM server at {self.url} serves {served!r}, whose tokenizer is not that of "
                            f"the checkpoint's LLM {llm_path!r}: serve the checkpoint's LLM")
        if os.path.isfile(os.path.join(served, "config.json")):
            from wav2prompt_plugin.llm.embeddings_only import load_llm_embeddings
            from wav2prompt_plugin.llm.loading import llm_fingerprint

            theirs = llm_fingerprint(load_llm_embeddings(served))
            if theirs != fingerprint:
                raise VLLMError(f"the vLLM server at {self.url} serves {served!r} ({theirs}), not the "
                                f"checkpoint's LLM {llm_path!r} ({fingerprint})")
        else:
            logger.warning(f"the vLLM server's model path {served!r} is not readable here: its tokenizer "
                           "matches the checkpoint's LLM, its weights are not checked")

    def complete(self, prompts: Sequence[torch.Tensor], max_tokens: int, eos: int, pad: Optional[int] = None,
                 stop_token_ids: Sequence[int] = ()) -> List[Tuple[List[int], List[float], List[float]]]:
        """Greedy continuations of each L x H prompt: per prompt the token ids (with the eos or stop token
        that ended them), each one's log-probability under the LLM, and that of eos at each step."""
        body = {"model": self.served_model()["id"], "max_tokens": max_tokens, "min_tokens": 1,
                "temperature": 0.0, "return_token_ids": True, "skip_special_tokens": False,
                "logprobs": 1, "logprob_token_ids": [eos], "return_tokens_as_token_ids": True}
        if pad is not None:
            body["logit_bias"] = {str(pad): -100}
        if stop_token_ids:
            body["stop_token_ids"] = list(stop_token_ids)

        def one(embeds):
            choice = self._request("/v1/completions", {**body, "prompt_embeds": encode_embeds(embeds)})["choices"][0]
            logprobs = choice["logprobs"]
            return (list(choice["token_ids"]), list(logprobs["token_logprobs"]),
                    [step[f"token_id:{eos}"] for step in logprobs["top_logprobs"]])

        if not prompts:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            return list(pool.map(one, prompts))
