"""One `ov_seg` node serving two cameras over real DDS: per-camera topics, no cross-wiring, and frames
of cameras that wait together segmented in one forward pass."""

import os
import time
from typing import Dict, List

import numpy as np
import pytest
from conftest import random_image, ros_domain
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_support import (
    SEEDED_NODE,
    VOCAB,
    SpinningNode,
    assert_same_labels,
    engine_labels,
    last_diagnostics,
    launch_env,
    make_image,
    requires_ros2_cli,
    ros2_launch,
    running_node,
    stamp_of,
    stop_launch,
    wait_started,
    wait_until,
)
from sensor_msgs.msg import Image

from ov_seg_ros.messages import convert

CAMERAS_DOMAIN = ros_domain("cameras")
CAMERAS = ("front", "rear")


class TwoCameraClient(SpinningNode):
    """Publishes each camera's images on `image_topic` ({camera} filled in); collects
    /ov_seg/<camera>/labels and /diagnostics."""

    def __init__(self, domain: int = CAMERAS_DOMAIN, image_topic: str = "/mc/{camera}/image") -> None:
        super().__init__(domain, "ov_seg_cameras_client")
        self.labels: Dict[str, List[Image]] = {c: [] for c in CAMERAS}
        self.diagnostics: List[DiagnosticArray] = []
        reliable = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs = {c: self.node.create_publisher(Image, image_topic.format(camera=c), reliable) for c in CAMERAS}
        for c in CAMERAS:
            self.node.create_subscription(Image, f"/ov_seg/{c}/labels", self.keep(self.labels[c]), 50)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.keep(self.diagnostics), 10)
        self.add_parameter_clients()
        self.start()

    def subscribed(self) -> bool:
        """The node subscribes to every camera's images."""
        return all(p.get_subscription_count() for p in self.pubs.values())

    def label(self, camera: str, stamp: int):
        with self.lock:
            return next((m for m in self.labels[camera] if stamp_of(m) == stamp), None)

    def diagnostic(self, key: str) -> int:
        with self.lock:
            values = last_diagnostics(self.diagnostics)
        return int(values.get(key, 0))


@pytest.fixture(scope="module")
def two_cameras(tmp_path_factory):
    log = tmp_path_factory.mktemp("ov_seg_cameras") / "node.log"
    params = {**SEEDED_NODE, "cameras": CAMERAS, "qos_reliability": "reliable"}
    remaps = {f"{c}/image": f"/mc/{c}/image" for c in CAMERAS}
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    with running_node(log, CAMERAS_DOMAIN, params, remaps) as proc, TwoCameraClient() as client:
        wait_started(proc, client.subscribed, "both camera subscriptions")
        yield client


def test_each_camera_gets_its_own_labels_with_its_header(two_cameras, segmenter):
    vocab = segmenter.prepare_vocabulary(VOCAB, background=True)
    images = {"front": random_image(64, 96, seed=11), "rear": random_image(64, 96, seed=12)}
    stamps = {"front": 501, "rear": 502}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(two_cameras.label(c, stamps[c]) for c in CAMERAS):
        for camera in CAMERAS:
            two_cameras.pubs[camera].publish(make_image(images[camera], "rgb8", stamps[camera], f"{camera}_optical"))
        time.sleep(0.5)
    for camera in CAMERAS:
        msg = two_cameras.label(camera, stamps[camera])
        assert msg is not None, f"no labels for {camera}"
        assert msg.header.frame_id == f"{camera}_optical"
        # this camera's own image, not the other's (the two scenes segment differently)
        assert_same_labels(convert.image_array(msg), engine_labels(segmenter, images[camera], vocab)[0])
    front, rear = (engine_labels(segmenter, images[c], vocab)[0] for c in CAMERAS)
    assert np.mean(front == rear) < 0.9


def test_label_info_per_camera_names_that_cameras_frame(two_cameras):
    vision_msgs = pytest.importorskip("vision_msgs.msg")
    stamps = {"front": 551, "rear": 552}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(two_cameras.label(c, stamps[c]) for c in CAMERAS):
        for camera in CAMERAS:
            two_cameras.pubs[camera].publish(
                make_image(random_image(64, 96), "rgb8", stamps[camera], f"{camera}_optical")
            )
        time.sleep(0.5)
    late = SpinningNode(CAMERAS_DOMAIN, "ov_seg_cameras_late")
    infos: Dict[str, list] = {t: [] for t in ("", *CAMERAS)}
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    for topic, store in infos.items():
        name = f"/ov_seg/{topic}/label_info" if topic else "/ov_seg/label_info"
        late.node.create_subscription(vision_msgs.LabelInfo, name, store.append, latched)
    late.start()
    try:
        wait_until(lambda: all(infos.values()), 10, "every LabelInfo topic")
    finally:
        late.close()
    frames = {t: store[-1].header.frame_id for t, store in infos.items()}
    assert frames == {"": "front_optical", "front": "front_optical", "rear": "rear_optical"}  # node's: first camera
    for store in infos.values():
        assert [c.class_name for c in store[-1].class_map] == ["background", *VOCAB]


def test_cameras_waiting_together_share_a_forward_pass(two_cameras):
    images = {c: random_image(64, 96, seed=20 + i) for i, c in enumerate(CAMERAS)}
    stamp = 600

    def both() -> list:  # stamps whose labels came back for both cameras
        return [s for s in range(601, stamp + 1) if all(two_cameras.label(c, s) for c in CAMERAS)]

    deadline = time.monotonic() + 60
    # Under load the worker may take one camera's frame n with the other's n+1; keep sending until
    # batches happened and some stamp came back for both (its outputs may trail the counter).
    while time.monotonic() < deadline and (two_cameras.diagnostic("batched") < 4 or not both()):
        stamp += 1
        for camera in CAMERAS:  # both arrive while the worker is busy with the previous pair
            two_cameras.pubs[camera].publish(make_image(images[camera], "rgb8", stamp, camera))
        time.sleep(0.03)
    assert two_cameras.diagnostic("batched") >= 4
    assert both(), "no stamp was segmented for both cameras"


def test_cameras_parameter_is_read_only(two_cameras):
    result = two_cameras.set("cameras", ["front"], Parameter.Type.STRING_ARRAY)
    assert not result.successful and "read-only" in result.reason


@requires_ros2_cli
def test_ros2_launch_maps_each_camera_from_a_topic_pattern(tmp_path):
    domain = ros_domain("cameras_launch")
    launch = ros2_launch(
        launch_env(domain, tmp_path / "install"),
        "vocabulary:=[floor, door]",
        f"cameras:=[{', '.join(CAMERAS)}]",
        "image:=/lc/{camera}/color/image_raw",
        "qos_reliability:=reliable",
    )
    client = TwoCameraClient(domain, "/lc/{camera}/color/image_raw")
    try:
        wait_started(launch, client.subscribed, "the launched node's camera subscriptions")
        image = random_image(48, 64, seed=5)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(client.label(c, 700) for c in CAMERAS):
            for camera in CAMERAS:
                client.pubs[camera].publish(make_image(image, "rgb8", 700, camera))
            time.sleep(0.5)
        assert all(client.label(c, 700) for c in CAMERAS)
    finally:
        client.close()
        log = stop_launch(launch)
    assert "process has finished cleanly" in log, log[-3000:]
