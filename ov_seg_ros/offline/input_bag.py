"""rosbag2 recordings on disk: open and index an input bag, match by stamp (ov_seg_ros.output_bag
writes the result).

Pure `rosbags` (no rclpy, no ROS installation): reading works for MCAP and sqlite3 bags of any ROS 2
distro. Every problem with the recording itself is raised as `BagError` with one line that
names the file or topic, so the CLI can print it and exit without a traceback.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
BAG_SUFFIXES = (".mcap", ".db3")
_DISTROS = {
    "humble": Stores.ROS2_HUMBLE,
    "iron": Stores.ROS2_IRON,
    "jazzy": Stores.ROS2_JAZZY,
    "kilted": Stores.ROS2_KILTED,
}


class BagError(RuntimeError):
    """The recording, a topic or the output cannot be used; the message is one line for the user."""


def is_bag(path: Path) -> bool:
    """A rosbag2 directory (with metadata.yaml) or a single .mcap / .db3 storage file."""
    return (path / "metadata.yaml").is_file() if path.is_dir() else path.suffix in BAG_SUFFIXES


def typestore_for(distro: Optional[str]) -> Typestore:
    """The bag's own distro's types when it says (metadata v8+), else Kilted's (the venv's rclpy)."""
    return get_typestore(_DISTROS.get((distro or "").lower(), Stores.ROS2_KILTED))


def header_stamp_ns(raw: bytes) -> int:
    """Header stamp of a CDR message that starts with std_msgs/Header, without deserializing it.

    CDR is a 4-byte encapsulation header (byte 1: 0 big, 1 little endian), then stamp.sec (int32) and
    stamp.nanosec (uint32): reading 8 bytes lets the index pass skip decoding whole images.
    """
    if len(raw) < 12:
        raise ValueError(f"message of {len(raw)} bytes is too short for a header")
    sec, nanosec = struct.unpack("<iI" if raw[1] & 1 else ">iI", bytes(raw[4:12]))
    return sec * 1_000_000_000 + nanosec


@dataclass
class TopicIndex:
    """One topic's messages in reading order: header stamps (ns; None if unreadable) and log times."""

    stamps: List[Optional[int]] = field(default_factory=list)
    log_times: List[int] = field(default_factory=list)
    raw: List[bytes] = field(default_factory=list)  # kept only for small topics (camera_info)

    def add(self, raw: bytes, log_time: int, keep: bool) -> None:
        try:
            self.stamps.append(header_stamp_ns(raw))
        except ValueError:
            self.stamps.append(None)
        self.log_times.append(log_time)
        if keep:
            self.raw.append(bytes(raw))


class StampMatcher:
    """Nearest header stamp among one topic's messages, over the whole recording.

    In a bag a frame is often logged just before its own camera_info or depth, so "the latest one seen"
    (what a live node can do) would pair it with the previous frame's; the index sees them all.
    """

    def __init__(self, index: TopicIndex) -> None:
        pairs = sorted((s, i) for i, s in enumerate(index.stamps) if s is not None)
        self._stamps = [s for s, _ in pairs]
        self._positions = [i for _, i in pairs]

    def nearest(self, stamp: int, tolerance_ns: Optional[int] = None) -> Optional[int]:
        """Position (in reading order) of the message whose stamp is nearest, or None beyond tolerance."""
        if not self._stamps:
            return None
        at = bisect.bisect_left(self._stamps, stamp)
        candidates = [j for j in (at - 1, at) if 0 <= j < len(self._stamps)]
        best = min(candidates, key=lambda j: abs(self._stamps[j] - stamp))
        if tolerance_ns is not None and abs(self._stamps[best] - stamp) > tolerance_ns:
            return None
        return self._positions[best]


class InputBag:
    """An open input recording: its typestore, topics and connections. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.reader = Reader(path)
            self.reader.open()
        except FileNotFoundError:
            raise BagError(f"{path}: no such file or folder") from None
        except Exception as exc:  # rosbags, sqlite3, mcap and yaml each raise their own
            raise BagError(f"{path}: not a readable rosbag2 recording ({describe(exc)})") from None
        self.typestore = typestore_for(self.reader.ros_distro)

    def __enter__(self) -> InputBag:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.reader.close()
        except Exception:  # closing a broken bag must not hide the first error
            pass

    @property
    def start_time(self) -> int:
        return self.reader.start_time

    def topic_types(self) -> Dict[str, str]:
        return {c.topic: c.msgtype for c in self.reader.connections}

    def image_topics(self) -> Dict[str, str]:
        return {t: m for t, m in sorted(self.topic_types().items()) if m in IMAGE_TYPES}

    def connections(self, topic: str) -> List[Connection]:
        return [c for c in self.reader.connections if c.topic == topic]

    def choose_image_topic(self, topic: Optional[str], exclude: Sequence[str] = ()) -> Tuple[str, str]:
        """(topic, msgtype) of the images to segment; None is fine when the bag holds exactly one
        (not counting `exclude`, e.g. the depth topic, which is an Image too)."""
        images = self.image_topics()
        listing = ", ".join(f"{t} ({m.rsplit('/', 1)[-1]})" for t, m in images.items()) or "none"
        if topic is None:
            candidates = {t: m for t, m in images.items() if t not in exclude}
            if len(candidates) == 1:
                return next(iter(candidates.items()))
            what = "several image topics; choose one with --topic" if candidates else "no image topic"
            raise BagError(f"{self.path}: {what} (image topics: {listing})")
        if topic not in images:
            kind = self.topic_types().get(topic)
            problem = f"topic {topic} is {kind}, not an image" if kind else f"no topic {topic}"
            raise BagError(f"{self.path}: {problem} (image topics: {listing})")
        return topic, images[topic]

    def check_topic(self, topic: str, msgtypes: Sequence[str], option: str) -> None:
        kind = self.topic_types().get(topic)
        if kind not in msgtypes:
            matching = sorted(t for t, m in self.topic_types().items() if m in msgtypes)
            problem = f"topic {topic} is {kind}" if kind else f"no topic {topic}"
            raise BagError(
                f"{self.path}: {option}: {problem} (topics of type {'/'.join(msgtypes)}: "
                f"{', '.join(matching) or 'none'})"
            )

    def messages(
        self, topic: str, start: Optional[int] = None, stop: Optional[int] = None
    ) -> Iterator[Tuple[int, bytes]]:
        """(log time, raw CDR) of one topic in reading order; reading errors become BagError."""
        connections = self.connections(topic)
        if not connections:  # rosbags reads *every* connection when given none
            return
        try:
            for _, log_time, raw in self.reader.messages(connections, start=start, stop=stop):
                yield log_time, raw
        except Exception as exc:  # a truncated chunk or page surfaces only here
            raise BagError(f"{self.path}: cannot read topic {topic} ({describe(exc)})") from None

    def all_messages(self) -> Iterator[Tuple[Connection, int, bytes]]:
        try:
            yield from self.reader.messages(self.reader.connections or [])
        except Exception as exc:  # as above, for --copy-input
            raise BagError(f"{self.path}: cannot read ({describe(exc)})") from None

    def index(self, topic: str, keep_raw: bool, start: Optional[int] = None, stop: Optional[int] = None) -> TopicIndex:
        index = TopicIndex()
        for log_time, raw in self.messages(topic, start, stop):
            index.add(raw, log_time, keep_raw)
        return index


def describe(exc: BaseException) -> str:
    """One line for an exception: its message, or its type when it has none."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
