"""How the `ov_seg` lifecycle node is driven, on every distro: transitions that log what they cost and never
raise, invalid transition requests refused instead of raised, autostart, and the spin loop that ends on the
shutdown transition after its reply went out.

Facts of rclpy (9.1.2 Kilted, 7.1.6 Jazzy) this module exists for:
- An exception in a transition callback becomes ERROR with nothing in the log: `transition` catches it,
  logs the reason and returns FAILURE, so the node stays in its state and a manager can retry.
- A change_state request that is invalid in the current state returns ERROR on Kilted but raises RCLError
  on Jazzy, which would end the executor with no reply: `refuse_invalid_transitions` answers failure.
- Neither ends the process on shutdown, and exiting inside the callback loses the reply (`ros2 lifecycle
  set` and Nav2 wait for it with no time limit): `spin_until_finished` leaves its loop when the node's
  `finished` event is set and lets the executor finish the callbacks in flight before returning.
"""

from __future__ import annotations

import functools
import signal
import time
from typing import Any, Callable, Optional

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn

from ..engine.weights import WeightsNotFoundError
from .memory import resident_mib

EXECUTOR_THREADS = 4  # transitions, the default group (inputs, timers, parameters), lifecycle queries
REPLY_WAIT_S = 10.0  # how long the exit waits for callbacks in flight (the shutdown reply)


def failure_reason(error: BaseException) -> str:
    """What a log line and /diagnostics say about a failed transition."""
    if isinstance(error, WeightsNotFoundError):
        return f"weights not found.\n{error}"
    if isinstance(error, (ValueError, RuntimeError)):  # e.g. device 'cuda' without CUDA
        return str(error)
    return f"{type(error).__name__}: {error}"


def transition(name: str) -> Callable[[Callable[[Any, LifecycleState], str]], Callable]:
    """Decorate a transition callback that returns a summary for the log and raises on failure: log the
    transition with its time and the change of resident memory, or the reason it failed (kept in
    `node.transition_failure` for /diagnostics) and return FAILURE. One transition runs at a time."""

    def decorate(callback: Callable[[Any, LifecycleState], str]) -> Callable:
        @functools.wraps(callback)
        def run(node: Any, state: LifecycleState) -> TransitionCallbackReturn:
            logger = node.get_logger()
            with node.transition_lock:
                start, rss = time.monotonic(), resident_mib()
                logger.info(f"{name}: starting from {state.label}")
                try:
                    summary = callback(node, state)
                except Exception as e:
                    node.transition_failure = f"{name} failed: {failure_reason(e)}"
                    logger.error(
                        f"{node.transition_failure} (after {time.monotonic() - start:.2f} s; stays {state.label})"
                    )
                    return TransitionCallbackReturn.FAILURE
                node.transition_failure = None
                logger.info(
                    f"{name}: done in {time.monotonic() - start:.2f} s, resident memory "
                    f"{rss:.0f} -> {resident_mib():.0f} MiB; {summary}"
                )
                return TransitionCallbackReturn.SUCCESS

        return run

    return decorate


def refuse_invalid_transitions(node: Any) -> None:
    """Answer `success: false` to a change_state request that is invalid in the current state, where Jazzy's
    rclpy raises RCLError out of the service callback (Kilted answers it already)."""
    service = node._service_change_state  # rclpy's own; no public accessor
    answer = service.callback

    def guarded(request: Any, response: Any) -> Any:
        try:
            return answer(request, response)
        except _rclpy.RCLError as e:
            node.get_logger().error(
                f"transition {request.transition.label or request.transition.id} refused in state "
                f"{node.lifecycle_state}: {e}"
            )
            response.success = False
            return response

    service.callback = guarded


def trigger(node: Any, name: str) -> bool:
    """Run one transition from this process (`configure`, `activate`, ...); True when it succeeded. An
    invalid one is False on both distros (Jazzy raises where Kilted returns ERROR)."""
    try:
        return getattr(node, f"trigger_{name}")() == TransitionCallbackReturn.SUCCESS
    except _rclpy.RCLError as e:
        node.get_logger().error(f"{name} refused in state {node.lifecycle_state}: {e}")
        return False


def schedule_autostart(node: Any) -> None:
    """Configure and activate from the executor, so parameter services and diagnostics answer meanwhile.
    A failed configure ends the process with exit status 1 (no manager is there to retry)."""
    group = MutuallyExclusiveCallbackGroup()  # its own: the timer never runs twice at once
    timer: Optional[Any] = None

    def start() -> None:
        timer.cancel()
        node.destroy_timer(timer)
        if not trigger(node, "configure"):
            node.get_logger().fatal(
                f"cannot start: {(node.transition_failure or '').removeprefix('configure failed: ')}"
            )
            node.finish(1)
        elif not trigger(node, "activate"):
            node.get_logger().fatal(f"cannot start: {node.transition_failure}")
            node.finish(1)

    timer = node.create_timer(0.0, start, callback_group=group)


def spin_until_finished(node: Any) -> int:
    """Spin on a multi-threaded executor until Ctrl-C, the end of ROS, or `node.finish()` (the shutdown
    transition, a failed autostart); returns the exit status."""
    executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS, context=node.context)
    executor.add_node(node)
    try:
        while not node.finished.is_set():
            executor.spin_once(timeout_sec=0.25)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # Ctrl-C reaches us twice under `ros2 launch` (from the terminal or `timeout` to the whole
        # process group, and from launch itself): the second one must not cut the exit short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # After the shutdown transition its reply must go out first; on Ctrl-C nothing is waited for
        # (a model still loading would hold the exit up).
        executor.shutdown(timeout_sec=REPLY_WAIT_S if node.finished.is_set() else 0)
    return node.exit_status
