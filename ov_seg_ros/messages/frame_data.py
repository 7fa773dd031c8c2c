"""What several outputs of one frame share, computed at most once and only when an output asks for it:
the label image, the matched depth in metres at the labels' size, the intrinsics at that size, the
objects of the target classes and their back-projected points. No rclpy: message classes only.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from sensor_msgs.msg import CameraInfo, Image

from ..engine.segmentation import Segmentation
from ..parameters.checks import class_names
from . import convert
from .depth import depth_to_metres, resize_nearest
from .objects import Boxes3D, Objects, boxes_3d, find_objects
from .pointcloud import TARGET_DTYPE, masked_points


class FrameData:
    """Shared per-frame results for the output builders of one camera (one frame, one cfg snapshot)."""

    def __init__(
        self, result: Segmentation, cfg: Dict[str, Any], camera_info: Optional[CameraInfo], depth: Optional[Image]
    ) -> None:
        self.result, self.cfg = result, cfg
        self.camera_info = camera_info  # the camera's latest, at its own resolution
        self.depth_msg = depth  # matched by stamp; None when there is none (or no depth is wanted)

    @cached_property
    def labels(self) -> np.ndarray:
        return self.result.label_image(self.cfg["min_confidence"])

    @cached_property
    def label_map(self) -> Dict[int, str]:
        return self.result.vocabulary.label_map()

    @cached_property
    def scaled_info(self) -> Optional[CameraInfo]:
        """camera_info rescaled to the labels' size (no header: builders stamp it)."""
        if self.camera_info is None:
            return None
        height, width = self.labels.shape
        return convert.rescale_camera_info(self.camera_info, width, height)

    @cached_property
    def intrinsics(self) -> Optional[Tuple[float, float, float, float]]:
        return None if self.scaled_info is None else convert.intrinsics(self.scaled_info)

    @cached_property
    def depth(self) -> Optional[np.ndarray]:
        """Matched depth in metres (NaN = none) at the labels' size; None without depth or intrinsics."""
        if self.depth_msg is None or self.intrinsics is None:
            return None
        return resize_nearest(depth_to_metres(self.depth_msg), self.labels.shape)

    def class_ids(self, parameter: str) -> List[int]:
        """Label ids of the names in a class list parameter; names the vocabulary lacks match nothing."""
        ids = {name: i for i, name in self.label_map.items() if i}
        return [ids[n] for n in class_names(self.cfg, parameter) if n in ids]

    @cached_property
    def objects(self) -> Objects:
        return find_objects(
            self.labels, self.class_ids("targets"), self.result.confidence, self.cfg["min_object_pixels"]
        )

    @cached_property
    def target_points(self) -> Optional[np.ndarray]:
        """TARGET_DTYPE points of every target pixel with valid depth (full resolution); None w/o depth."""
        if self.depth is None:
            return None
        mask = np.isin(self.labels, self.class_ids("targets"))
        xyz, index = masked_points(self.depth, *self.intrinsics, mask, stride=1, max_depth=self.cfg["max_depth"])
        points = np.empty(xyz.size, TARGET_DTYPE)
        for axis in "xyz":
            points[axis] = xyz[axis]
        points["label"] = self.labels.ravel().take(index)
        points["instance"] = self.objects.instances.ravel().take(index)
        return points

    @cached_property
    def boxes_3d(self) -> Optional[Boxes3D]:
        points = self.target_points
        if points is None:
            return None
        on_object = np.flatnonzero(points["instance"])  # target pixels outside objects have instance 0
        return boxes_3d([points[axis].take(on_object) for axis in "xyz"], points["instance"].take(on_object))
