"""`wav2prompt-demo`: a local web page to try a trained Wav2Prompt model (app/demo_app.py).

    wav2prompt-demo --checkpoint exp/checkpoint_best.pt --llm-path /models/llm \
        [--tasks-file recipes/mini/conf/tasks.json] [--host 127.0.0.1] [--port 7860]

Open http://127.0.0.1:7860/, upload or record a wav, pick a task's template or write one with
{speech}: the page shows the LLM's answer, what it heard with its confidence, the picture of
`wav2prompt-explain` and the token timeline. Bound to 127.0.0.1 unless --host says otherwise.
A recording's leading and trailing silence is cut before the model hears it (data/voice_activity.py;
its times stay the recording's); --no-trim-silence gives the model the whole recording.
"""
import argparse
import logging
import os

from wav2prompt_plugin.cli.arguments import add_model_arguments, load_model
from wav2prompt_plugin.runtime.process import prepare_process


def main(argv=None):
    prepare_process()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks-file", default="", help="JSON: task -> {template, ...} (wav2prompt-eval's): "
                        "the templates the page offers, after the model's own transcription template")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--max-seconds", type=float, default=30.0, help="longest audio accepted")
    add_model_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from wav2prompt_plugin.evaluation.tasks_file import TasksFile

    tasks = TasksFile(args.tasks_file, needs=("template",)).templates() if args.tasks_file else {}
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401  (python-multipart: FastAPI's form uploads)
        import uvicorn

        from wav2prompt_plugin.app.demo_app import build_app
    except ImportError:
        raise SystemExit("wav2prompt-demo needs its web server: pip install 'wav2prompt_plugin[demo]'") from None
    model = load_model(args)
    offered = {"transcribe (the model's own template)": model.task.train_template.text, **tasks}
    print(f"wav2prompt-demo: http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(build_app(model, offered, args.max_seconds), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
