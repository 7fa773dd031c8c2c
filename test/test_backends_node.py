"""The node with a compiled backend, over real DDS: `backend:=openvino` segments as the torch engine
does, and an unsupported combination stops the node at start with the reason. Also `ov-seg export`."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, random_image, ros_domain
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_support import (
    SEEDED_NODE,
    SpinningNode,
    engine_labels,
    make_image,
    running_node,
    start_node,
    wait_started,
    wait_until,
)
from sensor_msgs.msg import Image

from ov_seg_ros.engine.backends.support import installed
from ov_seg_ros.messages import convert

DOMAIN = ros_domain("backends")
pytestmark = pytest.mark.skipif(not installed("openvino"), reason="openvino not installed")


class Client(SpinningNode):
    def __init__(self, domain: int) -> None:
        super().__init__(domain, "ov_seg_backends_client")
        self.labels: list = []
        self.node.create_subscription(Image, "/ov_seg/labels", self.keep(self.labels), 10)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, "/test/image", reliable)
        self.add_parameter_clients()
        self.start()


def test_node_runs_with_backend_openvino(tmp_path, monkeypatch, segmenter):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the node exports its shape here
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    params = {**SEEDED_NODE, "backend": "openvino"}
    with (
        running_node(tmp_path / "node.log", DOMAIN, params, {"image": "/test/image"}) as proc,
        Client(DOMAIN) as client,
    ):
        wait_started(proc, lambda: client.image_pub.get_subscription_count() > 0, "the node's image subscription")
        assert client.get("backend", "precision") == ["openvino", "fp32"]
        rgb = random_image(64, 96, seed=5)
        client.image_pub.publish(make_image(rgb, "rgb8", stamp=7))
        # The first frame of a shape exports the graph (tens of seconds on 2 cores), then runs it.
        wait_until(lambda: client.labels or proc.poll() is not None, 300, "labels from the openvino node")
        assert proc.poll() is None, proc.log.read_text()
        expected, _ = engine_labels(segmenter, rgb, segmenter.prepare_vocabulary(SEEDED_NODE["vocabulary"]))
        labels = convert.image_array(client.labels[0])
        assert np.mean(labels == expected) >= 0.995
        assert list((tmp_path / "cache" / "ov_seg_ros" / "engines").rglob("visual.onnx"))


def test_node_refuses_an_unsupported_combination_at_start(tmp_path):
    proc = start_node(tmp_path / "node.log", DOMAIN, {**SEEDED_NODE, "backend": "openvino", "precision": "fp16"})
    assert proc.wait(timeout=120) != 0
    log = proc.log.read_text()
    assert "backend openvino on cpu runs fp32, bf16, int8, not fp16" in log, log


def test_ov_seg_export_builds_ahead_and_a_second_export_loads(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "ov_seg_ros.offline.cli", "export", "--backend", "onnxruntime"]
    cmd += ["--sizes", "32x48", "--input-size", "0", "--weights", "seeded", "--heads", "seeded"]
    first = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "32x48 -> input (1, 3, 32, 48): built" in first.stderr
    second = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, timeout=600)
    assert "32x48 -> input (1, 3, 32, 48): cached" in second.stderr, second.stderr
    bad = subprocess.run(cmd[:-6] + ["--sizes", "32x48", "--precision", "int8"], capture_output=True, text=True)
    assert bad.returncode == 2 and "int8 on cpu needs backend openvino" in bad.stderr
