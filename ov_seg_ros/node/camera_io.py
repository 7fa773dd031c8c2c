"""One camera's topics on the `ov_seg` node: image / camera_info / depth in, the `outputs` table out.

A camera named "" uses the node's plain names (`image`, `~/labels`); a camera named "front" uses
`front/image` and `~/front/labels`, so one node (one model in memory) serves several cameras and
every name stays remappable. No algorithm here: results come from `Segmenter`, messages from `outputs`.

Publishers are made when the node is configured, subscriptions only while it is active (`subscribe` /
`unsubscribe`): a lifecycle node that is inactive neither receives nor publishes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ..engine.segmentation import Segmentation
from ..messages.frame_data import FrameData
from ..messages.outputs import advertised, wanted
from ..parameters.specs import DEFAULTS
from .adaptive_subscription import AdaptiveSubscription

DEPTH_BUFFER = 30  # depth images kept for stamp matching (1 s at 30 Hz)


@dataclass
class Frame:
    """One camera message on its way through the node: the subscription callback stores the message
    as it came; the worker converts it to `rgb` only when it takes the frame, so frames replaced in
    the latest-frame slot before that never cost a conversion."""

    camera: str
    message: Union[Image, CompressedImage]
    received: float  # time.monotonic() at arrival, for latency
    rgb: Optional[np.ndarray] = None  # H x W x 3 uint8, set by the worker

    @property
    def header(self) -> Any:
        """The input's header, which every output of the frame carries."""
        return self.message.header


@dataclass
class Outgoing:
    """One frame's built messages and their publishers; publish() puts them on the wire in table order."""

    messages: List[Tuple[Any, Any]]
    depth_unmatched: bool  # depth was wanted for this frame but none matched its stamp

    def publish(self) -> bool:
        """Publish every message; False when depth was wanted but none matched."""
        for pub, msg in self.messages:
            pub.publish(msg)
        return not self.depth_unmatched


def qos(depth: int, reliable: bool, latched: bool = False) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def managed_publisher(node: Node, msg_type: Any, topic: str, qos_profile: QoSProfile) -> Any:
    """A lifecycle publisher on a lifecycle node (silent until activated, switched by its transitions),
    a plain one on a plain node."""
    create = getattr(node, "create_lifecycle_publisher", node.create_publisher)
    return create(msg_type, topic, qos_profile)


def destroy_managed_publisher(node: Node, publisher: Any) -> None:
    getattr(node, "destroy_lifecycle_publisher", node.destroy_publisher)(publisher)


def stamp_seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


# transport -> (message type, suffix image_transport appends to the base topic)
TRANSPORTS: Dict[str, Tuple[type, str]] = {
    "raw": (Image, ""),
    "compressed": (CompressedImage, "/compressed"),
    "compressedDepth": (CompressedImage, "/compressedDepth"),
}


def transport_topic(node: Node, name: str, transport: str) -> Tuple[type, str]:
    """(message type, topic) of an image input: `name` itself for raw images; otherwise `name` resolved
    with the node's remappings plus the transport's suffix, as image_transport names it."""
    msg_type, suffix = TRANSPORTS[transport]
    return (msg_type, node.resolve_topic_name(name) + suffix) if suffix else (msg_type, name)


class CameraIO:
    """Subscriptions and publishers of one camera, plus its latest CameraInfo and recent depth."""

    def __init__(
        self,
        node: Node,
        name: str,
        cfg: Dict[str, Any],
        on_image: Callable[[CameraIO, Union[Image, CompressedImage]], None],
    ) -> None:
        self.name = name
        self._node = node
        self._on_image = on_image
        self._camera_info: Optional[CameraInfo] = None
        self._depth: List[Union[Image, CompressedImage]] = []
        self._depth_lock = threading.Lock()
        self._prefix = prefix = f"{name}/" if name else ""
        self._logger = node.get_logger()
        self._pubs = [
            (o, managed_publisher(node, o.msg_type, f"~/{prefix}{o.suffix}", qos(o.qos_depth, reliable=True)))
            for o in advertised(cfg)
        ]
        self._cfg = {k: cfg[k] for k in ("qos_reliability", "image_transport", "depth_transport", "publish_points")}
        self.topic = node.resolve_topic_name(transport_topic(node, f"{prefix}image", cfg["image_transport"])[1])
        self.inputs: List[AdaptiveSubscription] = []

    def subscribe(self) -> None:
        """Subscribe to the inputs (image, camera_info, depth with publish_points)."""
        # Sensor-data QoS (depth 1) whose reliability follows the publishers (qos_reliability auto):
        # best effort matches every camera, but only reliable carries large frames without a profile.
        node, cfg, prefix = self._node, self._cfg, self._prefix
        setting = cfg["qos_reliability"]
        image_type, image_topic = transport_topic(node, f"{prefix}image", cfg["image_transport"])
        self.inputs = [
            AdaptiveSubscription(node, image_type, image_topic, lambda msg: self._on_image(self, msg), setting),
            AdaptiveSubscription(node, CameraInfo, f"{prefix}camera_info", self._on_camera_info, setting),
        ]
        if cfg["publish_points"]:
            depth_type, depth_topic = transport_topic(node, f"{prefix}depth", cfg["depth_transport"])
            self.inputs.append(
                AdaptiveSubscription(node, depth_type, depth_topic, self._on_depth, setting, depth=DEPTH_BUFFER)
            )

    def unsubscribe(self) -> None:
        """Stop every input and forget the depth images kept for matching."""
        inputs, self.inputs = self.inputs, []
        for subscription in inputs:
            subscription.destroy()
        with self._depth_lock:
            self._depth = []

    def destroy(self) -> None:
        """Unsubscribe and remove the publishers (cleanup)."""
        self.unsubscribe()
        pubs, self._pubs = self._pubs, []
        for _, pub in pubs:
            destroy_managed_publisher(self._node, pub)

    def input_problems(self) -> List[str]:
        """Frames not arriving or lost in transport, on the image topic (the others are optional)."""
        inputs = self.inputs
        return inputs[0].problems() if inputs else []

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_depth(self, msg: Union[Image, CompressedImage]) -> None:
        with self._depth_lock:
            self._depth = (self._depth + [msg])[-DEPTH_BUFFER:]

    def build(self, frame: Frame, result: Segmentation, cfg: Dict[str, Any]) -> Outgoing:
        """Every wanted output of one frame, built but not published (the caller publishes under its lock)."""
        depth = self._matching_depth(frame.header.stamp, cfg["depth_tolerance"]) if cfg["publish_points"] else None
        info = self._camera_info
        shared = FrameData(result, cfg, info, depth)
        if cfg["points_layout"] == "organized" and cfg["point_stride"] != DEFAULTS["point_stride"]:
            self._logger.warning(
                "point_stride does not apply to the organized ~/points layout (it still thins ~/obstacles/points)",
                once=True,
            )
        messages = [
            (pub, output.build(frame, result, shared, cfg))
            for output, pub in self._pubs
            if wanted(output, cfg, pub.get_subscription_count())
        ]
        unmatched = cfg["publish_points"] and (depth is None or info is None)
        return Outgoing([(pub, msg) for pub, msg in messages if msg is not None], unmatched)

    def _matching_depth(self, stamp: Any, tolerance: float) -> Optional[Union[Image, CompressedImage]]:
        with self._depth_lock:
            candidates = list(self._depth)
        t = stamp_seconds(stamp)
        best = min(candidates, key=lambda d: abs(stamp_seconds(d.header.stamp) - t), default=None)
        if best is None or abs(stamp_seconds(best.header.stamp) - t) > tolerance:
            return None
        return best
