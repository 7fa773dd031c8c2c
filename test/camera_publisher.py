#!/usr/bin/env python3
"""A camera driver stand-in for the transport tests, run as its own process (DDS transports are per
process): once the node's subscription has matched it prints `ready`, then publishes one HEIGHTxWIDTH
rgb8 frame on TOPIC for each stamp (an integer) read from stdin, printing `published STAMP`, until stdin
closes. The test paces the frames by the node's output, so CPU load never turns into dropped frames.
The process's DDS transport is whatever its environment says (FASTDDS_/FASTRTPS_DEFAULT_PROFILES_FILE,
as the README tells a camera driver); nothing here changes it.

    python test/camera_publisher.py TOPIC HEIGHT WIDTH {reliable,best_effort}
"""

import argparse
import select
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser()
    for name, kind in (("topic", str), ("height", int), ("width", int)):
        p.add_argument(name, type=kind)
    p.add_argument("reliability", choices=["reliable", "best_effort"])
    p.add_argument("--settle", type=float, default=3.0, help="s after matching (auto QoS re-evaluates)")
    args = p.parse_args()

    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from ov_seg_ros.messages.convert import to_image
    from ov_seg_ros.node.ros_session import exit_process, ros_session

    with ros_session(transport=False):
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
        end = time.monotonic() + args.settle
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
        print("ready", flush=True)
        rng = np.random.default_rng(0)
        while True:
            if not select.select([sys.stdin], [], [], 0.05)[0]:
                rclpy.spin_once(node, timeout_sec=0.0)
                continue
            line = sys.stdin.readline()
            if not line:
                break
            msg = to_image(rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8), "rgb8")
            msg.header.stamp.sec, msg.header.frame_id = int(line), "camera_optical"
            pub.publish(msg)
            print(f"published {int(line)}", flush=True)
        time.sleep(1.0)  # let the last frame leave before the participant goes
        node.destroy_node()
    exit_process(0)  # past Fast DDS's teardown, as the node does


if __name__ == "__main__":
    main()
