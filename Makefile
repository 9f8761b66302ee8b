# dualsim: `make run` and `make test` bootstrap .venv themselves.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# A Python >= 3.12: python3.13, python3.12, python3, then pyenv's versions.
BOOT_PY := $(shell \
  ok() { "$$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }; \
  for c in python3.13 python3.12 python3; do p=$$(command -v $$c 2>/dev/null) && ok "$$p" && { echo "$$p"; exit 0; }; done; \
  r=$$(pyenv root 2>/dev/null || echo "$$HOME/.pyenv"); \
  for p in $$(ls -d "$$r"/versions/3.*/bin/python 2>/dev/null | sort -rV); do ok "$$p" && { echo "$$p"; exit 0; }; done)
STEPS ?=
ARGS ?=

.PHONY: run test test-slow test-all bench lint format clean venv

$(VENV)/bin/python:
	@if [ -z "$(BOOT_PY)" ]; then echo "error: no Python >= 3.12 found (tried python3.13, python3.12, python3, pyenv versions)" >&2; exit 2; fi
	@echo "using $(BOOT_PY)"
	$(BOOT_PY) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall only when pyproject.toml changes (one stamp per extras set).
$(VENV)/.stamp-run: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.stamp-test: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev,viz,dask]'
	@touch $@ $(VENV)/.stamp-run

venv: $(VENV)/.stamp-test

FLAGSHIP := transition
# `make run`: the flagship, then the particles crossover, in sibling folders of one run folder
RUN_OUT := results/run-$(shell date +%Y%m%d-%H%M%S)

run: $(VENV)/.stamp-run
	$(VENV)/bin/dualsim run $(FLAGSHIP) --out $(RUN_OUT)/$(FLAGSHIP) $(ARGS)
	$(VENV)/bin/dualsim run particles --quick --checkpoint-every 0 --out $(RUN_OUT)/particles

TEST_PATHS := tests agents models analysis scenarios runner dualsim

test: $(VENV)/.stamp-test
	$(PY) -m pytest -m "not slow" -q --doctest-modules $(TEST_PATHS) $(ARGS)

test-slow: $(VENV)/.stamp-test
	$(PY) -m pytest -m "slow" -q $(ARGS)

test-all: $(VENV)/.stamp-test
	$(PY) -m pytest -q --doctest-modules $(TEST_PATHS) $(ARGS)

bench: $(VENV)/.stamp-test
	$(PY) -m benchmarks.bench $(ARGS)

lint: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(VENV)/.stamp-test
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache
