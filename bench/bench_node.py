#!/usr/bin/env python3
"""End-to-end benchmark of the ov_seg node over real DDS (loopback), as a user's stack sees it.

Starts the node as a process, publishes camera images from this process and measures, per frame,
image published -> ~/labels received; then streams at a fixed rate (frames/s out, dropped frames);
then times vocabulary switches (parameter set -> new ~/label_map received), for new and cached names.
With --cameras N the node serves N cameras (`cameras` parameter) and every frame goes to all of them.
Also times the worker's per-frame conversion of camera-driver inputs (YUYV, Bayer, JPEG, ...) at 1280x720,
directly on `convert`; --conversion-only prints just that, without starting the node.

    python bench/bench_node.py --weights seeded --heads seeded --size 480x640 --input-size 448
    python bench/bench_node.py --size 64x96 --input-size 0 --json bench_node.json
    python bench/bench_node.py --cameras 2
    python bench/bench_node.py --conversion-only

Prints a table and writes JSON. Nothing here asserts speed; tests do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header, String

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "test")]  # the package of this checkout; the DDS tests' support module
from ros_support import SpinningNode, start_node  # noqa: E402

from ov_seg_ros.messages.convert import message_to_rgb, to_image  # noqa: E402


def percentiles(values: List[float], digits: int = 1) -> Dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "n": 0}
    p50, p95 = np.percentile(np.asarray(values) * 1e3, [50, 95])
    return {"p50_ms": round(float(p50), digits), "p95_ms": round(float(p95), digits), "n": len(values)}


def scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour blobs with noise: neighbouring patches correlate as in camera images."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(height // 32, 2), max(width // 32, 2), 3)).astype(np.float32)
    rows = np.linspace(0, small.shape[0] - 1, height).round().astype(int)
    cols = np.linspace(0, small.shape[1] - 1, width).round().astype(int)
    return np.clip(small[rows][:, cols] + rng.normal(0, 10, (height, width, 3)), 0, 255).astype(np.uint8)


class Harness(SpinningNode):
    """Publisher of images and subscriber of outputs on its own rclpy context, spun on a thread."""

    def __init__(self, domain: int, cameras: List[str]) -> None:
        super().__init__(domain, "ov_seg_bench")
        self.published: Dict[int, float] = {}  # stamp key -> time published (to every camera)
        self.latency: Dict[Tuple[str, int], float] = {}  # (camera, stamp key) -> labels received - published
        self.label_maps: List[tuple] = []  # (time received, dict)
        self.arrivals: List[float] = []  # time each ~/labels message arrived
        self.diagnostics: Dict[str, str] = {}  # the node's latest /diagnostics values
        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.node.create_subscription(String, "/ov_seg/label_map", self._on_label_map, latched)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.pubs = {}
        for camera in cameras:
            prefix = f"{camera}/" if camera else ""
            self.node.create_subscription(
                Image, f"/ov_seg/{prefix}labels", lambda msg, c=camera: self._on_labels(c, msg), 10
            )
            self.pubs[camera] = self.node.create_publisher(Image, f"/bench/{prefix}image", 10)
        self.add_parameter_clients()
        self.start(period=0.02)

    def _on_label_map(self, msg: String) -> None:
        with self.lock:
            self.label_maps.append((time.monotonic(), json.loads(msg.data)))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.diagnostics = {kv.key: kv.value for kv in msg.status[0].values}

    def _on_labels(self, camera: str, msg: Image) -> None:
        now = time.monotonic()
        key = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        with self.lock:
            self.arrivals.append(now)
            if key in self.published:
                self.latency[camera, key] = now - self.published[key]

    def publish(self, msg: Image, key: int) -> None:
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(key, 10**9)
        with self.lock:
            self.published[key] = time.monotonic()
        for pub in self.pubs.values():
            pub.publish(msg)

    def latencies(self, keys: List[int]) -> List[float]:
        with self.lock:
            return [self.latency[c, k] for k in keys for c in self.pubs if (c, k) in self.latency]

    def complete(self, key: int) -> bool:
        """Labels for this frame arrived from every camera."""
        with self.lock:
            return all((c, key) in self.latency for c in self.pubs)

    def set_vocabulary(self, names: List[str]) -> None:
        result = self.set("vocabulary", names)
        assert result.successful, result.reason


def wait(predicate, timeout: float, period: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period)
    return False


def image_msg(rgb: np.ndarray) -> Image:
    return to_image(rgb, "rgb8", Header(frame_id="camera"))


def one_at_a_time(h: Harness, msg: Image, frames: int, timeout: float = 20.0) -> Dict[str, float]:
    """Publish, wait for that frame's labels, repeat: latency without any queueing."""
    keys = []
    for i in range(frames):
        key = 10**12 + i
        keys.append(key)
        h.publish(msg, key)
        wait(lambda key=key: h.complete(key), timeout)  # a best-effort input frame can be lost in DDS
    done = h.latencies(keys)
    return {**percentiles(done), "lost": len(keys) * len(h.pubs) - len(done)}


def streaming(h: Harness, msg: Image, rate: float, duration: float) -> Dict[str, float]:
    """Publish at `rate` Hz for `duration` s: what comes out, how late, how much is dropped."""
    keys = []
    start = time.monotonic()
    while time.monotonic() - start < duration:
        key = 2 * 10**12 + len(keys)
        keys.append(key)
        h.publish(msg, key)
        time.sleep(max(0.0, start + len(keys) / rate - time.monotonic()))
    wait(lambda: h.latencies(keys[-3:]), 30)
    time.sleep(0.5)
    done = h.latencies(keys)
    published = len(keys) * len(h.pubs)
    return {
        **percentiles(done),
        "published": published,
        "processed": len(done),
        "dropped": published - len(done),
        "fps_out": round(len(done) / duration, 2),
    }


def switch_while_streaming(h: Harness, msg: Image, rate: float, names: List[str]) -> Dict[str, float]:
    """Stream at `rate` Hz and switch the vocabulary meanwhile: do outputs keep coming while the new
    names are encoded? Longest gap between outputs during the switch vs before it."""
    stop = threading.Event()

    def stream() -> None:
        key = 3 * 10**12
        while not stop.is_set():
            key += 1
            h.publish(msg, key)
            time.sleep(1.0 / rate)

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    time.sleep(5.0)
    start = time.monotonic()
    switch_s = vocabulary_switch(h, names)
    end = time.monotonic()
    stop.set()
    thread.join()
    with h.lock:
        arrivals = list(h.arrivals)
    before = np.diff([t for t in arrivals if start - 5.0 <= t < start])
    during = np.diff([start] + [t for t in arrivals if start <= t <= end] + [end])
    return {
        "switch_s": switch_s,
        "outputs_during_switch": len(during) - 1,
        "gap_before_p50_s": round(float(np.median(before)), 3) if before.size else float("nan"),
        "gap_during_max_s": round(float(during.max()), 3),
    }


def vocabulary_switch(h: Harness, names: List[str]) -> float:
    """Seconds from the parameter request to the label map with `names` received."""
    start = time.monotonic()
    h.set_vocabulary(names)
    wanted = ["background", *names]

    def arrived() -> bool:
        with h.lock:
            return any(t >= start and [d.get(str(i)) for i in range(len(wanted))] == wanted for t, d in h.label_maps)

    if not wait(arrived, 300):
        return float("nan")
    with h.lock:
        return round(
            next(t for t, d in h.label_maps if t >= start and [d.get(str(i)) for i in range(len(wanted))] == wanted)
            - start,
            3,
        )


def driver_messages(height: int, width: int) -> Dict[str, object]:
    """One frame of `scene` as camera drivers publish it: raw encodings and image_transport's JPEG."""
    import cv2

    rgb = scene(height, width)
    yuyv = (
        cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_YUYV)
        if hasattr(cv2, "COLOR_RGB2YUV_YUYV")
        else np.zeros((height, width, 2), np.uint8)
    )  # older OpenCV cannot encode YUYV; the cost is the same
    bayer = np.zeros((height, width), np.uint8)
    for (r, c), channel in zip(((0, 0), (0, 1), (1, 0), (1, 1)), (0, 1, 1, 2), strict=True):  # RGGB
        bayer[r::2, c::2] = rgb[r::2, c::2, channel]

    def raw(pixels: np.ndarray, encoding: str) -> Image:
        return Image(height=height, width=width, encoding=encoding, step=pixels.nbytes // height, data=pixels.tobytes())

    def jpeg(quality: int) -> CompressedImage:  # 95 is image_transport's default; the scene's noise makes
        ok, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])  # it a hard case
        assert ok
        return CompressedImage(format="rgb8; jpeg compressed bgr8", data=data.tobytes())

    return {
        "rgb8": raw(rgb, "rgb8"),
        "yuv422_yuy2": raw(np.ascontiguousarray(yuyv), "yuv422_yuy2"),
        "bayer_rggb8": raw(bayer, "bayer_rggb8"),
        "bayer_rggb16": raw(bayer.astype(np.uint16) << 8, "bayer_rggb16"),
        "jpeg_q95": jpeg(95),
        "jpeg_q80": jpeg(80),
    }


def conversion_costs(height: int = 720, width: int = 1280, iterations: int = 50) -> Dict[str, Dict[str, float]]:
    """What the worker spends per frame turning each kind of message into RGB (convert.message_to_rgb)."""
    costs = {}
    for name, msg in driver_messages(height, width).items():
        message_to_rgb(msg)  # warm-up: imports, OpenCV's first call
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            message_to_rgb(msg)
            times.append(time.perf_counter() - start)
        costs[name] = {**percentiles(times, digits=2), "size": f"{height}x{width}", "kib": len(msg.data) // 1024}
    return costs


def print_conversion(costs: Dict[str, Dict[str, float]]) -> None:
    for name, c in costs.items():
        other = f"n={c['n']}, {c['kib']} KiB in"
        print(
            f"{'conversion ' + name + ' ' + c['size'] + ' (ms)':44s} {c['p50_ms']:9.2f} {c['p95_ms']:9.2f} {other:>24s}"
        )


def camera_names(count: int) -> List[str]:
    return [""] if count == 1 else [f"cam{i}" for i in range(count)]


def node_process(args: argparse.Namespace, domain: int, log_path: Path) -> subprocess.Popen:
    params = {
        "weights": args.weights,
        "heads": args.heads,
        "device": args.device,
        "input_size": args.input_size,
        "vocabulary": args.vocabulary,
        "publish_overlay": False,
        "qos_reliability": args.qos_reliability,
    }
    cameras = camera_names(args.cameras)
    if args.cameras == 1:
        return start_node(log_path, domain, params, {"image": "/bench/image"})
    return start_node(
        log_path, domain, {**params, "cameras": cameras}, {f"{c}/image": f"/bench/{c}/image" for c in cameras}
    )


def run(args: argparse.Namespace) -> Dict[str, object]:
    domain = args.domain if args.domain is not None else os.getpid() % 100
    log_path = Path(tempfile.mkdtemp()) / "node.log"
    node = node_process(args, domain, log_path)
    h = Harness(domain, camera_names(args.cameras))
    try:
        if not wait(lambda: h.label_maps or node.poll() is not None, 300) or node.poll() is not None:
            raise SystemExit(f"node did not start:\n{log_path.read_text()}")
        wait(lambda: all(pub.get_subscription_count() > 0 for pub in h.pubs.values()), 30)
        height, width = args.size
        msg = image_msg(scene(height, width))
        one_at_a_time(h, msg, 3)  # warm-up
        result = {
            "one_at_a_time": one_at_a_time(h, msg, args.frames),
            "streaming": streaming(h, msg, args.rate, args.duration),
            "vocabulary_switch_new_s": vocabulary_switch(h, args.switch_to),
            "vocabulary_switch_cached_s": vocabulary_switch(h, args.vocabulary),
            "switch_while_streaming": switch_while_streaming(h, msg, args.rate, args.switch_while_streaming),
        }
        result["conversion"] = conversion_costs()  # the node is idle now: same machine, same moment
        time.sleep(1.5)  # one more /diagnostics tick after the last frame
        with h.lock:
            result["node_memory_mib"] = {k: float(v) for k, v in h.diagnostics.items() if k.endswith("_mib")}
    finally:
        h.close()
        node.send_signal(signal.SIGINT)
        node.wait(30)
    result["setup"] = {
        "size": f"{height}x{width}",
        "cameras": args.cameras,
        "input_size": args.input_size,
        "device": args.device,
        "qos_reliability": args.qos_reliability,
        "weights": args.weights,
        "vocabulary": args.vocabulary,
        "switch_to": args.switch_to,
        "switch_while_streaming": args.switch_while_streaming,
        "rate_hz": args.rate,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }
    return result


def print_table(r: Dict[str, object]) -> None:
    s, o, st = r["setup"], r["one_at_a_time"], r["streaming"]
    print(
        f"ov_seg node, {s['cameras']} camera(s), {s['size']} rgb8 images, input_size {s['input_size']}, "
        f"{s['device']}, "
        f"weights {s['weights']}, {len(s['vocabulary'])} classes, {s['cpu_count']} CPUs, "
        f"{s['qos_reliability']} input"
    )
    print(f"{'measure':44s} {'p50':>9s} {'p95':>9s} {'other':>24s}")
    lost = f"n={o['n']}, lost {o['lost']}"
    print(f"{'latency, one frame at a time (ms)':44s} {o['p50_ms']:9.1f} {o['p95_ms']:9.1f} {lost:>24s}")
    label, fps = f"latency, streaming at {s['rate_hz']:g} Hz (ms)", f"{st['fps_out']:g} frames/s out"
    print(f"{label:44s} {st['p50_ms']:9.1f} {st['p95_ms']:9.1f} {fps:>24s}")
    counts = f"{st['published']} / {st['processed']} / {st['dropped']}"
    print(f"{'frames published / processed / dropped':44s} {'':9s} {'':9s} {counts:>24s}")
    label = f"vocabulary switch, {len(s['switch_to'])} new names (s)"
    print(f"{label:44s} {r['vocabulary_switch_new_s']:9.2f}")
    print(f"{'vocabulary switch back, cached names (s)':44s} {r['vocabulary_switch_cached_s']:9.2f}")
    w = r["switch_while_streaming"]
    label, meanwhile = (
        f"switch to {len(s['switch_while_streaming'])} new names while streaming (s)",
        f"{w['outputs_during_switch']} outputs meanwhile",
    )
    print(f"{label:44s} {w['switch_s']:9.2f} {'':9s} {meanwhile:>24s}")
    print(
        f"{'  output gap: usual p50 / longest in switch (s)':44s} {w['gap_before_p50_s']:9.2f} "
        f"{w['gap_during_max_s']:9.2f}"
    )
    for key, value in r["node_memory_mib"].items():  # peak_rss_mib, and device_peak_mib on CUDA
        print(f"{'node ' + key.replace('_mib', '').replace('_', ' ') + ' (MiB)':44s} {value:9.0f}")
    print_conversion(r["conversion"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default="seeded")
    p.add_argument("--heads", default="seeded")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--size",
        default="480x640",
        type=lambda s: tuple(int(v) for v in s.split("x")),
        help="HEIGHTxWIDTH of the published images",
    )
    p.add_argument("--input-size", type=int, default=448)
    p.add_argument("--vocabulary", default="floor,wall,door", type=lambda s: s.split(","))
    p.add_argument("--switch-to", default="person,chair,table", type=lambda s: s.split(","))
    p.add_argument(
        "--switch-while-streaming",
        type=lambda s: s.split(","),
        default="mug,bottle,keyboard,monitor,plant,sofa,lamp,window,shelf,box",
        help="new names switched to while frames stream (the frame loop must not stall)",
    )
    p.add_argument("--frames", type=int, default=10, help="frames measured one at a time")
    p.add_argument("--rate", type=float, default=30.0, help="streaming rate (Hz)")
    p.add_argument("--duration", type=float, default=10.0, help="streaming duration (s)")
    p.add_argument(
        "--qos-reliability",
        default="auto",
        choices=["auto", "best_effort", "reliable"],
        help="the node's qos_reliability (default: the node's own default, auto; the bench publishes reliably)",
    )
    p.add_argument("--cameras", type=int, default=1, help="cameras served by the one node")
    p.add_argument("--domain", type=int, default=None)
    p.add_argument(
        "--conversion-only",
        action="store_true",
        help="only time the conversion of camera-driver inputs at 1280x720; no node",
    )
    p.add_argument("--json", default="bench_node.json", help="where to write the results")
    args = p.parse_args()
    if args.conversion_only:
        result = {"conversion": conversion_costs(), "cpu_count": os.cpu_count()}
        print(f"conversion to RGB in the node's worker (convert.message_to_rgb), {os.cpu_count()} CPUs")
        print(f"{'measure':44s} {'p50':>9s} {'p95':>9s}")
        print_conversion(result["conversion"])
    else:
        result = run(args)
        print_table(result)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
