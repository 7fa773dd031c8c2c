"""Segment a rosbag2 recording offline: what the node would have published, written to a new bag.

Two passes over the input. The first reads only header stamps (8 bytes of each message) of the image,
camera_info and depth topics, so every frame can be paired with the camera_info and depth nearest to
its stamp anywhere in the recording. The second decodes frames on a background thread into a bounded
queue while the main thread segments them in batches and writes the outputs, each with its frame's
header and at its frame's log time, so the result plays back interleaved with the original.
(`plan`: the first pass; `decode`: decoding; `outputs`: the node's messages of one frame, made with the
node parameters of `node_config`.)
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

from .decode import END, Frame, decode_frames
from .input_bag import InputBag
from .node_config import node_config
from .output_bag import OutputBag, size_of
from .outputs import Outputs
from .plan import Plan, make_plan


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


def batches(frames: queue.Queue[Any], size: int, tally: Tally, bar: Any) -> Iterator[List[Frame]]:
    """Up to `size` good frames at a time: wait for the first, then take only what is ready."""
    batch: List[Frame] = []
    while True:
        item = frames.get() if not batch else _ready(frames)
        if item is None:  # nothing more ready: segment what we have
            yield batch
            batch = []
            continue
        if item is END:
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
        segmenter, _ = make_segmenter()  # seeded or not: args.weights / heads say (the overlay's banner)
        began = time.monotonic()
        output = OutputBag(args.out, args.storage, bag.typestore, args.overwrite)
        tally = Tally(selected=len(plan.selected))
        try:
            interrupted = _segment(bag, plan, output, args, segmenter, tally)
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
    bag: InputBag, plan: Plan, output: OutputBag, args: argparse.Namespace, segmenter: Any, tally: Tally
) -> bool:
    """The frame loop; True when Ctrl-C stopped it (the output bag is then closed, readable)."""
    outputs = Outputs(output, node_config(args), args.namespace)  # after make_segmenter resolved 'auto'
    for name, problem in outputs.problems.items():
        print(f"ov-seg: not writing {name}: {problem}", file=sys.stderr)
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
                for problem in outputs.frame(frame, result):
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
