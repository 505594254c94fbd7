# labkit: two commands do everything on a fresh machine (Python >= 3.12, Node.js >= 20, npm).
#   make tutorials   set up, start the sandbox, execute every tutorial headless, report
#   make test        set up, run the whole test suite
SHELL := /bin/bash
# The newest CPython >= 3.12 found (python3.14 ... python3.12 on PATH, then pyenv's), or PYTHON=... given by hand
PYTHON ?= $(shell bash .ci/find-python 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
NODE_DIR := src/labkit/ipfs/js
PY_STAMP := $(VENV)/.stamp-install
NODE_STAMP := $(NODE_DIR)/node_modules/.stamp-install
# pytest processes of the main suite (each file's tests in one, each with its own test sandbox): most tests wait
# on servers, subprocesses and SLURM jobs, so four keep two cores busy (make test used 60 % of them with two, 75 %
# with three: 14:37 against 13:43 with four, measured 2026-12-07)
TEST_WORKERS ?= 4
# the itk profile: a second environment with zarr 2.18 and itkwidgets (which needs zarr<3)
ITK_VENV := .venv-itk
ITK_STAMP := $(ITK_VENV)/.stamp-install
ITK_TESTS := tests/unit/test_viewers.py tests/sandbox/test_idr.py \
             tests/sandbox/test_ipfs.py::test_every_level_through_ipfs_equals_the_local_copy
# make's own runs (tests, tutorials, book, benchmarks) use a sandbox folder inside the checkout, apart from the
# user's sandbox, which `make lab`, `make sandbox-up/down`, the CLI and the notebooks find in its default place
OWN_SANDBOX := $(CURDIR)/build/sandbox
tutorials site test test-stored test-notebooks test-itk bench: export LABKIT_SANDBOX_DIR ?= $(OWN_SANDBOX)
# the suite runs beside the stored notebooks: a folder of its own, where it never finds their sandbox running (the
# generated data, the same, is shared)
test-suite: export LABKIT_SANDBOX_DIR = $(CURDIR)/build/suite/sandbox
test-suite: export LABKIT_DATA_DIR ?= $(OWN_SANDBOX)/data
# its processes (TEST_WORKERS, beside the notebooks and the itk profile) fill the cores already: more OpenMP threads
# spin-wait on each other (training a boosted model under load: 70 s with two, 34 s with one; 9 s either way idle)
test-suite: export OMP_NUM_THREADS ?= 1
# JupyterLab refuses to run as root (a container) unless told
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup chromium slurm tutorials site test test-stored test-suite test-notebooks test-itk test-live lab bench sandbox-up sandbox-down lint clean

setup: $(PY_STAMP) $(NODE_STAMP) chromium slurm

# Debian's Chromium for the browser tests; never a browser downloaded by a test tool
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium is missing: browser tests will be skipped (install it with: sudo apt-get install chromium)"; fi; }

# Debian's SLURM for the sandbox's single-node cluster (backend "slurm"): without it those tests are skipped. After
# Chromium: make test sets up with -j (apt-get, pip and npm at once on a new machine), and one apt-get at a time
SLURM_PACKAGES := slurmctld slurmd slurm-client
slurm: chromium
	@PATH="$$PATH:/usr/sbin:/sbin" command -v slurmctld >/dev/null && PATH="$$PATH:/usr/sbin:/sbin" command -v slurmd >/dev/null \
	  && command -v sbatch >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SLURM_PACKAGES) >/dev/null || echo "could not install SLURM: its tests will be skipped"; \
	  else echo "SLURM is missing: its tests will be skipped (install it with: sudo apt-get install $(SLURM_PACKAGES))"; fi; }

# install into the environment whose bin/ is $(1): uv, installed there first, resolves the same packages as pip (the
# same `pip freeze` for both environments here) in half the time or less on a new machine (the itk profile: 31 s
# against 72 s), and compiles them as pip does; pip installs them when uv cannot (uv reads no pip configuration:
# PIP_FIND_LINKS is passed on)
define install
$(1)/python -m pip install --quiet uv && $(1)/uv pip install --quiet --python $(1)/python --compile-bytecode \
  $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS)) $(2) \
  || { echo "uv could not install labkit: pip installs it"; $(1)/python -m pip install --quiet $(2); }
endef

$(PY_STAMP): pyproject.toml
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null || { \
	  test -n "$(PYTHON)" || { echo "labkit needs Python >= 3.12 and none was found: install one (e.g. pyenv install 3.13," \
	    "or apt-get install python3.13) or run make PYTHON=/path/to/python3.12"; exit 1; }; \
	  echo "creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"; rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(call install,$(BIN),-e ".[all]")
	@touch $@

$(NODE_STAMP): $(NODE_DIR)/package-lock.json $(NODE_DIR)/package.json
	@command -v npm >/dev/null || { echo "npm (Node.js >= 20) is needed for the sandbox IPFS node"; exit 1; }
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error
	@touch $@

$(ITK_STAMP): pyproject.toml
	@$(ITK_VENV)/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null || { \
	  rm -rf $(ITK_VENV); $(PYTHON) -m venv $(ITK_VENV); }
	$(call install,$(ITK_VENV)/bin,-e ".[itk-profile]")
	@touch $@

tutorials: setup
	$(BIN)/labkit tutorials run --output build/tutorials

# the book: executed tutorials (from make tutorials, or run now when missing) and the API reference
site: setup
	$(BIN)/python docs/build_site.py

# set-up, its parts at once (pip for both environments, npm and apt-get on a new machine), then three things at
# once: the stored notebooks then the book made of their executed copies (test-stored), the itk profile (its own
# environment and sandbox) and the suite. The suite's tests that read the stored runs or the book (marked
# stored_runs) are scheduled last and wait for STORED_DONE, which test-stored writes however it ended. (The itk
# profile's install, left to test-itk, held the suite's start back 1.5 min on a new machine: make ran the recipe's
# lines before the set-up's checks that the suite waited for.)
STORED_DONE := $(CURDIR)/build/stored-runs.done
test:
	@$(MAKE) --no-print-directory -j 4 --output-sync=line setup $(ITK_STAMP)
	@rm -f $(STORED_DONE)
	$(MAKE) --no-print-directory -j 3 --output-sync=line test-stored test-itk test-suite

test-stored: setup
	@mkdir -p $(dir $(STORED_DONE)); trap 'touch $(STORED_DONE)' EXIT; \
	  $(MAKE) --no-print-directory test-notebooks && $(BIN)/python docs/build_site.py

test-suite: setup
	LABKIT_STORED_DONE=$(STORED_DONE) $(BIN)/python -m pytest --durations=20 -n $(TEST_WORKERS) --dist loadfile \
	  --no-loadscope-reorder

# Every tutorial as stored, the way a user who opens it in JupyterLab runs it: Run All (every code cell sent to one
# kernel at once), default parameters, from a stopped sandbox to a stopped sandbox (tests/notebooks/run_stored.py).
# A tutorial fails on any traceback, logged ERROR, "Exception ignored", Python warning, warning of Dask's distributed or
# unclosed HTTP session in any output, and when a cell marked NBVAL_CHECK_OUTPUT shows other text than its stored output
# (compared as nbval-lax does). On a cold sandbox, 01 first: the sandbox it starts must gain the services 02 and 03
# need. The cells run in build/run-all, each notebook followed by the notebook tests' probe cell
# (tests/notebooks/probes.py); the executed notebooks go to build/tutorials without it, for the book, and what the
# probes printed beside them, for the notebook tests of each tutorial's default backend: the suite then executes each
# tutorial once more, on its other backend, the same way (twice in all).
NOTEBOOK_ORDER := 01_idr_segmentation.ipynb 02_ipfs_zarr.ipynb 03_eodc_flood.ipynb 04_cell_pipeline.ipynb \
                  05_screen.ipynb 00_sandbox_tour.ipynb
RUN_ALL_DIR := build/run-all
test-notebooks: setup
	$(BIN)/python -m tests.notebooks.run_stored $(RUN_ALL_DIR) $(addprefix notebooks/,$(NOTEBOOK_ORDER))

# the tutorials' public services themselves (IDR, EBI's S3, EODC's STAC and dask-gateway), each check printed: needs
# the internet (skipped without it); EODC's cluster test also needs an EODC account in LABKIT_OIDC_USERNAME and
# LABKIT_OIDC_PASSWORD
test-live: setup
	$(BIN)/python -m pytest tests/live -m network -rA -s

# labkit's load_remote, viewers and IPFS reads on zarr 2.18 with itkwidgets installed (no tutorial: each runs
# twice in the main suite already)
test-itk: $(ITK_STAMP) $(NODE_STAMP)
	$(ITK_VENV)/bin/python -m pytest $(ITK_TESTS) -k "not gateway"

lab: setup
	$(BIN)/labkit sandbox up
	$(BIN)/jupyter lab $(LAB_FLAGS) notebooks/

bench: setup
	$(BIN)/python benchmarks/run.py

sandbox-up: setup
	$(BIN)/labkit sandbox up

sandbox-down:
	-$(BIN)/labkit sandbox down

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean: sandbox-down
	rm -rf build $(VENV) $(ITK_VENV) $(NODE_DIR)/node_modules
