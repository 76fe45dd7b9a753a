"""The recipes, importable from the checkout's root for their tests (`from recipes.mini.local.synthesize
import fbank`); the package wav2prompt_plugin never imports a recipe.

A recipe's helpers in `<recipe>/local/` are scripts that run.sh starts from that directory, and they import
one another as top-level modules (`from synthesize import fbank`), as scripts beside each other do.
`local_helpers` makes `recipes.<recipe>.local.X` that same top-level module `X`, with `local/` on sys.path,
so that a class (an exception a test expects) or a monkeypatch is one object whichever way it was reached."""
import importlib
import importlib.abc
import importlib.util
import os
import sys


class _LocalHelpers(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `<package>.X` for each X.py of `directory`, and loads it as the top-level module X."""

    def __init__(self, package, directory):
        self.package, self.directory = package, directory

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != self.package or not os.path.isfile(os.path.join(self.directory, name + ".py")):
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        name = spec.name.rpartition(".")[2]
        path = os.path.join(self.directory, name + ".py")
        if self.directory not in sys.path:
            sys.path.insert(0, self.directory)  # for the helper's own imports of its siblings
        module = sys.modules.get(name)
        if module is None:  # loaded from its file: another recipe's local/ may hold a helper of that name
            top_level = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(top_level)
            sys.modules[name] = module
            try:
                top_level.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
        elif os.path.abspath(getattr(module, "__file__", "") or "") != path:
            raise ImportError(f"{name} is already imported from {module.__file__}, not {path}")
        self.top_level_spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self.top_level_spec  # the import system set the package's name there


def local_helpers(package, package_file):
    """Called by `<recipe>/local/__init__.py` with its `__name__` and `__file__`."""
    if not any(isinstance(f, _LocalHelpers) and f.package == package for f in sys.meta_path):
        sys.meta_path.insert(0, _LocalHelpers(package, os.path.dirname(os.path.abspath(package_file))))
