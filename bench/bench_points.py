#!/usr/bin/env python3
"""Cost of ~/points per frame at 640x480: semantic_points + PointCloud2 packing, on the bundled demo depth.

    python bench/bench_points.py [--repeats 30]
Prints one table row per stride: points per frame, median ms of each step and of the total (the node's
cost up to publish()); 'serialize' is what rclpy's publish() adds on top before the transport.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not
from ov_seg_ros.messages.depth import metres_from_depth
from ov_seg_ros.messages.pointcloud import semantic_points, to_pointcloud2

DEMO = Path(__file__).resolve().parents[1] / "demo"
FX = FY = 525.0
CX, CY = 319.5, 239.5
LABEL_MAP = {0: "background", 1: "floor", 2: "wall", 3: "door", 4: "box"}


def inputs():
    depth_mm = np.asarray(Image.open(DEMO / "depth_00.png"))
    h, w = depth_mm.shape
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(LABEL_MAP), (h, w)).astype(np.uint16)
    conf = rng.random((h, w), dtype=np.float32)
    obj = rng.random((h, w), dtype=np.float32)
    return depth_mm, labels, conf, obj


def median_ms(fn, repeats: int) -> tuple:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    depth_mm, labels, conf, obj = inputs()
    header = Header(frame_id="camera_color_optical_frame")
    print(f"ov_seg_ros ~/points cost, {depth_mm.shape[1]}x{depth_mm.shape[0]}, median of {args.repeats}")
    columns = (
        ("stride", 6),
        ("points", 8),
        ("depth->m ms", 12),
        ("points ms", 10),
        ("msg ms", 8),
        ("total ms", 9),
        ("serialize ms", 13),
        ("MB/msg", 7),
    )
    print(" ".join(f"{name:>{width}}" for name, width in columns))
    for stride in (1, 2, 4):
        t_depth, depth_m = median_ms(lambda: metres_from_depth(depth_mm, "16UC1"), args.repeats)
        t_pts, pts = median_ms(
            lambda d=depth_m, s=stride: semantic_points(
                d, FX, FY, CX, CY, labels, conf, obj, LABEL_MAP, stride=s, max_depth=10.0
            ),
            args.repeats,
        )
        t_msg, msg = median_ms(lambda p=pts: to_pointcloud2(p, header), args.repeats)
        total = t_depth + t_pts + t_msg
        t_ser, _ = median_ms(lambda m=msg: serialize_message(m), args.repeats)
        print(
            f"{stride:>6} {len(pts):>8} {t_depth:>12.2f} {t_pts:>10.2f} {t_msg:>8.2f} {total:>9.2f} "
            f"{t_ser:>13.2f} {len(msg.data) / 1e6:>7.2f}"
        )


if __name__ == "__main__":
    main()
