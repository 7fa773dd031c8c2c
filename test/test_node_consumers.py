"""The outputs for navigation and manipulation stacks, over real DDS: ~/label_info, the organised
~/points, ~/obstacles/points, ~/detections, ~/instances, ~/detections_3d and ~/targets/points, each
checked against the ~/labels of the same frame. One node process (seeded weights, reliable QoS)."""

import json
import os
import time
from typing import Dict, List, Sequence

import numpy as np
import pytest
from conftest import random_image, ros_domain
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_support import (
    SEEDED_NODE,
    VOCAB,
    SpinningNode,
    StampedOutputs,
    engine_labels,
    make_image,
    running_node,
    wait_started,
    wait_until,
)
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String

from ov_seg_ros.messages import convert
from ov_seg_ros.messages.objects import find_objects
from ov_seg_ros.messages.pointcloud import from_pointcloud2

vision_msgs = pytest.importorskip("vision_msgs.msg")

DOMAIN = ros_domain("consumers")
HEIGHT, WIDTH = 64, 80
FRAME_ID = "cam_consumers"
INFO = CameraInfo(width=WIDTH, height=HEIGHT, k=[60.0, 0, 40.0, 0, 60.0, 32.0, 0, 0, 1])
MIN_PIXELS = 20
STRIDE = 2  # point_stride default
TOPICS = {
    "labels": Image,
    "confidence": Image,
    "points": PointCloud2,
    "obstacles/points": PointCloud2,
    "detections": vision_msgs.Detection2DArray,
    "instances": Image,
    "detections_3d": vision_msgs.Detection3DArray,
    "targets/points": PointCloud2,
}
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class ConsumerClient(StampedOutputs, SpinningNode):
    """Publishes image / camera_info / depth reliably; collects every output and the latched topics."""

    def __init__(self, domain: int = DOMAIN, name: str = "ov_seg_consumers_client") -> None:
        super().__init__(domain, name)
        self.received: Dict[str, List] = {t: [] for t in (*TOPICS, "label_map", "label_info")}
        keep = {topic: self.keep(store) for topic, store in self.received.items()}
        self.node.create_subscription(String, "/ov_seg/label_map", keep["label_map"], LATCHED)
        self.node.create_subscription(vision_msgs.LabelInfo, "/ov_seg/label_info", keep["label_info"], LATCHED)
        for topic, kind in TOPICS.items():
            self.node.create_subscription(kind, f"/ov_seg/{topic}", keep[topic], 20)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs = {
            t: self.node.create_publisher(k, f"/cons/{t}", reliable)
            for t, k in (("image", Image), ("camera_info", CameraInfo), ("depth", Image))
        }
        self.add_parameter_clients()
        self.start()

    def messages(self, topic: str) -> List:
        with self.lock:
            return list(self.received[topic])

    def frame(self, rgb: np.ndarray, depth_mm: np.ndarray, stamp: int, topics: Sequence[str]) -> Dict:
        """Send depth, camera_info and the image of one stamp; wait for `topics` of that stamp."""
        wait_until(
            lambda: self.pubs["image"].get_subscription_count() and self.pubs["depth"].get_subscription_count(),
            30,
            "the node's subscriptions",
        )
        self.pubs["camera_info"].publish(INFO)
        self.pubs["depth"].publish(make_image(depth_mm, "16UC1", stamp, FRAME_ID))
        time.sleep(0.1)  # depth before image: the frame finds its depth in the buffer
        self.pubs["image"].publish(make_image(rgb, "rgb8", stamp, FRAME_ID))
        return wait_until(lambda: self.outputs(topics, stamp), 60, f"{topics} of stamp {stamp}")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    log = tmp_path_factory.mktemp("ov_seg_consumers") / "node.log"
    params = {
        **SEEDED_NODE,
        "publish_points": True,
        "qos_reliability": "reliable",
        "publish_overlay": False,
        "min_object_pixels": MIN_PIXELS,
    }
    remaps = {t: f"/cons/{t}" for t in ("image", "camera_info", "depth")}
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    with running_node(log, DOMAIN, params, remaps) as proc, ConsumerClient() as c:
        c.log = log
        wait_started(proc, lambda: c.messages("label_info"), "the first LabelInfo")
        yield c


@pytest.fixture(scope="module")
def scene(segmenter):
    """An image on which the seeded engine gives both classes and at least two objects, and a depth
    image with holes (0 mm) over part of it."""
    vocab = segmenter.prepare_vocabulary(VOCAB, background=True)
    for seed in range(20):
        rgb = random_image(HEIGHT, WIDTH, seed=seed)
        labels, result = engine_labels(segmenter, rgb, vocab)
        if len(find_objects(labels, [1, 2], result.confidence, MIN_PIXELS)) >= 2 and set(np.unique(labels)) >= {1, 2}:
            break
    else:
        pytest.fail("no seed gives two classes and objects with the seeded engine")
    depth = np.tile(np.linspace(800, 3000, WIDTH).astype(np.uint16), (HEIGHT, 1))
    depth[10:30, 20:50] = 0  # a hole
    depth[::7, :] = 0  # and missing rows
    counts = np.bincount(labels.ravel(), minlength=3)
    return {"rgb": rgb, "depth": depth, "obstacle": VOCAB[int(np.argmax(counts[1:]))]}


_stamps = iter(range(5000, 10**6))


def valid(depth_mm: np.ndarray) -> np.ndarray:
    return depth_mm > 0  # max_depth 10 m is beyond every depth here


def test_late_joiner_gets_label_info_matching_labels_and_label_map(client, scene):
    stamp = next(_stamps)
    labels = convert.image_array(client.frame(scene["rgb"], scene["depth"], stamp, ("labels",))["labels"])
    late = ConsumerClient(name="ov_seg_consumers_late")
    try:
        info = wait_until(
            lambda: [m for m in late.messages("label_info") if m.header.frame_id == FRAME_ID],
            10,
            "LabelInfo for a late joiner",
        )[-1]
        label_map = json.loads(wait_until(lambda: late.messages("label_map"), 10, "label map")[-1].data)
    finally:
        late.close()
    classes = {c.class_id: c.class_name for c in info.class_map}
    assert classes == {0: "background", **{i + 1: n for i, n in enumerate(VOCAB)}}
    assert classes == {int(k): v for k, v in label_map.items() if k.isdigit()}
    assert set(np.unique(labels)) <= set(classes)
    assert info.threshold == 0.0


def test_outputs_agree_with_the_labels_of_the_same_frame(client, scene):
    targets = list(VOCAB)
    for name, value in (
        ("targets", targets),
        ("obstacle_classes", [scene["obstacle"]]),
        ("points_layout", "organized"),
    ):
        result = client.set(name, value)
        assert result.successful, (name, result.reason)
    stamp = next(_stamps)
    out = client.frame(scene["rgb"], scene["depth"], stamp, tuple(TOPICS))
    for topic, msg in out.items():
        assert msg.header.frame_id == FRAME_ID, topic
    labels = convert.image_array(out["labels"])
    confidence = convert.image_array(out["confidence"])
    ok = valid(scene["depth"])
    # organised cloud: the labels' grid, NaN exactly where depth has holes
    cloud = out["points"]
    assert (cloud.height, cloud.width) == labels.shape and not cloud.is_dense
    points = from_pointcloud2(cloud).reshape(labels.shape)
    np.testing.assert_array_equal(np.isnan(points["z"]), ~ok)
    np.testing.assert_array_equal(points["label"], labels)
    np.testing.assert_allclose(points["z"][ok], scene["depth"][ok] / 1000.0, rtol=1e-6)
    # obstacles: the obstacle pixels with valid depth on the stride grid
    obstacle_id = VOCAB.index(scene["obstacle"]) + 1
    on_grid = (labels == obstacle_id)[::STRIDE, ::STRIDE] & ok[::STRIDE, ::STRIDE]
    assert out["obstacles/points"].width == on_grid.sum() > 0
    # objects: each instance is one class, its box is its extent
    instances = convert.image_array(out["instances"])
    detections = out["detections"].detections
    assert instances.max() == len(detections) >= 2
    for i, d in enumerate(detections, start=1):
        pixels = instances == i
        class_name = d.results[0].hypothesis.class_id
        assert d.id == str(i) and class_name in targets
        assert np.all(labels[pixels] == VOCAB.index(class_name) + 1) and pixels.sum() >= MIN_PIXELS
        v, u = np.nonzero(pixels)
        center = (d.bbox.center.position.x, d.bbox.center.position.y)
        assert center == ((u.min() + u.max()) / 2, (v.min() + v.max()) / 2)
        assert (d.bbox.size_x, d.bbox.size_y) == (u.max() - u.min() + 1, v.max() - v.min() + 1)
        assert d.results[0].hypothesis.score == pytest.approx(confidence[pixels].mean(), rel=1e-4)
    # target cloud and 3-D boxes: every target pixel with depth, its label and instance
    target_pixels = np.isin(labels, [1, 2]) & ok
    tpoints = from_pointcloud2(out["targets/points"])
    assert len(tpoints) == target_pixels.sum()
    np.testing.assert_array_equal(np.sort(tpoints["label"]), np.sort(labels[target_pixels]))
    np.testing.assert_array_equal(np.sort(tpoints["instance"]), np.sort(instances[target_pixels]))
    boxes = out["detections_3d"].detections
    assert boxes and {b.id for b in boxes} <= {d.id for d in detections}
    for b in boxes:
        mine = tpoints[tpoints["instance"] == int(b.id)]
        xyz = np.stack([mine["x"], mine["y"], mine["z"]], 1).astype(np.float64)
        center = b.bbox.center.position
        np.testing.assert_allclose([center.x, center.y, center.z], np.median(xyz, 0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose([b.bbox.size.x, b.bbox.size.y, b.bbox.size.z], np.ptp(xyz, 0), atol=1e-6)
        assert b.results[0].hypothesis.class_id == detections[int(b.id) - 1].results[0].hypothesis.class_id


def test_obstacle_cloud_is_published_empty_when_nothing_qualifies(client, scene):
    assert client.set("obstacle_classes", []).successful
    out = client.frame(scene["rgb"], scene["depth"], next(_stamps), ("obstacles/points",))
    assert out["obstacles/points"].width == 0 and len(out["obstacles/points"].data) == 0


def test_obstacle_class_not_in_the_vocabulary_is_rejected_with_the_reason(client):
    before = client.get("obstacle_classes")
    result = client.set("obstacle_classes", ["floor", "sofa"])
    assert not result.successful and "sofa" in result.reason and "vocabulary" in result.reason
    result = client.set("targets", "door, lamp")
    assert not result.successful and "lamp" in result.reason
    assert client.get("obstacle_classes") == before


def test_mono8_confidence(client, scene, segmenter):
    assert client.set("confidence_encoding", "mono8").successful
    try:
        out = client.frame(scene["rgb"], scene["depth"], next(_stamps), ("confidence",))
    finally:
        assert client.set("confidence_encoding", "32FC1").successful
    conf = out["confidence"]
    assert conf.encoding == "mono8" and conf.step == conf.width
    _, result = engine_labels(segmenter, scene["rgb"], segmenter.prepare_vocabulary(VOCAB, background=True))
    expected = np.rint(result.confidence * 255)
    assert np.mean(np.abs(convert.image_array(conf).astype(int) - expected) <= 1) >= 0.995


def test_min_confidence_and_vocabulary_changes_republish_label_info(client):
    before, maps = len(client.messages("label_info")), len(client.messages("label_map"))
    assert client.set("min_confidence", 0.25).successful
    info = wait_until(lambda: client.messages("label_info")[before:], 10, "LabelInfo for min_confidence")[-1]
    assert info.threshold == pytest.approx(0.25)
    time.sleep(0.3)
    assert len(client.messages("label_map")) == maps  # the label map does not name the threshold
    assert client.set("min_confidence", 0.0).successful
    # removing 'door' from the vocabulary drops it from targets and obstacle_classes, with a warning
    assert client.set("targets", list(VOCAB)).successful
    assert client.set("obstacle_classes", ["door"]).successful
    before = len(client.messages("label_info"))
    result = client.set("vocabulary", ["floor"])
    assert result.successful, result.reason
    info = wait_until(
        lambda: [m for m in client.messages("label_info")[before:] if len(m.class_map) == 2],
        60,
        "LabelInfo of the new vocabulary",
    )[-1]
    assert [(c.class_id, c.class_name) for c in info.class_map] == [(0, "background"), (1, "floor")]
    assert client.get("targets", "obstacle_classes") == [["floor"], []]
    log = client.log.read_text()
    assert "drops ['door'] from targets" in log and "drops ['door'] from obstacle_classes" in log
    assert client.set("vocabulary", list(VOCAB)).successful  # back, for any test after this one
    wait_until(lambda: len(client.messages("label_info")[-1].class_map) == 3, 60, "LabelInfo back")


def test_organized_cloud_at_640x480(client):
    """One full-size frame: the organised cloud (8.6 MB, reliable) still matches the labels' grid."""
    assert client.set("points_layout", "organized").successful
    height, width = 480, 640
    depth = np.full((height, width), 2000, np.uint16)
    depth[100:200, 300:400] = 0
    info = CameraInfo(width=width, height=height, k=[525.0, 0, 319.5, 0, 525.0, 239.5, 0, 0, 1])
    client.pubs["camera_info"].publish(info)
    time.sleep(0.2)
    stamp = next(_stamps)
    client.pubs["depth"].publish(make_image(depth, "16UC1", stamp, FRAME_ID))
    time.sleep(0.2)
    client.pubs["image"].publish(make_image(random_image(height, width, seed=3), "rgb8", stamp, FRAME_ID))
    out = wait_until(lambda: client.outputs(("labels", "points"), stamp), 120, "640x480 outputs")
    client.pubs["camera_info"].publish(INFO)  # back to the small frames' intrinsics
    labels = convert.image_array(out["labels"])
    points = from_pointcloud2(out["points"]).reshape(height, width)
    assert (out["points"].height, out["points"].width) == (height, width)
    np.testing.assert_array_equal(np.isnan(points["z"]), depth == 0)
    np.testing.assert_array_equal(points["label"], labels)
