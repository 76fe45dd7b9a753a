# A shim over pyproject.toml, where everything is declared: fairseq plugins are
# expected to have a setup.py at the top level.
from setuptools import setup

setup()
