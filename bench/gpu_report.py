#!/usr/bin/env python3
"""One table of what `make gpu-check` measured: python bench/gpu_report.py [RESULTS_DIR]."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def engine_lines(results: Path) -> List[str]:
    lines = []
    for precision in ("fp32", "fp16"):
        data = load(results / f"gpu_engine_{precision}.json")
        for row in data.get("configs", []):
            if row["mode"] == "whole" or row["size"] == "480x640":
                lines.append(
                    f"engine {precision:4s} {row['size']:>9s} {row['method']:13s} {row['mode']:5s} "
                    f"{row['fps']:9.1f} fps  p50 {row['p50_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms  "
                    f"GPU peak {row.get('device_peak_mib', 0):6.0f} MiB"
                )
        for row in data.get("batches", []):
            lines.append(
                f"engine {precision:4s} {row['size']:>9s} batch of {row['batch']:<3d}              "
                f"{row['fps']:9.1f} fps  {row['p50_ms_per_batch']:7.2f} ms per batch"
            )
        versus = data.get("versus_reference")
        if versus:
            lines.append(
                f"engine {precision:4s} single pass vs reference code path: "
                f"{json.dumps({k: v for k, v in versus.items() if not isinstance(v, dict)})}"
            )
    return lines


def node_lines(results: Path) -> List[str]:
    lines = []
    for name in ("gpu_node_1cam", "gpu_node_2cam"):
        r = load(results / f"{name}.json")
        if not r:
            continue
        s, o, st = r["setup"], r["one_at_a_time"], r["streaming"]
        memory = ", ".join(f"{k} {v:.0f}" for k, v in r.get("node_memory_mib", {}).items())
        lines.append(
            f"node {s['cameras']} camera(s) {s['size']} in {s['input_size']}: one at a time p50 "
            f"{o['p50_ms']:.1f} / p95 {o['p95_ms']:.1f} ms; streaming {s['rate_hz']:g} Hz: "
            f"{st['fps_out']:g} frames/s out, p50 {st['p50_ms']:.1f} ms; {memory}"
        )
    bag = load(results / "gpu_bag.json")
    if bag:
        offline, before, after = bag["ov_seg_bag"], bag.get("node_live_before"), bag.get("node_live_after")
        live = ", ".join(f"{live['fps']:.1f}" for live in (before, after) if live)
        lines.append(
            f"ov-seg on a {bag['setup']['frames']}-frame {bag['setup']['size']} bag, batch "
            f"{bag['setup']['batch_size']}: {offline['fps']:.1f} frames/s; live node at 30 Hz: {live} frames/s"
        )
    return lines


def main() -> None:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results")
    tests = load(results / "gpu_check_tests.json")
    machine = load(results / "gpu_engine_fp32.json").get("machine", {})
    print(f"== gpu-check: {machine.get('device', '?')}, torch {machine.get('torch', '?')}")
    for key, value in tests.items():
        print(f"test {key:10s} " + ", ".join(f"{k} {v:.2e}" if v < 0.99 else f"{k} {v:.4f}" for k, v in value.items()))
    for line in engine_lines(results) + node_lines(results):
        print(line)


if __name__ == "__main__":
    main()
