#!/usr/bin/env python3
"""How many camera-sized messages a best-effort subscriber in another process receives over Fast DDS.

One publisher process sends what the node sends per frame (~/labels mono16, ~/confidence and
~/objectness 32FC1, reliable depth 2 as the node publishes them), FRAMES paced frames; one subscriber
process with NO profile (as RViz or Nav2 start) reads all three best effort and counts the stamps that
arrived. Both on loopback (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) on a domain of their own.

    python bench/dds_large.py [--size 480x640] [--frames 10] [--period 0.5] [--runs 3]
        [--profile shipped|none|PATH] [--variable FASTRTPS_DEFAULT_PROFILES_FILE|FASTDDS_DEFAULT_PROFILES_FILE]
        [--sub-profile none|shipped|PATH] [--pub-reliability reliable]

--profile shipped gives the publisher what the node gives itself (ros_session.apply_transport_profile).
Prints one line per run and a summary: per topic, frames received of those sent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, installed or not
TOPICS = {"labels": ("mono16", 2), "confidence": ("32FC1", 4), "objectness": ("32FC1", 4)}
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


def qos(reliability: str, depth: int):
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    kind = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=kind)


def apply_profile(choice: str, variable: str = "") -> str:
    """Before rclpy starts: the process's Fast DDS profile (`shipped`: as the node applies it; with
    `variable`, the shipped file in that variable whether this Fast DDS reads it or not)."""
    for name in PROFILE_VARIABLES:
        os.environ.pop(name, None)
    if choice == "none":
        return "builtin"
    from ov_seg_ros.node.ros_session import apply_transport_profile, profile_variables, shipped_profile

    if choice == "shipped" and not variable:
        return apply_transport_profile()
    variable = variable or profile_variables()[0]
    os.environ[variable] = str(shipped_profile()) if choice == "shipped" else choice
    return f"{os.environ[variable]} in ${variable}"


def publisher(args: argparse.Namespace) -> None:
    print(apply_profile(args.profile, args.variable), flush=True)
    import numpy as np
    import rclpy

    from ov_seg_ros.messages.convert import to_image
    from ov_seg_ros.node.ros_session import exit_process

    rclpy.init()
    node = rclpy.create_node("dds_large_pub")
    pubs = {
        name: node.create_publisher(
            type(to_image(np.zeros((1, 1), np.uint8), "mono8")), f"/dds_large/{name}", qos(args.pub_reliability, 2)
        )
        for name in TOPICS
    }
    deadline = time.monotonic() + 60
    while min(p.get_subscription_count() for p in pubs.values()) == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    time.sleep(1.0)  # discovery of the subscriber's locators settles
    height, width = args.shape
    images = {
        "labels": np.full((height, width), 1, np.uint16),
        "confidence": np.full((height, width), 0.5, np.float32),
        "objectness": np.full((height, width), 0.25, np.float32),
    }
    for stamp in range(1, args.frames + 1):
        for name, pub in pubs.items():
            msg = to_image(images[name], TOPICS[name][0])
            msg.header.stamp.sec = stamp
            pub.publish(msg)
        end = time.monotonic() + args.period
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.02)
    time.sleep(2.0)  # let the last frame leave before the participant goes
    print("published", flush=True)
    exit_process(0)


def subscriber(args: argparse.Namespace) -> None:
    print(apply_profile(args.sub_profile), flush=True)
    import rclpy
    from sensor_msgs.msg import Image

    from ov_seg_ros.node.ros_session import exit_process

    rclpy.init()
    node = rclpy.create_node("dds_large_sub")
    got = {name: set() for name in TOPICS}
    for name in TOPICS:
        node.create_subscription(
            Image, f"/dds_large/{name}", lambda m, n=name: got[n].add(m.header.stamp.sec), qos("best_effort", 5)
        )
    print("ready", flush=True)
    stop = Path(args.stop_file)
    while not stop.exists():
        rclpy.spin_once(node, timeout_sec=0.05)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(json.dumps({name: sorted(stamps) for name, stamps in got.items()}), flush=True)
    exit_process(0)


def one_run(args: argparse.Namespace, domain: int, run: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    env.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
    stop = Path(f"/tmp/dds_large_{os.getpid()}_{run}.stop")
    stop.unlink(missing_ok=True)
    common = [f"--size={args.size}", f"--frames={args.frames}", f"--period={args.period}"]
    common += [
        f"--profile={args.profile}",
        f"--sub-profile={args.sub_profile}",
        f"--pub-reliability={args.pub_reliability}",
    ]
    common += [f"--variable={args.variable}"] if args.variable else []
    sub = subprocess.Popen(
        [sys.executable, __file__, "--role=sub", f"--stop-file={stop}", *common],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sub_transport = sub.stdout.readline().strip()
    assert sub.stdout.readline().strip() == "ready"
    pub_env = {**env, **dict(kv.split("=", 1) for kv in args.pub_env)}
    pub = subprocess.run(
        [sys.executable, __file__, "--role=pub", *common], env=pub_env, capture_output=True, text=True, timeout=300
    )
    stop.touch()
    out = sub.communicate(timeout=60)[0]
    stop.unlink(missing_ok=True)
    try:
        got = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as err:
        raise SystemExit(f"subscriber failed:\n{out}\npublisher:\n{pub.stdout}{pub.stderr}") from err
    return {"pub": pub.stdout.splitlines()[0] if pub.stdout else pub.stderr[-500:], "sub": sub_transport, "got": got}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--role", choices=["run", "pub", "sub"], default="run")
    p.add_argument("--size", default="480x640", help="HEIGHTxWIDTH")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--period", type=float, default=0.5)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--profile", default="shipped", help="publisher: shipped, none or a profile path")
    p.add_argument("--sub-profile", default="none", help="subscriber: none (as RViz), shipped or a path")
    p.add_argument("--variable", default="", choices=["", *PROFILE_VARIABLES], help="the publisher's profile variable")
    p.add_argument("--pub-reliability", default="reliable", choices=["reliable", "best_effort"])
    p.add_argument("--pub-env", action="append", default=[], help="KEY=VALUE for the publisher's process")
    p.add_argument("--verbose", action="store_true", help="print the stamps received")
    p.add_argument("--stop-file", default="")
    p.add_argument("--domain", type=int, default=(os.getpid() % 50) + 50)
    args = p.parse_args()
    args.shape = tuple(int(v) for v in args.size.split("x"))
    if args.role == "pub":
        return publisher(args)
    if args.role == "sub":
        return subscriber(args)
    totals = {name: 0 for name in TOPICS}
    print(
        f"ROS_DISTRO={os.environ.get('ROS_DISTRO')} size={args.size} frames={args.frames} period={args.period}s "
        f"pub profile={args.profile} {' '.join(args.pub_env)} sub profile={args.sub_profile} "
        f"load={os.getloadavg()[0]:.2f}"
    )
    for run in range(args.runs):
        result = one_run(args, args.domain, run)
        counts = {name: len(result["got"][name]) for name in TOPICS}
        for name in TOPICS:
            totals[name] += counts[name]
        if run == 0:
            print(f"  publisher: {result['pub']}\n  subscriber: {result['sub']}")
        print(f"  run {run + 1}: " + ", ".join(f"{n} {c}/{args.frames}" for n, c in counts.items()), flush=True)
        if args.verbose:
            print(f"    stamps: {result['got']}")
    sent = args.frames * args.runs
    print("  total: " + ", ".join(f"{n} {c}/{sent}" for n, c in totals.items()))


if __name__ == "__main__":
    main()
