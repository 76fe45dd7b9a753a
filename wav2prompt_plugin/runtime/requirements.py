"""What the plugin cannot work without, checked before anything imports it.

fairseq-fixed is installed on its own (`pip install --no-deps` after torch: its
declared torchaudio would pull another torch build), so pip cannot bring it;
transformers before 5 loads the LLM but has no `Cache` objects, so training
would start and generation fail. Either gets one line saying what to install.
"""
from importlib import metadata

FAIRSEQ = ('pip install torch "numpy<2" cython && '
           "pip install --no-deps --no-build-isolation fairseq-fixed==0.12.3.1")
TRANSFORMERS = (5, 0)


def _major_minor(version: str):
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_requirements():
    try:
        metadata.version("fairseq-fixed")
    except metadata.PackageNotFoundError:
        try:
            metadata.version("fairseq")
        except metadata.PackageNotFoundError:
            raise ImportError(f"wav2prompt_plugin needs fairseq, which is not installed: {FAIRSEQ}") from None
    try:
        version = metadata.version("transformers")
    except metadata.PackageNotFoundError:
        raise ImportError('wav2prompt_plugin needs transformers>=5: pip install "transformers>=5,<6"') from None
    if _major_minor(version) < TRANSFORMERS:
        raise ImportError(f"wav2prompt_plugin needs transformers>=5 (its KV cache is a Cache object); "
                          f'found {version}: pip install "transformers>=5,<6"')
