"""Every per-frame output of a camera, one `Output` entry each: topic suffix, message type, when it is
built, and the function that builds it. A new output is one entry in `OUTPUTS`, not one more branch.

An entry is advertised only when its message type is importable and its read-only switch (`requires`)
is on; per frame it is built only while its runtime switch (`when`) is on and, when `lazy`, while
someone subscribes. Builders take (frame, result, shared per-frame data, cfg) and return a message,
or None for "nothing to publish for this frame" (e.g. no camera_info yet). No rclpy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from ..engine.auto_weights import SEEDED
from ..engine.segmentation import Segmentation
from . import convert, vision
from .frame_data import FrameData
from .pointcloud import masked_points, organized_points, semantic_points, to_pointcloud2
from .visualize import SEEDED_BANNER, render_overlay

Config = Dict[str, Any]
Builder = Callable[[Any, Segmentation, FrameData, Config], Optional[Any]]


@dataclass(frozen=True)
class Output:
    """One output topic `~/<camera>/<suffix>` (reliable, keeping the last `qos_depth` messages)."""

    suffix: str
    msg_type: Any  # None when its package cannot be imported: not advertised
    build: Builder
    requires: Optional[str] = None  # read-only bool parameter without which the topic does not exist
    when: Optional[Callable[[Config], bool]] = None  # runtime switch, checked per frame
    lazy: bool = False  # built only while someone subscribes (costly outputs)
    qos_depth: int = 2
    # The class list parameter (targets, obstacle_classes) it reports on. While that list is empty the
    # node still publishes it (an empty cloud clears a costmap); a recording leaves it out.
    classes: Optional[str] = None


def advertised(cfg: Config, outputs: Optional[List[Output]] = None) -> List[Output]:
    """The outputs that get a publisher under this (read-only) configuration."""
    return [o for o in outputs or OUTPUTS if o.msg_type is not None and (o.requires is None or cfg[o.requires])]


def wanted(output: Output, cfg: Config, subscribers: int) -> bool:
    """Build `output` for this frame?"""
    return (output.when is None or output.when(cfg)) and not (output.lazy and subscribers == 0)


# ------------------------------------------------------------------------------ images
def _labels(frame: Any, result: Segmentation, shared: FrameData, cfg: Config) -> Image:
    return convert.labels_to_image(shared.labels, cfg["label_encoding"], frame.header)


def _confidence(frame: Any, result: Segmentation, shared: FrameData, cfg: Config) -> Image:
    if cfg["confidence_encoding"] == "mono8":  # Nav2's semantic layer reads round(p * 255)
        return convert.to_image(
            np.rint(np.clip(result.confidence, 0.0, 1.0) * 255).astype(np.uint8), "mono8", frame.header
        )
    return convert.to_image(result.confidence, "32FC1", frame.header)


def _objectness(frame: Any, result: Segmentation, shared: FrameData, cfg: Config) -> Image:
    return convert.to_image(result.objectness_image, "32FC1", frame.header)


def _overlay(frame: Any, result: Segmentation, shared: FrameData, cfg: Config) -> Image:
    banner = SEEDED_BANNER if SEEDED in (cfg["weights"], cfg["heads"]) else None
    rgb = render_overlay(frame.rgb, shared.labels, shared.label_map, cfg["overlay_alpha"], banner)
    return convert.to_image(rgb, "rgb8", frame.header)


def _camera_info(frame: Any, result: Segmentation, shared: FrameData, cfg: Config) -> Optional[CameraInfo]:
    if shared.camera_info is None:
        return None
    height, width = shared.labels.shape
    return convert.rescale_camera_info(shared.camera_info, width, height, frame.header)


def _instances(frame: Any, result: Segmentation, shared: FrameData, cfg: Config) -> Image:
    return convert.to_image(shared.objects.instances, "mono16", frame.header)


# ------------------------------------------------------------------------------ clouds
def _points(frame: Any, result: Segmentation, shared: FrameData, cfg: Config) -> Optional[PointCloud2]:
    if shared.depth is None:
        return None
    args = (
        shared.depth,
        *shared.intrinsics,
        shared.labels,
        result.confidence,
        result.objectness_image,
        shared.label_map,
    )
    if cfg["points_layout"] == "organized":
        return to_pointcloud2(organized_points(*args, max_depth=cfg["max_depth"]), frame.header)
    points = semantic_points(*args, stride=cfg["point_stride"], max_depth=cfg["max_depth"])
    return to_pointcloud2(points, frame.header)


def _obstacles(frame: Any, result: Segmentation, shared: FrameData, cfg: Config) -> Optional[PointCloud2]:
    """x y z of obstacle-class pixels on the stride grid; empty (not skipped) so a costmap clears."""
    if shared.depth is None:
        return None
    mask = np.isin(shared.labels, shared.class_ids("obstacle_classes"))
    points, _ = masked_points(shared.depth, *shared.intrinsics, mask, cfg["point_stride"], cfg["max_depth"])
    return to_pointcloud2(points, frame.header)


def _target_points(frame: Any, result: Segmentation, shared: FrameData, cfg: Config) -> Optional[PointCloud2]:
    points = shared.target_points
    return None if points is None else to_pointcloud2(points, frame.header)


# -------------------------------------------------------------------------- detections
def _detections(frame: Any, result: Segmentation, shared: FrameData, cfg: Config) -> Any:
    return vision.detections_2d(shared.objects, shared.label_map, frame.header)


def _detections_3d(frame: Any, result: Segmentation, shared: FrameData, cfg: Config) -> Any:
    boxes = shared.boxes_3d
    return None if boxes is None else vision.detections_3d(boxes, shared.objects, shared.label_map, frame.header)


OUTPUTS: List[Output] = [
    Output("labels", Image, _labels),
    Output("confidence", Image, _confidence),
    Output("objectness", Image, _objectness),
    Output("overlay", Image, _overlay, when=lambda cfg: cfg["publish_overlay"], lazy=True),
    Output("camera_info", CameraInfo, _camera_info),
    Output("points", PointCloud2, _points, requires="publish_points", lazy=True),
    Output("obstacles/points", PointCloud2, _obstacles, "publish_points", lazy=True, classes="obstacle_classes"),
    Output("detections", vision.Detection2DArray, _detections, lazy=True, classes="targets"),
    Output("instances", Image, _instances, lazy=True, classes="targets"),
    Output("detections_3d", vision.Detection3DArray, _detections_3d, "publish_points", lazy=True, classes="targets"),
    Output("targets/points", PointCloud2, _target_points, "publish_points", lazy=True, classes="targets"),
]
