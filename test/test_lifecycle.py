"""The `ov_seg` lifecycle node (autostart:=false), driven through every transition over real DDS with
`ros2 lifecycle set/get` and with the lifecycle services from rclpy, as a manager would.

Tests run in order on one node process: unconfigured -> inactive -> active -> inactive -> unconfigured ->
finalized. A second process fails to configure (missing weights) and must stay unconfigured and alive.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, List

import pytest
from conftest import random_image, ros_domain, ros_env
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_support import (
    SEEDED_NODE,
    START_TIMEOUT,
    SpinningNode,
    StampedOutputs,
    assert_same_labels,
    engine_labels,
    last_diagnostics,
    make_image,
    running_node,
    wait_until,
)
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ov_seg_ros.messages import convert

DOMAIN = ros_domain("lifecycle")
NEW_VOCAB = ["wall", "person", "door"]  # set while inactive; the node starts with ros_support.VOCAB
# `ros2 lifecycle` drives half the transitions (tools/setup.sh installs it from ../shared/ros2-cli).
pytestmark = pytest.mark.skipif(
    shutil.which("ros2") is None, reason="ros2 CLI not installed (see shared/ros2-cli/README.md)"
)


class Manager(StampedOutputs, SpinningNode):
    """A lifecycle manager and consumer in one: lifecycle service clients for `node`, its outputs kept."""

    def __init__(self, domain: int, node: str = "/ov_seg") -> None:
        super().__init__(domain, f"lifecycle_test_{node.strip('/')}")
        self.name = node
        self.received: List[tuple] = []
        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.node.create_subscription(String, f"{node}/label_map", self.keep(self.received, "label_map"), latched)
        self.node.create_subscription(Image, f"{node}/labels", self.keep(self.received, "labels"), 50)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.keep(self.received, "diagnostics"), 10)
        self.image_pub = self.node.create_publisher(Image, "/lifecycle/image", 10)
        self.change_client = self.node.create_client(ChangeState, f"{node}/change_state")
        self.state_client = self.node.create_client(GetState, f"{node}/get_state")
        self.add_parameter_clients(node)
        self.start()

    def diagnostics(self) -> Dict[str, str]:
        mine = [m for m in self.messages("diagnostics") if m.status and m.status[0].name.startswith(self.name[1:])]
        return last_diagnostics(mine)

    def state(self) -> str:
        return self.call(self.state_client, GetState.Request()).current_state.label

    def change(self, transition_id: int) -> bool:
        """ChangeState by id, as Nav2's lifecycle manager sends it; the node's answer."""
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self.call(self.change_client, request, timeout=START_TIMEOUT).success

    def frames_get_no_reply(self, seconds: float = 3.0) -> bool:
        """Send frames for `seconds` and wait as long again: True when none got an output."""
        before = len(self.messages("labels"))
        for i in range(int(seconds * 5)):
            self.image_pub.publish(make_image(random_image(32, 48, seed=i), "rgb8", 900 + i))
            time.sleep(0.2)
        time.sleep(seconds)
        return len(self.messages("labels")) == before


def rss_mib(pid: int) -> float:
    """Resident memory of a process now, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def ros2_lifecycle(*args: str, timeout: int = 240) -> str:
    """`ros2 lifecycle ...` on the test domain, asked again while the CLI does not see the node yet; its
    output (`set` exits 0 even when the transition failed, so the text is what counts)."""
    text = ""
    for _ in range(10):
        done = subprocess.run(
            ["timeout", "-k", "5", str(timeout), "ros2", "lifecycle", *args, "--no-daemon", "--spin-time", "3"],
            capture_output=True,
            text=True,
            env=ros_env(DOMAIN),
        )
        text = done.stdout + done.stderr
        if "Node not found" not in text and "not a lifecycle node" not in text:
            return text
        time.sleep(1.0)
    return text


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def node_process(tmp_path_factory):
    log = tmp_path_factory.mktemp("lifecycle") / "node.log"
    with running_node(log, DOMAIN, {**SEEDED_NODE, "autostart": False}, {"image": "/lifecycle/image"}) as proc:
        yield proc


@pytest.fixture(scope="module")
def manager(node_process):
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    m = Manager(DOMAIN)
    try:
        wait_until(lambda: m.state_client.service_is_ready() or node_process.poll() is not None, 120, "get_state")
        assert node_process.poll() is None, node_process.log.read_text()
        yield m
    finally:
        m.close()


# ------------------------------------------------------------------------------------- tests
def test_waits_unconfigured_without_publishers_or_subscriptions(manager, node_process):
    assert manager.state() == "unconfigured"
    assert ros2_lifecycle("get", "/ov_seg").startswith("unconfigured [1]")
    wait_until(lambda: manager.diagnostics().get("lifecycle_state") == "unconfigured", 10, "diagnostics")
    assert manager.node.count_publishers("/ov_seg/labels") == 0
    assert manager.image_pub.get_subscription_count() == 0
    assert manager.frames_get_no_reply()
    assert manager.set("input_size", 0).successful  # parameters answer in every state
    node_process.unconfigured_rss = rss_mib(node_process.pid)


def test_configure_loads_the_model_and_stays_silent_while_inactive(manager, node_process):
    assert manager.change(Transition.TRANSITION_CONFIGURE)
    assert manager.state() == "inactive"
    wait_until(lambda: manager.node.count_publishers("/ov_seg/labels") == 1, 10, "the output publisher")
    assert manager.image_pub.get_subscription_count() == 0
    assert manager.frames_get_no_reply()
    assert manager.messages("label_map") == []  # lifecycle publishers say nothing while inactive
    wait_until(lambda: manager.diagnostics().get("lifecycle_state") == "inactive", 10, "diagnostics")
    assert manager.diagnostics()["vocabulary"] == "floor, door"
    log = node_process.log.read_text()
    assert "configure: done in" in log and "resident memory" in log


def test_an_invalid_transition_is_refused_and_the_node_lives_on(manager, node_process):
    assert not manager.change(Transition.TRANSITION_CONFIGURE)  # already configured
    assert manager.state() == "inactive" and node_process.poll() is None


def test_vocabulary_set_while_inactive_is_in_use_after_activation(manager, segmenter):
    assert manager.set("vocabulary", NEW_VOCAB).successful
    assert "Transitioning successful" in ros2_lifecycle("set", "/ov_seg", "activate")
    assert manager.state() == "active"
    rgb = random_image(48, 64, seed=7)
    wait_until(lambda: manager.image_pub.get_subscription_count() > 0, 30, "the node's subscription")
    labels = None
    for attempt in range(12):
        manager.image_pub.publish(make_image(rgb, "rgb8", 2000 + attempt))
        try:
            labels = wait_until(lambda: manager.output("labels", 2000 + attempt), 5, "labels")  # noqa: B023
            break
        except AssertionError:
            continue
    assert labels is not None, "no output while active"
    assert labels.header.stamp.sec == 2000 + attempt and labels.header.stamp.nanosec == 500
    maps = manager.messages("label_map")
    first = [name for key, name in sorted((int(k), v) for k, v in _label_map(maps[0]).items())]
    assert first == ["background", *NEW_VOCAB]  # the vocabulary set while inactive, from the first map on
    assert manager.index_of(maps[0]) < manager.index_of(manager.messages("labels")[0])
    expected, _ = engine_labels(segmenter, rgb, segmenter.prepare_vocabulary(NEW_VOCAB, background=True))
    assert_same_labels(convert.image_array(labels), expected)


def test_deactivate_stops_inputs_and_outputs_and_keeps_the_model(manager, node_process):
    assert manager.change(Transition.TRANSITION_DEACTIVATE)
    assert manager.state() == "inactive"
    wait_until(lambda: manager.image_pub.get_subscription_count() == 0, 10, "the subscription to go")
    assert manager.frames_get_no_reply()
    wait_until(lambda: manager.diagnostics().get("lifecycle_state") == "inactive", 10, "diagnostics")
    assert manager.diagnostics()["vocabulary"] == ", ".join(NEW_VOCAB)  # the model and vocabulary stay
    node_process.inactive_rss = rss_mib(node_process.pid)


def test_cleanup_gives_the_model_memory_back(manager, node_process):
    assert "Transitioning successful" in ros2_lifecycle("set", "/ov_seg", "cleanup")
    assert manager.state() == "unconfigured"
    wait_until(lambda: manager.node.count_publishers("/ov_seg/labels") == 0, 10, "the publishers to go")
    model = node_process.inactive_rss - node_process.unconfigured_rss
    after = rss_mib(node_process.pid)
    assert model > 300, f"the model took only {model:.0f} MiB"  # CLIP ViT-B/16 alone is ~600 MB in fp32
    assert node_process.inactive_rss - after > 0.7 * model, (node_process.inactive_rss, after, model)
    assert "given back" in node_process.log.read_text()
    rss = (node_process.unconfigured_rss, node_process.inactive_rss, after)
    print("RSS MiB: unconfigured {:.0f}, inactive {:.0f}, after cleanup {:.0f}".format(*rss))


def test_shutdown_exits_0_after_answering(manager, node_process):
    assert manager.set("vocabulary", ["floor"]).successful  # parameters are taken unconfigured too
    assert "Transitioning successful" in ros2_lifecycle("set", "/ov_seg", "shutdown", timeout=60)
    assert node_process.wait(timeout=30) == 0
    log = node_process.log.read_text()
    assert "Traceback" not in log and "shutdown: done" in log


def test_failing_configure_leaves_the_node_unconfigured_and_alive(tmp_path):
    params = {"weights": f"{tmp_path}/none.bin", "heads": "seeded", "autostart": False}
    node = running_node(tmp_path / "node.log", DOMAIN, params, {"__node": "ov_seg_failing"})
    with node as proc, Manager(DOMAIN, "/ov_seg_failing") as m:
        wait_until(lambda: m.state_client.service_is_ready() or proc.poll() is not None, 120, "get_state")
        assert "Transitioning failed" in ros2_lifecycle("set", "/ov_seg_failing", "configure")
        assert m.state() == "unconfigured" and proc.poll() is None
        assert not m.change(Transition.TRANSITION_CONFIGURE)  # a manager may retry: same answer
        assert not m.change(Transition.TRANSITION_ACTIVATE)  # invalid from unconfigured (raises on Jazzy)
        assert m.state() == "unconfigured" and proc.poll() is None
        wait_until(lambda: _warned(m), 10, "/diagnostics to name the failed configure")
        log = proc.log.read_text()
        assert "configure failed: weights not found" in log and "none.bin" in log and "Traceback" not in log
        assert m.change(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert proc.wait(timeout=30) == 0


def _warned(m: Manager) -> bool:
    """The node's latest status names the failed configure."""
    msgs = [x for x in m.messages("diagnostics") if x.status and x.status[0].name.startswith("ov_seg_failing")]
    return bool(msgs) and "configure failed" in msgs[-1].status[0].message


def _label_map(msg) -> Dict[str, str]:
    import json

    return {k: v for k, v in json.loads(msg.data).items() if k.isdigit()}
