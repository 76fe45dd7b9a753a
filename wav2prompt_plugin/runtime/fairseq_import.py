"""fairseq imported as the plugin's first act, leaving the process's logging as it was."""
import logging


def import_fairseq_quietly():
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
