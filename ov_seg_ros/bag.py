"""rosbag2 recordings on disk: open and index an input bag, match by stamp, write an output bag.

Pure `rosbags` (no rclpy, no ROS installation): reading and writing work for MCAP and sqlite3 bags of
any ROS 2 distro. Every problem with the recording itself is raised as `BagError` with one line that
names the file or topic, so the CLI can print it and exit without a traceback.
"""

from __future__ import annotations

import bisect
import os
import shutil
import struct
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
BAG_SUFFIXES = (".mcap", ".db3")
LABEL_INFO_TYPE = "vision_msgs/msg/LabelInfo"
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


def register_label_info(typestore: Typestore) -> Optional[str]:
    """Make vision_msgs/msg/LabelInfo known to `typestore`; None on success, else why not.

    rosbags' stores do not ship vision_msgs; the vision_msgs wheel installs its .msg files under
    <prefix>/share/vision_msgs/msg, so the types are registered from those definitions.
    """
    if LABEL_INFO_TYPE in typestore.fielddefs:
        return None
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    for prefix in prefixes:
        folder = Path(prefix) / "share" / "vision_msgs" / "msg"
        if (folder / "LabelInfo.msg").is_file():
            break
    else:
        return "vision_msgs message definitions not found (share/vision_msgs/msg)"
    try:
        types = {}
        for name in ("VisionClass", "LabelInfo"):
            types.update(get_types_from_msg((folder / f"{name}.msg").read_text(), f"vision_msgs/msg/{name}"))
        typestore.register(types)
    except Exception as exc:  # a definition rosbags cannot parse: go on without it
        return f"vision_msgs/LabelInfo could not be registered ({describe(exc)})"
    return None


class OutputBag:
    """A new rosbag2 written next to its final place and moved there only when it is complete.

    The bag is written to a hidden sibling directory; `finish()` swaps it in (an existing output is
    replaced only then, and only with overwrite), `discard()` removes every trace of it.
    """

    def __init__(self, out: Path, storage: str, typestore: Typestore, overwrite: bool) -> None:
        if out.exists() and not overwrite:
            raise BagError(f"{out}: already exists; choose another --out or pass --overwrite")
        if out.exists() and not (out / "metadata.yaml").is_file():
            raise BagError(f"{out}: exists and is not a rosbag2 directory; not replacing it")
        self.out, self.typestore, self.overwrite = out, typestore, overwrite
        out.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        plugin = StoragePlugin.SQLITE3 if storage == "sqlite3" else StoragePlugin.MCAP
        self.writer = Writer(self._tmp / out.name, version=Writer.VERSION_LATEST, storage_plugin=plugin)
        self.writer.open()
        self._connections: Dict[Tuple[str, str], Connection] = {}
        self._copied: Dict[Tuple[str, str, str], Optional[Connection]] = {}  # None: cannot be copied
        self.not_copied: Dict[str, str] = {}  # topic -> why

    @property
    def tmp_dir(self) -> Path:
        return self._tmp

    def topic(self, topic: str, msgtype: str) -> Connection:
        key = (topic, msgtype)
        if key not in self._connections:
            self._connections[key] = self.writer.add_connection(topic, msgtype, typestore=self.typestore)
        return self._connections[key]

    def write(self, topic: str, msg: Any, log_time: int) -> None:
        msgtype = msg.__msgtype__
        self.writer.write(self.topic(topic, msgtype), log_time, self.typestore.serialize_cdr(msg, msgtype))

    def copy(self, connection: Connection, log_time: int, raw: bytes) -> None:
        """An input message as it was recorded (its own definition and QoS, no re-serialization).

        A topic whose type can be neither taken from the bag nor found in the typestore is left out
        and named in `not_copied`; the segmentation outputs do not depend on it.
        """
        # One output connection per topic and type: a bag may hold several (one per publisher).
        key = (connection.topic, connection.msgtype, connection.ext.serialization_format)
        if key not in self._copied:
            defined = bool(connection.msgdef.data and connection.digest)
            try:
                self._copied[key] = self.writer.add_connection(
                    connection.topic,
                    connection.msgtype,
                    msgdef=connection.msgdef.data if defined else None,
                    rihs01=connection.digest if defined else None,
                    typestore=None if defined else self.typestore,
                    serialization_format=connection.ext.serialization_format,
                    offered_qos_profiles=connection.ext.offered_qos_profiles,
                )
            except Exception as exc:  # e.g. an old bag without definitions, of a type rosbags lacks
                self._copied[key] = None
                self.not_copied[connection.topic] = describe(exc)
        out = self._copied[key]
        if out is not None:
            self.writer.write(out, log_time, raw)

    def close(self) -> None:
        """Write the index and metadata.yaml: the bag in the temporary directory is now readable."""
        if self.writer.storage is not None:
            self.writer.close()

    def finish(self, target: Optional[Path] = None) -> Path:
        """Close, then move the bag to `target` (default: --out), replacing an old one only now."""
        self.close()
        target = target or self.out
        written = self._tmp / self.out.name
        if target.exists():
            old = self._tmp / f"{target.name}.old"
            target.rename(old)  # same filesystem: the swap leaves no moment without a complete bag
            written.rename(target)
        else:
            written.rename(target)
        shutil.rmtree(self._tmp, ignore_errors=True)
        return target

    def discard(self) -> None:
        try:
            self.writer.abort()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)


def size_of(path: Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
