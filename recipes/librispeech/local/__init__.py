"""The recipe's helper scripts, importable as `recipes.librispeech.local.<script>`: the very modules the
scripts import from one another (recipes/__init__.py)."""
from recipes import local_helpers

local_helpers(__name__, __file__)
