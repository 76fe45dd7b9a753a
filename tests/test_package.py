"""The package as a library: importing it changes nothing in the process; what it
cannot work without gets one line; the commands' process behaviour."""
import subprocess
import sys
import textwrap

import pytest


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)


@pytest.mark.parametrize("module", ["wav2prompt_plugin", "wav2prompt_plugin.modules.cif",
                                    "wav2prompt_plugin.inference"])
def test_import_leaves_the_process_as_it_was(module):
    proc = python(f"""
        import atexit, gc, os, sys
        hook = sys.excepthook
        hooks, register, register_at_fork = [], atexit.register, os.register_at_fork
        def at_exit(f, *a, **k):
            hooks.append(f)
            return register(f, *a, **k)
        def at_fork(**k):
            hooks.extend(k.values())
            register_at_fork(**k)
        atexit.register, os.register_at_fork = at_exit, at_fork
        import logging
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        import {module}
        import fairseq.file_io
        assert (root.level, root.handlers) == (level, handlers), "root logger configured"
        assert sys.excepthook is hook, "excepthook replaced"
        assert fairseq.file_io.PathManager.copy.__module__ == "fairseq.file_io", "PathManager.copy patched"
        ours = [f for f in hooks if f is gc.collect
                or (getattr(f, "__module__", "") or "").startswith("wav2prompt_plugin")]
        assert not ours, ours
        print("untouched")
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "untouched"


def test_import_prints_no_request_for_optional_packages():
    proc = python("import wav2prompt_plugin")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tensorboardX" not in proc.stdout + proc.stderr


def test_commands_install_their_process_behaviour():
    proc = python("""
        import sys
        hook = sys.excepthook
        import wav2prompt_plugin
        from fairseq.file_io import PathManager
        from wav2prompt_plugin.runtime.checkpoint_copy import atomic_copy
        from wav2prompt_plugin.runtime.process import prepare_process
        prepare_process(); prepare_process()
        assert sys.excepthook is not hook and getattr(sys.excepthook, "reports_input_errors", False)
        assert PathManager.copy is atomic_copy
        from wav2prompt_plugin.runtime.errors import InputError
        raise RuntimeError("wrapped") from InputError("manifest x.tsv, line 3: empty transcript")
    """)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "InputError: manifest x.tsv, line 3: empty transcript"


def test_commands_start_without_hydra_deprecation_warnings():
    """fairseq composes its config through hydra's deprecated API: six warnings
    at each start of a bare fairseq-train, none from the plugin's commands."""
    def start(prepared):
        return python(f"""
            import warnings
            warnings.simplefilter("always")
            if {prepared}:
                from wav2prompt_plugin.runtime.process import prepare_process
                prepare_process()
            from fairseq import options
            from fairseq.dataclass.utils import convert_namespace_to_omegaconf
            args = options.parse_args_and_arch(options.get_training_parser(),
                                               ["data", "--arch", "transformer", "--task", "translation"])
            convert_namespace_to_omegaconf(args)
        """)

    bare, prepared = start(False), start(True)
    assert bare.returncode == prepared.returncode == 0, (bare.stderr[-2000:], prepared.stderr[-2000:])
    hydra_lines = [l for l in bare.stderr.splitlines() if "UserWarning" in l and "hydra" in l]
    assert len(hydra_lines) >= 4, bare.stderr[-3000:]
    assert "UserWarning" not in prepared.stderr, prepared.stderr[-3000:]


@pytest.mark.parametrize("missing, message", [
    ("transformers-4", "wav2prompt_plugin needs transformers>=5 (its KV cache is a Cache object); found 4.46.0"),
    ("fairseq", "wav2prompt_plugin needs fairseq, which is not installed: pip install torch"),
])
def test_missing_or_old_requirement_is_one_line(missing, message):
    proc = python(f"""
        from importlib import metadata
        version = metadata.version
        def fake(name):
            if {missing!r} == "transformers-4" and name == "transformers":
                return "4.46.0"
            if {missing!r} == "fairseq" and name in ("fairseq", "fairseq-fixed"):
                raise metadata.PackageNotFoundError(name)
            return version(name)
        metadata.version = fake
        try:
            import wav2prompt_plugin
        except ImportError as e:
            print(e)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stdout.strip()
    assert line.startswith(message) and "\n" not in line
    if missing == "fairseq":
        assert "pip install --no-deps --no-build-isolation fairseq-fixed==0.12.3.1" in line


# Each epoch fairseq builds a new DataLoader while the last one's iterator is
# garbage in a reference cycle; the worker forked for the new one inherits it.
EPOCHS = """
    import sys, torch
    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return 64
        def __getitem__(self, i):
            return torch.zeros(1000)
    def epoch():
        it = iter(torch.utils.data.DataLoader(Rows(), num_workers=1, persistent_workers=True))
        cycle = [it]
        cycle.append(cycle)
        for _ in it:
            pass
    if sys.argv[1:] == ["installed"]:
        from wav2prompt_plugin.runtime.loader_shutdown import install_loader_shutdown
        install_loader_shutdown()
    for _ in range(4):
        epoch()
    print("done")
"""


@pytest.mark.parametrize("installed", [False, True])
def test_no_traceback_when_an_epoch_forks_its_loader_worker(installed, tmp_path):
    script = tmp_path / "epochs.py"
    script.write_text(textwrap.dedent(EPOCHS))
    proc = subprocess.run([sys.executable, str(script)] + (["installed"] if installed else []),
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr[-2000:]
    ignored = proc.stderr.count("Exception ignored")
    if installed:
        assert ignored == 0, proc.stderr[-2000:]
    else:  # what a plain process prints: the failure the plugin's commands prevent
        assert ignored >= 1 and "can only test a child process" in proc.stderr
