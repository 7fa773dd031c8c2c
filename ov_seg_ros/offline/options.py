"""ov-seg's options: those that are node parameters are generated from the parameter specs (default,
choices, help, and the parameter's own check), so ov-seg, the node and the launch file accept exactly
the same values; the recording options (topics, window, storage) are ov-seg's own."""

from __future__ import annotations

import argparse

from ..parameters.descriptions import describe
from ..parameters.specs import SPEC_BY_NAME, value_reason


def spec_option(group: argparse._ActionsContainer, name: str) -> None:
    """--name for the node parameter `name`: default, choices and help from its spec, and the value checked
    by the parameter's own rule, so ov-seg, the node and the launch file accept exactly the same values."""
    spec = SPEC_BY_NAME[name]

    def checked(text: str) -> object:
        try:
            value = text if spec.dynamic_typing else type(spec.default)(text)  # lists: "a,b", as the node takes
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a {type(spec.default).__name__}, got {text!r}") from None
        reason = value_reason(name, value)
        if reason:
            raise argparse.ArgumentTypeError(reason)
        return value

    group.add_argument(
        "--" + name.replace("_", "-"),
        type=checked,
        default=spec.default,
        metavar="|".join(spec.choices) if spec.choices else None,
        help=describe(spec).replace("%", "%%") + " (default: %(default)s)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, got {text}")
    return value


def add_bag_args(p: argparse.ArgumentParser) -> None:
    """Options that only apply to a rosbag2 input; the engine options above apply to both."""
    g = p.add_argument_group("rosbag2 input")
    g.add_argument(
        "--topic",
        help="image topic (sensor_msgs/Image or CompressedImage, JPEG/PNG); may be "
        "left out when the bag has exactly one image topic",
    )
    g.add_argument(
        "--camera-info-topic",
        help="sensor_msgs/CameraInfo matched by stamp; written rescaled to <namespace>/camera_info",
    )
    g.add_argument(
        "--depth-topic",
        help="registered depth (16UC1 mm / 32FC1 m) matched by stamp; "
        "writes <namespace>/points (needs --camera-info-topic)",
    )
    spec_option(g, "depth_tolerance")
    spec_option(g, "point_stride")
    spec_option(g, "max_depth")
    g.add_argument("--namespace", default="/ov_seg", help="output topic prefix (default: %(default)s)")
    g.add_argument(
        "--storage", choices=("mcap", "sqlite3"), default="mcap", help="output storage (default: %(default)s)"
    )
    g.add_argument("--overlay", action="store_true", help="also write <namespace>/overlay (rgb8, legend)")
    spec_option(g, "overlay_alpha")
    consumers = ("label_encoding", "confidence_encoding", "points_layout", "targets", "obstacle_classes")
    for name in (*consumers, "min_object_pixels"):  # written as the node publishes them (offline/outputs.py)
        spec_option(g, name)
    g.add_argument(
        "--copy-input",
        action="store_true",
        help="also copy every input topic (in the --start/--end window): one self-contained bag",
    )
    g.add_argument("--start", type=_seconds, default=0.0, help="seconds from the bag's start (default: 0)")
    g.add_argument("--end", type=_seconds, default=None, help="seconds from the bag's start (default: its end)")
    g.add_argument("--every", type=_positive, default=1, help="segment every n-th frame (default: 1)")
    g.add_argument("--batch-size", type=_positive, default=4, help="frames per forward pass (default: %(default)s)")
    g.add_argument(
        "--overwrite", action="store_true", help="replace an existing output bag (only once the new one is complete)"
    )
