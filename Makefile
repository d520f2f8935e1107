# Two entry points (see README): `make demo` and `make test`.
# Each does its own set-up: a virtual environment with every package of the workspace.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install system browser postgres demo test lint sandbox bench clean

PACKAGES := contract tap-cliniko transforms target-paypal paypal-ops
# The workspace venv first gets every dependency from installing the packages, then our packages as
# editable installs over those copies (--no-deps: their direct references to each other, e.g.
# target-paypal -> ../contract, would clash with editable installs). Meltano's plugin venvs get the
# same overlay, so that a change to one package reaches every plugin that uses it. orchestrate/
# (the Dagster code location, Meltano's `dagster` utility) depends on none of them: the workspace
# venv has it too, for the fleet test's use of Dagster's Python API.
PLUGIN_VENV = .meltano/$(1)/venv/bin/python
OVERLAY = $(BIN)/uv pip install -q --no-deps --python $(call PLUGIN_VENV,$(1)) $(2:%=-e ./%)

# uv installs the workspace (as Meltano's uv backend installs the plugins): pip took minutes on a
# fresh machine. Its version is the one pinned in pyproject.toml.
UV_VERSION := $(shell sed -n 's/^ *"uv==\([^"]*\)".*/\1/p' pyproject.toml)
UV_INSTALL = $(BIN)/uv pip install -q --python $(BIN)/python

$(STAMP): meltano.yml pyproject.toml sandbox/pyproject.toml orchestrate/pyproject.toml $(PACKAGES:%=%/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv==$(UV_VERSION)
	$(UV_INSTALL) -e ./sandbox ./paypal-ops -e ./orchestrate -e .
	$(UV_INSTALL) --no-deps $(PACKAGES:%=-e ./%)
	$(BIN)/meltano install --clean
	$(call OVERLAY,mappers/map-cliniko-paypal,contract transforms)
	$(call OVERLAY,loaders/target-paypal,contract target-paypal)
	$(call OVERLAY,utilities/paypal-ops,$(PACKAGES))
	touch $(STAMP)

install: $(STAMP) system

# Debian's packages the tests use, installed while the Python set-up runs (`make -j2`).
system:
	bash scripts/install-browser.sh
	bash scripts/install-postgres.sh

# Debian's chromium and chromium-driver for the sync-health page's browser test (root: apt-get).
browser:
	bash scripts/install-browser.sh

# Debian's postgresql for the store's tests on PostgreSQL, which start a throwaway cluster of
# their own from its binaries (root: apt-get).
postgres:
	bash scripts/install-postgres.sh

demo: $(STAMP)
	bash scripts/demo.sh

# Figures, not tests (README "Benchmarks"): BENCH_ONLY=tap,limit,mapper,target,e2e,memory,fleet picks parts,
# BENCH_SCALE=0.1 shrinks every size for a quick look.
bench: $(STAMP)
	$(BIN)/python -m bench.run

# Two workers, each taking whole test files, the heaviest first (conftest.py): most tests wait on
# meltano, the sandbox or PostgreSQL.
test:
	$(MAKE) --no-print-directory -j2 --output-sync=target lint system
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check conftest.py sandbox $(PACKAGES) orchestrate tests bench scripts
	$(BIN)/mypy sandbox/clinic_sandbox contract/cliniko_paypal_contract tap-cliniko/tap_cliniko \
		transforms/map_cliniko_paypal target-paypal/target_paypal paypal-ops/paypal_ops \
		orchestrate/clinic_fleet

sandbox: $(STAMP)
	$(BIN)/sandbox serve

clean:
	rm -rf $(VENV) .meltano output .demo */build
