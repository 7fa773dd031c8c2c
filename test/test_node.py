"""The real `ov_seg` node, started as a process, talked to over real DDS on loopback with rclpy.

One node process per module (seeded weights, a 2-class vocabulary, native input size) keeps the suite
fast on 2 CPU cores; the ros2 CLI test starts its own through `ros2 launch` on another domain.
"""

import array
import json
import os
import signal
import subprocess
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import pytest
from conftest import REPO, random_image, ros_domain, ros_env
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_support import (
    SEEDED_NODE,
    START_TIMEOUT,
    VOCAB,
    SpinningNode,
    StampedOutputs,
    assert_same_labels,
    engine_labels,
    last_diagnostics,
    launch_env,
    make_image,
    node_command,
    requires_ros2_cli,
    ros2_launch,
    running_node,
    stamp_of,
    stop_launch,
    wait_started,
    wait_until,
)
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String

from ov_seg_ros.messages import convert
from ov_seg_ros.messages.pointcloud import from_pointcloud2

DOMAIN = ros_domain("node")
CLI_DOMAIN = ros_domain("ros2_cli")
OUTPUTS = ("labels", "confidence", "objectness", "overlay", "camera_info")
CLOUD = ("points",)


class Client(StampedOutputs, SpinningNode):
    """Collects every output of the node and calls its parameter services. Subscriptions are
    created label map first, so the executor hands it over first."""

    def __init__(self, domain: int) -> None:
        super().__init__(domain, "ov_seg_test_client")
        self.received: List[tuple] = []  # (topic, msg) in executor order
        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.node.create_subscription(String, "/ov_seg/label_map", self.keep(self.received, "label_map"), latched)
        for topic in OUTPUTS + CLOUD:
            kind = {"camera_info": CameraInfo, "points": PointCloud2}.get(topic, Image)
            self.node.create_subscription(kind, f"/ov_seg/{topic}", self.keep(self.received, topic), 50)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.keep(self.received, "diagnostics"), 10)
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, "/test/image", reliable)
        self.info_pub = self.node.create_publisher(CameraInfo, "/test/camera_info", reliable)
        self.depth_pub = self.node.create_publisher(Image, "/test/depth", reliable)
        self.add_parameter_clients()
        self.start()

    # ------------------------------------------------------------------ reading
    def label_maps(self) -> List[dict]:
        return [json.loads(m.data) for m in self.messages("label_map")]

    def diagnostics(self) -> Dict[str, str]:
        return last_diagnostics(self.messages("diagnostics"))

    # ------------------------------------------------------------------ writing
    def publish_and_wait(
        self,
        msg: Image,
        topics: Sequence[str] = ("labels", "confidence", "objectness"),
        timeout: float = 60.0,
        info: Optional[CameraInfo] = None,
    ) -> Dict[str, object]:
        """Publish until every topic has an output stamped like `msg` (best-effort input may drop)."""
        wait_until(lambda: self.image_pub.get_subscription_count() > 0, 30, "the node's subscription")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if info is not None:
                self.info_pub.publish(info)
                time.sleep(0.05)
            self.image_pub.publish(msg)
            try:
                return wait_until(lambda: self.outputs(topics, stamp_of(msg)), 5.0, "outputs")
            except AssertionError:
                continue
        raise AssertionError(f"no {topics} for stamp {stamp_of(msg)} within {timeout} s")


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def node_process(tmp_path_factory):
    log = tmp_path_factory.mktemp("ov_seg") / "node.log"
    params = {**SEEDED_NODE, "publish_points": True}
    remaps = {"image": "/test/image", "camera_info": "/test/camera_info", "depth": "/test/depth"}
    with running_node(log, DOMAIN, params, remaps) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(node_process):
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    c = Client(DOMAIN)
    try:
        wait_started(node_process, c.label_maps, "the node's first label map")
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def vocab_for(segmenter):
    """The engine, run directly: the vocabulary the node should be using, by names."""
    cache: Dict[tuple, object] = {}

    def get(names: Sequence[str]):
        if tuple(names) not in cache:
            cache[tuple(names)] = segmenter.prepare_vocabulary(list(names), background=True)
        return cache[tuple(names)]

    return get


_stamps = iter(range(1000, 10**6))


def next_stamp() -> int:
    return next(_stamps)


# ------------------------------------------------------------------------------------- tests
def encoded(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """The pixels a camera with `encoding` would send for this RGB scene."""
    alpha = np.full(rgb.shape[:2] + (1,), 200, np.uint8)
    return {
        "rgb8": rgb,
        "bgr8": rgb[:, :, ::-1],
        "rgba8": np.concatenate([rgb, alpha], 2),
        "bgra8": np.concatenate([rgb[:, :, ::-1], alpha], 2),
        "mono8": rgb[:, :, 1],
        "mono16": rgb[:, :, 1].astype(np.uint16) * 16 + 100,
    }[encoding]


@pytest.mark.parametrize(
    "height, width, encoding",
    [
        (64, 96, "rgb8"),
        (48, 64, "bgr8"),
        (33, 47, "rgba8"),
        (64, 96, "bgra8"),
        (40, 80, "mono8"),
        (64, 48, "mono16"),
    ],
)
def test_every_output_for_sizes_and_encodings(client, segmenter, vocab_for, height, width, encoding):
    rgb = random_image(height, width, seed=height * width)
    stamp = next_stamp()
    msg = make_image(np.ascontiguousarray(encoded(rgb, encoding)), encoding, stamp, f"cam_{encoding}")
    info = CameraInfo(width=width * 2, height=height * 2, k=[100.0, 0, width, 0, 100.0, height, 0, 0, 1])
    info.header = msg.header
    out = client.publish_and_wait(msg, OUTPUTS, info=info)
    for topic, m in out.items():
        assert m.header.frame_id == f"cam_{encoding}", topic
        assert (m.header.stamp.sec, m.header.stamp.nanosec) == (stamp, 500), topic
        assert (m.height, m.width) == (height, width), topic
    encodings = {t: out[t].encoding for t in OUTPUTS if t != "camera_info"}
    assert encodings == {"labels": "mono16", "confidence": "32FC1", "objectness": "32FC1", "overlay": "rgb8"}
    labels = convert.image_array(out["labels"])
    confidence = convert.image_array(out["confidence"])
    objectness = convert.image_array(out["objectness"])
    assert labels.max() <= len(VOCAB)
    assert 0.0 <= confidence.min() and confidence.max() <= 1.0 + 1e-6
    assert 0.0 <= objectness.min() and objectness.max() <= 1.0 + 1e-6
    assert convert.image_array(out["overlay"]).shape == (height, width, 3)
    assert list(out["camera_info"].k) == pytest.approx([50.0, 0, width / 2, 0, 50.0, height / 2, 0, 0, 1])
    expected, result = engine_labels(segmenter, convert.to_rgb(msg), vocab_for(VOCAB))
    assert_same_labels(labels, expected)
    np.testing.assert_allclose(confidence, result.confidence, atol=1e-3)
    np.testing.assert_allclose(objectness, result.objectness_image, atol=1e-3)


def test_first_label_map_names_vocabulary_with_colours(client):
    first = client.label_maps()[0]
    assert {k: first[k] for k in ("0", "1", "2")} == {"0": "background", "1": "floor", "2": "door"}
    assert set(first["colors"]) == {"0", "1", "2"}
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in first["colors"].values())
    assert first["encoding"] == "mono16" and isinstance(first["version"], int)


def test_vocabulary_change_takes_effect_without_restart(client, segmenter, vocab_for):
    new = ["person", "chair", "floor"]
    rgb = random_image(64, 96, seed=5)
    old_expected, _ = engine_labels(segmenter, rgb, vocab_for(VOCAB))
    new_expected, _ = engine_labels(segmenter, rgb, vocab_for(new))
    assert not np.array_equal(old_expected, new_expected)
    maps_before = len(client.messages("label_map"))
    result = client.set("vocabulary", new)
    assert result.successful, result.reason
    stamps = []
    # frames keep flowing during the switch; every output must match the label map of its time
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(client.messages("label_map")) == maps_before:
        stamps.append(next_stamp())
        client.image_pub.publish(make_image(rgb, "rgb8", stamps[-1]))
        time.sleep(0.05)
    new_map = client.label_maps()[-1]
    assert [new_map[str(i)] for i in range(4)] == ["background", *new]
    assert new_map["version"] > client.label_maps()[maps_before - 1]["version"]
    stamps.append(next_stamp())
    after = client.publish_and_wait(make_image(rgb, "rgb8", stamps[-1]), ("labels",))["labels"]
    assert_same_labels(convert.image_array(after), new_expected)
    map_index = client.index_of(client.messages("label_map")[-1])
    switched = False
    for msg in client.messages("labels"):
        if stamp_of(msg) not in stamps:
            continue
        labels = convert.image_array(msg)
        is_new = np.mean(labels == new_expected) >= 0.995
        assert is_new or np.mean(labels == old_expected) >= 0.995
        assert not (switched and not is_new), "an old-vocabulary output came after a new one"
        if is_new and not switched:
            switched = True
            assert client.index_of(msg) > map_index, "output with the new vocabulary before its label map"
    assert switched
    assert client.get("vocabulary") == [new]
    # one comma-separated string is accepted too
    result = client.set("vocabulary", ", ".join(VOCAB))
    assert result.successful, result.reason
    wait_until(lambda: [client.label_maps()[-1].get(k) for k in "12"] == VOCAB, 60, "label map back")


BAD_VALUES = [
    ("vocabulary", [], Parameter.Type.STRING_ARRAY, "empty"),
    ("vocabulary", [], Parameter.Type.BOOL_ARRAY, "empty"),  # what `ros2 param set ... "[]"` sends
    ("vocabulary", ["floor", "  "], None, "blank"),
    ("vocabulary", ["floor", "x" * 300], None, "longer"),
    ("vocabulary", ["floor", "door", "floor"], None, "duplicate"),
    ("vocabulary", "floor, floor", None, "duplicate"),
    ("vocabulary", [True, False], None, "list of strings"),
    ("method", "deeplab", None, "clip_dinoiser"),
    ("mode", "tiles", None, "whole"),
    ("min_confidence", 1.5, None, "range"),
    ("overlay_alpha", -0.5, None, "range"),
    ("input_size", 8, None, "at least 16"),
    ("label_encoding", "rgb8", None, "mono16"),
    ("min_confidence", "high", None, "type"),
    ("device", "cuda", None, "read-only"),
    ("weights", "other.bin", None, "read-only"),
]


def test_rejected_values_come_back_with_a_reason_and_change_nothing(client):
    names = ("vocabulary", "method", "mode", "min_confidence", "input_size", "label_encoding", "device")
    before = client.get(*names)
    maps_before = len(client.messages("label_map"))
    for name, value, kind, words in BAD_VALUES:
        result = client.set(name, value, kind)
        assert not result.successful, (name, value)
        assert words in result.reason, (name, value, result.reason)
    # mono8 holds 255 classes: a bigger vocabulary is refused while it is selected
    assert client.set("label_encoding", "mono8").successful
    result = client.set("vocabulary", [f"thing {i}" for i in range(256)])
    assert not result.successful and "mono8" in result.reason and "255" in result.reason
    assert client.set("label_encoding", "mono16").successful
    assert client.get(*names) == before
    time.sleep(0.5)
    maps = client.label_maps()[maps_before:]
    assert all([m[k] for k in "012"] == ["background", *VOCAB] for m in maps)  # encoding changes only
    rgb = random_image(64, 96, seed=9)
    labels = client.publish_and_wait(make_image(rgb, "rgb8", next_stamp()), ("labels",))["labels"]
    assert convert.image_array(labels).max() <= len(VOCAB)


def test_mono8_labels_and_min_confidence(client, segmenter, vocab_for):
    assert client.set("label_encoding", "mono8").successful
    assert client.set("min_confidence", 0.6).successful
    try:
        rgb = random_image(64, 96, seed=11)
        wait_until(lambda: client.label_maps()[-1]["encoding"] == "mono8", 10, "mono8 label map")
        labels = client.publish_and_wait(make_image(rgb, "rgb8", next_stamp()), ("labels",))["labels"]
        assert labels.encoding == "mono8" and labels.step == labels.width
        expected, result = engine_labels(segmenter, rgb, vocab_for(VOCAB), min_confidence=0.6)
        assert_same_labels(convert.image_array(labels), expected)
        assert (result.confidence < 0.6).any()  # the threshold did something here
    finally:
        assert client.set("label_encoding", "mono16").successful
        assert client.set("min_confidence", 0.0).successful


def test_overlay_can_be_switched_off(client):
    assert client.set("publish_overlay", False).successful
    try:
        stamp = next_stamp()
        client.publish_and_wait(make_image(random_image(64, 96), "rgb8", stamp), ("labels",))
        time.sleep(0.5)
        assert client.output("overlay", stamp) is None
    finally:
        assert client.set("publish_overlay", True).successful


def test_points_from_depth_matched_by_stamp(client):
    height, width = 64, 96
    stamp = next_stamp()
    msg = make_image(random_image(height, width, seed=21), "rgb8", stamp, "cam_depth")
    mm = np.full((height, width), 1500, np.uint16)
    mm[:, :10] = 0  # no return: no points there
    depth = make_image(mm, "16UC1", stamp, "cam_depth")
    depth.header.stamp.nanosec += 10**7  # 10 ms apart: within depth_tolerance
    info = CameraInfo(width=width, height=height, k=[50.0, 0, 48.0, 0, 50.0, 32.0, 0, 0, 1])
    wait_until(lambda: client.depth_pub.get_subscription_count() > 0, 30, "depth subscription")
    client.depth_pub.publish(depth)
    out = client.publish_and_wait(msg, ("labels", "points"), info=info)
    cloud = out["points"]
    assert cloud.header.frame_id == "cam_depth" and stamp_of(cloud) == stamp
    points = from_pointcloud2(cloud)
    stride = 2  # point_stride default
    assert len(points) == (height // stride) * ((width - 10) // stride)
    np.testing.assert_allclose(points["z"], 1.5)
    labels = convert.image_array(out["labels"])[::stride, ::stride][:, 5:]
    np.testing.assert_array_equal(points["label"], labels.ravel())
    # a frame whose depth is 1 s away gets no cloud, and is counted
    unmatched = int(client.diagnostics().get("depth_unmatched", 0))
    stamp = next_stamp()
    client.publish_and_wait(make_image(random_image(height, width), "rgb8", stamp), ("labels",))
    time.sleep(0.3)
    assert client.output("points", stamp) is None
    wait_until(lambda: int(client.diagnostics().get("depth_unmatched", 0)) > unmatched, 5, "unmatched")


def bad_images() -> List[Image]:
    wrong = []
    for field, value in [
        ("encoding", "nv12"),
        ("encoding", "32FC1"),
        ("height", 0),
        ("width", 0),
        ("step", 5),
        ("data", array.array("B", b"\x00" * 7)),
        ("width", 100000),
    ]:
        msg = make_image(random_image(8, 8), "rgb8", 1)
        setattr(msg, field, value)
        wrong.append(msg)
    empty = Image(encoding="rgb8")
    return wrong + [empty]


def test_storm_of_bad_images_and_parameters_node_survives(client, node_process):
    wait_until(lambda: client.image_pub.get_subscription_count() > 0, 30, "subscription")
    for round_ in range(5):
        for msg in bad_images():
            client.image_pub.publish(msg)
            time.sleep(0.01)
        for name, value, kind, _ in BAD_VALUES[round_::5]:
            assert not client.set(name, value, kind).successful
    assert node_process.poll() is None
    rgb = random_image(64, 96, seed=3)
    out = client.publish_and_wait(make_image(rgb, "rgb8", next_stamp()), ("labels", "confidence"))
    assert out["labels"].width == 96
    wait_until(lambda: int(client.diagnostics().get("bad_images", 0)) > 0, 10, "bad_images counted")
    log = node_process.log.read_text()
    assert "unsupported encoding 'nv12'" in log and "zero size" in log and "step" in log


def test_diagnostics(client):
    client.publish_and_wait(make_image(random_image(32, 48), "rgb8", next_stamp()))  # runs alone too
    wait_until(lambda: int(client.diagnostics().get("processed", 0)) > 0, 10, "diagnostics")
    d = client.diagnostics()
    assert d["device"] == "cpu" and d["vocabulary_size"] == str(len(VOCAB))
    assert float(d["latency_p50_ms"]) > 0 and float(d["latency_p95_ms"]) >= float(d["latency_p50_ms"])
    for key in ("frames_per_second", "dropped", "received", "bad_images", "batched", "cameras"):
        assert key in d
    assert float(d["peak_rss_mib"]) > 300  # the CLIP towers alone are ~600 MB in fp32
    assert "device_peak_mib" not in d  # only on CUDA


def test_30hz_input_with_slow_inference_keeps_no_backlog(client):
    """Inference ~10x slower than the camera: outputs follow the newest frames, never a queue."""
    assert client.set("input_size", 224).successful  # 64x96 -> 224x336: several times slower
    try:
        rgb = random_image(64, 96, seed=1)
        client.publish_and_wait(make_image(rgb, "rgb8", next_stamp()), ("labels",))  # warm, resized
        dropped_before = int(client.diagnostics().get("dropped", 0))
        labels_before = len(client.messages("labels"))
        stamps = []
        replies = []
        for i in range(90):  # 3 s at 30 Hz
            stamps.append(next_stamp())
            client.image_pub.publish(make_image(rgb, "rgb8", stamps[-1]))
            if i % 30 == 15:  # parameter services answer while the worker is busy
                replies.append(client.get("min_confidence"))
            time.sleep(1 / 30)
        stopped_at = len(client.messages("labels"))
        wait_until(
            lambda: (
                client.output("labels", stamps[-1])
                or client.output("labels", stamps[-2])
                or client.output("labels", stamps[-3])
            ),
            30,
            "an output for one of the last frames",
        )
        time.sleep(2.0)  # anything still queued would show up now
        outputs = [m for m in client.messages("labels")[labels_before:] if stamp_of(m) in stamps]
        assert replies == [[0.0]] * 3
        assert len(outputs) < len(stamps) / 3, "the node processed (almost) every frame: a backlog"
        assert stamp_of(outputs[-1]) in stamps[-3:]
        assert len(client.messages("labels")) - stopped_at <= 3  # in-flight + latest, not a queue
        indices = [stamps.index(stamp_of(m)) for m in outputs]
        assert indices == sorted(indices)
        wait_until(lambda: int(client.diagnostics().get("dropped", 0)) > dropped_before + 30, 5, "drops")
    finally:
        assert client.set("input_size", 0).successful


def test_sigint_exits_cleanly(client, node_process):
    node_process.send_signal(signal.SIGINT)
    assert node_process.wait(timeout=30) == 0, node_process.log.read_text()[-3000:]
    assert "Traceback" not in node_process.log.read_text()


def test_missing_weights_is_a_clear_fatal_error(tmp_path):
    cmd = node_command({"weights": f"{tmp_path}/none.bin", "heads": "seeded"}, {"__node": "ov_seg_missing"})
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=ros_env(DOMAIN), cwd=REPO)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "FATAL" in text and "none.bin" in text and "seeded" in text and "Traceback" not in text


# ------------------------------------------------------------------------------- ros2 CLI
@requires_ros2_cli
def test_ros2_launch_param_set_topic_echo(tmp_path):
    env = launch_env(CLI_DOMAIN, tmp_path / "install")

    def ros2(*args: str, timeout: int = 30) -> str:
        done = subprocess.run(
            ["timeout", "-k", "5", "-s", "INT", str(timeout), "ros2", *args], capture_output=True, text=True, env=env
        )
        return done.stdout + done.stderr

    def label_map() -> str:
        return ros2(
            "topic",
            "echo",
            "--once",
            "--qos-durability",
            "transient_local",
            "--qos-reliability",
            "reliable",
            "/ov_seg/label_map",
            "std_msgs/msg/String",
            timeout=15,
        )

    launch = ros2_launch(env, "vocabulary:=[floor, door]", "image:=/cli/image")
    try:
        wait_until(
            lambda: '"2": "door"' in label_map() or launch.poll() is not None,
            START_TIMEOUT,
            "label map via ros2 topic echo",
            period=1,
        )
        assert launch.poll() is None
        # The CLI's daemon may not have discovered the node yet ("Node not found"): ask again.
        wait_until(
            lambda: (
                "Set parameter successful" in ros2("param", "set", "/ov_seg", "vocabulary", "[floor, door, person]")
            ),
            60,
            "ros2 param set to succeed",
            period=1,
        )
        wait_until(lambda: '"3": "person"' in label_map(), 60, "new label map", period=0.5)
        out = ros2("param", "set", "/ov_seg", "min_confidence", "2.0")
        assert "Setting parameter failed" in out and "range" in out, out
        out = ros2("param", "set", "/ov_seg", "vocabulary", "[]")
        assert "Setting parameter failed" in out and "vocabulary is empty" in out, out
        assert "person" in ros2("param", "get", "/ov_seg", "vocabulary")
    finally:
        log = stop_launch(launch)
        ros2("daemon", "stop")
    assert "process has finished cleanly" in log, log[-3000:]
