"""seg.launch.py's topic remapping rule (pure function; the launch itself runs in test_node*.py)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("launch_ros", reason="ros2 launch not installed (see shared/ros2-cli/README.md)")
spec = importlib.util.spec_from_file_location(
    "seg_launch", Path(__file__).resolve().parents[1] / "launch" / "seg.launch.py"
)
seg_launch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seg_launch)

PLAIN = {"image": "/cam/image_raw", "camera_info": "/cam/camera_info", "depth": "/cam/depth"}
PATTERN = {"image": "/{camera}/color/image_raw", "camera_info": "/{camera}/color/camera_info", "depth": "/cam/depth"}


def test_one_camera_remaps_the_plain_names():
    assert seg_launch.remappings([], PLAIN) == list(PLAIN.items())


@pytest.mark.parametrize("cameras", [["front", "rear"], "front, rear"])
def test_each_camera_gets_the_pattern_filled_in(cameras):
    assert seg_launch.remappings(cameras, PATTERN) == [
        ("front/image", "/front/color/image_raw"),
        ("front/camera_info", "/front/color/camera_info"),
        ("rear/image", "/rear/color/image_raw"),
        ("rear/camera_info", "/rear/color/camera_info"),
    ]


def test_a_pattern_without_cameras_is_a_clear_error():
    with pytest.raises(RuntimeError, match="cameras"):
        seg_launch.remappings([], PATTERN)
