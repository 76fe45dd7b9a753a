"""Wav2Prompt as a fairseq plugin: `wav2prompt-train`, or `fairseq-train --user-dir <this package>`.

fairseq's `import_user_module` auto-imports only `tasks/` and `models/`; the
criterion, scorer and bpe are imported here, by name, so a missing one fails
loudly.

Importing the package registers those components with fairseq and changes
nothing else in the process. What the commands add (one-line reports of bad
input, atomic checkpoint copies, a clean loader shutdown: `cli/process.py`) is
installed by the plugin's console commands, and by fairseq's own commands when
`--user-dir` names the plugin.
"""
import logging
import sys

from wav2prompt_plugin.requirements import check_requirements

check_requirements()


def _import_fairseq_quietly():
    """fairseq's text-to-speech task logs a request to install tensorboardX
    (which nothing here uses) whenever fairseq is imported; that one record is
    dropped, and the logger left as it was. Two of its modules also configure the
    root logger when imported (`logging.basicConfig`, wav2vec2_classification at
    DEBUG): the root logger is put back as it was."""
    notice = logging.getLogger("fairseq.tasks.text_to_speech")
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)

    def drop(record):
        return "tensorboardX" not in record.getMessage()

    notice.addFilter(drop)
    try:
        import fairseq  # noqa: F401
    finally:
        notice.removeFilter(drop)
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)


_import_fairseq_quietly()

from wav2prompt_plugin.bpe import llm_tokenizer  # noqa: E402,F401
from wav2prompt_plugin.criterions import speech_encoder_ctc as _ctc_criterion  # noqa: E402,F401
from wav2prompt_plugin.criterions import wav2prompt as _criterion  # noqa: E402,F401
from wav2prompt_plugin.models import encoder_llm as _encoder_llm  # noqa: E402,F401
from wav2prompt_plugin.models import speech_encoder_ctc as _ctc_model  # noqa: E402,F401
from wav2prompt_plugin.models import wav2prompt as _model  # noqa: E402,F401
from wav2prompt_plugin.scoring import exact_match  # noqa: E402,F401
from wav2prompt_plugin.tasks import wav2prompt as _task  # noqa: E402,F401


def _imported_by_user_dir() -> bool:
    """Whether fairseq's `import_user_module` (`--user-dir`) is importing us."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "import_user_module" and frame.f_globals.get("__name__") == "fairseq.utils":
            return True
        frame = frame.f_back
    return False


if _imported_by_user_dir():
    from wav2prompt_plugin.cli.process import prepare_process

    prepare_process()
