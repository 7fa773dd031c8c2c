# make demo  : set up (first time only) and run the node on the bundled image sequence
# make test  : set up (first time only), lint, and run the test suite
#              make test ROS_DISTRO=jazzy : the same on the Jazzy wheels (own venv, .venv-jazzy)
# make bench : engine and node benchmarks (tables on stdout, JSON in bench/results/)
# make gpu-check : on a CUDA machine, CUDA tests + engine and node benchmarks on cuda, one table
SHELL := /bin/bash
ROS_DISTRO ?= kilted
export ROS_DISTRO
VENV := $(if $(filter jazzy,$(ROS_DISTRO)),.venv-jazzy,.venv)
ENV := source tools/env.sh &&

$(VENV)/.ov_seg_ready: requirements.txt tools/ros-packages.txt setup.py
	bash tools/setup.sh

setup: $(VENV)/.ov_seg_ready

install: setup  # reinstall the package after code changes (launch files, scripts)
	$(ENV) pip install -q --no-deps --force-reinstall .

demo: install
	$(ENV) ros2 launch ov_seg_ros demo.launch.py

lint: setup
	$(ENV) ruff check . && ruff format --check .

test: install lint
	$(ENV) python -m pytest -q

bench: install
	$(ENV) python bench/bench_engine.py && python bench/bench_node.py

gpu-check:
	$(if $(wildcard $(VENV)/bin/activate),$(ENV)) bash tools/gpu_check.sh

.PHONY: setup install demo lint test bench gpu-check
