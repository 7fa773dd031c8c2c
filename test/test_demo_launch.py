"""`ros2 launch ov_seg_ros demo.launch.py` from a fresh install: overlay (with the seeded banner) and points."""

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ament_prefix_path, interrupt, ros_domain, ros_env

DOMAIN = ros_domain("demo_launch")
START_TIMEOUT = 180.0  # torch import + seeded CLIP + vocabulary encoding on 2 cores


def launch_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in ros_env(DOMAIN).items() if k not in ("OV_SEG_WEIGHTS", "OV_SEG_HEADS")}
    env.update(
        {
            "HOME": str(tmp_path / "home"),  # no cached weights: auto -> seeded
            "HF_HUB_CACHE": str(tmp_path / "empty_hub"),
            "AMENT_PREFIX_PATH": ament_prefix_path(tmp_path / "install"),
        }
    )
    return env


def first_messages(domain: int, timeout: float) -> dict:
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image, PointCloud2

    from ov_seg_ros.node.ros_session import ros_session

    got = {}
    with ros_session(domain_id=domain, transport=False):
        node = Node("demo_launch_probe")
        node.create_subscription(Image, "/ov_seg/overlay", lambda m: got.setdefault("overlay", m), 2)
        node.create_subscription(PointCloud2, "/ov_seg/points", lambda m: got.setdefault("points", m), 2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(got) < 2:
            rclpy.spin_once(node, timeout_sec=0.5)
        node.destroy_node()
    return got


def test_demo_launch_shows_overlay_with_banner_and_points(tmp_path):
    if shutil.which("ros2") is None:
        pytest.skip("ros2 CLI not installed (see shared/ros2-cli/README.md)")
    log_path = tmp_path / "launch.log"
    with open(log_path, "w") as log:
        launch = subprocess.Popen(
            ["timeout", "-k", "5", "-s", "INT", "300", "ros2", "launch", "ov_seg_ros", "demo.launch.py"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=launch_env(tmp_path),
        )
        try:
            got = first_messages(DOMAIN, START_TIMEOUT)
        finally:
            interrupt(launch, timeout=40)
    text = log_path.read_text()
    assert set(got) == {"overlay", "points"}, text[-3000:]
    assert "UNTRAINED SEEDED WEIGHTS" in text  # the loud warning
    overlay = got["overlay"]
    rgb = np.frombuffer(bytes(overlay.data), np.uint8).reshape(overlay.height, overlay.width, -1)
    bottom = rgb[-3:, :, :3].reshape(-1, 3).astype(int)
    assert (bottom[:, 0] > 150).mean() > 0.9 and (bottom[:, 1] < 60).mean() > 0.5  # the red banner
    points = got["points"]
    assert points.header.frame_id == "camera_color_optical_frame" and points.width > 10_000
