"""`wav2prompt-serve`: a trained Wav2Prompt model behind an OpenAI-style API (app/serve_app.py).

    python -m vllm.entrypoints.openai.api_server --model /models/llm --enable-prompt-embeds &
    wav2prompt-serve --checkpoint exp/checkpoint_best.pt --llm-path /models/llm \
        --vllm-url http://127.0.0.1:8000 [--host 127.0.0.1] [--port 8080]

Then, with OpenAI's client (`base_url="http://127.0.0.1:8080/v1"`): `audio.transcriptions.create(file=...)`,
and `chat.completions.create(messages=[{"role": "user", "content": [{"type": "text", "text": "Translate
into French:"}, {"type": "input_audio", "input_audio": {"data": <base64 wav>, "format": "wav"}},
{"type": "text", "text": "French:"}]}])`. Without --vllm-url the LLM decodes in this process, one
request at a time. Bound to 127.0.0.1 unless --host says otherwise.
"""
import argparse
import logging
import os

from wav2prompt_plugin.cli.arguments import add_model_arguments, load_model
from wav2prompt_plugin.runtime.process import prepare_process


def main(argv=None):
    prepare_process()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: this machine only)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--max-seconds", type=float, default=30.0, help="longest audio accepted")
    parser.add_argument("--model-name", default="wav2prompt", help="the model's id in the API")
    parser.add_argument("--default-template", default="",
                        help="the template of a chat message that holds audio only (e.g. the model's "
                             "transcription template); without it such a message is refused")
    add_model_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.default_template:
        from wav2prompt_plugin.data.templates import PromptTemplate

        PromptTemplate(args.default_template).check_columns([], "--default-template (a chat fills no fields)")
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401  (python-multipart: FastAPI's form uploads)
        import uvicorn

        from wav2prompt_plugin.app.serve_app import Service, build_app
    except ImportError:
        raise SystemExit("wav2prompt-serve needs its web server: pip install 'wav2prompt_plugin[demo]'") from None
    service = Service(load_model(args), args.model_name, args.max_seconds, args.default_template)
    print(f"wav2prompt-serve: http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(build_app(service), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
