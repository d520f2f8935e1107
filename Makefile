# Two entry points (see README): `make demo` and `make test`.
# Each does its own set-up: a virtual environment with every package of the workspace.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser demo test lint sandbox bench clean

$(STAMP): pyproject.toml sandbox/pyproject.toml tap-cliniko/pyproject.toml transforms/pyproject.toml target-paypal/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ./sandbox -e ./tap-cliniko -e ./transforms -e ./target-paypal -e .
	$(BIN)/meltano install
	touch $(STAMP)

install: $(STAMP) browser

# Debian's chromium and chromium-driver for the sync-health page's browser test (root: apt-get).
browser:
	bash scripts/install-browser.sh

demo: $(STAMP)
	bash scripts/demo.sh

# Figures, not tests (README "Benchmarks"): BENCH_ONLY=tap,limit,mapper,target,e2e picks parts,
# BENCH_SCALE=0.1 shrinks every size for a quick look.
bench: $(STAMP)
	$(BIN)/python -m bench.run

test: lint browser
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check sandbox tap-cliniko transforms target-paypal tests bench
	$(BIN)/mypy sandbox/clinic_sandbox tap-cliniko/tap_cliniko transforms/map_cliniko_paypal target-paypal/target_paypal

sandbox: $(STAMP)
	$(BIN)/sandbox serve

clean:
	rm -rf $(VENV) .meltano output .demo
