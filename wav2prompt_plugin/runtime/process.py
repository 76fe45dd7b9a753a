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
import sys
import warnings

from wav2prompt_plugin.runtime.checkpoint_copy import install_atomic_checkpoint_copy
from wav2prompt_plugin.runtime.errors import install_excepthook
from wav2prompt_plugin.runtime.loader_shutdown import install_loader_shutdown
from wav2prompt_plugin.runtime.log_file_once import install_log_file_once

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


def imported_by_user_dir() -> bool:
    """Whether fairseq's `import_user_module` (`--user-dir`) is importing the plugin.

    fairseq's own commands (`fairseq-train --user-dir ...`) run no code of the plugin
    but its import, which they make from `fairseq.utils.import_user_module` while
    parsing their arguments: the package's `__init__` asks this, so that those
    commands get `prepare_process` as the plugin's own do, and a library import
    (`import wav2prompt_plugin`, the Python API) changes nothing in the process."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "import_user_module" and frame.f_globals.get("__name__") == "fairseq.utils":
            return True
        frame = frame.f_back
    return False
