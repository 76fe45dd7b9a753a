"""Errors in what the user gave (data, options, files), reported without a traceback.

Every such error derives from `InputError`, and its message names the file,
manifest line or option at fault. The plugin's commands (and fairseq's, when
`--user-dir` names the plugin: `runtime/process.py`) install a `sys.excepthook`
that prints an uncaught InputError as one ``Name: message`` report and exits
with status 1: `fairseq-train` offers no other hook around its `main`, and a
traceback would bury the line that says what to fix.
Any other exception goes to the hook that was there before (Python's).
"""
import sys


class InputError(ValueError):
    """Bad data, options or files; the message names what is wrong and where."""


def find_input_error(exc):
    """The InputError behind `exc`, following `raise ... from` and re-raises."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, InputError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def input_error_report(error: InputError) -> str:
    name = type(error).__name__
    text = str(error)
    if "Original Traceback" in text:
        # torch's DataLoader re-raises a worker's error with the worker's
        # traceback as its message; what the user needs is its last message
        text = text.rsplit(f"{name}: ", 1)[-1]
    return f"{name}: {text.strip()}"


def install_excepthook():
    previous = sys.excepthook
    if getattr(previous, "reports_input_errors", False):
        return

    def excepthook(exc_type, exc, tb):
        error = find_input_error(exc)
        if error is None:
            return previous(exc_type, exc, tb)
        sys.stderr.write(input_error_report(error) + "\n")

    excepthook.reports_input_errors = True
    sys.excepthook = excepthook
