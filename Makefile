# percept — `make demo` runs the built-in demo, `make test` installs everything and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test lint bench install install-core services clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# core runtime only (what `make demo` needs)
$(VENV)/.core: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

# boxmot is a benchmark baseline only (the tracker comparison); its full requirements would
# replace opencv and pandas, so it is installed without them (its trackers need only lap here).
# trackeval is the tests' HOTA reference (tests/fusion/test_mot_eval.py); its requirements
# (opencv-python beside opencv-python-headless, pycocotools) would clash; its metrics need numpy/scipy.
BENCH_DEPS := boxmot==25.0.0 rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 trackeval==1.3.0

# everything the tests need: dev tools, the torch/ultralytics extra and the benchmark baselines
$(VENV)/.full: pyproject.toml Makefile | $(PY)
	$(PY) -m pip install -q -e '.[dev,torch]' 'lap>=0.5'
	$(PY) -m pip install -q --no-deps $(BENCH_DEPS)
	touch $@ $(VENV)/.core

# services the tests start themselves: mosquitto, the MQTT broker of the events sink tests
# (tests/events/conftest.py). Installed with apt as root; without it the MQTT tests skip, or
# fail where PERCEPT_REQUIRE_SERVICES=1 (CI).
services:
	@if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; \
	else \
	  echo "make: mosquitto is not installed and this is not root: run 'sudo apt-get install -y mosquitto'" \
	       "(the MQTT sink tests skip without it)" >&2; \
	fi

install-core: $(VENV)/.core
install: $(VENV)/.full

# the simulator's highway and plaza through the full graph (60 s of scenario time each, scored),
# then `percept watch` on the shared MOT17 clip when the data and a model are there; out/demo/
demo: $(VENV)/.core
	$(VENV)/bin/percept demo --out out/demo

lint: $(VENV)/.full
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: $(VENV)/.full services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

bench: $(VENV)/.core
	$(VENV)/bin/percept bench bus

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info
