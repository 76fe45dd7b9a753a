"""The demo page's server: a FastAPI app around one `Wav2PromptInference` (`wav2prompt-demo`).

    GET  /             the page (demo_page.html): upload or record a wav, pick or write a template
    GET  /api/tasks    task name -> template: the model's own transcription template, then a tasks file's
    POST /api/answer   multipart `audio` + `template` -> JSON: the LLM's answer, what it heard and how sure,
                       the tokens it read with their times (analysis/timestamps.py) and the picture of
                       analysis/explain_picture.py as a base64 PNG; bad input -> 400 {"error": one line}

FastAPI (on Starlette, served by uvicorn) rather than a hand-written HTTP server: multipart uploads,
routing and error responses are theirs. The model trims each upload's leading and trailing silence
unless `wav2prompt-demo --no-trim-silence` (Wav2PromptInference's trim_silence); the picture shows the
whole upload, the tokens at their times in it. One model answers one request at a time (a lock): it is
neither thread-safe nor faster in parallel on the CPU it shares.
"""
import base64
import os
import tempfile
import threading
from typing import Dict

import soundfile as sf

from wav2prompt_plugin.runtime.errors import InputError

PAGE = os.path.join(os.path.dirname(__file__), "demo_page.html")


def check_audio(path: str, name: str, max_seconds: float) -> float:
    """The upload's duration in seconds, or an InputError that says what is wrong with it."""
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        raise InputError(f"{name}: not an audio file this server can read (wav, flac or ogg)") from None
    if info.frames == 0:
        raise InputError(f"{name}: the audio is empty")
    seconds = info.frames / info.samplerate
    if seconds > max_seconds:
        raise InputError(f"{name}: {seconds:.1f} s of audio; this server takes up to {max_seconds:g} s")
    return seconds


def answer(model, audio_path: str, name: str, template: str, max_seconds: float) -> Dict:
    """Everything the page shows for one upload (runs the model; raises InputError on bad input)."""
    from wav2prompt_plugin.data.audio_features import load_features
    from wav2prompt_plugin.data.templates import PromptTemplate
    from wav2prompt_plugin.analysis.explain_picture import draw

    check_audio(audio_path, name, max_seconds)
    PromptTemplate(template).check_columns([], "the demo (it fills no fields)")
    heard = model.transcribe(audio_path, timestamps=True)[0]
    reply = model.generate(audio_path, template)[0]
    with tempfile.TemporaryDirectory() as tmp:
        item = dict(heard, template=template, answer=reply)
        png = draw(item, load_features(audio_path, utterance_cmvn=False), os.path.join(tmp, "picture.png"),
                   title=name)
        with open(png, "rb") as f:
            picture = base64.b64encode(f.read()).decode()
    return {"answer": reply, "text": heard["text"], "confidence": heard["confidence"],
            "tokens": heard["tokens"], "words": heard["words"], "duration": heard["duration"],
            "picture": picture}


def build_app(model, tasks: Dict[str, str], max_seconds: float = 30.0):
    from fastapi import FastAPI, File, Form, UploadFile
    from fastapi.responses import HTMLResponse, JSONResponse

    app = FastAPI(title="Wav2Prompt demo")
    lock = threading.Lock()
    with open(PAGE, encoding="utf-8") as f:
        page = f.read()

    @app.get("/", response_class=HTMLResponse)
    def index():
        return page

    @app.get("/api/tasks")
    def list_tasks():
        return tasks

    @app.post("/api/answer")
    def ask(audio: UploadFile = File(...), template: str = Form(...)):
        name = os.path.basename(audio.filename or "upload")
        suffix = os.path.splitext(name)[1] or ".wav"
        with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
            # refused before decoding: more bytes than max_seconds of 48 kHz stereo 32-bit audio, + 1 MiB
            limit, size = int(max_seconds * 48000 * 8) + (1 << 20), 0
            while chunk := audio.file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    return JSONResponse({"error": f"{name}: too large for {max_seconds:g} s of audio"}, 400)
                tmp.write(chunk)
            tmp.flush()
            try:
                with lock:
                    return answer(model, tmp.name, name, template, max_seconds)
            except InputError as e:
                return JSONResponse({"error": str(e)}, 400)

    return app
