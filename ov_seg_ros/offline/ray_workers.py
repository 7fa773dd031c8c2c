"""Many recordings on Ray: one actor per worker loads the model once and segments whole recordings through
fleet_jobs.segment_recording, the code path of the serial run; the driver hands each idle worker the
next recording and yields the manifest lines as they come back.

Ray Core actors rather than Ray Data: a recording is one unit (its frames are paired by stamp over the
whole recording and written in order into one bag), and the model stays loaded between recordings.
A worker that dies mid-recording is restarted and the call retried (RESTARTS); the retry redoes the
recording from its start in a new staging folder, or reports it done if the dead worker had already
renamed it into place. Imported only with --ray: `ray` is an optional extra.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Dict, Iterator, List

import ray
from ray.exceptions import AuthenticationError, GetTimeoutError, RayActorError, RayTaskError

from .fleet import FleetError
from .fleet_jobs import Engine, Job, SetupError, result, segment_recording

RESTARTS = 3  # a worker may die this many times (OOM killer, a lost node) before its recording fails
LOCAL_OBJECT_STORE = 256 * 2**20  # only small dicts travel through it; Ray's default takes 30 % of RAM
START_TIMEOUT_S = 300.0  # workers not started by then do not fit in the cluster
AUTH_HELP = (
    "set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the cluster's token "
    "(the head node's ~/.ray/auth_token), as for `ray job submit`"
)


@ray.remote
class FleetWorker:
    """One model, many recordings; Ray names its process ray::FleetWorker(.segment while working)."""

    def __init__(self, args: argparse.Namespace, options: Dict[str, Any], threads: int) -> None:
        import torch

        torch.set_num_threads(threads)  # Ray sets OMP_NUM_THREADS from num_cpus; say it to torch too
        self.args, self.options, self.engine = args, options, Engine()

    def pid(self) -> int:
        return os.getpid()

    def segment(self, job: Job) -> Dict[str, Any]:
        return segment_recording(self.args, self.options, job, self.engine, quiet=True)


def connect(args: argparse.Namespace, workers: int, cpus: int) -> bool:
    """ray.init for --ray ADDRESS; True when this call started Ray (and so shuts it down)."""
    if ray.is_initialized():  # a program (or a test) that embeds ov-seg and set Ray up itself
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": True}
    try:
        if args.ray == "local":
            ray.init(
                address="local",  # None would join any cluster already running on this machine
                num_cpus=max(os.cpu_count() or 1, workers * cpus),
                include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE,
                **quiet,
            )
        else:
            if "://" not in args.ray and args.ray != "auto":
                probe(args.ray)
            ray.init(address=args.ray, **quiet)
    except FleetError:
        raise
    except Exception as exc:
        raise FleetError(connect_problem(args.ray, exc)) from None
    return True


def probe(address: str) -> None:
    """First contact with a HOST:PORT cluster. ray.init retries a refused token for about 20 s and then
    says only 'Failed to connect'; one GCS client says why within a second or two."""
    from ray._raylet import GcsClient  # Ray's own client, as ray.init uses it

    try:
        GcsClient(address=address)
    except Exception as exc:
        raise FleetError(connect_problem(address, exc)) from None


def connect_problem(address: str, exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, AuthenticationError) or "InvalidAuthToken" in text:
        return f"--ray {address}: the cluster refused this client's token; {AUTH_HELP}"
    return f"--ray {address}: cannot connect ({text[:300] or type(exc).__name__})"


def worker_shape(args: argparse.Namespace) -> tuple:
    """(workers, CPUs per worker) for the arguments."""
    workers = args.workers or 1
    if args.cpus_per_worker:
        return workers, args.cpus_per_worker
    if args.ray == "local":  # share this machine's cores, one torch thread per core
        return workers, max(1, (os.cpu_count() or 1) // workers)
    return workers, 1


def start_workers(args: argparse.Namespace, options: Dict[str, Any], workers: int, cpus: int) -> List[Any]:
    """The actors that fit in the cluster (at least one); FleetError when none starts in time."""
    options_for_ray = {"num_cpus": cpus, "num_gpus": args.gpus_per_worker}
    actors = [
        FleetWorker.options(**options_for_ray, max_restarts=RESTARTS, max_task_retries=RESTARTS).remote(
            args, options, cpus
        )
        for _ in range(workers)
    ]
    pings = {actor.pid.remote(): actor for actor in actors}
    ready, _ = ray.wait(list(pings), num_returns=len(pings), timeout=START_TIMEOUT_S)
    started = [pings[ref] for ref in ready]
    for actor in set(actors) - set(started):
        ray.kill(actor)
    if not started:
        raise FleetError(
            f"no Ray worker started within {START_TIMEOUT_S:.0f} s ({cpus} CPU(s), {args.gpus_per_worker} GPU(s) "
            f"each; the cluster has {ray.cluster_resources()})"
        )
    if len(started) < workers:
        print(f"ov-seg: only {len(started)} of {workers} Ray workers fit in the cluster", file=sys.stderr)
    return started


def run_on_ray(args: argparse.Namespace, options: Dict[str, Any], jobs: List[Job]) -> Iterator[Dict[str, Any]]:
    """Manifest lines of `jobs` as the workers finish them; SetupError when the model cannot load."""
    workers, cpus = worker_shape(args)
    started = connect(args, workers, cpus)
    actors: List[Any] = []
    try:
        actors = start_workers(args, options, min(workers, len(jobs)), cpus)
        idle, pending, running = list(actors), list(jobs), {}
        while pending or running:
            while idle and pending:
                actor, job = idle.pop(), pending.pop(0)
                running[actor.segment.remote(job)] = (actor, job)
            if not running:  # every worker is gone for good
                for job in pending:
                    yield result(job, "failed", 0, 0.0, "no Ray worker left to run it")
                return
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor, job = running.pop(ref)
            try:
                line = ray.get(ref)
                idle.append(actor)
            except RayActorError as exc:  # died more than RESTARTS times: this worker is done for
                line = result(job, "failed", 0, 0.0, f"its Ray worker died ({first_line(exc)})")
            except RayTaskError as exc:
                if isinstance(exc, SetupError):
                    raise SetupError(first_line(exc)) from None
                line = result(job, "failed", 0, 0.0, first_line(exc))
                idle.append(actor)
            yield line
    except GetTimeoutError as exc:
        raise FleetError(f"Ray: {first_line(exc)}") from None
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()


def first_line(exc: BaseException) -> str:
    """The cause's message, not Ray's traceback banner."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(exc).__name__
