#!/usr/bin/env python3
"""Many recordings: `ov-seg DIR --out OUT` serially and on Ray (`--ray local`, 1 and 2 workers; with
one worker per GPU when CUDA is there), each run a fresh process on fresh output, as a user would.

Writes --recordings MCAP bags of --frames rgb8 images each (bench_bag's writer), runs every setting
--rounds times in alternating order (the machine is shared and drifts by the minute), and prints, per
run, the wall time (process start to exit: Python, Ray start-up, every model load and all frames), the
frames written (from manifest.jsonl) and frames/s, then each setting's best wall time and its ratio to
the serial run's. Also times a rerun on the finished output (everything skipped). Writes JSON to
bench/results/. Nothing here asserts speed; tests do not depend on it.

    python bench/bench_fleet.py                          # 8 recordings x 12 frames, 160x120, input_size 224
    python bench/bench_fleet.py --recordings 4 --frames 6 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.bench_bag import write_bag  # noqa: E402  - the bag benchmark's own recordings


def settings(gpus: int) -> Dict[str, List[str]]:
    runs = {"serial": [], "ray, 1 worker": ["--ray", "local", "--workers", "1"]}
    runs["ray, 2 workers"] = ["--ray", "local", "--workers", "2"]
    if gpus:
        runs[f"ray, {gpus} GPU worker(s)"] = ["--ray", "local", "--workers", str(gpus), "--gpus-per-worker", "1"]
    return runs


def run(recordings: Path, out: Path, engine: List[str], extra: List[str]) -> Dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, "-m", "ov_seg_ros.offline.cli", str(recordings), "--out", str(out), *engine, *extra]
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    wall = time.monotonic() - began
    if not (out / "manifest.jsonl").is_file():
        raise SystemExit(f"bench_fleet: {' '.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    lines = [json.loads(line) for line in (out / "manifest.jsonl").open()]
    frames = sum(line["frames"] for line in lines if line["status"] == "done")
    failed = [line["error"] for line in lines if line["status"] == "failed"]
    if failed:  # e.g. Ray's memory monitor killing workers on a machine short of memory: say so, go on
        print(f"bench_fleet: {len(failed)} recording(s) failed, first: {failed[0]}", flush=True)
    figures = {"wall_s": round(wall, 2), "frames": frames, "fps": round(frames / wall, 3), "failed": len(failed)}
    return {**figures, "exit": done.returncode}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recordings", type=int, default=8)
    p.add_argument("--frames", type=int, default=12, help="frames per recording")
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    import torch

    gpus = torch.cuda.device_count() if args.device.startswith("cuda") else 0
    engine = ["--classes", "floor,wall,door,person", "--weights", "seeded", "--heads", "seeded"]
    engine += ["--input-size", str(args.input_size), "--device", args.device]
    os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="rb", dir="/tmp"))  # short socket paths
    results: Dict[str, List[Dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_fleet_") as tmp:
        recordings = Path(tmp) / "recordings"
        recordings.mkdir()
        for i in range(args.recordings):
            write_bag(recordings / f"run{i:02d}", args.frames, args.height, args.width)
        runs = settings(gpus)
        for round_ in range(args.rounds):
            order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
            for name in order:
                figures = run(recordings, Path(tmp) / "out", engine, runs[name])
                results.setdefault(name, []).append(figures)
                print(
                    f"round {round_ + 1}  {name:<22} {figures['wall_s']:7.1f} s  {figures['frames']} frames  "
                    f"{figures['fps']:.2f} frames/s  ({figures['failed']} failed)",
                    flush=True,
                )
        rerun_began = time.monotonic()
        rerun = subprocess.run(
            [sys.executable, "-m", "ov_seg_ros.offline.cli", str(recordings), "--out", str(Path(tmp) / "out"), *engine],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        rerun_s = time.monotonic() - rerun_began
    load = os.getloadavg()
    serial = min(r["wall_s"] for r in results["serial"])
    print(
        f"\n{args.recordings} recordings x {args.frames} frames ({args.width}x{args.height}), input_size "
        f"{args.input_size}, {args.device}, {os.cpu_count()} cores, load {load[0]:.1f}; best of {args.rounds}:"
    )
    print(f"{'setting':<24}{'wall s':>8}{'frames/s':>10}{'vs serial':>11}")
    for name, figures in results.items():
        best = min(figures, key=lambda f: f["wall_s"])
        print(f"{name:<24}{best['wall_s']:>8.1f}{best['fps']:>10.2f}{serial / best['wall_s']:>10.2f}x")
    print(f"rerun on finished output (all skipped, exit {rerun.returncode}): {rerun_s:.2f} s")
    folder = REPO / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    report = {
        "args": vars(args),
        "results": results,
        "rerun_s": round(rerun_s, 2),
        "load": load,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (folder / "bench_fleet.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
