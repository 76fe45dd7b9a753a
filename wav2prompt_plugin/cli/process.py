"""What the plugin's commands add to their process, beyond fairseq's CLI.

Installed where a command starts (the console commands, and fairseq's own
commands when `--user-dir` names the plugin), never by a library import:

* uncaught bad input (`errors.InputError`) reported as one line (errors.py);
* checkpoint copies that a kill cannot leave half-written (checkpoint_copy.py);
* fairseq's prefetch threads ended before exit, and no traceback when an
  epoch's data loader forks its worker (loader_shutdown.py);
* each record once in `--log-file` (log_file_once.py);
* no hydra deprecation warnings: fairseq 0.12 composes its config through
  hydra 1.3's deprecated API, six warnings at every start that a user cannot act on.
"""
import argparse
import logging
import os
import sys
import warnings

from wav2prompt_plugin.checkpoint_copy import install_atomic_checkpoint_copy
from wav2prompt_plugin.errors import install_excepthook
from wav2prompt_plugin.loader_shutdown import install_loader_shutdown
from wav2prompt_plugin.log_file_once import install_log_file_once


# what hydra says of fairseq's use of its API (messages start with a newline or name hydra)
HYDRA_DEPRECATIONS = r"\s*(hydra\.experimental\.|The version_base parameter|In '.*': Usage of deprecated keyword" \
                     r"|'.*' is validated against ConfigStore|The strict flag in the compose API)"


def prepare_process():
    """Idempotent."""
    install_excepthook()
    install_atomic_checkpoint_copy()
    install_loader_shutdown()
    install_log_file_once()
    warnings.filterwarnings("ignore", message=HYDRA_DEPRECATIONS, category=UserWarning)


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
