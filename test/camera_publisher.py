#!/usr/bin/env python3
"""A camera driver stand-in for the transport tests, run as its own process (DDS transports are per
process): publishes COUNT frames of HEIGHTxWIDTH rgb8 on TOPIC, stamps FIRST..FIRST+COUNT-1, one every PERIOD s,
once the node's subscription has matched. `--profile` gives the process the shipped Fast DDS profile,
as the README tells a camera driver to; without it the process uses Fast DDS's builtin transports.

    python test/camera_publisher.py TOPIC HEIGHT WIDTH COUNT PERIOD {reliable,best_effort} [--profile]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser()
    for name, kind in (("topic", str), ("height", int), ("width", int), ("count", int), ("period", float)):
        p.add_argument(name, type=kind)
    p.add_argument("reliability", choices=["reliable", "best_effort"])
    p.add_argument("--profile", action="store_true")
    p.add_argument("--first-stamp", type=int, default=1)
    p.add_argument("--settle", type=float, default=3.0, help="s after matching (auto QoS re-evaluates)")
    args = p.parse_args()

    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from ov_seg_ros.messages.convert import to_image
    from ov_seg_ros.node.ros_session import exit_process, ros_session

    with ros_session(transport=args.profile) as transport:
        print(transport, flush=True)
        node = rclpy.create_node("camera_stand_in")
        reliability = ReliabilityPolicy.RELIABLE if args.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
        pub = node.create_publisher(
            type(to_image(np.zeros((1, 1), np.uint8), "mono8")),
            args.topic,
            QoSProfile(depth=1, reliability=reliability),
        )
        deadline = time.monotonic() + 120
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        time.sleep(args.settle)
        rng = np.random.default_rng(0)
        for stamp in range(args.first_stamp, args.first_stamp + args.count):
            pixels = rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
            msg = to_image(pixels, "rgb8")
            msg.header.stamp.sec, msg.header.frame_id = stamp, "camera_optical"
            pub.publish(msg)
            print(f"published {stamp}", flush=True)
            end = time.monotonic() + args.period
            while time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.05)
        time.sleep(1.0)  # let the last frame leave before the participant goes
        node.destroy_node()
    exit_process(0)  # past Fast DDS's teardown, as the node does


if __name__ == "__main__":
    main()
