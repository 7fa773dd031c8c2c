"""The bundled demo: files consistent with each other, and the player's three topics in step over DDS."""

import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from conftest import ros_domain
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from ov_seg_ros.node.demo_player import FRAME_ID, DemoPlayer, default_demo_dir, load_camera_info, load_frames
from ov_seg_ros.node.ros_session import ros_session

DEMO = Path(__file__).resolve().parents[1] / "demo"


def test_demo_is_small_and_flat():
    files = list(DEMO.iterdir())
    assert all(f.is_file() for f in files)
    assert sum(f.stat().st_size for f in files) < 2_000_000
    assert default_demo_dir().is_dir()


def test_frames_and_depth_match_the_camera():
    frames = load_frames(DEMO)
    info = load_camera_info(DEMO / "camera_info.yaml")
    assert len(frames) == 8
    for f in frames:
        assert (f.image.width, f.image.height, f.image.encoding) == (info.width, info.height, "rgb8")
        assert (f.depth.width, f.depth.height, f.depth.encoding) == (info.width, info.height, "16UC1")
        depth = np.frombuffer(bytes(f.depth.data), "<u2")
        assert 500 < depth.min() and depth.max() <= 5000  # mm: the room's back wall is 5 m away
    k = np.array(info.k).reshape(3, 3)
    assert k[0, 0] > 0 and k[0, 2] == pytest.approx((info.width - 1) / 2)


def test_floor_depth_matches_the_intrinsics():
    # the camera is 1.2 m above a flat floor: at the bottom row z = 1.2 fy / (v - cy)
    frames = load_frames(DEMO)
    info = load_camera_info(DEMO / "camera_info.yaml")
    fy, cy = info.k[4], info.k[5]
    depth = np.frombuffer(bytes(frames[0].depth.data), "<u2").reshape(info.height, info.width)
    v = info.height - 1
    assert depth[v, 5] / 1000 == pytest.approx(1.2 * fy / (v - cy), abs=0.002)


def test_player_publishes_matching_stamps_and_frame_ids():
    with ros_session(domain_id=ros_domain("demo_player"), transport=False):
        player = DemoPlayer()
        listener = Node("listener")
        got = {}
        for topic, kind in (("image", Image), ("depth", Image), ("camera_info", CameraInfo)):
            listener.create_subscription(kind, topic, lambda m, t=topic: got.setdefault(t, []).append(m), 10)
        executor = SingleThreadedExecutor()
        executor.add_node(player)
        executor.add_node(listener)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (len(got) == 3 and min(map(len, got.values())) >= 2):
            executor.spin_once(timeout_sec=0.1)
        stamps = {t: {(m.header.stamp.sec, m.header.stamp.nanosec) for m in msgs} for t, msgs in got.items()}
        assert set(got) == {"image", "depth", "camera_info"}
        common = stamps["image"] & stamps["depth"] & stamps["camera_info"]
        assert common, "no stamp shared by image, depth and camera_info"
        assert {m.header.frame_id for msgs in got.values() for m in msgs} == {FRAME_ID}
        executor.shutdown()
        player.destroy_node()
        listener.destroy_node()


def test_rviz_config_shows_the_node_outputs_in_the_demo_frame():
    import yaml

    config = yaml.safe_load((DEMO.parent / "config" / "ov_seg.rviz").read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == FRAME_ID
    shown = {d["Topic"]["Value"]: d for d in manager["Displays"] if "Topic" in d}
    assert set(shown) == {"/ov_seg/overlay", "/ov_seg/objectness", "/ov_seg/points"}
    assert shown["/ov_seg/points"]["Color Transformer"] == "RGB8"
    assert shown["/ov_seg/points"]["Class"] == "rviz_default_plugins/PointCloud2"


def test_overlay_saver_writes_what_the_node_publishes(tmp_path):
    """The demo's save_dir: overlays arriving on the topic become PNG files a user can open."""
    import numpy as np
    from PIL import Image as PILImage

    from ov_seg_ros.messages.convert import to_image
    from ov_seg_ros.node.demo_player import OverlaySaver

    with ros_session(domain_id=ros_domain("overlay_saver"), transport=False):
        node = rclpy.create_node("saver_test")
        saver = OverlaySaver(node, tmp_path / "out", frames=2, topic="/test/overlay")
        rgb = np.zeros((4, 6, 3), np.uint8)
        rgb[..., 0] = 200
        for _ in range(3):
            saver.save(to_image(rgb, "rgb8"))
        saver.save(to_image(np.zeros((4, 6), np.float32), "32FC1"))  # not an overlay: logged, skipped
        node.destroy_node()
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["overlay_00.png", "overlay_01.png"] and saver.saved == 3
    assert np.array_equal(np.asarray(PILImage.open(tmp_path / "out" / "overlay_00.png")), rgb)
