# Thin wrappers; each target does its own setup.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data/isic2017-256

.PHONY: setup system-deps test demo train gpu-kit evaluate serve stop benchmark dashboard report clean

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
	PY=$(PY) DATA=$(DATA) bash scripts/demo.sh

# The shipped recipe (MODEL_CARD.md): for the multi-task and the classification-only network, five
# cross-validation folds, then all 2000 images; then both all-data networks promoted to models/ as one
# ensemble, calibrated on the mean of their out-of-fold predictions. Minutes on a GPU
# (scripts/gpu_train.sh runs the same in parallel); about 24 hours on 2 CPU cores. TRAIN_ARGS adds
# flags, e.g. --resume.
RECIPE := --epochs 40 --batch-size 32 --lr 2e-3 --seed 0 --folds-file splits/isic2017_training_5fold_seed0.json
FOLDS := 0 1 2 3 4
train: setup
	for task in multi cls; do \
	  for k in $(FOLDS) -1; do \
	    out=runs/default/$$task/fold$$k; [ $$k = -1 ] && out=runs/default/$$task/all; \
	    $(PY) -m training.train --data $(DATA) --task $$task --output $$out --fold $$k $(RECIPE) $(TRAIN_ARGS) || exit 1; \
	  done; \
	done
	$(PY) -m training.promote runs/default/multi/all/best.pt runs/default/cls/all/best.pt \
	  --calibration-from $(FOLDS:%=runs/default/multi/fold%) --calibration-from $(FOLDS:%=runs/default/cls/fold%)

# Data and wheels for scripts/gpu_train.sh on the GPU device machine (see the script's header).
gpu-kit: setup
	PY=$(PY) DATA=$(DATA) bash scripts/gpu_kit.sh

report: setup
	$(PY) -m training.report --data $(DATA) $(REPORT_ARGS)

evaluate: setup
	$(PY) -m training.evaluate --data $(DATA) --split training

# Serving (export when model.onnx/calibration.json are missing or older than the checkpoint).
CHECKPOINT ?= models/lesion_multitask.pt
EXPORT_ARGS ?= --if-stale --checkpoint $(CHECKPOINT)
HTTP_PORT ?= 8000
GRPC_PORT ?= 8001
METRICS_PORT ?= 8002

serve: setup
	$(PY) -m export $(EXPORT_ARGS)
	$(PY) -m serving start --http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT)

stop:
	$(PY) -m serving stop

benchmark: setup
	$(PY) -m benchmarks.serving $(BENCH_ARGS)

# Dashboard on http://127.0.0.1:8501 (python -m dashboard --help lists DASHBOARD_ARGS, e.g. --prometheus-url).
DASHBOARD_ARGS ?=

dashboard: setup
	$(PY) -m dashboard $(DASHBOARD_ARGS)

clean:
	rm -rf $(VENV) runs build *.egg-info

# Client (issue 5): load sweep against a running server (`make serve`); see docs/client.md.
.PHONY: loadgen
loadgen: setup
	$(PY) -m client.loadgen --csv runs/loadgen.csv
