#!/usr/bin/env python3
"""Added cost per frame of the consumer outputs at 640x480, through the node's own output builders.

    python bench/bench_consumers.py [--repeats 30]
Inputs: the bundled demo depth (16UC1) and a blocky label image over the default vocabulary (regions of
~40 px, as a segmenter gives, not per-pixel noise, which would be a worst case for components). Shared
per-frame data (label image, depth in metres) is computed before the clock starts, as the node computes
it once per frame for all outputs; each row is the median ms of what that output adds, message included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not
from ov_seg_ros.engine.vocabulary import Vocabulary
from ov_seg_ros.messages import vision
from ov_seg_ros.messages.frame_data import FrameData
from ov_seg_ros.messages.outputs import OUTPUTS
from ov_seg_ros.parameters.specs import DEFAULT_VOCABULARY, DEFAULTS

DEMO = Path(__file__).resolve().parents[1] / "demo"
HEIGHT, WIDTH = 480, 640
INFO = CameraInfo(width=WIDTH, height=HEIGHT, k=[525.0, 0, 319.5, 0, 525.0, 239.5, 0, 0, 1])
CFG = {
    **DEFAULTS,
    "targets": ["person", "chair", "table"],
    "obstacle_classes": ["wall", "door", "person", "chair", "table"],
    "min_object_pixels": 200,
}


class Result:
    """The part of a Segmentation the builders read, with blocky labels."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        coarse = rng.integers(0, len(DEFAULT_VOCABULARY) + 1, (HEIGHT // 40, WIDTH // 40))
        self.labels = np.kron(coarse, np.ones((40, 40), np.int64)).astype(np.uint16)
        self.confidence = rng.random((HEIGHT, WIDTH), dtype=np.float32)
        self.objectness_image = rng.random((HEIGHT, WIDTH), dtype=np.float32)
        self.vocabulary = Vocabulary(names=DEFAULT_VOCABULARY, background=True, embeddings=None)

    def label_image(self, min_confidence: float = 0.0) -> np.ndarray:
        return self.labels


def primed(result: Result, depth_msg, cfg: dict, *shared: str) -> FrameData:
    """FrameData with labels, depth and `shared` already computed (the cost other outputs carry)."""
    data = FrameData(result, cfg, INFO, depth_msg)
    for name in ("labels", "depth", *shared):
        getattr(data, name)
    return data


def frame_costs(result: Result, depth_msg, cfg: dict, suffixes: list, repeats: int) -> dict:
    """Median (wall, CPU) ms of each builder when `suffixes` are built in that order on one frame's
    FrameData, as the node does (later outputs reuse what earlier ones computed, e.g. the objects).
    CPU time is the process's, all threads: on a loaded machine it is the steadier figure."""
    frame = SimpleNamespace(header=Header(frame_id="camera_color_optical_frame"), rgb=None)
    build = {o.suffix: o.build for o in OUTPUTS}
    wall: dict = {s: [] for s in suffixes}
    cpu: dict = {s: [] for s in suffixes}
    for _ in range(repeats):
        data = primed(result, depth_msg, cfg)
        for suffix in suffixes:
            t0, c0 = time.perf_counter(), time.process_time()
            build[suffix](frame, result, data, cfg)
            wall[suffix].append((time.perf_counter() - t0) * 1e3)
            cpu[suffix].append((time.process_time() - c0) * 1e3)
    return {s: (statistics.median(wall[s]), statistics.median(cpu[s])) for s in suffixes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    from ov_seg_ros.messages.convert import to_image

    depth_msg = to_image(np.asarray(Image.open(DEMO / "depth_00.png")).astype(np.uint16), "16UC1")
    result = Result()
    today = frame_costs(result, depth_msg, CFG, ["confidence", "points"], args.repeats)
    organized = {**CFG, "points_layout": "organized", "confidence_encoding": "mono8"}
    suffixes = ["confidence", "points", "obstacles/points"]
    if not vision.VISION_MSGS_MISSING:
        suffixes += ["detections", "instances", "detections_3d", "targets/points"]
    new = frame_costs(result, depth_msg, organized, suffixes, args.repeats)
    n_objects = len(primed(result, depth_msg, CFG, "objects").objects)
    one = {**organized, "targets": ["chair"]}  # one target class: ~1/7 of the image instead of 3/7
    single = frame_costs(result, depth_msg, one, ["detections", "detections_3d"], args.repeats)
    n_single = len(primed(result, depth_msg, one, "objects").objects)
    rows = [
        ("~/confidence 32FC1 (reference)", today["confidence"]),
        ("~/confidence mono8", new["confidence"]),
        ("~/points sparse, stride 2 (reference)", today["points"]),
        ("~/points organized", new["points"]),
        ("~/obstacles/points (5 classes, stride 2)", new["obstacles/points"]),
    ]
    if not vision.VISION_MSGS_MISSING:
        rows += [  # 3 target classes cover 3/7 of the image: a stress case for a grasping scene
            (f"components + ~/detections ({n_objects} objects, 3 target classes)", new["detections"]),
            ("~/instances (after components)", new["instances"]),
            ("~/detections_3d (target points, medians, message)", new["detections_3d"]),
            ("~/targets/points (after ~/detections_3d: packing only)", new["targets/points"]),
            (f"components + ~/detections, 1 target class ({n_single} objects)", single["detections"]),
            ("~/detections_3d, 1 target class", single["detections_3d"]),
        ]
    print(
        f"ov_seg_ros consumer outputs, {WIDTH}x{HEIGHT}, median of {args.repeats} frames, ms added per frame "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(f"{'output':<62} {'wall ms':>8} {'CPU ms':>8}")
    for name, (wall, cpu) in rows:
        print(f"{name:<62} {wall:8.2f} {cpu:8.2f}")


if __name__ == "__main__":
    main()
