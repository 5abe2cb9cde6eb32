# One-command set-up and run. Both targets are idempotent: the virtual environment is rebuilt
# only when the pinned requirements change, and the dataset package is installed only if missing.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FASHION_MNIST_DIR := /usr/share/datasets/fashion-mnist
# The stages' `python` must be the virtual environment's, also when `dvc` is called from here.
export PATH := $(abspath $(VENV))/bin:$(PATH)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup dataset repro record test test-fast worker aggregate plots-check clean

setup: $(STAMP) dataset

$(STAMP): requirements.txt constraints.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $(STAMP)

# Fashion-MNIST offline: Debian ships it. Without apt, set data.local_dir in params.yaml instead.
dataset:
	@if [ -d $(FASHION_MNIST_DIR) ]; then :; \
	elif command -v apt-get >/dev/null; then \
	  echo "Installing Debian's dataset-fashion-mnist"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	else \
	  echo "warning: apt-get not found; set data.local_dir in params.yaml to the IDX files"; \
	fi

# Validate first, so a bad value stops before DVC starts any stage. The wall time per stage
# family goes to metrics/cost.json (tools/repro_clock.py; kept when no stage ran).
repro: setup
	PYTHONPATH=stages $(PYTHON) -m prunelab.schema.every_section params.yaml
	set -o pipefail; dvc repro 2>&1 | $(PYTHON) tools/repro_clock.py metrics/cost.json

# A named experiment in a temporary workspace, recorded into metrics/experiments/$(NAME)/
# (README: "Recorded experiments"), e.g. make record NAME=longer-ft SET="-S finetune.epochs=8"
record: setup
	@test -n "$(NAME)" || { echo "record: give NAME=<name> and SET=\"-S key=value ...\""; exit 2; }
	$(PYTHON) tools/record_experiment.py $(NAME) $(SET)

# One seed's stages on a worker, in its own clone with the shared DVC remote as default; then,
# after every worker, the aggregating stages (README: "Running on several machines").
worker: setup
	bash tools/worker.sh $(SEED)

aggregate: setup
	bash tools/aggregate.sh

# Style first (seconds), then the suite on pytest-xdist workers: the tests that share a lab or a
# fan-out run as one group each (--dist loadgroup; tests/conftest.py orders them). Three workers
# on two cores: while one waits for DVC or for the shared lab, the others keep both cores busy.
test: setup
	$(PYTHON) -m ruff check stages tests tools
	$(PYTHON) -m pytest -n 3 --dist loadgroup

# Everything but the end-to-end DVC tests (marked e2e): the loop while changing code.
test-fast: setup
	$(PYTHON) -m ruff check stages tests tools
	$(PYTHON) -m pytest -n 2 -m "not e2e"

# `dvc plots show` rendered offline in headless Chromium (vega scripts from the npm registry,
# cached in .cache/plots-js): fails on a JavaScript error or an empty plot; screenshots in
# plots-check/. Not part of `make test`: it needs chromium and the pipeline's outputs.
plots-check: setup
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { echo "Installing Debian's chromium"; $(SUDO) apt-get update -qq && \
	    $(SUDO) apt-get install -y -qq chromium; }
	$(PYTHON) tools/check_plots.py --out plots-check --cache .cache/plots-js

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis plots-check
