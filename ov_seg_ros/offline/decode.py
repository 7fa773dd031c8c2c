"""Decoding a bag's frames on a background thread: image, nearest camera_info and depth per planned
frame, into a bounded queue in reading order, so the main thread's model never waits on decoding.

Messages are deserialized by rclpy from the recorded CDR: the frame holds the very messages a node
subscribed to the same topics would have received.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ..messages import convert
from ..messages.depth import depth_to_metres
from .input_bag import CAMERA_INFO_TYPE, BagError, InputBag, describe
from .plan import Plan

IMAGE_MSG = "sensor_msgs/msg/Image"
END = object()  # end of the decoded stream


@dataclass
class Frame:
    """One decoded input frame (or why it cannot be used), handed from the decode thread."""

    position: int
    log_time: int
    error: Optional[str] = None  # set: the frame is skipped for this reason
    message: Any = None  # the rclpy Image or CompressedImage
    rgb: Optional[np.ndarray] = None
    info: Optional[CameraInfo] = None  # nearest in stamp
    depth_msg: Optional[Image] = None  # nearest in stamp within the tolerance, and usable
    no_points: Optional[str] = None  # why no points for this frame (when depth was asked for)

    @property
    def header(self) -> Any:
        """The input's header, which every output of the frame carries (as the node's Frame)."""
        return self.message.header


class DepthCursor:
    """Depth messages read once, in order, alongside the frames; kept only until their frame takes them."""

    def __init__(self, path: Path, topic: str, needed: List[int]) -> None:
        self._bag = InputBag(path)  # its own reader: the image stream's generator stays undisturbed
        self._messages = self._bag.messages(topic)
        self._users = Counter(needed)
        self._kept: Dict[int, bytes] = {}
        self._read = 0

    def take(self, position: int) -> bytes:
        while position not in self._kept:
            _, raw = next(self._messages, (None, None))
            if raw is None:  # the index pass saw it: the file changed under us
                raise BagError(f"{self._bag.path}: depth message {position} is gone")
            if self._users[self._read]:
                self._kept[self._read] = raw
            self._read += 1
        raw = self._kept[position]
        self._users[position] -= 1
        if not self._users[position]:
            del self._kept[position]
        return raw

    def close(self) -> None:
        self._bag.close()


MSG_CLASSES: Dict[str, type] = {
    IMAGE_MSG: Image,
    "sensor_msgs/msg/CompressedImage": CompressedImage,
    CAMERA_INFO_TYPE: CameraInfo,
}


def deserialize(raw: bytes, msgtype: str) -> Any:
    """The rclpy message of one recorded CDR message; ValueError when it cannot be read."""
    try:
        return deserialize_message(bytes(raw), MSG_CLASSES[msgtype])
    except Exception as exc:  # a cut-off or garbled message raises anything
        raise ValueError(f"cannot deserialize {msgtype.rsplit('/', 1)[-1]} ({describe(exc)})") from None


def decode_image(msgtype: str, raw: bytes) -> Tuple[Any, np.ndarray]:
    """(rclpy Image or CompressedImage, H x W x 3 RGB) of one raw image; ValueError says what is wrong."""
    msg = deserialize(raw, msgtype)
    return msg, convert.message_to_rgb(msg)


def decode_frames(bag: InputBag, plan: Plan, out: queue.Queue[Any], stop: threading.Event) -> None:
    """Thread body: decoded frames (and skips) into `out` in order, then END; errors go in as well."""
    cursor = None
    try:
        if plan.depth_topic:
            needed = [d for d in plan.depth_for.values() if d is not None]
            cursor = DepthCursor(bag.path, plan.depth_topic, needed)
        wanted = set(plan.selected)
        info_cache: Dict[int, Any] = {}
        for position, (log_time, raw) in enumerate(bag.messages(plan.topic, *plan.window)):
            if position not in wanted:
                continue
            frame = decode_one(bag, plan, position, log_time, raw, cursor, info_cache)
            while not stop.is_set():
                try:
                    out.put(frame, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        out.put(END)
    except BaseException as exc:  # handed to the main thread, which reports it
        out.put(exc)
    finally:
        if cursor is not None:
            cursor.close()


def decode_one(
    bag: InputBag,
    plan: Plan,
    position: int,
    log_time: int,
    raw: bytes,
    cursor: Optional[DepthCursor],
    info_cache: Dict[int, Any],
) -> Frame:
    frame = Frame(position, log_time)
    try:
        frame.message, frame.rgb = decode_image(plan.msgtype, raw)
    except ValueError as exc:  # ImageConversionError included
        frame.error = str(exc)
    info_at = plan.info_for.get(position)
    if info_at is not None and frame.error is None:
        if info_at not in info_cache:
            info_cache.clear()  # consecutive frames share one camera_info: keep just the last
            try:
                info_cache[info_at] = deserialize(plan.info.raw[info_at], CAMERA_INFO_TYPE)
            except ValueError:  # a garbled camera_info: this frame goes without one
                info_cache[info_at] = None
        frame.info = info_cache[info_at]
    depth_at = plan.depth_for.get(position)
    if cursor is not None and depth_at is not None:
        raw_depth = cursor.take(depth_at)  # taken even for a skipped frame, so the buffer empties
        if frame.error is None:
            try:
                frame.depth_msg = deserialize(raw_depth, IMAGE_MSG)
                depth_to_metres(frame.depth_msg)  # checked here: a bad one costs the points, not the frame
            except Exception as exc:
                frame.depth_msg = None
                frame.no_points = f"depth unusable: {describe(exc)}"
    elif cursor is not None:
        frame.no_points = "no depth image within the tolerance"
    if cursor is not None and frame.info is None:  # no intrinsics, no points
        frame.depth_msg = None
        frame.no_points = frame.no_points or "no camera_info"
    return frame
