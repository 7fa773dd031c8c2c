# Sourced by tools/setup.sh and tools/env.sh: where the venv of $ROS_DISTRO lives and its wheel names.
# One venv per distro, since the ros-* and ros-jazzy-* wheels must never be mixed.
ROS_DISTRO=${ROS_DISTRO:-kilted}
case "$ROS_DISTRO" in
  kilted) VENV=.venv ROS_PREFIX=ros- VISION_MSGS_WHEEL='ros_vision_msgs-4.1.1-*.whl' ;;
  jazzy) VENV=.venv-jazzy ROS_PREFIX=ros-jazzy- VISION_MSGS_WHEEL='ros_jazzy_vision_msgs-4.1.1-*.whl' ;;
  *) echo "ROS_DISTRO=$ROS_DISTRO is not supported here: kilted or jazzy (PyPI wheels exist for those)" >&2
     return 2 2>/dev/null || exit 2 ;;
esac
export ROS_DISTRO
