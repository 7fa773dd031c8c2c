"""ov_seg_demo_player: publishes the bundled synthetic room sequence as a camera would, in a loop.

Topics (remappable): `image` (rgb8), `depth` (16UC1 mm, registered to the image), `camera_info`;
all three of a frame carry the same stamp and frame_id, so the node pairs them exactly.
Parameters: rate (Hz, 5.0), frame_id, demo_dir ('' = the installed share/ov_seg_ros/demo), loop.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, NoReturn, Optional, Sequence

import numpy as np
import rclpy
import yaml
from PIL import Image as PILImage
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from ..messages.convert import ImageConversionError, to_image, to_rgb
from .ros_session import exit_process, ros_session

FRAME_ID = "camera_color_optical_frame"


@dataclass
class DemoFrame:
    image: Image
    depth: Image


def default_demo_dir() -> Path:
    """share/ov_seg_ros/demo when installed, else the source tree's demo/ (running from a checkout)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory("ov_seg_ros")) / "demo"
        if installed.is_dir():
            return installed
    except (ImportError, LookupError, OSError):  # not installed, or AMENT_PREFIX_PATH unset
        pass
    return Path(__file__).resolve().parents[1] / "demo"


def load_frames(demo_dir: Path) -> List[DemoFrame]:
    """frame_XX.png with depth_XX.png, in name order; raises FileNotFoundError if there are none."""
    frames = []
    for rgb_path in sorted(demo_dir.glob("frame_*.png")):
        depth_path = rgb_path.with_name(rgb_path.name.replace("frame_", "depth_"))
        rgb = np.asarray(PILImage.open(rgb_path).convert("RGB"))
        depth = np.asarray(PILImage.open(depth_path)).astype("<u2")
        frames.append(DemoFrame(to_image(rgb, "rgb8"), to_image(depth, "16UC1")))
    if not frames:
        raise FileNotFoundError(f"no frame_*.png in {demo_dir}")
    return frames


def load_camera_info(path: Path) -> CameraInfo:
    """A camera_calibration-format YAML (as camera_info_manager writes) as a CameraInfo message."""
    calib = yaml.safe_load(path.read_text())
    return CameraInfo(
        width=calib["image_width"],
        height=calib["image_height"],
        distortion_model=calib["distortion_model"],
        d=[float(x) for x in calib["distortion_coefficients"]["data"]],
        k=[float(x) for x in calib["camera_matrix"]["data"]],
        r=[float(x) for x in calib["rectification_matrix"]["data"]],
        p=[float(x) for x in calib["projection_matrix"]["data"]],
    )


class DemoPlayer(Node):
    def __init__(self) -> None:
        super().__init__("ov_seg_demo_player")
        rate = self.declare_parameter("rate", 5.0).value
        self.frame_id = self.declare_parameter("frame_id", FRAME_ID).value
        self.loop = self.declare_parameter("loop", True).value
        demo_dir = Path(self.declare_parameter("demo_dir", "").value or default_demo_dir())
        self.frames = load_frames(demo_dir)
        self.info = load_camera_info(demo_dir / "camera_info.yaml")
        self.pubs = {
            name: self.create_publisher(kind, name, 5)  # reliable: matches either subscriber QoS
            for name, kind in (("image", Image), ("depth", Image), ("camera_info", CameraInfo))
        }
        self.index = 0
        self.timer = self.create_timer(1.0 / max(rate, 1e-3), self.publish_next)
        self.get_logger().info(
            f"playing {len(self.frames)} frames from {demo_dir} at {rate:g} Hz "
            f"on {', '.join(p.topic_name for p in self.pubs.values())}"
        )
        save_dir = self.declare_parameter("save_dir", "").value
        self.saver = OverlaySaver(self, Path(save_dir), len(self.frames)) if save_dir else None

    def publish_next(self) -> None:
        if self.index >= len(self.frames):
            if not self.loop:
                self.timer.cancel()
                return
            self.index = 0
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)
        frame = self.frames[self.index]
        for msg, name in ((frame.image, "image"), (frame.depth, "depth"), (self.info, "camera_info")):
            msg.header = header
            self.pubs[name].publish(msg)
        self.index += 1


class OverlaySaver:
    """Writes what the node shows (overlay_00..NN.png, cycling), so the demo is visible without RViz."""

    def __init__(self, node: Node, save_dir: Path, frames: int, topic: str = "/ov_seg/overlay") -> None:
        self.node, self.frames, self.saved = node, frames, 0
        self.save_dir = save_dir.expanduser().resolve()
        self.save_dir.mkdir(parents=True, exist_ok=True)
        node.create_subscription(Image, node.declare_parameter("overlay_topic", topic).value, self.save, 2)
        node.get_logger().info(f"saving the node's overlays to {self.save_dir}")

    def save(self, msg: Image) -> None:
        try:
            rgb = to_rgb(msg)
        except ImageConversionError as e:
            self.node.get_logger().error(f"overlay not saved: {e}")
            return
        path = self.save_dir / f"overlay_{self.saved % self.frames:02d}.png"
        PILImage.fromarray(rgb).save(path)
        self.saved += 1
        if self.saved <= self.frames:  # say where each file is once; later loops overwrite them
            self.node.get_logger().info(f"wrote {path}")


def main(argv: Optional[Sequence[str]] = None) -> NoReturn:
    """Entry point of `ov_seg_demo_player`: plays until Ctrl-C, exit status 0."""
    try:
        with ros_session(args=argv) as transport:
            player = DemoPlayer()
            player.get_logger().info(transport)
            rclpy.spin(player)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    exit_process(0)


if __name__ == "__main__":
    main(sys.argv)
