#!/usr/bin/env python3
"""What each lifecycle transition of the ov_seg node costs, as a lifecycle manager sees it.

Starts the node (autostart:=false) as a process, drives it with lifecycle_msgs/ChangeState over real DDS
(loopback) through configure, activate, one frame, deactivate, cleanup, configure again and shutdown,
and prints per step the time until the node answered and the node's resident memory (VmRSS) after it.

    python bench/bench_lifecycle.py                       # seeded weights, CPU
    python bench/bench_lifecycle.py --device cuda --json lifecycle.json
    python bench/bench_lifecycle.py --free-only   # in this process: what del + gc and then malloc_trim give back

Nothing here asserts anything; tests do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "test")]  # the package of this checkout; the DDS tests' support module
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from ros_support import SpinningNode, make_image, start_node, wait_until  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

STEPS = [
    ("configure", Transition.TRANSITION_CONFIGURE),
    ("activate", Transition.TRANSITION_ACTIVATE),
    ("deactivate", Transition.TRANSITION_DEACTIVATE),
    ("cleanup", Transition.TRANSITION_CLEANUP),
    ("configure again", Transition.TRANSITION_CONFIGURE),
    ("cleanup again", Transition.TRANSITION_CLEANUP),
    ("shutdown", Transition.TRANSITION_UNCONFIGURED_SHUTDOWN),
]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_only(args: argparse.Namespace) -> None:
    """Load the engine here, drop it, and print the resident memory at each step of the node's cleanup."""
    import gc

    from ov_seg_ros import Segmenter
    from ov_seg_ros.node.memory import give_back_freed_memory, resident_mib

    before = resident_mib()
    seg = Segmenter(weights=args.weights, heads=args.heads, device=args.device)
    seg.prepare_vocabulary(["floor", "door"])
    loaded = resident_mib()
    del seg
    gc.collect()
    collected = resident_mib()
    give_back_freed_memory()
    trimmed = resident_mib()
    print(f"resident MiB: before {before:.0f}, engine loaded {loaded:.0f}, after del + gc.collect {collected:.0f}, ")
    print(f"after malloc_trim {trimmed:.0f}: gc gave back {loaded - collected:.0f}, trim {collected - trimmed:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="seeded")
    parser.add_argument("--heads", default="seeded")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--domain", type=int, default=os.getpid() % 90 + 5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--free-only", action="store_true", help="only the in-process memory release")
    args = parser.parse_args()
    if args.free_only:
        free_only(args)
        return
    params = {"weights": args.weights, "heads": args.heads, "device": args.device, "autostart": False}
    params.update(vocabulary=["floor", "door"], input_size=0)
    log = Path(tempfile.mkdtemp()) / "node.log"
    proc = start_node(log, args.domain, params, {"image": "/bench_lifecycle/image"})
    client = SpinningNode(args.domain, "bench_lifecycle")
    change = client.node.create_client(ChangeState, "/ov_seg/change_state")
    state = client.node.create_client(GetState, "/ov_seg/get_state")
    labels: List[Image] = []
    client.node.create_subscription(Image, "/ov_seg/labels", client.keep(labels), 10)
    image_pub = client.node.create_publisher(Image, "/bench_lifecycle/image", 10)
    client.start()
    rows: List[Dict[str, object]] = []
    try:
        wait_until(lambda: state.service_is_ready() or proc.poll() is not None, 120, "the node")
        rows.append({"step": "started (unconfigured)", "seconds": None, "rss_mib": rss_mib(proc.pid)})
        for name, transition in STEPS:
            start = time.monotonic()
            reply = client.call(change, ChangeState.Request(transition=Transition(id=transition)), timeout=600)
            seconds = time.monotonic() - start
            time.sleep(1.0)  # let the node settle before reading its memory
            rss = rss_mib(proc.pid) if proc.poll() is None else float("nan")
            rows.append({"step": name, "success": reply.success, "seconds": round(seconds, 2), "rss_mib": rss})
            if name == "activate":  # one frame while active, so the numbers include a forward pass
                wait_until(lambda: image_pub.get_subscription_count() > 0, 30, "subscription")
                import numpy as np

                image_pub.publish(make_image(np.full((64, 96, 3), 128, np.uint8), "rgb8", 1))
                wait_until(lambda: labels, 120, "one output")
        proc.wait(timeout=30)
    finally:
        client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    print(f"ov_seg lifecycle, {args.weights} weights on {args.device}, {platform.machine()}, {os.cpu_count()} cores")
    print(f"{'step':<24}{'answer s':>10}{'RSS MiB':>10}")
    for row in rows:
        seconds = "" if row["seconds"] is None else f"{row['seconds']:.2f}"
        ok = "" if row.get("success", True) else "  FAILED"
        print(f"{row['step']:<24}{seconds:>10}{row['rss_mib']:>10.0f}{ok}")
    print(f"exit status {proc.returncode}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "exit_status": proc.returncode}, indent=1))


if __name__ == "__main__":
    main()
