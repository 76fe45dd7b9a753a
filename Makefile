# The README's commands. Every target installs what it needs, idempotently.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SIZE   ?= default
STAMP  := $(VENV)/.installed

.PHONY: install test demo clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@command -v espeak-ng >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq espeak-ng; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq espeak-ng; fi; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0 "numpy<2" cython
	$(PY) -m pip install -q --no-deps --no-build-isolation fairseq-fixed==0.12.3.1
	# the plugin with the dependencies it declares, at the versions tested (constraints)
	$(PY) -m pip install -q -c requirements.txt -e ".[recipes,test]"
	$(PY) -c "import wav2prompt_plugin"  # imports fairseq, without its tensorboardX notice
	touch $@

test: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -q tests

demo: install
	HF_HUB_OFFLINE=1 PATH=$(CURDIR)/$(VENV)/bin:$$PATH bash recipes/mini/run.sh --size $(SIZE)

clean:
	rm -rf $(VENV)
