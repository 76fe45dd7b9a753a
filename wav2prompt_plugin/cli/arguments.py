"""Arguments the commands share: fairseq's with the plugin as `--user-dir`, the root logger as
fairseq-train sets it, and the options of a command that decodes with a trained model."""
import argparse
import logging
import os
import sys


def plugin_dir() -> str:
    """What `--user-dir` names: this installed package's directory."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def with_user_dir(argv: list) -> list:
    """fairseq's arguments, with `--user-dir` the plugin unless one is given."""
    if any(a == "--user-dir" or a.startswith("--user-dir=") for a in argv):
        return argv
    return ["--user-dir", plugin_dir()] + argv


def fairseq_train_logging():
    """The root logger as fairseq-train sets it up. fairseq_cli.train does so
    before it imports fairseq; here the plugin imported fairseq first, and one
    of fairseq's modules (wav2vec2_classification) calls basicConfig at DEBUG
    level on stderr, which would make fairseq_cli's own call a no-op."""
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S", level=os.environ.get("LOGLEVEL", "INFO").upper(),
                        stream=sys.stdout, force=True)


def add_model_arguments(parser):
    """The options of a command that loads a trained speech-prompt model to decode with it."""
    parser.add_argument("--checkpoint", required=True, help="trained Wav2Prompt checkpoint")
    parser.add_argument("--llm-path", help="local LLM directory (default: the checkpoint's)")
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--max-len-b", type=int, default=60)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--trim-silence", action=argparse.BooleanOptionalAction, default=True,
                        help="cut each recording's leading and trailing silence before the model hears it "
                             "(data/voice_activity.py; on by default: people start recording before they speak)")
    parser.add_argument("--vllm-url", default="",
                        help="decode on this vLLM server (started with --enable-prompt-embeds, serving the "
                             "checkpoint's LLM; greedy only: backends/vllm.py) instead of in this process")
    parser.add_argument("--vllm-timeout", type=float, default=300.0,
                        help="seconds to wait for the vLLM server's answer to one request")


def load_model(args):
    """The Wav2PromptInference that add_model_arguments' options describe."""
    from wav2prompt_plugin.inference import Wav2PromptInference

    backend = None
    if getattr(args, "vllm_url", ""):  # (callers may build args of their own)
        from wav2prompt_plugin.backends.vllm import VLLMBackend

        backend = VLLMBackend(args.vllm_url, timeout=getattr(args, "vllm_timeout", 300.0))
    return Wav2PromptInference(args.checkpoint, llm_path=args.llm_path, device=args.device,
                               trim_silence=args.trim_silence, beam=args.beam, max_len_b=args.max_len_b,
                               backend=backend)
