"""The zoo through the front-ends: the node over real DDS (a training-free method with seeded weights and
no heads at all, a method switch within its backbone, a refused one with the reason, no ~/objectness),
and ov-seg."""

import json
import os
import time
from typing import List

import numpy as np
import pytest
from conftest import random_image, ros_domain
from PIL import Image as PILImage
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_support import (
    VOCAB,
    SpinningNode,
    StampedOutputs,
    assert_same_labels,
    engine_labels,
    make_image,
    running_node,
    stamp_of,
    wait_started,
    wait_until,
)
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ov_seg_ros.messages import convert
from ov_seg_ros.offline.cli import main

DOMAIN = ros_domain("zoo")
NODE = {"weights": "seeded", "heads": "/nonexistent/last.pt", "vocabulary": VOCAB, "input_size": 0}


class Client(StampedOutputs, SpinningNode):
    def __init__(self) -> None:
        super().__init__(DOMAIN, "ov_seg_zoo_client")
        self.received: List[tuple] = []
        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.node.create_subscription(String, "/ov_seg/label_map", self.keep(self.received, "label_map"), latched)
        for topic in ("labels", "objectness"):
            self.node.create_subscription(Image, f"/ov_seg/{topic}", self.keep(self.received, topic), 50)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, "/zoo/image", reliable)
        self.add_parameter_clients()
        self.start()

    def labels_for(self, rgb: np.ndarray, stamp: int) -> np.ndarray:
        wait_until(lambda: self.image_pub.get_subscription_count() > 0, 30, "the node's subscription")
        msg = make_image(rgb, "rgb8", stamp)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            self.image_pub.publish(msg)
            try:
                return convert.image_array(wait_until(lambda: self.output("labels", stamp), 5.0, "labels"))
            except AssertionError:
                continue
        raise AssertionError(f"no labels for stamp {stamp}")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    log = tmp_path_factory.mktemp("zoo") / "node.log"
    params = {**NODE, "method": "naclip", "mode": "slide", "refine": "pamr"}
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    with running_node(log, DOMAIN, params, {"image": "/zoo/image"}) as proc, Client() as client:
        wait_started(proc, lambda: client.messages("label_map"), "the node's first label map")
        yield proc, client


def test_node_runs_a_zoo_method_switches_within_its_backbone_and_refuses_another(node, zoo):
    proc, client = node
    assert "loaded method naclip on seeded (QuickGELU), no heads" in proc.log.read_text()
    rgb = random_image(64, 96, seed=21)
    zoo.configure(method="naclip", mode="slide", refine="pamr")
    vocab = zoo.prepare_vocabulary(VOCAB, background=True)
    assert_same_labels(client.labels_for(rgb, 101), engine_labels(zoo, rgb, vocab)[0])

    refused = client.set("method", "clip_dinoiser")
    assert not refused.successful and "restart with method:=clip_dinoiser" in refused.reason
    assert client.get("method") == ["naclip"]
    assert client.set("method", "sclip").successful and client.set("refine", "none").successful
    zoo.configure(method="sclip", refine="none")
    assert_same_labels(client.labels_for(rgb, 102), engine_labels(zoo, rgb, vocab)[0])
    # no objectness head, so no ~/objectness: none arrived while labels did
    assert client.messages("objectness") == [] and {stamp_of(m) for m in client.messages("labels")} >= {101, 102}


def test_ov_seg_runs_a_zoo_method_and_says_which(tmp_path, zoo, capsys):
    PILImage.fromarray(random_image(40, 56, seed=4)).save(tmp_path / "a.png")
    argv = [str(tmp_path / "a.png"), "--classes", "floor,door", "--out", str(tmp_path / "out"), "--weights", "seeded"]
    assert main([*argv, "--method", "clearclip", "--mode", "slide", "--refine", "pamr", "--input-size", "0"], zoo) == 0
    assert "ov-seg: method clearclip on seeded (QuickGELU), no heads" in capsys.readouterr().err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["a_labels.json", "a_labels.png", "a_overlay.png"]  # no objectness image
    assert json.loads((tmp_path / "out" / "a_labels.json").read_text())["1"] == "floor"
    assert main([*argv, "--method", "clip_dinoiser"], zoo) == 2  # another backbone: one clear line
    assert "restart with method:=clip_dinoiser" in capsys.readouterr().err
