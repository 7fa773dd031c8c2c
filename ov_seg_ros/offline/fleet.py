"""ov-seg on many recordings: `ov-seg BAG [BAG ...] --out DIR` writes DIR/<name>_ov_seg per input (what
`ov-seg BAG --out DIR/<name>_ov_seg` writes) and DIR/manifest.jsonl, serially or on Ray (--ray).

The run is resumable: each output says inside it which options made it (fleet_jobs), so a rerun skips
the finished ones, refuses outputs made with other options unless --overwrite, and redoes the rest. All
of that is decided before torch or Ray is imported, so rerunning finished work takes well under a second.
One run per DIR at a time: the driver holds a lock on DIR/manifest.jsonl.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
import time
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Tuple

from .fleet_jobs import (
    Engine,
    Job,
    SetupError,
    option_differences,
    output_name,
    print_log,
    read_record,
    recorded_options,
    remove_stale_staging,
    segment_recording,
)
from .image_files import IMAGE_SUFFIXES

MANIFEST = "manifest.jsonl"
EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 2, 130
RAY_FLAGS = ("ray", "workers", "gpus_per_worker", "cpus_per_worker")


class FleetError(RuntimeError):
    """Refused before anything is segmented; one line, exit 2."""


def add_fleet_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("many recordings (several inputs, or a folder of recordings; --out is then a folder)")
    g.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run the recordings on Ray: 'local' (default; a cluster on this machine), 'auto' (the running "
        "cluster), HOST:PORT or ray://HOST:PORT (needs the 'ray' extra: pip install 'ov_seg_ros[ray]')",
    )
    g.add_argument("--workers", type=int, default=None, help="Ray workers, each loading the model once (default: 1)")
    g.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray worker (with --device cuda)")
    g.add_argument(
        "--cpus-per-worker",
        type=int,
        default=None,
        help="CPU cores (torch threads) per Ray worker (default: --ray local: this machine's cores / workers; else 1)",
    )


def recording_rule() -> Any:
    from .input_bag import is_bag  # the one rule of what a recording is

    return is_bag


def holds_recordings(path: Path) -> bool:
    """A folder that is not itself a recording and holds recordings and no images: its recordings are inputs."""
    if not path.is_dir():
        return False
    is_bag = recording_rule()
    if is_bag(path):
        return False
    children = list(path.iterdir())
    return any(is_bag(c) for c in children) and not any(c.suffix.lower() in IMAGE_SUFFIXES for c in children)


def wants_fleet(args: argparse.Namespace) -> bool:
    return len(args.inputs) > 1 or holds_recordings(args.inputs[0])


def expand(inputs: List[Path]) -> List[Path]:
    """The recordings named or held (one level) by the inputs, in order; FleetError for anything else."""
    is_bag = recording_rule()
    found: List[Path] = []
    for path in inputs:
        if not path.exists():
            raise FleetError(f"{path}: no such file or folder")
        if is_bag(path):
            found.append(path)
        elif holds_recordings(path):
            found += sorted(c for c in path.iterdir() if is_bag(c))
        else:
            raise FleetError(f"{path}: not a rosbag2 recording or a folder of them (images go one input per run)")
    return found


def make_jobs(recordings: List[Path], out: Path) -> List[Job]:
    jobs, seen = [], {}
    for recording in recordings:
        name = output_name(recording)
        if name in seen:
            raise FleetError(f"{seen[name]} and {recording} would both write {out / name}; run them apart")
        seen[name] = recording
        jobs.append(Job(recording.resolve(), (out / name).resolve()))
    return jobs


def lock_manifest(out: Path) -> IO[str]:
    """Open (not yet truncate) DIR/manifest.jsonl and hold an exclusive lock on it for the whole run."""
    manifest = open(out / MANIFEST, "a")
    try:
        fcntl.flock(manifest, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        manifest.close()
        raise FleetError(f"{out}: another ov-seg run is writing there (its {MANIFEST} is locked)") from None
    return manifest


def sort_jobs(jobs: List[Job], options: Dict[str, Any], overwrite: bool) -> Tuple[List[Job], List[Dict[str, Any]]]:
    """(jobs to run, manifest lines of the skipped ones); FleetError when outputs made otherwise are in the way."""
    todo, skipped, refused = [], [], []
    for job in jobs:
        if not job.output.exists():
            todo.append(job)
            continue
        record = read_record(job.output)
        if record is not None and record.get("options") == options and not overwrite:
            line = {"input": str(job.input), "output": str(job.output), "status": "skipped"}
            skipped.append({**line, "frames": record.get("frames", 0), "seconds": 0.0, "error": ""})
        elif overwrite:
            todo.append(job)
        else:
            refused.append((job, record))
    if refused:
        job, record = refused[0]
        why = "; ".join(option_differences(record, options)[:3]) if record else "not made by a many-recordings run"
        raise FleetError(
            f"{len(refused)} output(s) in place were made with other options ({job.output.name}: {why}); "
            "pass --overwrite to redo them, or choose another --out"
        )
    return todo, skipped


def run_fleet(args: argparse.Namespace, segmenter: Any = None) -> int:
    """The whole many-recordings run; the exit code (0 all done or skipped, 1 some failed, 2 refused).

    `segmenter`: an engine for the serial run to reuse (tests), reconfigured as for one recording."""
    try:
        if args.out is None:
            raise FleetError("several recordings need --out DIR (one output recording per input goes there)")
        if args.end is not None and args.end <= args.start:
            raise FleetError(f"--end {args.end} must be after --start {args.start}")
        if args.ray is None and any(getattr(args, flag) for flag in RAY_FLAGS):
            raise FleetError("--workers and --*-per-worker size the Ray workers: add --ray (local, auto or an address)")
        if args.gpus_per_worker and not args.device.startswith("cuda"):
            raise FleetError("--gpus-per-worker needs --device cuda (the workers would leave their GPUs idle)")
        jobs = make_jobs(expand(args.inputs), args.out)
        if args.out.exists() and not args.out.is_dir():
            raise FleetError(f"--out {args.out}: exists and is not a folder")
        args.out.mkdir(parents=True, exist_ok=True)
        manifest = lock_manifest(args.out)
    except FleetError as exc:
        print(f"ov-seg: {exc}", file=sys.stderr)
        return EXIT_SETUP
    with manifest:
        remove_stale_staging(args.out)
        options = recorded_options(args)
        try:
            todo, skipped = sort_jobs(jobs, options, args.overwrite)
        except FleetError as exc:
            print(f"ov-seg: {exc}", file=sys.stderr)
            return EXIT_SETUP
        manifest.truncate(0)
        progress = Progress(len(jobs), len(skipped))
        for line in skipped:
            write_line(manifest, line)
        try:
            for line in results(args, options, todo, segmenter):
                print_log(line.pop("log", []))
                write_line(manifest, line)
                progress.update(line)
        except (SetupError, FleetError) as exc:
            print(f"ov-seg: {exc}", file=sys.stderr)
            return EXIT_SETUP
        except KeyboardInterrupt:
            print(f"ov-seg: interrupted; {progress.summary()}; rerun the same command to finish", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            remove_stale_staging(args.out)
        print(f"ov-seg: {progress.summary()} ({args.out / MANIFEST})", file=sys.stderr)
        for line in progress.failed:
            print(f"  failed: {line['error']}", file=sys.stderr)  # the reason names the recording
        return EXIT_FAILED if progress.failed else EXIT_OK


def results(
    args: argparse.Namespace, options: Dict[str, Any], todo: List[Job], segmenter: Any = None
) -> Iterator[Dict[str, Any]]:
    """Manifest lines of the jobs as they finish: in this process, or from Ray workers."""
    if not todo:
        return
    if args.ray is None:
        engine = Engine(segmenter)  # one model load for all the recordings
        for job in todo:
            yield segment_recording(args, options, job, engine)
        return
    try:
        from .ray_workers import run_on_ray
    except ImportError as exc:
        raise FleetError(f"--ray needs the 'ray' package ({exc}); pip install 'ov_seg_ros[ray]'") from None
    yield from run_on_ray(args, options, todo)


def write_line(manifest: IO[str], line: Dict[str, Any]) -> None:
    manifest.write(json.dumps(line) + "\n")
    manifest.flush()


class Progress:
    """Recordings done of total, frames/s and ETA across the run, one stderr line per finished recording."""

    def __init__(self, total: int, skipped: int) -> None:
        self.total, self.skipped, self.began = total, skipped, time.monotonic()
        self.done = self.frames = 0
        self.failed: List[Dict[str, Any]] = []

    def update(self, line: Dict[str, Any]) -> None:
        self.done += 1
        self.frames += line["frames"]
        if line["status"] == "failed":
            self.failed.append(line)
        elapsed = time.monotonic() - self.began
        finished = self.skipped + self.done
        eta = elapsed / self.done * (self.total - finished)
        what = f"failed: {line['error']}" if line["status"] == "failed" else f"{line['frames']} frames"
        print(
            f"ov-seg: [{finished}/{self.total}] {Path(line['input']).name}: {what} in {line['seconds']:.1f} s; "
            f"{self.frames / max(elapsed, 1e-9):.2f} frames/s overall, ETA {clock(eta)}",
            file=sys.stderr,
        )

    def summary(self) -> str:
        elapsed = time.monotonic() - self.began
        done = self.done - len(self.failed)
        return (
            f"{self.total} recording(s): {done} done, {self.skipped} skipped, {len(self.failed)} failed, "
            f"{self.total - self.skipped - self.done} not run; {self.frames} frames in {elapsed:.1f} s "
            f"({self.frames / max(elapsed, 1e-9):.2f} frames/s)"
        )


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
