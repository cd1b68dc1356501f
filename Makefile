# bnnc: two commands set everything up on a fresh machine.
#   make demo   -- create .venv, install the pinned stack, compile and C-simulate the digits example
#   make test   -- same install, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.bnnc-installed

.PHONY: all venv demo test test-fast clean bench

all: test

$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) examples/digits/demo.py

test: $(STAMP)
	$(PY) -m pytest -q -ra tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -ra -m "not slow and not train" tests

bench: $(STAMP)
	$(PY) bench/compile_time.py

clean:
	rm -rf build .pytest_cache
