#!/usr/bin/env python3
"""Offline throughput: `ov-seg` on a recorded bag next to the live node's frames/s, in the same run.

Writes an MCAP bag of --frames 640x480 rgb8 images (10 Hz, smooth colour blobs), runs
`python -m ov_seg_ros.offline.cli BAG ...` on it as a user would and reads its closing summary (frames/s of the
frame loop, model loading excluded, and its split into waiting for frames / model / writing), and runs
bench/bench_node.py (real DDS on loopback, reliable input) before and after it, reading its streaming
frames/s out: the machine is shared and its speed drifts by the minute, so the node's two figures
bracket the conditions ov-seg ran under. Same engine flags for all.

    python bench/bench_bag.py                   # 100 frames, batch 4, input_size 448
    python bench/bench_bag.py --frames 20 --batch-size 1 --skip-node

Prints the figures and writes JSON. Nothing here asserts speed; tests do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.bench_node import scene  # noqa: E402  - the node benchmark's own images

TS = get_typestore(Stores.ROS2_KILTED)


def write_bag(path: Path, frames: int, height: int, width: int) -> None:
    """`frames` rgb8 images at 10 Hz on /camera/image_raw (a few distinct scenes, as a camera sees)."""
    scenes = [scene(height, width, seed) for seed in range(4)]
    image, header, stamp = (
        TS.types[t] for t in ("sensor_msgs/msg/Image", "std_msgs/msg/Header", "builtin_interfaces/msg/Time")
    )
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conn = w.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=TS)
        for i in range(frames):
            t = 1_700_000_000 * 10**9 + i * 100_000_000
            msg = image(
                header=header(stamp=stamp(sec=t // 10**9, nanosec=t % 10**9), frame_id="camera"),
                height=height,
                width=width,
                encoding="rgb8",
                is_bigendian=0,
                step=width * 3,
                data=scenes[i % len(scenes)].reshape(-1),
            )
            w.write(conn, t, TS.serialize_cdr(msg, "sensor_msgs/msg/Image"))


def env() -> Dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def engine_flags(args: argparse.Namespace) -> List[str]:
    """The engine settings ov-seg and the node benchmark share, spelled alike by both."""
    return [
        "--weights",
        args.weights,
        "--heads",
        args.heads,
        "--device",
        args.device,
        "--input-size",
        str(args.input_size),
    ]


def run_ov_seg(args: argparse.Namespace, bag: Path, out: Path) -> Dict[str, float]:
    cmd = [
        sys.executable,
        "-m",
        "ov_seg_ros.offline.cli",
        str(bag),
        "--out",
        str(out),
        "--classes",
        args.vocabulary,
        *engine_flags(args),
        "--batch-size",
        str(args.batch_size),
    ]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=REPO)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"ov-seg failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    found = re.search(r"segmented (\d+) of (\d+) frame\(s\).* in ([\d.]+) s \(([\d.]+) frames/s\)", proc.stderr)
    if not found:
        raise SystemExit(f"no summary in ov-seg's output:\n{proc.stderr[-3000:]}")
    done, total, seconds, fps = found.groups()
    split = re.search(r"time in the frame loop: (.*)", proc.stderr)
    return {
        "frames": int(done),
        "of": int(total),
        "loop_s": float(seconds),
        "fps": float(fps),
        "wall_s_with_model_load": round(wall, 1),
        "frame_loop": split.group(1) if split else "",
    }


def run_node(args: argparse.Namespace, tmp: Path) -> Dict[str, float]:
    """bench_node.py's streaming figure: the live node fed at 30 Hz, frames/s out."""
    out = tmp / "node.json"
    cmd = [
        sys.executable,
        str(REPO / "bench" / "bench_node.py"),
        "--frames",
        "5",
        "--duration",
        str(args.duration),
        "--qos-reliability",
        "reliable",
        "--size",
        f"{args.height}x{args.width}",
        *engine_flags(args),
        "--vocabulary",
        args.vocabulary,
        "--json",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"bench_node failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    streaming = json.loads(out.read_text())["streaming"]
    return {"fps": streaming["fps_out"], "processed": streaming["processed"], "published": streaming["published"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=100, help="frames in the bag")
    p.add_argument("--size", default="480x640", help="HEIGHTxWIDTH")
    p.add_argument("--input-size", type=int, default=448)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--vocabulary", default="floor,wall,door")
    p.add_argument("--weights", default="seeded")
    p.add_argument("--heads", default="seeded")
    p.add_argument("--device", default="cpu")
    p.add_argument("--duration", type=float, default=10.0, help="node streaming duration (s)")
    p.add_argument("--skip-node", action="store_true", help="only ov-seg on the bag")
    p.add_argument("--json", default=None, help="write the results here too")
    args = p.parse_args()
    args.height, args.width = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench_bag_") as tmp_name:
        tmp = Path(tmp_name)
        write_bag(tmp / "in", args.frames, args.height, args.width)
        bag_size = sum(f.stat().st_size for f in (tmp / "in").iterdir()) / 2**20
        before = None if args.skip_node else run_node(args, tmp)
        offline = run_ov_seg(args, tmp / "in", tmp / "out")
        out_size = sum(f.stat().st_size for f in (tmp / "out").iterdir()) / 2**20
        after = None if args.skip_node else run_node(args, tmp)
    result = {
        "setup": {
            "frames": args.frames,
            "size": args.size,
            "input_size": args.input_size,
            "batch_size": args.batch_size,
            "device": args.device,
            "weights": args.weights,
            "vocabulary": args.vocabulary,
            "cpu_count": os.cpu_count(),
            "machine": platform.processor() or platform.machine(),
            "bag_mib": round(bag_size, 1),
            "output_mib": round(out_size, 1),
        },
        "ov_seg_bag": offline,
        "node_live_before": before,
        "node_live_after": after,
    }
    print(
        f"{args.frames} frames {args.size} rgb8, input_size {args.input_size}, {args.device}, "
        f"weights {args.weights}, {os.cpu_count()} CPUs; bag {bag_size:.1f} MiB -> output {out_size:.1f} MiB"
    )
    print(
        f"ov-seg on the bag (batch {args.batch_size}): {offline['fps']:.2f} frames/s "
        f"({offline['frames']} frames in {offline['loop_s']:.1f} s; {offline['wall_s_with_model_load']:.1f} s "
        f"with model load)"
    )
    print(f"  ov-seg frame loop: {offline['frame_loop']}")
    for when, live in (("before", before), ("after", after)):
        if live:
            print(
                f"node, live at 30 Hz (reliable), {when}: {live['fps']:.2f} frames/s out "
                f"({live['processed']} of {live['published']} published frames processed)"
            )
    if before and after:
        mean = (before["fps"] + after["fps"]) / 2
        print(f"ratio ov-seg / node (mean of before and after): {offline['fps'] / max(mean, 1e-9):.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
