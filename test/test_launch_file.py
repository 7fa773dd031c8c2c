"""seg.launch.py's arguments and topic remapping rule (pure; the launch itself runs in test_node*.py)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("launch_ros", reason="ros2 launch not installed (see shared/ros2-cli/README.md)")
spec = importlib.util.spec_from_file_location(
    "seg_launch", Path(__file__).resolve().parents[1] / "launch" / "seg.launch.py"
)
seg_launch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seg_launch)

from ov_seg_ros.parameters.specs import LAUNCH_SPECS  # noqa: E402  (after the skip)

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


TOPICS_AND_FILE = ["image", "camera_info", "depth", "params_file", "namespace", "node_name"]
PARAMETERS = [  # the parameter arguments the launch file had by hand before they came from the specs
    "device",
    "weights",
    "heads",
    "vocabulary",
    "publish_points",
    "qos_reliability",
    "cameras",
    "image_transport",
    "depth_transport",
    "autostart",
    "precision",  # with backend: issue 24
    "backend",
]


def test_arguments_are_the_topics_and_the_launch_specs():
    from launch import LaunchContext
    from launch.utilities import perform_substitutions

    declared = {a.name: a for a in seg_launch.generate_launch_description().get_launch_arguments()}
    assert sorted(declared) == sorted(TOPICS_AND_FILE + PARAMETERS)
    assert sorted(s.name for s in LAUNCH_SPECS) == sorted(PARAMETERS)
    for spec in LAUNCH_SPECS:  # '' = as in the params file, described as the parameter is
        argument = declared[spec.name]
        assert perform_substitutions(LaunchContext(), argument.default_value) == ""
        assert argument.description.startswith(spec.description) and "'' = params file" in argument.description


def test_lists_and_booleans_are_parsed_as_yaml_the_rest_taken_as_text():
    assert {name for name, spec in seg_launch.OVERRIDES.items() if spec.yaml_valued} == {
        "vocabulary",
        "publish_points",
        "cameras",
        "autostart",
    }
