"""A subscription whose reliability follows the publishers on its topic (`qos_reliability: auto`),
and which watches what arrives (silence while publishers exist, sequence gaps).

The rule itself is `image_link.wanted_reliability`; this class only applies it to rclpy: it looks at
the publishers' offered QoS once a second (its own timer) and re-creates the subscription when the wanted
reliability changes, e.g. when a reliable-only camera appears or a best-effort one joins it.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List, Optional

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from .image_link import ArrivalMonitor, wanted_reliability


class AdaptiveSubscription:
    """One input topic of the node (image, compressed image, depth, camera_info)."""

    def __init__(
        self, node: Node, msg_type: Any, topic: str, callback: Callable[[Any], None], setting: str, depth: int = 1
    ) -> None:
        self._node, self._type, self._callback, self._depth = node, msg_type, callback, depth
        self._setting = setting
        self.topic = node.resolve_topic_name(topic)
        self.monitor = ArrivalMonitor()
        self.reliability: Optional[str] = None
        self._subscription = None
        self._offers: List[str] = []  # reliability offered by each publisher on the topic, last looked at
        # The timer's refresh and `destroy` (a lifecycle transition, another callback group) may overlap.
        self._lock = threading.Lock()
        self._destroyed = False
        self.refresh()
        self._timer = node.create_timer(1.0, self._follow_publishers)

    def destroy(self) -> None:
        """Remove the subscription and its timer (the node deactivates)."""
        with self._lock:
            self._destroyed = True
            self._node.destroy_timer(self._timer)
            if self._subscription is not None:
                self._node.destroy_subscription(self._subscription)
                self._subscription = None

    def _follow_publishers(self) -> None:
        line = self.refresh()
        if line:
            self._node.get_logger().info(line)

    def refresh(self) -> Optional[str]:
        """Re-check the publishers; returns a log line when the subscription was re-created."""
        with self._lock:
            return None if self._destroyed else self._refresh()

    def _refresh(self) -> Optional[str]:
        infos = self._node.get_publishers_info_by_topic(self.topic)
        self._offers = [
            "reliable" if i.qos_profile.reliability == ReliabilityPolicy.RELIABLE else "best_effort" for i in infos
        ]
        wanted = wanted_reliability(self._setting, self._offers)
        self.monitor.publishers(len(self._offers), time.monotonic())
        if wanted == self.reliability:
            return None
        previous, self.reliability = self.reliability, wanted
        if self._subscription is not None:
            self._node.destroy_subscription(self._subscription)
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=self._depth,
            reliability=ReliabilityPolicy.RELIABLE if wanted == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        )
        self._subscription = self._node.create_subscription(self._type, self.topic, self._on_message, qos)
        if previous is None:
            return None
        return f"{self.topic}: subscription now {wanted} (publishers offer {', '.join(self._offers) or 'none'})"

    def _on_message(self, msg: Any, info: Any) -> None:
        # Sequence numbers are per publisher and the info does not say which one sent the message,
        # so gaps only count while there is exactly one publisher (the usual camera).
        sequence = info.get("publication_sequence_number") if len(self._offers) == 1 else None
        self.monitor.arrived(time.monotonic(), sequence=sequence)
        self._callback(msg)

    def problems(self) -> List[str]:
        return self.monitor.problems(self.topic, self.reliability or "?", time.monotonic())
