"""ov-seg: segment image files offline with the node's engine and write what the node would publish.

Per image: <stem>_labels.png (16-bit ids, as ~/labels), <stem>_overlay.png (colours + legend, as
~/overlay), <stem>_objectness.png (viridis) and <stem>_labels.json (ids -> names and colours, as
~/label_map) (see ov_seg_ros/offline/image_files.py). An unreadable file is reported and skipped; the exit code
is 1 if any file failed.

A rosbag2 recording (a folder with metadata.yaml, or one .mcap / .db3 file) is segmented into a new
rosbag2 under --out: the node's topics under --namespace, each message with its frame's header and log
time (see ov_seg_ros/offline/segment_bag.py). Malformed frames are skipped and counted (exit code 0); an
unreadable bag, an unknown topic or an existing output is one error line and exit code 2.

Several recordings, or a folder of them, go to one output recording each under --out, serially or on
Ray (ov_seg_ros/offline/fleet.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ..engine.auto_weights import resolve_auto_weights, seeded_warning
from ..parameters.checks import parse_vocabulary, vocabulary_reason
from .fleet import RAY_FLAGS, add_fleet_args, run_fleet, wants_fleet
from .fleet_jobs import output_name
from .image_files import IMAGE_SUFFIXES, list_images, output_stems, read_rgb, write_outputs
from .node_config import config_reason
from .options import add_bag_args, spec_option

EXIT_OK, EXIT_FAILED_FILES, EXIT_SETUP = 0, 1, 2


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="ov-seg",
        description=__doc__.split("\n\n")[0],
        epilog="Bags: ov-seg run.mcap --classes floor,door --topic /camera/image_raw "
        "--out run_seg   (MCAP; --storage sqlite3 for .db3)",
    )
    p.add_argument(
        "input",
        type=Path,
        nargs="+",
        help="an image file, a folder of images (not recursive), or a rosbag2 recording "
        "(folder with metadata.yaml, or a .mcap / .db3 file); several recordings, or a folder of them, "
        "go to one output recording each under --out (see 'many recordings')",
    )
    p.add_argument("--classes", required=True, help='comma-separated class names, e.g. "floor,door,person"')
    p.add_argument(
        "--background", action="store_true", help="add a 'background' class (id 0) that competes with the names"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: ./ov_seg_out for images, ./<bag name>_ov_seg for a bag)",
    )
    p.add_argument(
        "--weights",
        default="",
        help="OpenCLIP tag, checkpoint file, 'seeded' (untrained) or 'auto' (cached, else seeded); "
        "default: the method's own (openai for naclip/clearclip/sclip, else laion2b_s34b_b88k)",
    )
    p.add_argument(
        "--heads",
        default="",
        help="CLIP-DINOiser last.pt (default: $OV_SEG_HEADS or ~/.cache/ov_seg_ros/last.pt), 'seeded' or 'auto'",
    )
    for name in (
        "device",
        "precision",
        "backend",
        "calibration",
        "method",
        "refine",
        "input_size",
        "mode",
        "min_confidence",
    ):
        spec_option(p, name)
    add_bag_args(p)
    add_fleet_args(p)
    args = p.parse_args(argv)
    args.inputs, args.input = args.input, args.input[0]  # args.input: the one input of a single run
    names, reason = parse_vocabulary(args.classes)
    reason = reason or vocabulary_reason(names, background=args.background)
    if reason:
        p.error(f"--classes: {reason}")
    reason = config_reason(args)  # the node's rules together (targets in the vocabulary, backend x precision)
    if reason:
        p.error(reason)
    return args


def progress(items: Sequence[Path], enabled: bool) -> Iterable[Path]:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a nicety, not a requirement
        return items
    return tqdm(items, unit="image", file=sys.stderr)


def report(message: str) -> None:
    """To stderr, above the progress bar rather than through it."""
    try:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    except ImportError:
        print(message, file=sys.stderr)


def build_segmenter(args: argparse.Namespace, seg=None):
    """Segmenter with the vocabulary set; weights errors propagate (the caller prints them).

    A given `seg` (already loaded) is configured with args' method and input size instead."""
    from .export import engine_from_args  # torch import deferred so --help is instant

    # Strict by default (label files carry no banner); 'auto' opts in to the demo's seeded fallback.
    args.weights, args.heads, seeded = resolve_auto_weights(args.weights, args.heads, args.method)
    if seeded:
        print(seeded_warning(args.weights, args.heads), file=sys.stderr)
    if seg is None:
        seg = engine_from_args(args, refine=args.refine)
    else:
        seg.configure(method=args.method, input_size=args.input_size, mode=args.mode, refine=args.refine)
    print(f"ov-seg: {seg.backbone.describe(args.method)}", file=sys.stderr)  # which method, weights, activation
    names, _ = parse_vocabulary(args.classes)  # checked in parse_args: the node's one list rule
    seg.set_vocabulary(names, background=args.background)
    return seg, seeded


def run(args: argparse.Namespace, segmenter=None) -> int:
    """`segmenter`: an engine to reuse (tests); the vocabulary and settings of args are applied to it."""
    if wants_fleet(args):
        return run_fleet(args, segmenter)
    if any(getattr(args, flag) not in (None, 0.0) for flag in RAY_FLAGS):
        print("ov-seg: --ray and its --workers / --*-per-worker need several recordings", file=sys.stderr)
        return EXIT_SETUP
    if not args.input.exists():
        print(f"ov-seg: {args.input}: no such file or folder", file=sys.stderr)
        return EXIT_SETUP
    from .input_bag import is_bag

    if is_bag(args.input):
        return run_bag(args, segmenter)
    args.out = args.out or Path("ov_seg_out")
    images = list_images(args.input)
    if not images:
        print(f"ov-seg: {args.input}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})", file=sys.stderr)
        return EXIT_SETUP
    from ..engine.backends.support import BackendUnavailable
    from ..engine.weights import WeightsNotFoundError

    try:
        segmenter, seeded = build_segmenter(args, segmenter)
    except (WeightsNotFoundError, ValueError, BackendUnavailable) as exc:
        print(f"ov-seg: {exc}", file=sys.stderr)
        return EXIT_SETUP
    args.out.mkdir(parents=True, exist_ok=True)
    stems, failed = output_stems(images), []
    for path in progress(images, enabled=len(images) > 1):
        try:
            rgb = read_rgb(path)
            write_outputs(segmenter.segment(rgb), rgb, args.out, stems[path], path, args, seeded)
        except ValueError as exc:
            failed.append(path)
            report(f"ov-seg: {path}: {exc}")
    done = len(images) - len(failed)
    print(
        f"ov-seg: wrote {done} of {len(images)} image(s) to {args.out}" + (f"; {len(failed)} failed" if failed else ""),
        file=sys.stderr,
    )
    return EXIT_FAILED_FILES if failed else EXIT_OK


def run_bag(args: argparse.Namespace, segmenter=None) -> int:
    """A rosbag2 recording in, a rosbag2 out (ov_seg_ros.bag_segment); problems are one line, exit 2."""
    from ..engine.backends.support import BackendUnavailable
    from ..engine.weights import WeightsNotFoundError
    from .input_bag import BagError
    from .segment_bag import segment_bag

    args.out = args.out or Path(output_name(args.input))
    if args.end is not None and args.end <= args.start:
        print(f"ov-seg: --end {args.end} must be after --start {args.start}", file=sys.stderr)
        return EXIT_SETUP
    if args.out.exists() and not args.overwrite:  # before anything is read or loaded
        print(f"ov-seg: {args.out}: already exists; choose another --out or pass --overwrite", file=sys.stderr)
        return EXIT_SETUP
    try:
        return segment_bag(args, lambda: build_segmenter(args, segmenter))
    except (BagError, WeightsNotFoundError, ValueError, BackendUnavailable) as exc:
        print(f"ov-seg: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:  # before the frame loop (index pass, model load): nothing written
        print("ov-seg: interrupted; nothing written", file=sys.stderr)
        return 130


def main(argv: Optional[Sequence[str]] = None, segmenter=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["export"]:  # `ov-seg export`: build compiled backends ahead (offline/export.py)
        from .export import main as export_main

        return export_main(argv[1:])
    return run(parse_args(argv), segmenter)


if __name__ == "__main__":
    sys.exit(main())
