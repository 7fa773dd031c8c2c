"""Segment a rosbag2 recording offline: what the node would have published, written to a new bag.

Two passes over the input. The first reads only header stamps (8 bytes of each message) of the image,
camera_info and depth topics, so every frame can be paired with the camera_info and depth nearest to
its stamp anywhere in the recording. The second decodes frames on a background thread into a bounded
queue while the main thread segments them in batches and writes the outputs, each with its frame's
header and at its frame's log time, so the result plays back interleaved with the original.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import re
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from . import convert
from .bag import (
    CAMERA_INFO_TYPE,
    BagError,
    InputBag,
    OutputBag,
    StampMatcher,
    TopicIndex,
    describe,
    register_label_info,
    size_of,
)
from .label_topics import label_map_json
from .msg_bridge import from_rclpy, to_rclpy
from .pointcloud import semantic_points, to_pointcloud2
from .visualize import SEEDED_BANNER, render_overlay

DEPTH_TYPES = ("sensor_msgs/msg/Image",)
IMAGE_MSG = "sensor_msgs/msg/Image"
_END = object()  # end of the decoded stream


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


@dataclass
class Frame:
    """One decoded input frame (or why it cannot be used), handed from the decode thread."""

    position: int
    log_time: int
    error: Optional[str] = None  # set: the frame is skipped for this reason
    header: Any = None  # rclpy std_msgs/Header of the input image
    rgb: Optional[np.ndarray] = None
    info: Any = None  # rclpy CameraInfo nearest in stamp
    depth: Optional[np.ndarray] = None  # metres at the frame's size
    no_points: Optional[str] = None  # why no points for this frame (when depth was asked for)


@dataclass
class Tally:
    """What happened to the frames, for the closing summary."""

    selected: int = 0
    segmented: int = 0
    skipped: Counter = field(default_factory=Counter)
    no_points: Counter = field(default_factory=Counter)
    examples: Dict[str, str] = field(default_factory=dict)
    seconds: Counter = field(default_factory=Counter)  # waiting for frames / model / writing

    def count(self, counter: Counter, reason: str, where: str) -> None:
        kind = re.sub(r"\d+", "#", reason)  # one line per kind of problem, not per frame
        counter[kind] += 1
        self.examples.setdefault(kind, f"{reason} ({where})")


# ----------------------------------------------------------------------------------- planning
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


# ----------------------------------------------------------------------------------- decoding
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


def decode_image(bag: InputBag, msgtype: str, raw: bytes) -> Tuple[Any, np.ndarray]:
    """(rclpy header, H x W x 3 RGB) of one raw image message; ValueError says what is wrong."""
    try:
        msg = bag.typestore.deserialize_cdr(raw, msgtype)
    except Exception as exc:  # a cut-off or garbled message raises anything
        raise ValueError(f"cannot deserialize {msgtype.rsplit('/', 1)[-1]} ({describe(exc)})") from None
    header = to_rclpy(msg.header, bag.typestore)
    if msgtype == IMAGE_MSG:
        return header, convert.to_rgb(to_rclpy(msg, bag.typestore))
    return header, convert.compressed_to_rgb(msg.format, msg.data)


def decode_frames(bag: InputBag, plan: Plan, out: queue.Queue[Any], stop: threading.Event) -> None:
    """Thread body: decoded frames (and skips) into `out` in order, then _END; errors go in as well."""
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
        out.put(_END)
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
        frame.header, frame.rgb = decode_image(bag, plan.msgtype, raw)
    except ValueError as exc:  # ImageConversionError included
        frame.error = str(exc)
    info_at = plan.info_for.get(position)
    if info_at is not None and frame.error is None:
        if info_at not in info_cache:
            info_cache.clear()  # consecutive frames share one camera_info: keep just the last
            try:
                msg = bag.typestore.deserialize_cdr(plan.info.raw[info_at], CAMERA_INFO_TYPE)
                info_cache[info_at] = to_rclpy(msg, bag.typestore)
            except Exception:  # a garbled camera_info: this frame goes without one
                info_cache[info_at] = None
        frame.info = info_cache[info_at]
    depth_at = plan.depth_for.get(position)
    if cursor is not None and depth_at is not None:
        raw_depth = cursor.take(depth_at)  # taken even for a skipped frame, so the buffer empties
        if frame.error is None:
            try:
                depth_msg = to_rclpy(bag.typestore.deserialize_cdr(raw_depth, IMAGE_MSG), bag.typestore)
                frame.depth = convert.resize_nearest(convert.depth_to_metres(depth_msg), frame.rgb.shape[:2])
            except Exception as exc:  # a bad depth image costs the points, not the frame
                frame.no_points = f"depth unusable: {describe(exc)}"
    elif cursor is not None:
        frame.no_points = "no depth image within the tolerance"
    if cursor is not None and frame.info is None:  # no intrinsics, no points
        frame.depth = None
        frame.no_points = frame.no_points or "no camera_info"
    return frame


# ------------------------------------------------------------------------------------ writing
class Outputs:
    """The node's outputs of one frame, as rosbags messages under `namespace`."""

    def __init__(self, bag: OutputBag, args: argparse.Namespace, seeded: bool) -> None:
        self.bag, self.args = bag, args
        self.ns = "/" + args.namespace.strip("/") if args.namespace.strip("/") else ""
        self.banner = SEEDED_BANNER if seeded else None
        self.label_info_problem = register_label_info(bag.typestore)
        self._label_map_written = False

    def _write(self, name: str, msg: Any, msgtype: str, log_time: int) -> None:
        self.bag.write(f"{self.ns}/{name}", from_rclpy(msg, self.bag.typestore, msgtype), log_time)

    def label_map(self, vocabulary: Any, header: Any, log_time: int) -> None:
        """~/label_map (and vision_msgs LabelInfo) once, 1 ns before the first labels: ordered first
        by every player and reader, whatever it does with equal log times."""
        if self._label_map_written:
            return
        self._label_map_written = True
        at = max(log_time - 1, 0)
        from std_msgs.msg import String

        self._write("label_map", String(data=label_map_json(vocabulary, "mono16")), "std_msgs/msg/String", at)
        if self.label_info_problem is None:
            types = self.bag.typestore.types
            info = types["vision_msgs/msg/LabelInfo"](
                header=from_rclpy(header, self.bag.typestore, "std_msgs/msg/Header"),
                class_map=[
                    types["vision_msgs/msg/VisionClass"](class_id=i, class_name=name)
                    for i, name in vocabulary.label_map().items()
                ],
                threshold=float(self.args.min_confidence),
            )
            self.bag.write(f"{self.ns}/label_info", info, at)

    def frame(self, frame: Frame, result: Any) -> Optional[str]:
        """Write every output of one frame; the reason when points were asked for but not written."""
        header, at, args = frame.header, frame.log_time, self.args
        self.label_map(result.vocabulary, header, at)
        labels = result.label_image(args.min_confidence)
        self._write("labels", convert.labels_to_image(labels, "mono16", header), IMAGE_MSG, at)
        self._write("confidence", convert.to_image(result.confidence, "32FC1", header), IMAGE_MSG, at)
        self._write("objectness", convert.to_image(result.objectness_image, "32FC1", header), IMAGE_MSG, at)
        if args.overlay:
            rgb = render_overlay(frame.rgb, labels, result.vocabulary.label_map(), args.overlay_alpha, self.banner)
            self._write("overlay", convert.to_image(rgb, "rgb8", header), IMAGE_MSG, at)
        height, width = labels.shape
        info = None
        if frame.info is not None:
            info = convert.rescale_camera_info(frame.info, width, height, header)
            self._write("camera_info", info, CAMERA_INFO_TYPE, at)
        if frame.depth is None:
            return frame.no_points
        try:
            fx, fy, cx, cy = convert.intrinsics(info)
            points = semantic_points(
                frame.depth,
                fx,
                fy,
                cx,
                cy,
                labels,
                result.confidence,
                result.objectness_image,
                result.vocabulary.label_map(),
                stride=args.point_stride,
                max_depth=args.max_depth,
            )
        except ValueError as exc:
            return f"no points: {exc}"
        self._write("points", to_pointcloud2(points, header), "sensor_msgs/msg/PointCloud2", at)
        return None


# --------------------------------------------------------------------------------------- run
def batches(frames: queue.Queue[Any], size: int, tally: Tally, bar: Any) -> Iterator[List[Frame]]:
    """Up to `size` good frames at a time: wait for the first, then take only what is ready."""
    batch: List[Frame] = []
    while True:
        item = frames.get() if not batch else _ready(frames)
        if item is None:  # nothing more ready: segment what we have
            yield batch
            batch = []
            continue
        if item is _END:
            break
        if isinstance(item, BaseException):
            raise item
        if item.error:
            tally.count(tally.skipped, item.error, f"message {item.position} on the topic")
            bar.update(1)
            continue
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _ready(frames: queue.Queue[Any]) -> Any:
    try:
        return frames.get_nowait()
    except queue.Empty:
        return None


def progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def segment_bag(args: argparse.Namespace, make_segmenter: Callable[[], Tuple[Any, bool]]) -> int:
    """Run on args.input into args.out; 0 when done (skipped frames included), 130 when interrupted.

    The bag and its topics are checked before `make_segmenter` loads the model, so a wrong topic costs
    no model load. Raises BagError for problems with the recording or the output (the output is then
    removed); whatever `make_segmenter` raises passes through.
    """
    with InputBag(args.input) as bag:
        plan = make_plan(bag, args)
        segmenter, seeded = make_segmenter()
        began = time.monotonic()
        output = OutputBag(args.out, args.storage, bag.typestore, args.overwrite)
        tally = Tally(selected=len(plan.selected))
        try:
            interrupted = _segment(bag, plan, output, args, segmenter, seeded, tally)
            if args.copy_input and not interrupted:
                try:
                    copy_input(bag, output, plan.window)
                except KeyboardInterrupt:
                    interrupted = True
        except BaseException:  # a read error mid-run, or anything unforeseen: leave no half-written output
            output.discard()
            raise
        if interrupted:
            with ctrl_c_ignored():  # a second Ctrl-C must not cut the closing of the partial bag short
                return keep_partial(output, args.out, tally)
        written = output.finish()
    summary(tally, written, time.monotonic() - began, plan, output)
    return 0


def keep_partial(output: OutputBag, out: Path, tally: Tally) -> int:
    """After Ctrl-C: the frames done, as a complete bag at --out (or beside an existing one); 130."""
    target = out if not out.exists() else out.with_name(out.name + ".partial")
    if target.exists():
        output.close()
        print(f"ov-seg: interrupted; {target} exists, the partial bag stays in {output.tmp_dir}", file=sys.stderr)
        return 130
    written = output.finish(target)
    print(
        f"ov-seg: interrupted after {tally.segmented} of {tally.selected} frames; the frames done "
        f"are in {written} (a complete, readable bag)",
        file=sys.stderr,
    )
    return 130


@contextlib.contextmanager
def ctrl_c_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # signals belong to the main thread
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _segment(
    bag: InputBag, plan: Plan, output: OutputBag, args: argparse.Namespace, segmenter: Any, seeded: bool, tally: Tally
) -> bool:
    """The frame loop; True when Ctrl-C stopped it (the output bag is then closed, readable)."""
    outputs = Outputs(output, args, seeded)
    if outputs.label_info_problem:
        print(f"ov-seg: not writing label_info: {outputs.label_info_problem}", file=sys.stderr)
    frames: queue.Queue[Any] = queue.Queue(maxsize=max(2 * args.batch_size, 4))
    stop = threading.Event()
    decoder = threading.Thread(target=decode_frames, args=(bag, plan, frames, stop), name="ov_seg_decode", daemon=True)
    decoder.start()
    bar = progress_bar(len(plan.selected))
    clock = time.monotonic()
    try:
        for batch in batches(frames, args.batch_size, tally, bar):
            clock = lap(tally, "waiting for frames", clock)
            results = segmenter.segment_batch([f.rgb for f in batch])
            clock = lap(tally, "model", clock)
            for frame, result in zip(batch, results, strict=True):
                problem = outputs.frame(frame, result)
                if problem:
                    tally.count(tally.no_points, problem, f"message {frame.position} on the topic")
                tally.segmented += 1
                bar.update(1)
            clock = lap(tally, "writing", clock)
    except KeyboardInterrupt:
        stop.set()
        bar.close()
        output.close()
        return True
    finally:
        stop.set()
        bar.close()
        decoder.join(timeout=5)
    return False


def lap(tally: Tally, what: str, since: float) -> float:
    """Add the time since `since` to `what`; the summary shows whether the model ever waited on I/O."""
    now = time.monotonic()
    tally.seconds[what] += now - since
    return now


def copy_input(bag: InputBag, output: OutputBag, window: Tuple[Optional[int], Optional[int]]) -> None:
    """Every input connection's messages in the segmented window, as recorded."""
    start, stop = window
    for connection, log_time, raw in bag.all_messages():
        if (start is None or log_time >= start) and (stop is None or log_time < stop):
            output.copy(connection, log_time, raw)


def summary(tally: Tally, out: Path, seconds: float, plan: Plan, output: OutputBag) -> None:
    lines = [
        f"ov-seg: segmented {tally.segmented} of {tally.selected} frame(s) from {plan.topic} in "
        f"{seconds:.1f} s ({tally.segmented / max(seconds, 1e-9):.2f} frames/s); "
        f"wrote {out} ({size_of(out) / 2**20:.1f} MiB)"
    ]
    if tally.seconds:
        loop = ", ".join(f"{what} {s:.1f} s" for what, s in tally.seconds.items())
        lines.append(f"ov-seg: time in the frame loop: {loop}")
    lines += [f"ov-seg: --copy-input left out {topic}: {why}" for topic, why in output.not_copied.items()]
    skipped = sum(tally.skipped.values())
    if skipped:
        lines.append(f"ov-seg: skipped {skipped} frame(s):")
        lines += [f"  {n} x {tally.examples[kind]}" for kind, n in tally.skipped.items()]
    if tally.no_points:
        lines.append(f"ov-seg: no points for {sum(tally.no_points.values())} frame(s):")
        lines += [f"  {n} x {tally.examples[kind]}" for kind, n in tally.no_points.items()]
    print("\n".join(lines), file=sys.stderr)
