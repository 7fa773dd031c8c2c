"""What the `ov_seg` node holds from configure to cleanup: the model (`Segmenter`), the vocabulary and its
background encoder, every camera's output publishers and, while active, the subscriptions and the worker.

The lifecycle node decides when (configure = `Pipeline(...)`, activate, deactivate, cleanup = `close`);
this module says how. No algorithm here: frames go to `Segmenter` on a worker thread (latest frame per
camera; the cameras waiting together share one forward pass), vocabulary changes are encoded on a
background thread and swapped atomically, and `~/label_map` (and `~/label_info`) for a vocabulary is always
published before the first output made with it (both happen under `_publish_lock`).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any, Dict, List, Optional

from ..engine.backends.support import slow_precision
from ..engine.segmenter import Segmenter
from ..engine.vocabulary import Vocabulary
from ..messages import convert
from ..parameters.checks import parse_cameras, parse_vocabulary
from .camera_io import CameraIO, Frame, qos
from .diagnostics import worth_logging
from .frames import FrameStats, LatestSlot, Throttle
from .label_topics import LabelTopics

ENGINE_PARAMS = ("method", "input_size", "mode", "refine")  # applied by the worker between frames
VOCABULARY_PARAMS = ("vocabulary", "background")
VOCABULARY_WAIT_S = 300.0  # activation waits this long at most for a vocabulary still being encoded
WORKER_JOIN_S = 60.0  # deactivation waits this long at most for the frame in flight


class Pipeline:
    """The configured node's model, vocabulary, publishers and (while active) inputs and worker."""

    def __init__(self, node: Any, cfg: Dict[str, Any], stats: FrameStats, throttle: Throttle) -> None:
        """Configure: load the model, encode the vocabulary, create the publishers. Raises when it cannot;
        the publishers come last, so a failure leaves nothing on the node."""
        self._node, self._logger = node, node.get_logger()
        self._cfg, self._stats, self._throttle = cfg, stats, throttle
        self._publish_lock = threading.Lock()
        self._engine_changes: Dict[str, Any] = {}
        self._engine_lock = threading.Lock()
        self._vocab_request = 0
        self._vocab_pending: Optional[concurrent.futures.Future] = None
        self._active = False
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._stop = threading.Event()
        self._worker: Optional[threading.Thread] = None
        self.segmenter: Optional[Segmenter] = self._make_segmenter()
        start = time.monotonic()
        names, _ = parse_vocabulary(cfg["vocabulary"])
        self._vocab: Optional[Vocabulary] = self.segmenter.prepare_vocabulary(names, background=cfg["background"])
        self._logger.info(f"vocabulary encoded in {time.monotonic() - start:.2f} s")
        self._encoder = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ov_seg_vocab")
        cameras = parse_cameras(cfg["cameras"])[0] or [""]
        self._label_topics = LabelTopics(node, cameras, qos(1, True, latched=True))
        self.cameras = {name: CameraIO(node, name, cfg, self._on_image) for name in cameras}
        self._use_vocabulary(self._vocab, start)  # published on activation (lifecycle publishers)

    def _make_segmenter(self) -> Segmenter:
        c = self._cfg
        self._logger.info(
            f"loading {c['method']} weights={c['weights']!r} heads={c['heads']!r} on {c['device']} "
            f"({c['backend']} {c['precision']})"
        )
        segmenter = Segmenter(
            weights=c["weights"],
            heads=c["heads"],
            device=c["device"],
            precision=c["precision"],
            method=c["method"],
            input_size=c["input_size"],
            mode=c["mode"],
            refine=c["refine"],
            backend=c["backend"],
            calibration=c["calibration"],
        )
        self._logger.info(f"loaded {segmenter.backbone.describe(c['method'])}")  # method, weights, activation
        slow = slow_precision(c["backend"], c["precision"], c["device"])
        if slow:
            self._logger.warning(slow)
        return segmenter

    @property
    def device(self) -> Any:
        return self.segmenter.device if self.segmenter is not None else None

    @property
    def vocabulary(self) -> Optional[Vocabulary]:
        return self._vocab

    @property
    def topics(self) -> str:
        return ", ".join(c.topic for c in self.cameras.values())

    # ---------------------------------------------------------------------- transitions
    def activate(self) -> None:
        """Wait for a vocabulary still being encoded, republish the label topics, then subscribe."""
        pending = self._vocab_pending
        if pending is not None:
            pending.result(timeout=VOCABULARY_WAIT_S)  # set while inactive: in use from the first frame
        self._stop, self._slot = threading.Event(), LatestSlot()
        with self._publish_lock:
            self._active = True
            self._label_topics.republish()  # dropped while inactive; before any output
        self._worker = threading.Thread(
            target=self._work, args=(self._slot, self._stop), name="ov_seg_worker", daemon=True
        )
        self._worker.start()
        for camera in self.cameras.values():
            camera.subscribe()

    def deactivate(self, join_s: float = WORKER_JOIN_S) -> None:
        """Unsubscribe, stop publishing and stop the worker (an output of a frame in flight is dropped)."""
        for camera in self.cameras.values():
            camera.unsubscribe()
        with self._publish_lock:
            self._active = False
        self._stop.set()
        self._slot.close()
        if self._worker is not None:
            self._worker.join(timeout=join_s)
            if self._worker.is_alive():
                self._logger.warning(f"a frame in flight did not finish within {join_s:.0f} s; its output is dropped")
            self._worker = None

    def close(self, wait: bool = True) -> None:
        """Cleanup: stop everything and drop every reference to the model, the text cache and the frames,
        so the caller can give the memory back. wait=False (the process is exiting) abandons a frame in
        flight and a vocabulary being encoded rather than waiting for them."""
        self.deactivate(join_s=WORKER_JOIN_S if wait else 1.0)
        self._encoder.shutdown(wait=wait, cancel_futures=True)
        self._label_topics.destroy()
        for camera in self.cameras.values():
            camera.destroy()
        self.cameras, self._vocab_pending = {}, None
        self._slot = LatestSlot()
        with self._publish_lock:
            self._vocab = self.segmenter = None

    # ---------------------------------------------------------------------- parameters
    def update(self, cfg: Dict[str, Any], changes: Dict[str, Any]) -> None:
        """Parameters were set (validated already): the worker applies engine changes between frames,
        a vocabulary is encoded in the background, the label topics follow their parameters."""
        self._cfg = cfg  # one reference swap: readers see old or new, whole
        engine = {k: v for k, v in changes.items() if k in ENGINE_PARAMS}
        if engine:
            with self._engine_lock:
                self._engine_changes.update(engine)
        if any(k in changes for k in VOCABULARY_PARAMS):
            names, _ = parse_vocabulary(cfg["vocabulary"])
            self._vocab_request += 1
            self._vocab_pending = self._encoder.submit(
                self._encode_vocabulary, self._vocab_request, list(names), cfg["background"]
            )
        if {"label_encoding", "min_confidence"} & set(changes):  # named by the label map / LabelInfo
            with self._publish_lock:
                if self._vocab is not None:
                    self._label_topics.publish(self._vocab, self._cfg)

    def _encode_vocabulary(self, request: int, names: List[str], background: bool) -> None:
        """Background thread: encode, then swap in unless a newer request came meanwhile."""
        segmenter = self.segmenter
        if request != self._vocab_request or segmenter is None:
            return
        start = time.monotonic()
        try:
            vocab = segmenter.prepare_vocabulary(names, background=background)
        except Exception as e:  # keep the old vocabulary, say why
            self._logger.error(f"vocabulary {names} not used, keeping the old one: {e}")
            return
        if request == self._vocab_request:
            self._use_vocabulary(vocab, start)

    def _use_vocabulary(self, vocab: Vocabulary, start: float) -> None:
        with self._publish_lock:
            if self.segmenter is None:  # cleaned up meanwhile
                return
            self._vocab = vocab
            self.segmenter.use_vocabulary(vocab)
            self._label_topics.publish(vocab, self._cfg)  # ~/label_map and ~/label_info
        self._logger.info(
            f"vocabulary v{vocab.version} in use after {time.monotonic() - start:.2f} s: {vocab.label_map()}"
        )

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
                self._error_throttled(f"dropping image from {self.cameras[frame.camera].topic}: {e}")
                continue
            good.append(frame)
        return good

    def _error_throttled(self, text: str) -> None:
        if worth_logging(self._throttle, text):  # one log per kind of problem per 5 s
            self._logger.error(text)

    # -------------------------------------------------------------------------- worker
    def _work(self, slot: LatestSlot[Frame], stop: threading.Event) -> None:
        while not stop.is_set():
            frames = slot.take_all(timeout=0.5)
            if not frames:
                continue
            try:
                converted = self._converted(list(frames.values()))
                if converted:
                    self._process(converted)
            except Exception as e:  # one bad frame must not end the worker
                if stop.is_set() or not self._node.context.ok():
                    return  # deactivating or shutting down: nothing to report
                self._stats.count("failed", len(frames))
                self._error_throttled(f"frame failed: {type(e).__name__}: {e}")

    def _apply_engine_changes(self, segmenter: Segmenter) -> None:
        with self._engine_lock:
            changes, self._engine_changes = self._engine_changes, {}
        if changes:
            segmenter.configure(**changes)
            self._logger.info(f"segmenter now uses {changes}")

    def _process(self, frames: List[Frame]) -> None:
        """One forward pass for the frames of all cameras that were waiting (same-size ones batch)."""
        segmenter, vocab, cameras = self.segmenter, self._vocab, self.cameras
        if segmenter is None or vocab is None:
            return
        self._apply_engine_changes(segmenter)
        results = segmenter.segment_batch([f.rgb for f in frames], vocabulary=vocab)
        cfg = self._cfg  # built outside the lock (clouds, components), published under it
        outgoing = [cameras[f.camera].build(f, r, cfg) for f, r in zip(frames, results, strict=True)]
        with self._publish_lock:
            # Deactivated meanwhile, or a newer label map is out (these results would contradict it).
            if not self._active or vocab is not self._vocab:
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
