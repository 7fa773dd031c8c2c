"""The output table (what is advertised, what is built per frame) and the vision_msgs packing, no DDS."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from std_msgs.msg import Header

from ov_seg_ros.messages import vision
from ov_seg_ros.messages.frame_data import FrameData
from ov_seg_ros.messages.objects import boxes_3d, find_objects
from ov_seg_ros.messages.outputs import OUTPUTS, advertised, wanted
from ov_seg_ros.parameters import specs as params

NEEDS_DEPTH = {"points", "obstacles/points", "detections_3d", "targets/points"}


def test_depth_outputs_are_not_advertised_without_publish_points():
    off = {o.suffix for o in advertised({**params.DEFAULTS, "publish_points": False})}
    on = {o.suffix for o in advertised({**params.DEFAULTS, "publish_points": True})}
    assert not off & NEEDS_DEPTH
    assert on == {o.suffix for o in OUTPUTS} and on - off == NEEDS_DEPTH


def test_suffixes_are_unique_and_costly_outputs_are_lazy():
    suffixes = [o.suffix for o in OUTPUTS]
    assert len(set(suffixes)) == len(suffixes)
    lazy = {o.suffix for o in OUTPUTS if o.lazy}
    assert lazy >= NEEDS_DEPTH | {"overlay", "detections", "instances"}
    overlay = next(o for o in OUTPUTS if o.suffix == "overlay")
    cfg = dict(params.DEFAULTS)
    assert wanted(overlay, cfg, 1) and not wanted(overlay, cfg, 0)
    assert not wanted(overlay, {**cfg, "publish_overlay": False}, 1)


class _Result:
    """The part of a Segmentation the builders read."""

    def __init__(self, labels, confidence):
        self._labels, self.confidence = labels, confidence
        self.objectness_image = np.zeros(labels.shape, np.float32)
        from ov_seg_ros.engine.vocabulary import Vocabulary

        self.vocabulary = Vocabulary(names=("floor", "chair"), background=True, embeddings=None)

    def label_image(self, min_confidence=0.0):
        return self._labels


def _build(suffix, cfg, labels, confidence):
    output = next(o for o in OUTPUTS if o.suffix == suffix)
    frame = type("F", (), {"header": Header(frame_id="cam"), "rgb": np.zeros(labels.shape + (3,), np.uint8)})
    result = _Result(labels, confidence)
    return output.build(frame, result, FrameData(result, cfg, None, None), cfg)


def test_mono8_confidence_is_round_p_times_255():
    p = np.array([[0.0, 0.5, 1.0, 0.0019, 0.998]], np.float32)
    msg = _build("confidence", {**params.DEFAULTS, "confidence_encoding": "mono8"}, np.zeros(p.shape, np.uint16), p)
    assert msg.encoding == "mono8" and msg.step == msg.width
    assert list(msg.data) == [0, 128, 255, 0, 254]
    assert _build("confidence", dict(params.DEFAULTS), np.zeros(p.shape, np.uint16), p).encoding == "32FC1"


def test_instances_and_detections_from_the_target_list():
    labels = np.zeros((12, 16), np.uint16)
    labels[1:4, 1:5] = 2
    labels[6:11, 8:15] = 2
    cfg = {**params.DEFAULTS, "vocabulary": ["floor", "chair"], "targets": ["chair"], "min_object_pixels": 5}
    conf = np.full(labels.shape, 0.25, np.float32)
    instances = _build("instances", cfg, labels, conf)
    assert instances.encoding == "mono16"
    if vision.VISION_MSGS_MISSING:
        pytest.skip(vision.VISION_MSGS_MISSING)
    detections = _build("detections", cfg, labels, conf)
    assert [d.id for d in detections.detections] == ["1", "2"]
    first = detections.detections[0]
    assert first.results[0].hypothesis.class_id == "chair"
    assert first.results[0].hypothesis.score == pytest.approx(0.25)
    assert (first.bbox.center.position.x, first.bbox.center.position.y) == (2.5, 2.0)
    assert (first.bbox.size_x, first.bbox.size_y) == (4.0, 3.0)


@pytest.mark.skipif(vision.VISION_MSGS_MISSING is not None, reason="vision_msgs not installed")
def test_label_info_and_detections_3d_packing():
    header = Header(frame_id="cam")
    info = vision.label_info({0: "background", 1: "floor", 2: "chair"}, 0.3, header)
    assert [(c.class_id, c.class_name) for c in info.class_map] == [(0, "background"), (1, "floor"), (2, "chair")]
    assert info.threshold == pytest.approx(0.3) and info.header.frame_id == "cam"
    labels = np.zeros((4, 4), np.uint16)
    labels[:2, :2] = 1
    objects = find_objects(labels, [1], np.ones(labels.shape, np.float32), 1)
    boxes = boxes_3d(np.array([[0.0, 0.0, 1.0], [1.0, 2.0, 3.0], [2.0, 0.0, 2.0]]).T, np.array([1, 1, 1]))
    msg = vision.detections_3d(boxes, objects, {1: "floor"}, header)
    d = msg.detections[0]
    assert d.id == "1" and d.results[0].hypothesis.class_id == "floor"
    p = d.bbox.center.position
    assert (p.x, p.y, p.z) == (1.0, 0.0, 2.0) and d.bbox.center.orientation.w == 1.0
    assert (d.bbox.size.x, d.bbox.size.y, d.bbox.size.z) == (2.0, 2.0, 2.0)


def test_without_vision_msgs_those_outputs_are_off_and_the_rest_works():
    """vision_msgs made unimportable in a fresh interpreter: no LabelInfo / detection topics, one log line."""
    script = """
import sys
sys.modules["vision_msgs"] = sys.modules["vision_msgs.msg"] = None  # import fails as if not installed
import rclpy
from rclpy.node import Node
from ov_seg_ros.parameters import specs as params
from ov_seg_ros.node.camera_io import qos
from ov_seg_ros.node.label_topics import LabelTopics
from ov_seg_ros.messages.outputs import advertised
print(sorted(o.suffix for o in advertised({**params.DEFAULTS, "publish_points": True})))
rclpy.init()
node = Node("no_vision_msgs")
topics = LabelTopics(node, [""], qos(1, True, latched=True))
print(sorted(name for name, _ in node.get_publisher_names_and_types_by_node("no_vision_msgs", "/")))
node.destroy_node()
rclpy.shutdown()
"""
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo,
        env={
            **os.environ,
            "PYTHONPATH": str(repo),
            "ROS_DOMAIN_ID": "99",
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        },
    )
    assert done.returncode == 0, done.stderr
    suffixes, topics = done.stdout.strip().splitlines()[-2:]
    assert "detections" not in suffixes and "detections_3d" not in suffixes
    assert "'labels'" in suffixes and "'instances'" in suffixes and "'targets/points'" in suffixes
    assert "label_info" not in topics and "/no_vision_msgs/label_map" in topics
    off = "~/label_info, ~/detections and ~/detections_3d are off: vision_msgs cannot be imported"
    assert done.stderr.count(off) == 1
