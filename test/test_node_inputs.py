"""Camera-driver inputs over real DDS, each node started by `ros2 launch` as a user would: a YUYV and a
Bayer camera (640x480, reliable) on one node; on another, a JPEG CompressedImage stream
(image_transport:=compressed, on <image>/compressed) with compressedDepth depth for ~/points. Frames
come slower than the node's frame time, so (nearly) every one must come back as ~/labels, ~/confidence
and ~/objectness with its header; a corrupt JPEG among them is a counted bad frame, not a crash."""

import array
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest
import rclpy
from conftest import random_image, ros_domain
from diagnostic_msgs.msg import DiagnosticArray
from image_support import bayer_mosaic, compressed_depth, packed_422
from rclpy.context import Context
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_support import (
    SpinningNode,
    last_diagnostics,
    launch_env,
    make_image,
    requires_ros2_cli,
    ros2_launch,
    stamp_of,
    stop_launch,
    wait_started,
    wait_until,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from ov_seg_ros.messages.pointcloud import from_pointcloud2
from ov_seg_ros.node.camera_io import transport_topic

HEIGHT, WIDTH = 480, 640
FRAMES = 5
MIN_PERIOD = 0.5  # s between frames at least; the node takes 0.1-0.3 s per frame here at input_size 64
OUTPUTS = ("labels", "confidence", "objectness")

pytestmark = requires_ros2_cli


def yuyv(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range YUYV of an RGB image (chroma averaged over each pixel pair)."""
    r, g, b = (rgb[:, :, i].astype(np.float64) for i in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    pairs = lambda c: (c[:, 0::2] + c[:, 1::2]) / 2  # noqa: E731
    as_u8 = lambda c: np.clip(c + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
    return packed_422(as_u8(y), as_u8(pairs(u)), as_u8(pairs(v)), "YUYV")


def jpeg(rgb: np.ndarray, stamp: int, frame_id: str) -> CompressedImage:
    """What image_transport's compressed publisher sends for an rgb8 image."""
    import cv2

    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    msg = CompressedImage(format="rgb8; jpeg compressed bgr8", data=array.array("B", data.tobytes()))
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp, 500
    msg.header.frame_id = frame_id
    return msg


class InputsClient(SpinningNode):
    """Publishes each stream on its topic (reliable) and collects the outputs of its camera."""

    def __init__(self, domain: int, streams: Dict[str, Tuple[type, str, Optional[str]]], points: bool = False) -> None:
        """streams: name -> (message type, input topic, output prefix such as '/ov_seg/yuyv/', or None for
        an input without outputs of its own: depth, camera_info). `points`: also ~/points, which the node
        advertises only with publish_points."""
        super().__init__(domain, "ov_seg_inputs_client")
        self.outputs: Dict[Tuple[str, str], List[Image]] = {}
        self.diagnostics: List[DiagnosticArray] = []
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs = {
            name: self.node.create_publisher(kind, topic, reliable) for name, (kind, topic, _) in streams.items()
        }
        self.subs = []
        for name, (_, _, prefix) in streams.items():
            for output in (*OUTPUTS, *(("points",) if points else ())) if prefix else ():
                store = self.outputs.setdefault((name, output), [])
                kind = PointCloud2 if output == "points" else Image
                self.subs.append(self.node.create_subscription(kind, prefix + output, self.keep(store), reliable))
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.keep(self.diagnostics), 10)
        self.start()

    def matched(self) -> bool:
        """The node subscribes to every input and publishes to every output subscription here."""
        return all(p.get_subscription_count() for p in self.pubs.values()) and all(
            s.get_publisher_count() for s in self.subs
        )

    def output(self, stream: str, kind: str, stamp: int):
        with self.lock:
            return next((m for m in self.outputs[stream, kind] if stamp_of(m) == stamp), None)

    def complete(self, stream: str, stamp: int) -> bool:
        return all(self.output(stream, kind, stamp) for kind in OUTPUTS)

    def diagnostic(self, key: str) -> int:
        with self.lock:
            values = last_diagnostics(self.diagnostics)
        return int(values.get(key, 0))


def launch(tmp_path: Path, domain: int, *arguments: str):
    """`ros2 launch ov_seg_ros seg.launch.py` with seeded weights and a small input_size (the frames stay
    640x480 on the wire; a small network input keeps the node fast on 2 cores)."""
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    input_size: 64\n    vocabulary: [floor, door]\n")
    return ros2_launch(launch_env(domain, tmp_path / "install"), f"params_file:={params}", *arguments)


class Nodes:
    """The two launched nodes and a client on each one's domain; `stop()` Ctrl-Cs both once."""

    def __init__(self, tmp_path_factory) -> None:
        raw_domain, compressed_domain = ros_domain("inputs_raw"), ros_domain("inputs_compressed")
        self.procs = {  # started together: their start-up is mostly loading, so it overlaps well
            "raw": launch(
                tmp_path_factory.mktemp("inputs_raw"),
                raw_domain,
                "cameras:=[yuyv, bayer]",
                "image:=/in/{camera}/image_raw",
                "qos_reliability:=reliable",
            ),
            "compressed": launch(
                tmp_path_factory.mktemp("inputs_compressed"),
                compressed_domain,
                "image:=/inz/camera/image_raw",
                "image_transport:=compressed",
                "camera_info:=/inz/camera/camera_info",
                "depth:=/inz/depth/image_raw",
                "depth_transport:=compressedDepth",
                "publish_points:=true",
            ),
        }
        self.clients = {
            "raw": InputsClient(
                raw_domain, {c: (Image, f"/in/{c}/image_raw", f"/ov_seg/{c}/") for c in ("yuyv", "bayer")}
            ),
            "compressed": InputsClient(
                compressed_domain,
                {
                    "info": (CameraInfo, "/inz/camera/camera_info", None),
                    "depth": (CompressedImage, "/inz/depth/image_raw/compressedDepth", None),
                    "jpeg": (CompressedImage, "/inz/camera/image_raw/compressed", "/ov_seg/"),
                },
                points=True,
            ),
        }
        self.logs: Dict[str, str] = {}

    def wait_ready(self) -> None:
        for name, proc in self.procs.items():
            wait_started(proc, self.clients[name].matched, f"the {name} node's topics")

    def stop(self) -> Dict[str, str]:
        if not self.logs:
            for client in self.clients.values():
                client.close()
            self.logs = {name: stop_launch(proc) for name, proc in self.procs.items()}
        return self.logs


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    running = Nodes(tmp_path_factory)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def stream(client: InputsClient, frames: Dict[str, List], bad: Tuple[int, ...] = ()) -> None:
    """Publish frame i of every stream together, then wait for its outputs (stamps in `bad` have none)
    before the next round: frames come slower than the node's frame time however loaded the machine is."""
    outputs = [name for name in frames if (name, OUTPUTS[0]) in client.outputs]
    for i in range(max(len(msgs) for msgs in frames.values())):
        start = time.monotonic()
        for name, msgs in frames.items():
            if i < len(msgs):
                client.pubs[name].publish(msgs[i])
        wanted = [(n, stamp_of(frames[n][i])) for n in outputs if i < len(frames[n])]
        try:
            wait_until(
                lambda wanted=wanted: all(client.complete(n, s) for n, s in wanted if s not in bad), 15, "outputs"
            )
        except AssertionError:
            pass  # counted by assert_outputs
        time.sleep(max(0.0, start + MIN_PERIOD - time.monotonic()))


def assert_outputs(client: InputsClient, name: str, sent: List) -> None:
    done = [m for m in sent if client.complete(name, stamp_of(m))]
    counts = [client.diagnostic(k) for k in ("received", "processed", "dropped")]
    assert len(done) >= len(sent) - 1, (
        f"{name}: outputs for {len(done)} of {len(sent)} frames; node received/processed/dropped {counts}"
    )
    for msg in done:
        for kind in OUTPUTS:
            out = client.output(name, kind, stamp_of(msg))
            assert (out.width, out.height) == (WIDTH, HEIGHT), (name, kind)
            assert out.header.frame_id == msg.header.frame_id and out.header.stamp == msg.header.stamp


def test_compressed_topic_is_the_remapped_transport_topic_plus_compressed():
    """As image_transport resolves it: remapping and namespace apply to the base topic (no DDS traffic)."""
    context = Context()
    rclpy.init(
        context=context,
        domain_id=ros_domain("inputs_raw"),
        args=["--ros-args", "-r", "front/image:=/front/color/image_raw", "-r", "__ns:=/robot"],
    )
    node = Node("ov_seg", context=context)
    try:
        topic = lambda name, transport: transport_topic(node, name, transport)[1]  # noqa: E731
        assert topic("front/image", "compressed") == "/front/color/image_raw/compressed"
        assert topic("rear/image", "compressed") == "/robot/rear/image/compressed"
        assert transport_topic(node, "image", "raw") == (Image, "image")
        assert topic("front/depth", "compressedDepth") == "/robot/front/depth/compressedDepth"
        assert transport_topic(node, "rear/image", "compressed")[0] is CompressedImage
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_yuyv_and_bayer_cameras_at_640x480(nodes):
    client = nodes.clients["raw"]
    rgbs = [random_image(HEIGHT, WIDTH, seed=i) for i in range(FRAMES)]
    frames = {
        "yuyv": [make_image(yuyv(rgb), "yuv422_yuy2", 100 + i, "yuyv_optical") for i, rgb in enumerate(rgbs)],
        "bayer": [
            make_image(bayer_mosaic(rgb, "rggb"), "bayer_rggb8", 200 + i, "bayer_optical") for i, rgb in enumerate(rgbs)
        ],
    }
    assert len(frames["yuyv"][0].data) == HEIGHT * WIDTH * 2 and len(frames["bayer"][0].data) == HEIGHT * WIDTH
    stream(client, frames)
    for name, sent in frames.items():
        assert_outputs(client, name, sent)
    assert client.diagnostic("bad_images") == 0


def test_jpeg_stream_with_a_corrupt_frame(nodes):
    client = nodes.clients["compressed"]
    sent = [jpeg(random_image(HEIGHT, WIDTH, seed=10 + i), 300 + i, "jpeg_optical") for i in range(FRAMES)]
    corrupt = jpeg(random_image(HEIGHT, WIDTH, seed=99), 399, "jpeg_optical")
    corrupt.data = corrupt.data[len(corrupt.data) // 2 :]  # the second half of a JPEG: no image header
    images = sent[:2] + [corrupt] + sent[2:]
    # with each frame its registered depth (compressedDepth PNG, 2 m) and camera_info, published first
    depths = [compressed_depth(np.full((HEIGHT, WIDTH), 2000, np.uint16), "16UC1; compressedDepth png") for _ in images]
    infos = [CameraInfo(width=WIDTH, height=HEIGHT, k=[500.0, 0, 320.0, 0, 500.0, 240.0, 0, 0, 1]) for _ in images]
    for msgs in (depths, infos):
        for msg, image in zip(msgs, images, strict=True):
            msg.header = image.header
    stream(client, {"info": infos, "depth": depths, "jpeg": images}, bad=(399,))
    assert_outputs(client, "jpeg", sent)
    assert client.output("jpeg", "labels", 399) is None
    clouds = [client.output("jpeg", "points", stamp_of(m)) for m in sent]
    assert sum(c is not None for c in clouds) >= len(sent) - 1, "no ~/points from compressedDepth"
    cloud = next(c for c in clouds if c is not None)
    assert cloud.header.frame_id == "jpeg_optical"
    np.testing.assert_allclose(from_pointcloud2(cloud)["z"], 2.0, rtol=1e-6)  # the 2000 mm plane
    wait_until(lambda: client.diagnostic("bad_images") == 1, 5, "the corrupt JPEG counted in /diagnostics")


def test_corrupt_frame_is_logged_and_both_nodes_stop_cleanly(nodes):
    logs = nodes.stop()
    for name, log in logs.items():
        assert "process has finished cleanly" in log and "Traceback" not in log, f"{name}: {log[-3000:]}"
    assert "could not be decoded as JPEG or PNG" in logs["compressed"]
    assert "/inz/camera/image_raw/compressed" in logs["compressed"]  # where it subscribed, in its log
