"""One recording of a many-recordings run: its output's name, the options recorded inside that output,
and `segment_recording`, the one code path the serial loop and the Ray workers both run.

A recording's output is built in a hidden staging folder beside its final place
(`DIR/.<name>_ov_seg.<random>.fleet/<name>_ov_seg`) by the single-bag entry point
(ov_seg_ros.offline.segment_bag), then gets `ov_seg_run.json` (the options, frames, seconds) and is
renamed into place: an output at its final path is always complete and says how it was made, so a rerun
decides what to skip from the outputs themselves, not from a manifest that a killed driver may not have
written. Torch-free: the skip decisions run before the model (or Ray) is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

SUFFIX = "_ov_seg"  # DIR/<input name>_ov_seg, the name a single-bag run picks by default
RECORD = "ov_seg_run.json"  # inside each output folder, beside metadata.yaml
STAGING = ".fleet"  # suffix of the hidden staging folders, removed when stale
# Flags that change how a run goes, not what it writes: outputs made on Ray are skipped by a serial rerun.
EXECUTION_ONLY = frozenset(
    ("input", "inputs", "out", "overwrite", "batch_size", "ray", "workers", "gpus_per_worker", "cpus_per_worker")
)


class SetupError(RuntimeError):
    """A problem that fails every recording alike (weights not found): stop the run, exit 2."""


@dataclass
class Job:
    """One input recording and the final path of its output (absolute: a worker may run elsewhere)."""

    input: Path
    output: Path


def output_name(recording: Path) -> str:
    """run.mcap -> run_ov_seg, as `ov-seg run.mcap` names its output when --out is left out."""
    return recording.name.split(".")[0] + SUFFIX


def recorded_options(args: argparse.Namespace) -> Dict[str, Any]:
    """What decides an output's content: every option except the execution-only ones, as JSON values.

    Taken before the model is built: building resolves --weights/--heads 'auto' in place."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(vars(args).items()) if k not in EXECUTION_ONLY}


def read_record(output: Path) -> Optional[Dict[str, Any]]:
    """The record inside a finished output, or None (no output, or not made by a many-recordings run)."""
    try:
        return json.loads((output / RECORD).read_text())
    except (OSError, ValueError):
        return None


def option_differences(record: Dict[str, Any], options: Dict[str, Any]) -> List[str]:
    """'--name: X there, Y now' for each option that differs (one that only one side has included)."""
    there = record.get("options", {})
    missing = "(not set)"
    return [
        f"--{k.replace('_', '-')}: {there.get(k, missing)!r} there, {options.get(k, missing)!r} now"
        for k in sorted(set(there) | set(options))
        if there.get(k, missing) != options.get(k, missing)
    ]


def is_done(output: Path, options: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The output's record when it is complete and was made with these options, else None."""
    record = read_record(output)
    return record if record is not None and record.get("options") == options else None


def remove_stale_staging(folder: Path) -> List[Path]:
    """Staging folders that a killed driver or a dead worker left behind (the caller holds the run's lock)."""
    stale = sorted(folder.glob(f".*{SUFFIX}.*{STAGING}")) if folder.is_dir() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


class Engine:
    """The model of one process (the serial driver or one Ray worker), loaded by its first recording and
    reused, reconfigured by cli.build_segmenter, for the rest."""

    def __init__(self, segmenter: Any = None) -> None:
        self.segmenter = segmenter
        self.seeded: Optional[bool] = None  # set once the model is built and its vocabulary set
        self.resolved: Tuple[str, str] = ("", "")
        self.frames = 0  # frames segmented by the current recording

    def make(self, args: argparse.Namespace) -> Any:
        """For segment_bag: every recording has the same options, so the vocabulary is set once and its
        version in each output's label_map is the one a single-bag run in a new process writes."""
        from .cli import build_segmenter

        if self.seeded is None:
            self.segmenter, self.seeded = build_segmenter(args, self.segmenter)
            self.resolved = args.weights, args.heads  # build_segmenter resolved 'auto' on args
        else:  # what segment_bag then reads from args, as after a build
            args.weights, args.heads = self.resolved
        return _Counting(self.segmenter, self), self.seeded


class _Counting:
    """The segmenter as segment_bag sees it, counting frames for the manifest (segment_bag keeps its tally)."""

    def __init__(self, segmenter: Any, engine: Engine) -> None:
        self._segmenter, self._engine = segmenter, engine

    def segment_batch(self, images: List[Any], *more: Any, **options: Any) -> List[Any]:
        results = self._segmenter.segment_batch(images, *more, **options)
        self._engine.frames += len(results)
        return results

    def __getattr__(self, name: str) -> Any:
        return getattr(self._segmenter, name)


def segment_recording(
    args: argparse.Namespace, options: Dict[str, Any], job: Job, engine: Engine, quiet: bool = False
) -> Dict[str, Any]:
    """Segment job.input into job.output through the single-bag entry point; a manifest line's fields.

    Idempotent: an output already in place with these options is reported done, not redone (a retried
    Ray call after its worker died just after the rename). A recording's own problem is status 'failed'
    with the reason; weights that cannot be loaded raise SetupError; Ctrl-C raises KeyboardInterrupt.
    Nothing is ever left at job.output but a complete output. `quiet`: segment_bag's stderr (progress
    bar, summary) is captured and its summary lines returned in 'log' (Ray workers).
    """
    from ..engine.weights import WeightsNotFoundError
    from .input_bag import BagError, describe
    from .segment_bag import segment_bag

    done = is_done(job.output, options)
    if done is not None and not args.overwrite:
        return result(job, "done", done.get("frames", 0), done.get("seconds", 0.0))
    began, engine.frames = time.monotonic(), 0
    staging = Path(tempfile.mkdtemp(prefix=f".{job.output.name}.", suffix=STAGING, dir=job.output.parent))
    one = copy.copy(args)  # the single-bag run of this input, as `ov-seg INPUT --out <staging>/NAME`
    one.input, one.out, one.overwrite = job.input, staging / job.output.name, False
    log = io.StringIO()
    try:
        with contextlib.redirect_stderr(log) if quiet else contextlib.nullcontext():
            code = segment_bag(one, lambda: engine.make(one))
        if code != 0:  # 130: Ctrl-C; segment_bag kept the frames done in staging, which goes below
            raise KeyboardInterrupt
        seconds = time.monotonic() - began
        record = {"input": str(job.input), "options": options, "frames": engine.frames, "seconds": round(seconds, 3)}
        write_synced(one.out / RECORD, json.dumps(record, indent=1) + "\n")
        move_into_place(one.out, job.output, staging)
        return result(job, "done", engine.frames, seconds, log=summary_lines(log.getvalue()))
    except WeightsNotFoundError as exc:
        raise SetupError(str(exc)) from None
    except (BagError, ValueError, OSError) as exc:
        return result(job, "failed", engine.frames, time.monotonic() - began, describe(exc))
    except Exception as exc:  # anything unforeseen in one recording must not stop the others
        return result(job, "failed", engine.frames, time.monotonic() - began, f"{type(exc).__name__}: {describe(exc)}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def move_into_place(built: Path, final: Path, staging: Path) -> None:
    """Rename the finished output to its final path; an output already there (--overwrite, or one that a
    worker of a killed earlier run renamed meanwhile) is swapped out first, on the same filesystem."""
    if final.exists():
        final.rename(staging / f"{final.name}.old")
    built.rename(final)


def write_synced(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def result(
    job: Job, status: str, frames: int, seconds: float, error: str = "", log: Optional[List[str]] = None
) -> Dict[str, Any]:
    line = {"input": str(job.input), "output": str(job.output), "status": status, "frames": frames}
    line.update(seconds=round(seconds, 3), error=error)
    if log:
        line["log"] = log  # not written to the manifest: the driver prints it
    return line


def summary_lines(captured: str) -> List[str]:
    """segment_bag's own lines from captured stderr, without the progress bar's carriage-return frames."""
    lines = [line.split("\r")[-1] for line in captured.split("\n")]
    return [line for line in lines if line.startswith("ov-seg:") or re.match(r"  \d+ x ", line)]  # + skip reasons


def print_log(lines: List[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)
