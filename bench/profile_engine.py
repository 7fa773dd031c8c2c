#!/usr/bin/env python3
"""Where one frame's time goes: torch profiler's top operators for Segmenter.segment.

python bench/profile_engine.py --device cuda --precision fp16 --size 480x640
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ov_seg_ros import Segmenter


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--size", default="480x640", type=lambda s: tuple(int(v) for v in s.split("x")))
    p.add_argument("--input-size", type=int, default=448)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    seg = Segmenter(
        weights="seeded", heads="seeded", device=args.device, precision=args.precision, input_size=args.input_size
    )
    seg.set_vocabulary(["floor", "wall", "door", "person", "chair", "table"])
    image = np.random.default_rng(0).integers(0, 256, (*args.size, 3), dtype=np.uint8)
    for _ in range(5):
        seg.segment(image)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if seg.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    start = time.perf_counter()
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(args.iters):
            seg.segment(image)
    print(
        f"{args.iters} frames {args.size} on {args.device} {args.precision}: "
        f"{(time.perf_counter() - start) / args.iters * 1e3:.1f} ms per frame under the profiler"
    )
    sort = "cuda_time_total" if seg.device.type == "cuda" else "cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=args.top))
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
