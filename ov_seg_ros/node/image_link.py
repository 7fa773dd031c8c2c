"""The link from a camera's publishers to the node's image subscription: which reliability to ask
for, and whether frames actually arrive. Pure Python (no rclpy), so it is unit-tested on values.

Why it exists: a best-effort subscription matches every publisher but, with Fast DDS's builtin
transports, receives no frame above ~512 KB; a reliable subscription receives them but matches only
reliable publishers. `auto` therefore asks for reliable exactly when every publisher offers it.
"""

from __future__ import annotations

import collections
from typing import Deque, Dict, List, Optional, Sequence, Tuple

SILENCE_S = 5.0  # a publisher matched for this long without a frame is a problem worth a WARN
LOSS_WINDOW_S = 10.0
PROFILE_HINT = (
    "give the camera's process the shipped Fast DDS profile (export FASTDDS_DEFAULT_PROFILES_FILE, on Jazzy "
    "FASTRTPS_DEFAULT_PROFILES_FILE, =<ov_seg_ros share>/config/fastdds_large_data.xml) or have it publish "
    "reliably"
)


def wanted_reliability(setting: str, publishers: Sequence[str]) -> str:
    """'reliable' or 'best_effort' for the subscription, from the setting and the publishers' offers."""
    if setting != "auto":
        return setting
    return "reliable" if publishers and all(p == "reliable" for p in publishers) else "best_effort"


class ArrivalMonitor:
    """Counts what reaches one image subscription: silence while publishers exist, sequence gaps."""

    def __init__(self) -> None:
        self._last_arrival: Optional[float] = None
        self._publishers_since: Optional[float] = None
        self._last_seq: Dict[bytes, int] = {}
        self._losses: Deque[Tuple[float, int, int]] = collections.deque()  # (time, lost, received)

    def publishers(self, count: int, now: float) -> None:
        """The number of publishers now on the topic (called about once a second)."""
        if count == 0:
            self._publishers_since = None
        elif self._publishers_since is None:
            self._publishers_since = now

    def arrived(self, now: float, publisher: bytes = b"", sequence: Optional[int] = None) -> None:
        """One frame arrived; `sequence` is the DDS publication sequence number when the RMW gives it."""
        self._last_arrival = now
        lost = 0
        if sequence:
            previous = self._last_seq.get(publisher)
            if previous is not None and sequence > previous + 1:
                lost = sequence - previous - 1
            self._last_seq[publisher] = sequence
        self._losses.append((now, lost, 1))
        while self._losses and self._losses[0][0] < now - LOSS_WINDOW_S:
            self._losses.popleft()

    def lost_recently(self) -> Tuple[int, int]:
        """(frames lost in transport, frames received) over the last LOSS_WINDOW_S seconds."""
        return sum(x[1] for x in self._losses), sum(x[2] for x in self._losses)

    def problems(self, topic: str, reliability: str, now: float) -> List[str]:
        """Each problem as one sentence with its fix; empty when frames flow as they should."""
        found = []
        quiet_since = None if self._publishers_since is None else max(self._publishers_since, self._last_arrival or 0.0)
        if quiet_since is not None and now - quiet_since >= SILENCE_S:
            found.append(
                f"{topic}: a publisher is matched but no frame arrived for {now - quiet_since:.0f} s "
                f"({reliability} subscription): large best-effort frames need a bigger DDS "
                f"transport: {PROFILE_HINT}"
            )
        lost, received = self.lost_recently()
        if lost:
            found.append(
                f"{topic}: {lost} of {lost + received} frames lost in transport in the last "
                f"{LOSS_WINDOW_S:.0f} s (sequence gaps): {PROFILE_HINT}"
            )
        return found
