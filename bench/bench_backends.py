#!/usr/bin/env python3
"""Backends of the image pass, one alternating run: every available backend × precision, per 480×640
frame at input 448 and native size: ms per frame (Segmenter.segment, median), ratio to torch fp32,
first-use export/build time, cached load time, peak RSS, label agreement with torch fp32.

    python bench/bench_backends.py                    # fresh cache in a temp dir: export times measured
    python bench/bench_backends.py --rounds 10 --keep-cache

Frames: the bundled demo frames (480×640); int8 is calibrated on frames 0-3 and measured on 4-7.
First use (export/build) and a second engine's cached load are timed per shape in this process;
peak RSS comes from one child per configuration (torch, text tower, one backend, native shape, as a node
holds it); the timing runs all configurations in one process, alternating
frame by frame so that the shared machine's load falls on all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from ov_seg_ros.engine.backends.support import combination_error, installed  # noqa: E402

CONFIGS = [
    ("torch", "fp32"),
    ("torch", "bf16"),
    ("onnxruntime", "fp32"),
    ("openvino", "fp32"),
    ("openvino", "bf16"),
    ("openvino", "int8"),
]
VOCABULARY = ["floor", "wall", "door", "table", "chair", "person"]
DEMO = REPO / "demo"


def frames(indices) -> List[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(DEMO / f"frame_{i:02d}.png").convert("RGB")) for i in indices]


def make(backend: str, precision: str, size: int, calibration: str):
    from ov_seg_ros import Segmenter

    seg = Segmenter(
        weights="seeded",
        heads="seeded",
        backend=backend,
        precision=precision,
        input_size=size,
        calibration=calibration if precision == "int8" else None,
    )
    seg.set_vocabulary(VOCABULARY)
    return seg


def child(backend: str, precision: str, size: int, calibration: str) -> None:
    """Peak RSS of one engine as a node holds it: loaded from the cache, 3 frames."""
    seg = make(backend, precision, size, calibration)
    for image in frames(range(4, 7)):
        seg.segment(image)
    print(json.dumps({"peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """VmHWM, the peak resident size of this process's own memory since exec. Not getrusage's ru_maxrss:
    Linux carries that over exec from the forked parent, so every child reported the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: the best there is


def run_child(config: Tuple[str, str], size: int, calibration: str) -> Dict:
    cmd = [sys.executable, __file__, "--child", *config, str(size), "--calibration", calibration]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{config} {size}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def input_shape(size: int) -> Tuple[int, int, int, int]:
    """The network input of a 480×640 frame at this input size, as the Segmenter pads it."""
    from ov_seg_ros.engine.options import PATCH
    from ov_seg_ros.engine.segmenter import resized_shape

    height, width = resized_shape(480, 640, size) if size else (480, 640)
    return (1, 3, -(-height // PATCH) * PATCH, -(-width // PATCH) * PATCH)


def build_and_load(seg, configs, sizes, calibration: str) -> Tuple[Dict, Dict]:
    """First use (export/build into the cache) and a second engine's cached load, per config and size:
    (the loaded passes, {(config, size): (build s, load s)})."""
    from ov_seg_ros.engine.backends.factory import make_visual_pass

    passes, times = {}, {}
    for config in configs:
        passes[config] = make_visual_pass(config[0], seg.network, config[1], "cpu", calibration)
        for size in sizes:
            if config[0] == "torch":
                times[(config, size)] = (None, None)
                continue
            fresh = make_visual_pass(config[0], seg.network, config[1], "cpu", calibration)
            built = fresh.prepare(input_shape(size))
            loaded = passes[config].prepare(input_shape(size))
            times[(config, size)] = (built["seconds"], loaded["seconds"])
            print(
                f"{config} {size}: first use {built['how']} {built['seconds']:.1f} s, "
                f"then {loaded['how']} {loaded['seconds']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            del fresh
    return passes, times


def alternate(seg, passes, configs, sizes, rounds: int) -> Dict:
    """All configurations in one process (one network, one pass per backend × precision)."""
    images = frames(range(4, 8))
    times: Dict = {(c, s): [] for c in configs for s in sizes}
    agree: Dict = {(c, s): [] for c in configs for s in sizes}
    for r in range(rounds + 1):  # round 0 warms up (and loads every shape from the cache)
        image = images[r % len(images)]
        for size in sizes:
            reference = None
            for config in configs:
                seg.backend, seg.precision, seg.visual = config[0], config[1], passes[config]
                start = time.perf_counter()
                result = seg.segment(image, input_size=size)
                elapsed = time.perf_counter() - start
                if config == ("torch", "fp32"):
                    reference = result.labels
                if r:
                    times[(config, size)].append(elapsed)
                    agree[(config, size)].append(float(np.mean(result.labels == reference)))
    return {key: (float(np.median(t) * 1000), agree[key]) for key, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=6, help="timed frames per configuration and size")
    p.add_argument("--sizes", default="448,0", help="input sizes (0 = native 480×640)")
    p.add_argument("--keep-cache", action="store_true", help="use $XDG_CACHE_HOME as it is (build times: cached)")
    p.add_argument("--calibration", default="", help=argparse.SUPPRESS)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        backend, precision, size = args.child
        return child(backend, precision, int(size), args.calibration)
    scratch = [tempfile.mkdtemp(prefix="ov_seg_bench_calib_")]
    if not args.keep_cache:  # exports are hundreds of MB per shape: removed at the end
        scratch.append(tempfile.mkdtemp(prefix="ov_seg_bench_cache_"))
        os.environ["XDG_CACHE_HOME"] = scratch[-1]
    try:
        measure(args, scratch[0])
    finally:
        for folder in scratch:
            shutil.rmtree(folder, ignore_errors=True)


def measure(args, calibration: str) -> None:
    for i in range(4):  # calibrate on frames 0-3, measure on 4-7
        os.symlink(DEMO / f"frame_{i:02d}.png", Path(calibration) / f"frame_{i:02d}.png")
    sizes = [int(s) for s in args.sizes.split(",")]
    configs = []
    for backend, precision in CONFIGS:
        reason = combination_error(backend, precision) or (None if installed(backend) else "not installed")
        if reason:
            print(f"skipped {backend} {precision}: {reason}", file=sys.stderr)
        else:
            configs.append((backend, precision))
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}", file=sys.stderr
    )
    seg = make("torch", "fp32", sizes[0], calibration)
    passes, setup = build_and_load(seg, configs, sizes, calibration)
    results = alternate(seg, passes, configs, sizes, args.rounds)
    del seg, passes  # the peak-RSS children below should not share the machine's memory with these
    load = os.getloadavg()
    print(f"\nper 480×640 frame, {args.rounds} alternating rounds; load average after: {load[0]:.1f}\n")
    rows = timing_table(configs, sizes, results, setup)
    save(rows, load)  # before the memory phase, so a killed child loses nothing measured
    print("\n| backend | precision | input | peak RSS MiB (one engine, as a node holds it) |\n|---|---|---|---|")
    largest = max(sizes, key=lambda s: s or 10**6)  # native 480×640 when measured
    for config in configs:
        rss = run_child(config, largest, calibration)["peak_rss_mib"]
        print(f"| {config[0]} | {config[1]} | {largest or 'native'} | {rss:.0f} |", flush=True)
        for row in rows:
            if (row["backend"], row["precision"]) == config:
                row["peak_rss_mib"] = rss
        save(rows, load)


def timing_table(configs, sizes, results, setup) -> List[Dict]:
    print(
        "| backend | precision | input | ms per frame | vs torch fp32 | first use (export/build) s "
        "| cached load s | labels vs torch fp32 (mean / worst) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for size in sizes:
        base = results[(("torch", "fp32"), size)][0]
        for config in configs:
            ms, agreement = results[(config, size)]
            built, loaded = setup[(config, size)]
            row = {
                "backend": config[0],
                "precision": config[1],
                "input": size or "native",
                "ms": ms,
                "speedup": base / ms,
                "build_s": built,
                "load_s": loaded,
                "labels_mean": float(np.mean(agreement)),
                "labels_worst": float(np.min(agreement)),
            }
            rows.append(row)
            print(
                f"| {config[0]} | {config[1]} | {row['input']} | {ms:.0f} | {row['speedup']:.2f}× | "
                + ("— | — | " if config[0] == "torch" else f"{built:.0f} | {loaded:.1f} | ")
                + (
                    "— |"
                    if config == ("torch", "fp32")
                    else f"{100 * row['labels_mean']:.1f} / {100 * row['labels_worst']:.1f} % |"
                ),
                flush=True,
            )
    return rows


def save(rows: List[Dict], load) -> None:
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "backends.json").write_text(json.dumps({"load_average": load, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
