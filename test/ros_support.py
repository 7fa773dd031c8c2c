"""Shared pieces of the DDS tests (and bench/bench_node.py): a test-side rclpy node spun on a thread, the
node started as a process or through `ros2 launch`, images as camera drivers send them, and the engine's
own labels to compare the node's with. Not a test module: pytest collects nothing here."""

import array
import contextlib
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np
import pytest
import rclpy
from conftest import REPO, ament_prefix_path, interrupt, ros_env
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from sensor_msgs.msg import Image

VOCAB = ["floor", "door"]
START_TIMEOUT = 180.0  # node start: torch import + seeded CLIP + 2 classes × 80 prompts on 2 cores
# The parameters every test node starts with: seeded weights, a 2-class vocabulary, native input size.
SEEDED_NODE = {"weights": "seeded", "heads": "seeded", "vocabulary": VOCAB, "input_size": 0}

requires_ros2_cli = pytest.mark.skipif(
    shutil.which("ros2") is None, reason="ros2 CLI not installed (see shared/ros2-cli/README.md)"
)


def wait_until(predicate: Callable[[], object], timeout: float, what: str, period: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(period)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def make_image(pixels: np.ndarray, encoding: str, stamp: int, frame_id: str = "camera") -> Image:
    """Pack pixels as a camera driver would (little-endian, no row padding)."""
    data = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("<"))
    height, width = pixels.shape[:2]
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0, step=data.nbytes // height)
    msg.data = array.array("B", data.tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp, 500
    msg.header.frame_id = frame_id
    return msg


def stamp_of(msg) -> int:
    return msg.header.stamp.sec


def last_diagnostics(msgs: Sequence) -> Dict[str, str]:
    """The key/value pairs of the node's latest DiagnosticArray in `msgs` ({} before the first)."""
    return {kv.key: kv.value for kv in msgs[-1].status[0].values} if msgs else {}


class SpinningNode:
    """A test-side rclpy node on its own context, spun on a thread: create the entities, then `start()`."""

    def __init__(self, domain: int, name: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = Node(name, context=self.context)
        self.lock = threading.Lock()

    def keep(self, store: list, key: Optional[str] = None) -> Callable:
        """A subscription callback appending each message to `store` under the lock (as (key, msg) if
        `key` is given: one list for several topics, in the order the executor hands them over)."""

        def callback(msg) -> None:
            with self.lock:
                store.append(msg if key is None else (key, msg))

        return callback

    def add_parameter_clients(self, node: str = "/ov_seg") -> None:
        """Clients of `node`'s set/get parameter services, for `set()` and `get()`."""
        self.set_client = self.node.create_client(SetParameters, f"{node}/set_parameters")
        self.get_client = self.node.create_client(GetParameters, f"{node}/get_parameters")

    def call(self, client, request, timeout: float = 30.0):
        assert client.wait_for_service(timeout_sec=30), "parameter service not available"
        future = client.call_async(request)
        wait_until(future.done, timeout, f"{client.srv_name} reply")
        return future.result()

    def set(self, name: str, value, kind: Optional[Parameter.Type] = None):
        param = Parameter(name, kind, value) if kind else Parameter(name, value=value)
        reply = self.call(self.set_client, SetParameters.Request(parameters=[param.to_parameter_msg()]))
        return reply.results[0]

    def get(self, *names: str) -> List:
        reply = self.call(self.get_client, GetParameters.Request(names=list(names)))
        return [parameter_value_to_python(v) for v in reply.values]

    def start(self, period: float = 0.05) -> None:
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, args=(period,), daemon=True)
        self._thread.start()

    def _spin(self, period: float) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=period)

    def __enter__(self) -> "SpinningNode":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


class StampedOutputs:
    """For a SpinningNode keeping (topic, msg) pairs in `self.received` (see `keep`): one topic's messages,
    the output of one stamp, or of several topics at once."""

    received: List
    lock: threading.Lock

    def messages(self, topic: str) -> List:
        with self.lock:
            return [m for t, m in self.received if t == topic]

    def index_of(self, msg) -> int:
        """Where `msg` stands among all received messages (the order the executor handed them over)."""
        with self.lock:
            return next(i for i, (_, m) in enumerate(self.received) if m is msg)

    def output(self, topic: str, stamp: int):
        return next((m for m in self.messages(topic) if stamp_of(m) == stamp), None)

    def outputs(self, topics: Sequence[str], stamp: int) -> Optional[Dict[str, object]]:
        """Every topic's output of `stamp`, or None while one is missing."""
        found = {t: self.output(t, stamp) for t in topics}
        return found if all(v is not None for v in found.values()) else None


# ------------------------------------------------------------------------------ node processes
def ros_value(value) -> str:
    """A parameter value as `-p name:=value` and `ros2 launch ... name:=value` spell it."""
    if isinstance(value, (list, tuple)):
        return f"[{', '.join(value)}]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def node_command(params: Mapping[str, object], remaps: Optional[Mapping[str, str]] = None) -> List[str]:
    """`python -m ov_seg_ros.node.ov_seg_node --ros-args -p name:=value ... -r from:=to ...`"""
    cmd = [sys.executable, "-m", "ov_seg_ros.node.ov_seg_node", "--ros-args"]
    cmd += [arg for name, value in params.items() for arg in ("-p", f"{name}:={ros_value(value)}")]
    return cmd + [arg for old, new in (remaps or {}).items() for arg in ("-r", f"{old}:={new}")]


def start_node(
    log: Path, domain: int, params: Mapping[str, object], remaps: Optional[Mapping[str, str]] = None
) -> subprocess.Popen:
    """The node of this checkout as a process on `domain` (environment `ros_env(domain)`), stdout and
    stderr into `log`; the process's `.log` is that path."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            node_command(params, remaps), stdout=out, stderr=subprocess.STDOUT, env=ros_env(domain), cwd=REPO
        )
    proc.log = log
    return proc


@contextlib.contextmanager
def running_node(
    log: Path, domain: int, params: Mapping[str, object], remaps: Optional[Mapping[str, str]] = None
) -> Iterator[subprocess.Popen]:
    """`start_node` for a with-block: Ctrl-C'ed on the way out (killed after 20 s) unless it has ended."""
    proc = start_node(log, domain, params, remaps)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            interrupt(proc, timeout=20)


def launch_env(domain: int, install_root: Path) -> Dict[str, str]:
    """`ros_env(domain)` with this tree installed under `install_root`, where `ros2 launch` looks."""
    env = ros_env(domain)
    env["AMENT_PREFIX_PATH"] = ament_prefix_path(install_root)
    return env


def ros2_launch(env: Mapping[str, str], *arguments: str, timeout: int = 300) -> subprocess.Popen:
    """`ros2 launch ov_seg_ros seg.launch.py` with seeded weights and `arguments`, Ctrl-C'ed after `timeout`
    s at the latest; its output is read by `stop_launch`."""
    return subprocess.Popen(
        ["timeout", "-k", "5", "-s", "INT", str(timeout), "ros2", "launch", "ov_seg_ros", "seg.launch.py"]
        + ["weights:=seeded", "heads:=seeded", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def stop_launch(launch: subprocess.Popen) -> str:
    """Ctrl-C `ros2 launch` as a user would and return everything it printed."""
    import signal

    launch.send_signal(signal.SIGINT)
    try:
        return launch.communicate(timeout=40)[0]
    except subprocess.TimeoutExpired:
        launch.kill()
        return launch.communicate()[0]


def wait_started(proc: subprocess.Popen, ready: Callable[[], object], what: str) -> None:
    """Wait up to START_TIMEOUT for `ready()`; fail with the process's output if it ended instead."""
    wait_until(lambda: ready() or proc.poll() is not None, START_TIMEOUT, what)
    if proc.poll() is not None:
        output = proc.log.read_text() if hasattr(proc, "log") else proc.communicate()[0][-3000:]
        raise AssertionError(output)


# ----------------------------------------------------------------------------- the engine's view
def engine_labels(segmenter, rgb: np.ndarray, vocab, min_confidence: float = 0.0):
    saved = segmenter.input_size
    segmenter.configure(input_size=0)  # as the node runs here: native size
    try:
        result = segmenter.segment(rgb, vocabulary=vocab)
    finally:
        segmenter.input_size = saved
    return result.label_image(min_confidence), result


def assert_same_labels(node_labels: np.ndarray, expected: np.ndarray) -> None:
    # Same code and weights in two processes; allow a stray argmax tie from thread scheduling.
    assert node_labels.shape == expected.shape
    assert np.mean(node_labels == expected) >= 0.995, (np.unique(node_labels), np.unique(expected))
