"""The rclpy node `ov_seg`: camera images in, labels / confidence / objectness / overlay out.

No algorithm here: frames go to `Segmenter` on a worker thread (latest frame per camera; the cameras
waiting together share one forward pass), vocabulary changes are encoded on a background thread and
swapped atomically, and `~/label_map` (and `~/label_info`) for a vocabulary is always published before the
first output made with it (both happen under `_publish_lock`). Per-camera topics live in `camera_io`.
"""

from __future__ import annotations

import concurrent.futures
import signal
import sys
import threading
import time
from typing import Any, Dict, List, NoReturn, Optional, Sequence

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.parameter import Parameter

from ..engine.segmenter import Segmenter
from ..engine.vocabulary import Vocabulary
from ..engine.weights import WeightsNotFoundError
from ..messages import convert
from ..parameters.checks import parse_cameras, parse_vocabulary
from ..parameters.specs import DEFAULTS, SPECS, changes_reason, descriptor, pruned_class_lists
from .camera_io import CameraIO, Frame, qos
from .diagnostics import Diagnostics, worth_logging
from .frames import FrameStats, LatestSlot, Throttle
from .label_topics import LabelTopics
from .ros_session import exit_process, ros_session

NODE_NAME = "ov_seg"
ENGINE_PARAMS = ("method", "input_size", "mode")  # applied by the worker between frames
VOCABULARY_PARAMS = ("vocabulary", "background")


class StartupError(RuntimeError):
    """The node cannot start with this configuration; the message says what to change."""


class OvSegNode(Node):
    """Thin ROS shell around `Segmenter`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._cfg = self._declare_parameters()
        self._stats = FrameStats()
        self._throttle = Throttle(5.0)
        self._publish_lock = threading.Lock()
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._engine_changes: Dict[str, Any] = {}
        self._engine_lock = threading.Lock()
        self._vocab_request = 0
        self._encoder = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ov_seg_vocab")
        self.segmenter = self._make_segmenter()
        self._vocab = self._first_vocabulary()
        self._diagnostics = Diagnostics(self, self._stats, self._throttle)
        cameras = parse_cameras(self._cfg["cameras"])[0] or [""]
        self._label_topics = LabelTopics(self, cameras, qos(1, True, latched=True))
        self._activate(self._vocab, time.monotonic())
        self._cameras = {name: CameraIO(self, name, self._cfg, self._on_image) for name in cameras}
        if hasattr(self, "add_pre_set_parameters_callback"):  # Iron+ (Humble refuses such vocabulary edits)
            self.add_pre_set_parameters_callback(self._prune_class_lists)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._running = True
        self._worker = threading.Thread(target=self._work, name="ov_seg_worker", daemon=True)
        self._worker.start()
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(
            f"ready: {len(self._vocab.names)} classes {list(self._vocab.names)} on "
            f"{self._cfg['device']}; subscribed to {', '.join(c.topic for c in self._cameras.values())}"
        )

    # ------------------------------------------------------------------------ start-up
    def _declare_parameters(self) -> Dict[str, Any]:
        try:
            for spec in SPECS:
                self.declare_parameter(spec.name, spec.default, descriptor(spec))
        except Exception as e:  # out-of-range or wrongly typed overrides from a launch/params file
            raise StartupError(f"invalid parameter: {e}") from e
        values = {spec.name: self.get_parameter(spec.name).value for spec in SPECS}
        reason = changes_reason(DEFAULTS, values)
        if reason:
            raise StartupError(f"invalid parameter: {reason}")
        return values

    def _make_segmenter(self) -> Segmenter:
        c = self._cfg
        self.get_logger().info(
            f"loading {c['method']} weights={c['weights']!r} heads={c['heads']!r} on {c['device']} "
            f"({c['backend']} {c['precision']})"
        )
        try:
            return Segmenter(
                weights=c["weights"],
                heads=c["heads"],
                device=c["device"],
                precision=c["precision"],
                method=c["method"],
                input_size=c["input_size"],
                mode=c["mode"],
                backend=c["backend"],
                calibration=c["calibration"],
            )
        except (ValueError, RuntimeError, ImportError) as e:  # e.g. device 'cuda' without CUDA, no openvino
            raise StartupError(str(e)) from e

    def _first_vocabulary(self) -> Vocabulary:
        names, _ = parse_vocabulary(self._cfg["vocabulary"])
        start = time.monotonic()
        vocab = self.segmenter.prepare_vocabulary(names, background=self._cfg["background"])
        self.get_logger().info(f"vocabulary encoded in {time.monotonic() - start:.2f} s")
        return vocab

    # ---------------------------------------------------------------------- parameters
    def _validate_parameters(self, params: List[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in params}
        reason = changes_reason(self._cfg, changes)
        if reason:
            self.get_logger().warning(f"rejected parameter change: {reason}")
        return SetParametersResult(successful=reason is None, reason=reason or "")

    def _prune_class_lists(self, params: List[Parameter]) -> List[Parameter]:
        # A vocabulary edit drops the names it removes from targets / obstacle_classes, in the same set.
        pruned = pruned_class_lists(self._cfg, {p.name: p.value for p in params})
        for name, (_, dropped) in pruned.items():
            self.get_logger().warning(f"vocabulary change drops {dropped} from {name}: no longer in the vocabulary")
        return params + [Parameter(n, Parameter.Type.STRING_ARRAY, kept) for n, (kept, _) in pruned.items()]

    def _apply_parameters(self, params: List[Parameter]) -> None:
        changes = {p.name: p.value for p in params if p.name in DEFAULTS}
        self._cfg = {**self._cfg, **changes}  # one reference swap: readers see old or new, whole
        engine = {k: v for k, v in changes.items() if k in ENGINE_PARAMS}
        if engine:
            with self._engine_lock:
                self._engine_changes.update(engine)
        if any(k in changes for k in VOCABULARY_PARAMS):
            names, _ = parse_vocabulary(self._cfg["vocabulary"])
            self._request_vocabulary(names, self._cfg["background"])
        if {"label_encoding", "min_confidence"} & set(changes):  # named by the label map / LabelInfo
            with self._publish_lock:
                self._publish_label_map(self._vocab)

    def _request_vocabulary(self, names: Sequence[str], background: bool) -> None:
        self._vocab_request += 1
        self._encoder.submit(self._encode_vocabulary, self._vocab_request, list(names), background)

    def _encode_vocabulary(self, request: int, names: List[str], background: bool) -> None:
        """Background thread: encode, then swap in unless a newer request came meanwhile."""
        if request != self._vocab_request:
            return
        start = time.monotonic()
        try:
            vocab = self.segmenter.prepare_vocabulary(names, background=background)
        except Exception as e:  # keep the old vocabulary, say why
            self.get_logger().error(f"vocabulary {names} not used, keeping the old one: {e}")
            return
        if request == self._vocab_request:
            self._activate(vocab, start)

    def _activate(self, vocab: Vocabulary, start: float) -> None:
        with self._publish_lock:
            self._vocab = vocab
            self.segmenter.use_vocabulary(vocab)
            self._publish_label_map(vocab)
        self.get_logger().info(
            f"vocabulary v{vocab.version} active after {time.monotonic() - start:.2f} s: {vocab.label_map()}"
        )

    def _publish_label_map(self, vocab: Vocabulary) -> None:
        self._label_topics.publish(vocab, self._cfg)  # ~/label_map and ~/label_info

    # -------------------------------------------------------------------------- inputs
    def _on_image(self, camera: CameraIO, msg: Any) -> None:
        """Subscription callback: only store the message; the worker converts the frames it takes."""
        self._stats.count("received")
        if self._slot.put(Frame(camera.name, msg, time.monotonic()), camera.name):
            self._stats.count("dropped")

    def _converted(self, frames: List[Frame]) -> List[Frame]:
        """The frames whose message converts to RGB (decoded for compressed ones); bad ones counted."""
        good = []
        for frame in frames:
            try:
                frame.rgb = convert.message_to_rgb(frame.message)
            except convert.ImageConversionError as e:
                self._stats.count("bad_images")
                self._error_throttled(f"dropping image from {self._cameras[frame.camera].topic}: {e}")
                continue
            good.append(frame)
        return good

    def _error_throttled(self, text: str) -> None:
        if worth_logging(self._throttle, text):  # one log per kind of problem per 5 s
            self.get_logger().error(text)

    # -------------------------------------------------------------------------- worker
    def _work(self) -> None:
        while self._running:
            frames = self._slot.take_all(timeout=0.5)
            if not frames:
                continue
            try:
                converted = self._converted(list(frames.values()))
                if converted:
                    self._process(converted)
            except Exception as e:  # one bad frame must not end the worker
                if not (self._running and self.context.ok()):
                    return  # shutting down: publishers are gone, nothing to report
                self._stats.count("failed", len(frames))
                self._error_throttled(f"frame failed: {type(e).__name__}: {e}")

    def _apply_engine_changes(self) -> None:
        with self._engine_lock:
            changes, self._engine_changes = self._engine_changes, {}
        if changes:
            self.segmenter.configure(**changes)
            self.get_logger().info(f"segmenter now uses {changes}")

    def _process(self, frames: List[Frame]) -> None:
        """One forward pass for the frames of all cameras that were waiting (same-size ones batch)."""
        self._apply_engine_changes()
        vocab = self._vocab
        results = self.segmenter.segment_batch([f.rgb for f in frames], vocabulary=vocab)
        cfg = self._cfg  # built outside the lock (clouds, components), published under it
        outgoing = [self._cameras[f.camera].build(f, r, cfg) for f, r in zip(frames, results, strict=True)]
        with self._publish_lock:
            if vocab is not self._vocab:  # a newer label map is out: these results would contradict it
                self._stats.count("dropped", len(frames))
                return
            for frame, out in zip(frames, outgoing, strict=True):
                self._label_topics.follow(frame.camera, frame.header.frame_id)
                if not out.publish():
                    self._stats.count("depth_unmatched")
        now = time.monotonic()
        for frame in frames:
            self._stats.processed(now - frame.received, now)
        if len(frames) > 1:
            self._stats.count("batched", len(frames))

    # ---------------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        self._diagnostics.publish(self._cfg, self.segmenter.device, self._vocab, self._cameras.values())

    # -------------------------------------------------------------------------- shutdown
    def close(self) -> None:
        """Stop the worker and the encoder before the node is destroyed."""
        self._running = False
        self._slot.close()
        # A frame in flight (seconds on a CPU) is abandoned rather than waited for: its outputs would go
        # to a graph that is shutting down, and `ros2 launch`/`timeout -k` kill what lingers.
        self._worker.join(timeout=1.0)
        self._encoder.shutdown(wait=False, cancel_futures=True)


def main(args: Optional[Sequence[str]] = None) -> NoReturn:
    """Entry point of `ov_seg_node`: exit status 0 on a clean shutdown, 1 when the node cannot start."""
    exit_process(run(args))


def run(args: Optional[Sequence[str]] = None) -> int:
    """The node's life: start, spin until Ctrl-C or shutdown, clean up; returns the exit status."""
    with ros_session(args=args) as transport:
        logger = get_logger(NODE_NAME)
        logger.info(transport)
        try:
            node = OvSegNode()
        except WeightsNotFoundError as e:
            logger.fatal(f"cannot start: weights not found.\n{e}")
            return 1
        except StartupError as e:
            logger.fatal(f"cannot start: {e}")
            return 1
        except (KeyboardInterrupt, ExternalShutdownException):
            return 0  # interrupted while loading the model
        try:
            rclpy.spin(node)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            # Ctrl-C reaches us twice under `ros2 launch` (from the terminal or `timeout` to the whole
            # process group, and from launch itself): the second one must not cut cleanup short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            node.close()
            node.destroy_node()
    return 0


if __name__ == "__main__":
    main(sys.argv)
