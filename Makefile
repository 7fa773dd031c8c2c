# make demo  : set up (first time only) and run the node on the bundled image sequence
# make test  : set up (first time only) and run the test suite
# make bench : engine and node benchmarks (tables on stdout, JSON in bench/results/)
# make gpu-check : on a CUDA machine, CUDA tests + engine and node benchmarks on cuda, one table
SHELL := /bin/bash
ENV := source tools/env.sh &&

.venv/.ov_seg_ready: requirements.txt setup.py
	bash tools/setup.sh

setup: .venv/.ov_seg_ready

install: setup  # reinstall the package after code changes (launch files, scripts)
	$(ENV) pip install -q --no-deps --force-reinstall .

demo: install
	$(ENV) ros2 launch ov_seg_ros demo.launch.py

test: install
	$(ENV) python -m pytest -q

bench: install
	$(ENV) python bench/bench_engine.py && python bench/bench_node.py

gpu-check:
	$(if $(wildcard .venv/bin/activate),$(ENV)) bash tools/gpu_check.sh

.PHONY: setup install demo test bench gpu-check
