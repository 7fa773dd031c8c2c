"""ros2 launch ov_seg_ros seg.launch.py image:=/camera/color/image_raw [weights:=... device:=cuda]

Starts the ov_seg node with config/seg.yaml (or params_file:=...); the parameter arguments (those the
spec table `ov_seg_ros.parameters.specs` marks `launch`) override it only when given, so one params file serves
several cameras. Several cameras on one model:
    ros2 launch ov_seg_ros seg.launch.py cameras:="[front, rear]" image:=/{camera}/color/image_raw
remaps front/image to /front/color/image_raw and so on ({camera} is replaced per camera).
"""

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from ov_seg_ros.parameters.descriptions import launch_arguments
from ov_seg_ros.parameters.specs import LAUNCH_SPECS

# Parameter arguments come from the node's spec table (ParamSpec.launch): '' = as in the params file.
OVERRIDES = {spec.name: spec for spec in LAUNCH_SPECS}
INPUTS = ("image", "camera_info", "depth")


def remappings(cameras, topics):
    """One camera: image -> topic. Named cameras: <camera>/image -> topic with {camera} filled in
    (topics without {camera} stay unremapped, since all cameras would read the same one)."""
    if isinstance(cameras, str):  # cameras:=front or cameras:="front, rear"
        cameras = [c.strip() for c in cameras.split(",") if c.strip()]
    if not cameras:
        if any("{camera}" in topics[name] for name in INPUTS):
            raise RuntimeError('a topic names {camera} but no cameras are given: add cameras:="[front, rear]"')
        return [(name, topics[name]) for name in INPUTS]
    return [
        (f"{camera}/{name}", topics[name].replace("{camera}", camera))
        for camera in cameras
        for name in INPUTS
        if "{camera}" in topics[name]
    ]


def _node(context, *args, **kwargs):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    overrides = {
        name: yaml.safe_load(arg(name)) if spec.yaml_valued else arg(name)
        for name, spec in OVERRIDES.items()
        if arg(name) not in ("", "[]")
    }
    return [
        Node(
            package="ov_seg_ros",
            executable="ov_seg_node",
            name=arg("node_name"),
            namespace=arg("namespace"),
            output="screen",
            emulate_tty=True,
            parameters=[arg("params_file"), overrides],
            remappings=remappings(overrides.get("cameras", []), {name: arg(name) for name in INPUTS}),
        )
    ]


def generate_launch_description() -> LaunchDescription:
    config = os.path.join(get_package_share_directory("ov_seg_ros"), "config", "seg.yaml")
    args = [
        (
            "image",
            "/camera/color/image_raw",
            "camera image topic (rgb8/bgr8/rgba8/bgra8/mono8/mono16, 16-bit colour, yuv422, bayer_*); "
            "with cameras, e.g. /{camera}/image_raw",
        ),
        ("camera_info", "/camera/color/camera_info", "CameraInfo of the image"),
        (
            "depth",
            "/camera/aligned_depth_to_color/image_raw",
            "depth registered to the image (16UC1 mm or 32FC1 m), used when publish_points is true",
        ),
        ("params_file", config, "YAML parameters file"),
        ("namespace", "", "namespace of the node"),
        ("node_name", "ov_seg", "name of the node"),
    ] + [(name, "", text) for name, text in launch_arguments()]
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in args]
        + [OpaqueFunction(function=_node)]
    )
