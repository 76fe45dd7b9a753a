"""An OpenAI-style service around one `Wav2PromptInference` (`wav2prompt-serve`).

    POST /v1/audio/transcriptions   multipart `file` (and OpenAI's `model`, `response_format`: json | text):
                                    what the model heard, under its own transcription template
    POST /v1/chat/completions       the last user message's content parts: text parts and one
                                    {"type": "input_audio", "input_audio": {"data": <base64>, "format": "wav"}};
                                    the text before and after the audio is the template ({speech} at the
                                    audio), E_s stands for the audio; earlier system messages lead the template
    GET  /v1/models                 the one model served

Bodies are OpenAI's, so its official client calls both. Bad input gets a 4xx with one line in OpenAI's
error object ({"error": {"message", "type", "param"}}) and the server goes on serving; a vLLM backend
that is down answers 503 and one too slow 504, saying so. With a vLLM backend the requests overlap
there (the server batches them); only the speech encoder's part runs one at a time here (a lock).
"""
import base64
import binascii
import os
import tempfile
import threading
import time
import uuid
from typing import Dict, Optional, Tuple

from wav2prompt_plugin.app.demo_app import check_audio
from wav2prompt_plugin.runtime.errors import InputError

AUDIO_FORMATS = {"wav", "flac", "ogg", "mp3"}


class RequestError(InputError):
    """What is wrong with a request, and the field at fault (OpenAI's `param`)."""

    def __init__(self, message: str, param: Optional[str] = None, status: int = 400):
        super().__init__(message)
        self.param, self.status = param, status


def chat_template(messages, default_template: str) -> Tuple[str, str, str]:
    """(template, audio base64, audio format) of a chat request: the last user message's parts around its
    one audio part, after the text of the system messages before it."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: a non-empty list is required", "messages")
    users = [i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise RequestError("messages: no user message", "messages")
    message = messages[users[-1]]
    content = message.get("content")
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
    if not isinstance(parts, list):
        raise RequestError("messages: a user message's content is a string or a list of parts", "messages")
    audio = [p for p in parts if isinstance(p, dict) and p.get("type") == "input_audio"]
    if len(audio) != 1:
        raise RequestError(f"messages: the user message holds {len(audio)} input_audio parts; "
                           "this model answers one audio at a time", "messages")
    before, after, seen = [], [], False
    for part in parts:
        if not isinstance(part, dict) or part.get("type") not in ("text", "input_audio"):
            raise RequestError("messages: content parts are text or input_audio", "messages")
        if part["type"] == "input_audio":
            seen = True
        elif not isinstance(part.get("text"), str):
            raise RequestError("messages: a text part has no text", "messages")
        else:
            (after if seen else before).append(part["text"].strip())
    system = [m["content"].strip() for m in messages[:users[-1]]
              if isinstance(m, dict) and m.get("role") == "system" and isinstance(m.get("content"), str)]
    before, after = [t for t in system + before if t], [t for t in after if t]
    if not before and not after:
        if not default_template:
            raise RequestError("messages: the user message holds audio only, and this server has no "
                               "--default-template to ask it with", "messages")
        template = default_template
    else:
        escape = lambda text: text.replace("{", "{{").replace("}", "}}")  # noqa: E731
        template = " ".join([escape(t) for t in before] + ["{speech}"] + [escape(t) for t in after])
    spec = audio[0].get("input_audio") or {}
    data, fmt = spec.get("data"), (spec.get("format") or "wav").lower()
    if not isinstance(data, str) or not data:
        raise RequestError("messages: the input_audio part has no base64 data", "messages")
    if fmt not in AUDIO_FORMATS:
        raise RequestError(f"messages: audio format {fmt!r} (this server reads {', '.join(sorted(AUDIO_FORMATS))})",
                           "messages")
    return template, data, fmt


class Service:
    """The model and the limits of what it is asked."""

    def __init__(self, model, name: str, max_seconds: float, default_template: str):
        self.model, self.name, self.max_seconds = model, name, max_seconds
        self.default_template = default_template
        self.lock = threading.Lock() if model.backend is None else None
        # refused before decoding: more bytes than max_seconds of 48 kHz stereo 32-bit audio, + 1 MiB
        self.max_bytes = int(max_seconds * 48000 * 8) + (1 << 20)

    def run(self, fn, *args):
        if self.lock is None:  # the backend decodes; the encoder part is short and thread-safe in eval mode
            return fn(*args)
        with self.lock:
            return fn(*args)

    def heard(self, path: str, name: str) -> str:
        check_audio(path, name, self.max_seconds)
        return self.run(lambda: self.model.transcribe(path)[0]["text"])

    def answer(self, path: str, name: str, template: str) -> str:
        from wav2prompt_plugin.data.templates import PromptTemplate

        check_audio(path, name, self.max_seconds)
        PromptTemplate(template).check_columns([], "a chat message (it fills no fields)")
        return self.run(lambda: self.model.generate(path, template)[0])


def completion(name: str, text: str) -> Dict:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": name, "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": text}}]}


def build_app(service: Service):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse

    from wav2prompt_plugin.backends.vllm import VLLMError, VLLMUnavailable

    app = FastAPI(title="Wav2Prompt")

    def error(message: str, status: int = 400, param: Optional[str] = None, kind: str = "invalid_request_error"):
        return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": None}}, status)

    def failure(e: Exception):
        if isinstance(e, VLLMUnavailable):
            return error(str(e), 504 if e.timed_out else 503, kind="server_error")
        if isinstance(e, VLLMError):
            return error(str(e), 502, kind="server_error")
        return error(str(e), getattr(e, "status", 400), getattr(e, "param", None))

    async def body_of(request: Request, limit: int) -> bytes:
        size, chunks = 0, []
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(f"the request body is over {limit} bytes (audio up to "
                                   f"{service.max_seconds:g} s)", status=413)
            chunks.append(chunk)
        return b"".join(chunks)

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": service.name, "object": "model", "owned_by": "wav2prompt"}]}

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request):
        from starlette.datastructures import UploadFile
        from starlette.formparsers import MultiPartException, MultiPartParser

        try:
            if not request.headers.get("content-type", "").startswith("multipart/form-data"):
                raise RequestError("send the audio as multipart/form-data, in the field `file`", "file")
            raw = await body_of(request, service.max_bytes + (1 << 16))

            async def replay():
                yield raw

            form = await MultiPartParser(request.headers, replay()).parse()
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise RequestError("no audio in the field `file`", "file")
            name = os.path.basename(upload.filename or "upload")
            fmt = form.get("response_format") or "json"
            if fmt not in ("json", "text"):
                raise RequestError(f"response_format {fmt!r}: json or text", "response_format")
            with tempfile.NamedTemporaryFile(suffix=os.path.splitext(name)[1] or ".wav") as tmp:
                tmp.write(await upload.read())
                tmp.flush()
                text = await run_in_thread(service.heard, tmp.name, name)
        except MultiPartException as e:
            return error(f"the multipart body cannot be read: {e.message}", param="file")
        except (InputError, VLLMError) as e:
            return failure(e)
        return PlainTextResponse(text) if fmt == "text" else {"text": text}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        import json

        try:
            raw = await body_of(request, 4 * service.max_bytes // 3 + (1 << 16))  # base64 grows 4/3
            try:
                body = json.loads(raw)
            except ValueError:
                raise RequestError("the body is not JSON") from None
            if not isinstance(body, dict):
                raise RequestError("the body is not a JSON object")
            if body.get("stream"):
                raise RequestError("stream: this server answers whole completions", "stream")
            if body.get("n", 1) != 1:
                raise RequestError("n: this server writes one answer", "n")
            template, data, fmt = chat_template(body.get("messages"), service.default_template)
            try:
                audio = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise RequestError("messages: the input_audio data is not base64", "messages") from None
            with tempfile.NamedTemporaryFile(suffix=f".{fmt}") as tmp:
                tmp.write(audio)
                tmp.flush()
                text = await run_in_thread(service.answer, tmp.name, "input_audio", template)
        except (InputError, VLLMError) as e:
            return failure(e)
        return completion(service.name, text)

    return app


async def run_in_thread(fn, *args):
    """The model's work off the event loop, so that the server keeps answering meanwhile."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)

