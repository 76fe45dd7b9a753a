"""Wav2Prompt as a fairseq plugin: `fairseq-train --user-dir wav2prompt_plugin`.

fairseq's `import_user_module` auto-imports only `tasks/` and `models/`; the
criterion, scorer and bpe are imported here, by name, so a missing one fails
loudly.
"""
from wav2prompt_plugin.checkpoint_copy import install_atomic_checkpoint_copy
from wav2prompt_plugin.errors import install_excepthook
from wav2prompt_plugin.loader_shutdown import install_loader_shutdown
from wav2prompt_plugin.bpe import llm_tokenizer  # noqa: F401
from wav2prompt_plugin.criterions import speech_encoder_ctc as _ctc_criterion  # noqa: F401
from wav2prompt_plugin.criterions import wav2prompt as _criterion  # noqa: F401
from wav2prompt_plugin.models import encoder_llm as _encoder_llm  # noqa: F401
from wav2prompt_plugin.models import speech_encoder_ctc as _ctc_model  # noqa: F401
from wav2prompt_plugin.models import wav2prompt as _model  # noqa: F401
from wav2prompt_plugin.scoring import exact_match  # noqa: F401
from wav2prompt_plugin.tasks import wav2prompt as _task  # noqa: F401

install_excepthook()  # one-line reports of bad input, see errors.py
install_atomic_checkpoint_copy()  # checkpoint_last.pt is never half-written, see checkpoint_copy.py
install_loader_shutdown()  # no abort at exit mid-epoch, see loader_shutdown.py
