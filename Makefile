# zaomo — the two commands a new user needs: `make quickstart` and `make test`.
# Each creates .venv if missing and installs what it needs into it.
#
# torch: on this kind of machine `pip install torch==$(TORCH_VERSION)` takes the CPU build.
# Elsewhere choose your build, e.g. `make TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124"`.

PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
TORCH_SPEC ?= torch==$(TORCH_VERSION)
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.zaomo-installed
DEV_STAMP := $(VENV)/.zaomo-dev-installed
WS ?= quickstart-ws

.PHONY: help venv install dev quickstart test test-all bench lint browser clean

help:
	@echo "make quickstart   set up .venv and run the whole loop on the embedded demo (CPU, no download)"
	@echo "make test         set up .venv (with dev extras) and run the fast test suite"
	@echo "make test-all     also the slow tests (resume, DDP, browser, benchmarks-as-tests)"
	@echo "make bench        run benchmarks/ and print ours vs baseline"
	@echo "make lint         ruff check"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, pinned, so that no later package pulls a multi-GB CUDA build by accident.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e . "$(TORCH_SPEC)"
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) pyproject.toml
	$(PIP) install -q -e ".[dev]" "$(TORCH_SPEC)"
	touch $(DEV_STAMP)

install: $(STAMP)
dev: $(DEV_STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/zaomo quickstart $(WS)

# Browser tests of the web console need Chromium and a CJK font: scripts/ensure-browser.sh installs Debian's
# packages when run as root; otherwise those tests are skipped with the install command as the reason.
browser:
	@bash scripts/ensure-browser.sh

test: $(DEV_STAMP) browser
	$(PY) -m pytest -q

test-all: $(DEV_STAMP) browser
	$(PY) -m pytest -q -m "" --timeout=1800

bench: $(DEV_STAMP)
	$(PIP) install -q -e ".[dev,bench]" "$(TORCH_SPEC)"
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check zaomo tests benchmarks

clean:
	rm -rf $(VENV) $(WS) build *.egg-info
