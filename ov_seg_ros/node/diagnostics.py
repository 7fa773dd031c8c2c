"""What the node reports about itself: the `/diagnostics` status built from `FrameStats`, the inputs'
problems, the lifecycle state and memory held now, the periodic status line in the log, and peak memory
(also used by bench/bench_engine.py).

No torch and no ROS at import: `diagnostic_msgs` is imported where a status is built and torch only to
read a CUDA device's peak, so engine tools report memory the same way without a ROS install.
"""

from __future__ import annotations

import re
import resource
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .frames import FrameStats, Throttle
from .memory import device_memory_mib, resident_mib

COUNTS = ("received", "processed", "dropped", "bad_images", "failed", "depth_unmatched", "batched")
STATUS_PERIOD = 10  # diagnostics ticks (s) between status lines in the log


def peak_memory_mib(device: Any) -> Dict[str, float]:
    """Peak resident memory of this process and, on a CUDA device (torch.device or 'cuda:N'), the peak
    memory torch allocated on it."""
    peak = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if getattr(device, "type", str(device).split(":")[0]) == "cuda":
        import torch  # only where a CUDA engine already loaded it

        peak["device_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return peak


def diagnostic_values(
    stats: FrameStats, cfg: Dict[str, Any], device: Any, vocabulary: Optional[Any], topics: Iterable[str]
) -> Dict[str, str]:
    """The key/value pairs of the node's status: rate, latency, counters, memory, cameras, vocabulary
    (left out while none is encoded: the node is not configured)."""
    counts = stats.snapshot()
    latency = stats.latency_percentiles()
    return {
        "frames_per_second": f"{stats.frames_per_second():.2f}",
        "latency_p50_ms": f"{latency['p50'] * 1e3:.1f}",
        "latency_p95_ms": f"{latency['p95'] * 1e3:.1f}",
        **{k: str(counts.get(k, 0)) for k in COUNTS},
        "device": str(cfg["device"]),
        **{k: f"{v:.0f}" for k, v in peak_memory_mib(device).items()},
        "cameras": ", ".join(topics),
        **(
            {}
            if vocabulary is None
            else {
                "vocabulary_size": str(len(vocabulary.names)),
                "vocabulary_version": str(vocabulary.version),
                "vocabulary": ", ".join(vocabulary.names),
            }
        ),
    }


def diagnostic_status(
    name: str, hardware_id: str, values: Dict[str, str], problems: List[str], state: str = "active"
) -> Any:
    """A diagnostic_msgs/DiagnosticStatus: OK, or WARN with the failures or the inputs' problems. Out of
    the `active` lifecycle state the message is the state: no images are expected then."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    level, message = DiagnosticStatus.OK, "ok" if int(values["processed"]) else "waiting for images"
    if state != "active":
        message = f"{state}: not processing images"
    if int(values["failed"]):
        level, message = DiagnosticStatus.WARN, "some frames failed (see log)"
    if problems:  # the reason and the fix, where a monitoring tool shows them
        level, message = DiagnosticStatus.WARN, "; ".join(problems)
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )


def status_line(values: Dict[str, str]) -> str:
    """The periodic log line: rate, latency, counters."""
    return (
        f"{values['frames_per_second']} frames/s, latency p50 {values['latency_p50_ms']} ms "
        f"p95 {values['latency_p95_ms']} ms; processed {values['processed']}, "
        f"dropped {values['dropped']}, bad {values['bad_images']}"
    )


class Diagnostics:
    """The node's `/diagnostics` publisher, ticked once a second; logs a status line every STATUS_PERIOD
    ticks while frames flow and each input problem at most once per throttle period."""

    def __init__(self, node: Any, stats: FrameStats, throttle: Throttle) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        self._node = node
        self._stats = stats
        self._throttle = throttle
        self._array = DiagnosticArray
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._ticks = 0

    def publish(
        self,
        cfg: Dict[str, Any],
        device: Any,
        vocabulary: Optional[Any],
        cameras: Iterable[Any],
        state: str = "active",
        problems: Sequence[str] = (),
    ) -> None:
        """One status: `state` is the lifecycle state, `problems` the node's own (a failed configure)."""
        cameras = list(cameras)
        values = {
            "lifecycle_state": state,
            **diagnostic_values(self._stats, cfg, device, vocabulary, (c.topic for c in cameras)),
            "rss_mib": f"{resident_mib():.0f}",  # falls after cleanup, unlike the peak
            **{k: f"{v:.0f}" for k, v in device_memory_mib(device).items()},
        }
        problems = [*problems, *self.input_problems(cameras)]
        status = diagnostic_status(
            f"{self._node.get_name()}: segmentation", str(cfg["device"]), values, problems, state
        )
        stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(self._array(header=_header(stamp), status=[status]))
        self._ticks += 1
        if self._ticks % STATUS_PERIOD == 0 and int(values["processed"]) and state == "active":
            self._node.get_logger().info(status_line(values))

    def input_problems(self, cameras: Iterable[Any]) -> List[str]:
        """Inputs that stay silent or lose frames, each logged at most once per throttle period."""
        problems = [problem for camera in cameras for problem in camera.input_problems()]
        for problem in problems:
            if worth_logging(self._throttle, problem):
                self._node.get_logger().warning(problem)
        return problems


def worth_logging(throttle: Throttle, text: str) -> bool:
    """False when the same kind of message (digits aside) was logged within the throttle period. The
    caller logs: rclpy ties a call site to one severity, so a shared logging helper would raise."""
    return throttle.ready(re.sub(r"\d+", "#", text))


def _header(stamp: Any) -> Any:
    from std_msgs.msg import Header

    return Header(stamp=stamp)
