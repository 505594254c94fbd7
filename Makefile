# labkit: two commands do everything on a fresh machine (Python >= 3.11, Node.js >= 20, npm).
#   make tutorials   set up, start the sandbox, execute every tutorial headless, report
#   make test        set up, run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_DIR := src/labkit/sandbox/ipfs
PY_STAMP := $(VENV)/.stamp-install
NODE_STAMP := $(NODE_DIR)/node_modules/.stamp-install
# make's own runs use a sandbox folder inside the checkout, apart from a user's own sandbox
export LABKIT_SANDBOX_DIR ?= $(CURDIR)/build/sandbox

.PHONY: setup tutorials test lab bench sandbox-up sandbox-down lint clean

setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]"
	@touch $@

$(NODE_STAMP): $(NODE_DIR)/package-lock.json $(NODE_DIR)/package.json
	@command -v npm >/dev/null || { echo "npm (Node.js >= 20) is needed for the sandbox IPFS node"; exit 1; }
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error
	@touch $@

tutorials: setup
	$(BIN)/labkit tutorials run --output build/tutorials

test: setup
	$(BIN)/python -m pytest

lab: setup
	$(BIN)/labkit sandbox up
	$(BIN)/jupyter lab notebooks/

bench: setup
	$(BIN)/python benchmarks/run.py

sandbox-up: setup
	$(BIN)/labkit sandbox up

sandbox-down:
	-$(BIN)/labkit sandbox down

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean: sandbox-down
	rm -rf build $(VENV) $(NODE_DIR)/node_modules
