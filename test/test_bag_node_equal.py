"""One frame, two ways: the node over real DDS, and `ov-seg` on a recording that holds the same image,
camera_info and depth, with the same parameter values. Every per-frame output the node publishes is
the same CDR bytes (header included) as the message `ov-seg` records on the same topic; the latched
~/label_map is the same document (but for the version, which counts one process's vocabularies) and
~/label_info the same classes, threshold and frame_id (its stamp is the node's clock)."""

import json
import os
import time
from typing import Dict, List

import numpy as np
import pytest
from conftest import random_image, ros_domain
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from ros_support import SEEDED_NODE, VOCAB, SpinningNode, make_image, running_node, wait_started, wait_until
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String

from ov_seg_ros.messages.outputs import OUTPUTS
from ov_seg_ros.offline.cli import main
from ov_seg_ros.offline.input_bag import header_stamp_ns
from ov_seg_ros.offline.output_bag import msgtype_of, output_typestore, register_type

vision_msgs = pytest.importorskip("vision_msgs.msg")

DOMAIN = ros_domain("bag_equal")
HEIGHT, WIDTH = 64, 80
FRAME_ID = "cam_equal"
INFO = CameraInfo(width=WIDTH, height=HEIGHT, k=[60.0, 0, 40.0, 0, 60.0, 32.0, 0, 0, 1], distortion_model="plumb_bob")
OUTPUT_TYPES = {o.suffix: o.msg_type for o in OUTPUTS}  # every output of the node's table
STORE = output_typestore()
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Two sets of values of the node's parameters, as the node takes them and as ov-seg's flags: every
# consumer output with non-default encodings and layouts; then the defaults, where the class lists are
# empty and a recording leaves out what reports on them.
CONFIGS = {
    "consumers": {
        "targets": ["floor", "door"],
        "obstacle_classes": ["door"],
        "points_layout": "organized",
        "confidence_encoding": "mono8",
        "label_encoding": "mono8",
        "min_object_pixels": 20,
        "overlay_alpha": 0.3,
    },
    "defaults": {
        "targets": [],
        "obstacle_classes": [],
        "points_layout": "sparse",
        "confidence_encoding": "32FC1",
        "label_encoding": "mono16",
        "min_object_pixels": 200,
        "overlay_alpha": 0.5,
        "point_stride": 3,
    },
}
NOT_RECORDED_WITHOUT_CLASSES = {"obstacles/points", "detections", "instances", "detections_3d", "targets/points"}


def scene(stamp: int):
    """image, camera_info and depth (holes of 0 mm) of one frame, as a camera driver sends them."""
    depth = np.tile(np.linspace(800, 3000, WIDTH).astype(np.uint16), (HEIGHT, 1))
    depth[10:30, 20:50] = 0
    rgb = random_image(HEIGHT, WIDTH, seed=2)  # with the seeded engine: both classes, 3 objects
    image = make_image(rgb, "rgb8", stamp, FRAME_ID)
    info = CameraInfo()
    info.width, info.height, info.k, info.distortion_model = INFO.width, INFO.height, INFO.k, INFO.distortion_model
    info.header = image.header
    return {"image": image, "camera_info": info, "depth": make_image(depth, "16UC1", stamp, FRAME_ID)}


def flags(values: Dict[str, object]) -> List[str]:
    return [
        a
        for name, v in values.items()
        for a in (f"--{name.replace('_', '-')}", ",".join(v) if isinstance(v, list) else str(v))
    ]


def record(path, messages) -> None:
    """The messages as `ros2 bag record` would store them: their CDR, camera_info and depth first."""
    store = get_typestore(Stores.ROS2_KILTED)
    t = 1_000_000_000
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        for offset, name in enumerate(("camera_info", "depth", "image")):
            msg = messages[name]
            conn = w.add_connection(f"/cam/{name}", f"sensor_msgs/msg/{type(msg).__name__}", typestore=store)
            w.write(conn, t + offset, serialize_message(msg))


def run_ov_seg(tmp, name, values, stamp, segmenter) -> None:
    """ov-seg (in this process, on the session's engine) on a recording of the frame of `stamp`."""
    record(tmp / f"{name}_in", scene(stamp))
    argv = [str(tmp / f"{name}_in"), "--out", str(tmp / f"{name}_out")]
    argv += ["--classes", ",".join(VOCAB), "--background", "--weights", "seeded", "--heads", "seeded"]
    argv += ["--input-size", "0", "--topic", "/cam/image", "--camera-info-topic", "/cam/camera_info"]
    argv += ["--depth-topic", "/cam/depth", "--overlay", *flags(values)]
    saved = {"method": segmenter.method, "input_size": segmenter.input_size or 0, "mode": segmenter.mode}
    try:
        assert main(argv, segmenter) == 0
    finally:
        segmenter.configure(**saved)


def canonical(raw: bytes, msg_type: type) -> bytes:
    """The CDR of a message with zeroed alignment padding, as ov-seg records it: a publisher may leave
    heap bytes in the padding (rclpy's serializer does), which are no part of the message."""
    name = msgtype_of(msg_type)
    assert STORE.fielddefs.get(name) or register_type(STORE, name) is None, name
    return bytes(STORE.serialize_cdr(STORE.deserialize_cdr(raw, name), name))


def read_raw(path) -> Dict[str, List[bytes]]:
    out: Dict[str, List[bytes]] = {}
    with Reader(path) as r:
        for conn, _, raw in r.messages():
            out.setdefault(conn.topic, []).append(bytes(raw))
    return out


class RawClient(SpinningNode):
    """Sends the frames; keeps every output as the bytes that came over the wire."""

    def __init__(self) -> None:
        super().__init__(DOMAIN, "ov_seg_bag_equal_client")
        self.received: Dict[str, List[bytes]] = {t: [] for t in (*OUTPUT_TYPES, "label_map", "label_info")}
        for topic, kind in OUTPUT_TYPES.items():
            self.node.create_subscription(kind, f"/ov_seg/{topic}", self.keep(self.received[topic]), 20, raw=True)
        for topic, kind in (("label_map", String), ("label_info", vision_msgs.LabelInfo)):
            self.node.create_subscription(kind, f"/ov_seg/{topic}", self.keep(self.received[topic]), LATCHED, raw=True)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        inputs = {"image": Image, "camera_info": CameraInfo, "depth": Image}
        self.pubs = {t: self.node.create_publisher(k, f"/eq/{t}", reliable) for t, k in inputs.items()}
        self.add_parameter_clients()
        self.start()

    def frame_outputs(self, stamp: int) -> Dict[str, bytes]:
        """Every output of the frame stamped `stamp`, or {} while one is missing."""
        with self.lock:
            found = {
                t: [m for m in self.received[t] if header_stamp_ns(m) == stamp * 10**9 + 500] for t in OUTPUT_TYPES
            }
        return {t: ms[-1] for t, ms in found.items()} if all(found.values()) else {}

    def label_info_of_camera(self) -> bytes:
        """The latest LabelInfo, once it names the camera's frame (the node follows the frames' frame_id)."""
        with self.lock:
            infos = [m for m in self.received["label_info"] if FRAME_ID.encode() in m]
        return infos[-1] if infos else b""

    def latest(self, topic: str) -> bytes:
        with self.lock:
            return self.received[topic][-1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, segmenter):
    """The node's outputs of two frames and ov-seg's of the same frames (run while the node starts):
    {config: [node outputs by topic, node label_map, node label_info, bag topics]}."""
    tmp = tmp_path_factory.mktemp("bag_equal")
    stamps = {name: 7000 + i for i, name in enumerate(CONFIGS)}
    params = {**SEEDED_NODE, "publish_points": True, "qos_reliability": "reliable"}
    remaps = {t: f"/eq/{t}" for t in ("image", "camera_info", "depth")}
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    results = {}
    with running_node(tmp / "node.log", DOMAIN, params, remaps) as proc, RawClient() as client:
        for name, values in CONFIGS.items():
            run_ov_seg(tmp, name, values, stamps[name], segmenter)
        wait_started(proc, lambda: client.received["label_info"], "the first LabelInfo")
        for name, values in CONFIGS.items():
            for param, value in values.items():
                assert client.set(param, value).successful, param
            time.sleep(0.3)  # the label map of a new label_encoding is out before the frame
            msgs = scene(stamps[name])
            wait_until(lambda: client.pubs["image"].get_subscription_count(), 30, "the node's subscriptions")
            client.pubs["camera_info"].publish(msgs["camera_info"])
            client.pubs["depth"].publish(msgs["depth"])
            time.sleep(0.2)  # depth before image: the frame finds its depth in the node's buffer
            client.pubs["image"].publish(msgs["image"])
            node = wait_until(lambda: client.frame_outputs(stamps[name]), 60, f"outputs of {name}")  # noqa: B023
            info = wait_until(client.label_info_of_camera, 10, "LabelInfo naming the camera's frame")
            results[name] = [node, client.latest("label_map"), info]
    for name in CONFIGS:
        results[name].append(read_raw(tmp / f"{name}_out"))
    return results


@pytest.mark.parametrize("config", CONFIGS)
def test_every_recorded_output_is_the_node_message_byte_for_byte(runs, config):
    node, _, _, bag = runs[config]
    frame_topics = {t: ms for t, ms in bag.items() if t.removeprefix("/ov_seg/") in OUTPUT_TYPES}
    expected = set(OUTPUT_TYPES)
    if config == "defaults":
        expected -= NOT_RECORDED_WITHOUT_CLASSES
    assert {t.removeprefix("/ov_seg/") for t in frame_topics} == expected
    for topic, (raw,) in frame_topics.items():
        suffix = topic.removeprefix("/ov_seg/")
        assert raw == canonical(node[suffix], OUTPUT_TYPES[suffix]), suffix
    if config == "consumers":  # the frame has objects and obstacles: the comparison covers real content
        assert deserialize_message(node["detections"], vision_msgs.Detection2DArray).detections
        assert deserialize_message(node["detections_3d"], vision_msgs.Detection3DArray).detections
        assert deserialize_message(node["obstacles/points"], PointCloud2).width > 0


@pytest.mark.parametrize("config", CONFIGS)
def test_label_map_and_label_info_are_the_node_ones(runs, config):
    _, label_map, label_info, bag = runs[config]
    (recorded,) = bag["/ov_seg/label_map"]
    node_doc, bag_doc = (json.loads(deserialize_message(m, String).data) for m in (label_map, recorded))
    assert node_doc.pop("version") >= 1 and bag_doc.pop("version") >= 1  # counts one process's vocabularies
    assert bag_doc == node_doc
    node_info = deserialize_message(label_info, vision_msgs.LabelInfo)
    (raw,) = bag["/ov_seg/label_info"]
    bag_info = deserialize_message(raw, vision_msgs.LabelInfo)
    assert bag_info.class_map == node_info.class_map and bag_info.threshold == node_info.threshold
    assert bag_info.header.frame_id == node_info.header.frame_id == FRAME_ID
