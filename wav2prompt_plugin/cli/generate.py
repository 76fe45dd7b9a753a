"""`wav2prompt-generate`: fairseq-generate with the plugin registered.

    wav2prompt-generate DATA --task wav2prompt --path CHECKPOINT ... (fairseq-generate's options)

Every fairseq-generate option is taken unchanged; `--user-dir` defaults to the
installed plugin.
"""
import sys

from wav2prompt_plugin.cli.arguments import with_user_dir
from wav2prompt_plugin.runtime.process import prepare_process


def main(argv=None):
    from fairseq_cli.generate import cli_main

    prepare_process()
    sys.argv = ["wav2prompt-generate"] + with_user_dir(list(sys.argv[1:] if argv is None else argv))
    cli_main()


if __name__ == "__main__":
    main()
