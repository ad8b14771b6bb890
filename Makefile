# Thin wrappers; each target does its own setup.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data/isic2017-256

.PHONY: setup system-deps test demo train evaluate serve stop dashboard report clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

system-deps:
	bash scripts/install-system-deps.sh

test: setup system-deps
	$(PY) -m pytest

demo: setup
	$(PY) -m training.evaluate --data $(DATA) --split training --limit 50

train: setup
	$(PY) -m training.train --data $(DATA) --output runs/default

evaluate: setup
	$(PY) -m training.evaluate --data $(DATA) --split training

clean:
	rm -rf $(VENV) runs build *.egg-info
