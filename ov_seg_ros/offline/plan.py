"""What an offline run segments: the frames of the chosen topic and window, each paired by header stamp
with its camera_info and depth anywhere in the recording.

The index pass reads only header stamps (8 bytes of each message) of the image, camera_info and depth
topics, so a frame logged just before its own camera_info or depth still gets them.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .input_bag import CAMERA_INFO_TYPE, BagError, InputBag, StampMatcher, TopicIndex

DEPTH_TYPES = ("sensor_msgs/msg/Image",)


@dataclass
class Plan:
    """Which frames to segment and, per frame, the positions of its camera_info and depth."""

    topic: str
    msgtype: str
    window: Tuple[Optional[int], Optional[int]]  # log times [start, stop) in ns
    selected: List[int]  # positions on the image topic (reading order inside the window)
    info: Optional[TopicIndex] = None
    info_for: Dict[int, Optional[int]] = field(default_factory=dict)
    depth_topic: Optional[str] = None
    depth_for: Dict[int, Optional[int]] = field(default_factory=dict)


def make_plan(bag: InputBag, args: argparse.Namespace) -> Plan:
    topic, msgtype = bag.choose_image_topic(args.topic, exclude=[t for t in (args.depth_topic,) if t])
    if args.topic is None:
        print(f"ov-seg: segmenting {topic} ({msgtype}), the bag's only image topic", file=sys.stderr)
    if args.depth_topic and not args.camera_info_topic:
        raise BagError("--depth-topic needs --camera-info-topic (points need the camera's intrinsics)")
    start = bag.start_time + int(args.start * 1e9) if args.start else None
    stop = bag.start_time + int(args.end * 1e9) if args.end is not None else None
    images = bag.index(topic, keep_raw=False, start=start, stop=stop)
    plan = Plan(topic, msgtype, (start, stop), list(range(0, len(images.log_times), args.every)))
    if not plan.selected:
        window = f" between --start {args.start} s and --end {args.end} s" if start or stop else ""
        raise BagError(f"{bag.path}: no messages on {topic}{window}")
    if args.camera_info_topic:
        bag.check_topic(args.camera_info_topic, (CAMERA_INFO_TYPE,), "--camera-info-topic")
        plan.info = bag.index(args.camera_info_topic, keep_raw=True)
        # Intrinsics rarely change: the nearest camera_info is used however far, as the node uses
        # the latest one whatever its stamp.
        plan.info_for = match(images, plan.selected, StampMatcher(plan.info), None)
    if args.depth_topic:
        bag.check_topic(args.depth_topic, DEPTH_TYPES, "--depth-topic")
        plan.depth_topic = args.depth_topic
        tolerance = int(args.depth_tolerance * 1e9)
        plan.depth_for = match(images, plan.selected, StampMatcher(bag.index(args.depth_topic, False)), tolerance)
    return plan


def match(
    images: TopicIndex, selected: List[int], matcher: StampMatcher, tolerance_ns: Optional[int]
) -> Dict[int, Optional[int]]:
    stamps = images.stamps
    return {i: None if stamps[i] is None else matcher.nearest(stamps[i], tolerance_ns) for i in selected}
