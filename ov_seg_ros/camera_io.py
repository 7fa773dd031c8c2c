"""One camera's topics on the `ov_seg` node: image / camera_info / depth in, labels ... points out.

A camera named "" uses the node's plain names (`image`, `~/labels`); a camera named "front" uses
`front/image` and `~/front/labels`, so one node (one model in memory) serves several cameras and
every name stays remappable. No algorithm here: results come from `Segmenter`, pixels from `convert`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from . import convert
from .adaptive_subscription import AdaptiveSubscription
from .pointcloud import semantic_points, to_pointcloud2
from .segmenter import Segmentation
from .visualize import render_overlay

DEPTH_BUFFER = 30  # depth images kept for stamp matching (1 s at 30 Hz)
OUTPUT_TYPES = {"labels": Image, "confidence": Image, "objectness": Image, "overlay": Image,
                "camera_info": CameraInfo, "points": PointCloud2}


@dataclass
class Frame:
    """One camera message on its way through the node: the subscription callback stores the message
    as it came; the worker converts it to `rgb` only when it takes the frame, so frames replaced in
    the latest-frame slot before that never cost a conversion."""

    camera: str
    header: Any
    message: Union[Image, CompressedImage]
    received: float  # time.monotonic() at arrival, for latency
    rgb: Optional[np.ndarray] = None  # H x W x 3 uint8, set by the worker


def qos(depth: int, reliable: bool, latched: bool = False) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


def stamp_seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


# transport -> (message type, suffix image_transport appends to the base topic)
TRANSPORTS: Dict[str, Tuple[type, str]] = {
    "raw": (Image, ""), "compressed": (CompressedImage, "/compressed"),
    "compressedDepth": (CompressedImage, "/compressedDepth")}


def transport_topic(node: Node, name: str, transport: str) -> Tuple[type, str]:
    """(message type, topic) of an image input: `name` itself for raw images; otherwise `name` resolved
    with the node's remappings plus the transport's suffix, as image_transport names it."""
    msg_type, suffix = TRANSPORTS[transport]
    return (msg_type, node.resolve_topic_name(name) + suffix) if suffix else (msg_type, name)


class CameraIO:
    """Subscriptions and publishers of one camera, plus its latest CameraInfo and recent depth."""

    def __init__(self, node: Node, name: str, cfg: Dict[str, Any],
                 on_image: Callable[[CameraIO, Union[Image, CompressedImage]], None]) -> None:
        self.name = name
        self._camera_info: Optional[CameraInfo] = None
        self._depth: List[Union[Image, CompressedImage]] = []
        self._depth_lock = threading.Lock()
        prefix = f"{name}/" if name else ""
        out = qos(2, reliable=True)
        self._pubs = {kind: node.create_publisher(msg_type, f"~/{prefix}{kind}", out)
                      for kind, msg_type in OUTPUT_TYPES.items()}
        # Sensor-data QoS (depth 1) whose reliability follows the publishers (qos_reliability auto):
        # best effort matches every camera, but only reliable carries large frames without a profile.
        setting = cfg["qos_reliability"]
        image_type, image_topic = transport_topic(node, f"{prefix}image", cfg["image_transport"])
        self.inputs = [AdaptiveSubscription(node, image_type, image_topic, lambda msg: on_image(self, msg), setting),
                       AdaptiveSubscription(node, CameraInfo, f"{prefix}camera_info", self._on_camera_info, setting)]
        if cfg["publish_points"]:
            depth_type, depth_topic = transport_topic(node, f"{prefix}depth", cfg["depth_transport"])
            self.inputs.append(AdaptiveSubscription(node, depth_type, depth_topic, self._on_depth, setting,
                                                    depth=DEPTH_BUFFER))

    @property
    def topic(self) -> str:
        return self.inputs[0].topic

    def refresh_inputs(self) -> List[str]:
        """Follow publishers that came or went (auto QoS); log lines for re-created subscriptions."""
        return [line for line in (s.refresh() for s in self.inputs) if line]

    def input_problems(self) -> List[str]:
        """Frames not arriving or lost in transport, on the image topic (the others are optional)."""
        return self.inputs[0].problems()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_depth(self, msg: Union[Image, CompressedImage]) -> None:
        with self._depth_lock:
            self._depth = (self._depth + [msg])[-DEPTH_BUFFER:]

    def publish(self, frame: Frame, result: Segmentation, cfg: Dict[str, Any],
                banner: Optional[str]) -> bool:
        """Publish every output of one frame; False when ~/points was asked for but had no depth."""
        header, pubs = frame.header, self._pubs
        labels = result.label_image(cfg["min_confidence"])
        pubs["labels"].publish(convert.labels_to_image(labels, cfg["label_encoding"], header))
        pubs["confidence"].publish(convert.to_image(result.confidence, "32FC1", header))
        pubs["objectness"].publish(convert.to_image(result.objectness_image, "32FC1", header))
        if cfg["publish_overlay"] and pubs["overlay"].get_subscription_count() > 0:
            rgb = render_overlay(frame.rgb, labels, result.vocabulary.label_map(), cfg["overlay_alpha"], banner)
            pubs["overlay"].publish(convert.to_image(rgb, "rgb8", header))
        info = self._camera_info
        if info is not None:
            height, width = labels.shape
            pubs["camera_info"].publish(convert.rescale_camera_info(info, width, height, header))
        return self._publish_points(frame, result, labels, cfg) if cfg["publish_points"] else True

    def _matching_depth(self, stamp: Any, tolerance: float) -> Optional[Union[Image, CompressedImage]]:
        with self._depth_lock:
            candidates = list(self._depth)
        t = stamp_seconds(stamp)
        best = min(candidates, key=lambda d: abs(stamp_seconds(d.header.stamp) - t), default=None)
        if best is None or abs(stamp_seconds(best.header.stamp) - t) > tolerance:
            return None
        return best

    def _publish_points(self, frame: Frame, result: Segmentation, labels: np.ndarray,
                        cfg: Dict[str, Any]) -> bool:
        depth_msg = self._matching_depth(frame.header.stamp, cfg["depth_tolerance"])
        info = self._camera_info
        if depth_msg is None or info is None:
            return False
        height, width = labels.shape
        depth = convert.resize_nearest(convert.depth_to_metres(depth_msg), (height, width))
        fx, fy, cx, cy = convert.intrinsics(convert.rescale_camera_info(info, width, height))
        points = semantic_points(depth, fx, fy, cx, cy, labels, result.confidence,
                                 result.objectness_image, result.vocabulary.label_map(),
                                 stride=cfg["point_stride"], max_depth=cfg["max_depth"])
        self._pubs["points"].publish(to_pointcloud2(points, frame.header))
        return True
