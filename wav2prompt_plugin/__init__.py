"""Wav2Prompt as a fairseq plugin: `wav2prompt-train`, or `fairseq-train --user-dir <this package>`.

fairseq's `import_user_module` auto-imports only `tasks/` and `models/`; the
criterion, scorer and bpe are imported here, by name, so a missing one fails
loudly.

Importing the package registers those components with fairseq and changes
nothing else in the process. What the commands add (one-line reports of bad
input, atomic checkpoint copies, a clean loader shutdown: `runtime/process.py`)
is installed by the plugin's console commands, and by fairseq's own commands
when `--user-dir` names the plugin (their only call into the plugin is this import).
"""
from wav2prompt_plugin.runtime.requirements import check_requirements

check_requirements()

from wav2prompt_plugin.runtime.fairseq_import import import_fairseq_quietly  # noqa: E402

import_fairseq_quietly()

from wav2prompt_plugin.bpe import llm_tokenizer  # noqa: E402,F401
from wav2prompt_plugin.criterions import speech_encoder_ctc as _ctc_criterion  # noqa: E402,F401
from wav2prompt_plugin.criterions import wav2prompt as _criterion  # noqa: E402,F401
from wav2prompt_plugin.models import encoder_llm as _encoder_llm  # noqa: E402,F401
from wav2prompt_plugin.models import speech_encoder_ctc as _ctc_model  # noqa: E402,F401
from wav2prompt_plugin.models import wav2prompt as _model  # noqa: E402,F401
from wav2prompt_plugin.scoring import exact_match  # noqa: E402,F401
from wav2prompt_plugin.tasks import wav2prompt as _task  # noqa: E402,F401
from wav2prompt_plugin.runtime.process import imported_by_user_dir, prepare_process  # noqa: E402

if imported_by_user_dir():
    prepare_process()
