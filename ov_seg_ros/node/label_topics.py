"""The latched topics that name the ids of ~/labels: `~/label_map` (std_msgs/String, JSON with colours,
version and encoding) and `~/label_info` (vision_msgs/LabelInfo, what Nav2's semantic layer reads), both
reliable, transient local. LabelInfo is published once for the node and, when cameras are named, once
per camera (`~/<cam>/label_info`, next to `~/<cam>/labels`), since the layer takes one per camera.

Called under the node's publish lock: for a new vocabulary (and label_encoding / min_confidence, the
LabelInfo `threshold`) before any output made with it, and LabelInfo again when a camera's frame_id first
becomes known or changes (its header names the camera's frame; the node's topic follows the first
camera). Where vision_msgs is missing LabelInfo is off and the node logs once why.

On a lifecycle node they are lifecycle publishers: what is published while inactive is dropped, so
`republish` sends the latest again on activation, before any output.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from rclpy.node import Node
from std_msgs.msg import Header, String

from ..engine.vocabulary import Vocabulary
from ..messages import vision
from ..messages.visualize import label_map_json
from .camera_io import destroy_managed_publisher, managed_publisher


class LabelTopics:
    """~/label_map and the LabelInfo publishers of one node; call under the publish lock."""

    def __init__(self, node: Node, cameras: Sequence[str], qos: Any) -> None:
        self._node = node
        self._label_map = managed_publisher(node, String, "~/label_map", qos)
        self._label_map_text = ""
        self._pubs: Dict[str, Any] = {}
        self._frame_ids: Dict[str, str] = {}
        self._first = cameras[0] if cameras else ""
        self._latest: Optional[tuple] = None  # (vocabulary, threshold) last published
        if vision.VISION_MSGS_MISSING:
            node.get_logger().warning(
                f"~/label_info, ~/detections and ~/detections_3d are off: {vision.VISION_MSGS_MISSING}"
            )
            return
        for topic in dict.fromkeys(["", *cameras]):
            self._pubs[topic] = managed_publisher(
                node, vision.LabelInfo, f"~/{topic}/label_info" if topic else "~/label_info", qos
            )
            self._frame_ids[topic] = ""

    def publish(self, vocab: Vocabulary, cfg: Mapping[str, Any]) -> None:
        """Every topic, for this vocabulary, label_encoding and min_confidence."""
        text = label_map_json(vocab, cfg["label_encoding"])
        if text != self._label_map_text:  # a min_confidence change alone leaves ~/label_map as it is
            self._label_map_text = text
            self._label_map.publish(String(data=text))
        self._latest = (vocab, cfg["min_confidence"])
        for topic in self._pubs:
            self._publish(topic)

    def republish(self) -> None:
        """Every topic again, as last published (after the lifecycle publishers were activated)."""
        if self._label_map_text:
            self._label_map.publish(String(data=self._label_map_text))
        for topic in self._pubs:
            self._publish(topic)

    def destroy(self) -> None:
        """Remove the publishers (cleanup)."""
        for pub in [self._label_map, *self._pubs.values()]:
            destroy_managed_publisher(self._node, pub)
        self._pubs, self._latest = {}, None

    def follow(self, camera: str, frame_id: str) -> None:
        """Republish the topics of `camera` when its images' frame_id differs from the one announced."""
        topics = {camera, ""} if camera == self._first else {camera}
        for topic in topics & self._pubs.keys():
            if self._frame_ids[topic] != frame_id:
                self._frame_ids[topic] = frame_id
                self._publish(topic)

    def _publish(self, topic: str) -> None:
        if self._latest is None:
            return
        vocab, threshold = self._latest
        header = Header(stamp=self._node.get_clock().now().to_msg(), frame_id=self._frame_ids[topic])
        self._pubs[topic].publish(vision.label_info(vocab.label_map(), threshold, header))
