"""`ov-seg export`: build a compiled backend's per-shape graphs ahead of time (e.g. on the robot at
install), into the cache the node and `ov-seg` load from ($XDG_CACHE_HOME/ov_seg_ros/engines).

    ov-seg export --backend openvino --precision int8 --sizes 480x640 --calibration run.mcap

Each size is a camera image size; the graph's input follows from --input-size and --mode exactly as a
frame's would (one dummy frame of each size goes through the engine). Exit code 2 on a setup error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..engine.auto_weights import DEFAULT_CLIP_WEIGHTS
from ..parameters.specs import value_reason
from .cli import EXIT_OK, EXIT_SETUP
from .options import spec_option

MAX_BAG_FRAMES = 30


def _sizes(text: str) -> List[Tuple[int, int]]:
    try:
        sizes = [tuple(int(v) for v in item.lower().split("x")) for item in text.split(",") if item.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(len(s) != 2 or min(s) < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes are HEIGHTxWIDTH[,HEIGHTxWIDTH...], e.g. 480x640; got {text!r}")
    return sizes  # type: ignore[return-value]


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ov-seg export", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=_sizes, required=True, help="camera image sizes, e.g. 480x640,720x1280")
    p.add_argument("--batch", type=int, default=1, help="frames per pass (cameras served together; default 1)")
    p.add_argument("--weights", default=DEFAULT_CLIP_WEIGHTS, help="as for ov-seg (the cache is keyed by them)")
    p.add_argument("--heads", default="", help="as for ov-seg")
    p.add_argument("--topic", help="image topic of a --calibration recording (default: its only one)")
    for name in ("backend", "precision", "device", "method", "input_size", "mode", "calibration"):
        spec_option(p, name)
    args = p.parse_args(argv)
    if args.batch < 1:
        p.error(f"--batch must be at least 1, got {args.batch}")
    from ..parameters.checks import backend_reason

    reason = value_reason("backend", args.backend) or backend_reason(vars(args))
    if reason:
        p.error(reason)
    return args


def calibration_source(path: str, topic: Optional[str]):
    """'' (demo frames), a folder (the engine reads it) or a recording (frames decoded here)."""
    from .input_bag import InputBag, is_bag

    if not path or not is_bag(Path(path)):
        return path
    from .decode import decode_image

    with InputBag(Path(path)) as bag:
        chosen, msgtype = bag.choose_image_topic(topic)
        raws = [raw for _, raw in bag.messages(chosen)]
        picks = raws if len(raws) <= MAX_BAG_FRAMES else raws[:: len(raws) // MAX_BAG_FRAMES][:MAX_BAG_FRAMES]
        return [decode_image(bag, msgtype, raw)[1] for raw in picks]


def engine_from_args(args: argparse.Namespace, refine: str = "none"):
    """The Segmenter that ov-seg's engine options describe (run and export alike); int8 is calibrated
    on --calibration (a folder or a recording's --topic) or the bundled demo frames."""
    from ..engine.backends.support import slow_precision
    from ..engine.segmenter import Segmenter  # torch import deferred so --help is instant

    slow = slow_precision(args.backend, args.precision, args.device)
    if slow:
        print(f"ov-seg: warning: {slow}", file=sys.stderr)
    return Segmenter(
        weights=args.weights,
        heads=args.heads,
        device=args.device,
        precision=args.precision,
        method=args.method,
        input_size=args.input_size,
        mode=args.mode,
        refine=refine,
        backend=args.backend,
        calibration=calibration_source(args.calibration, args.topic) if args.precision == "int8" else None,
    )


def run(args: argparse.Namespace) -> int:
    from ..engine.backends.support import BackendUnavailable
    from ..engine.weights import WeightsNotFoundError
    from .input_bag import BagError

    try:
        seg = engine_from_args(args)
        seg.set_vocabulary(["object"])  # classification is outside the graph: any vocabulary builds it
        for height, width in args.sizes:
            start = time.perf_counter()
            seg.segment_batch([np.zeros((height, width, 3), np.uint8)] * args.batch)
            build = seg.visual.builds[-1] if seg.visual.builds else {"shape": "?", "how": "eager"}
            print(
                f"ov-seg export: {height}x{width} -> input {build['shape']}: {build['how']} "
                f"({args.backend} {args.precision}, {time.perf_counter() - start:.1f} s)",
                file=sys.stderr,
            )
    except (BackendUnavailable, WeightsNotFoundError, BagError, ValueError) as exc:
        print(f"ov-seg export: {exc}", file=sys.stderr)
        return EXIT_SETUP
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run(parse_args(argv))
