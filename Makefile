# percept — `make demo` runs the built-in demo, `make test` installs everything and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test lint bench install install-core clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# core runtime only (what `make demo` needs)
$(VENV)/.core: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

# everything the tests need: dev tools plus the torch/ultralytics extra
$(VENV)/.full: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev,torch]'
	touch $@ $(VENV)/.core

install-core: $(VENV)/.core
install: $(VENV)/.full

demo: $(VENV)/.core
	$(VENV)/bin/percept demo

lint: $(VENV)/.full
	$(VENV)/bin/ruff check .

test: $(VENV)/.full
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

bench: $(VENV)/.core
	$(VENV)/bin/percept bench bus

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info
