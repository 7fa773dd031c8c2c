"""The rclpy lifecycle node `ov_seg`: camera images in, labels / confidence / objectness / overlay out.

Its parameters, its lifecycle transitions and /diagnostics live here; what it holds while configured (the
model, the vocabulary, the publishers, the inputs and the worker) is `pipeline.Pipeline`, and how it is
driven (transitions that log their cost, autostart, the spin loop) is `lifecycle`.

  unconfigured --configure--> inactive --activate--> active     (deactivate: back to inactive)
  inactive --cleanup--> unconfigured                            (shutdown from any of them: exit 0)

With `autostart` (the default) the node configures and activates itself, as `ros2 run` and launch expect.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Dict, List, NoReturn, Optional, Sequence

from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState
from rclpy.lifecycle.node import LifecycleNodeMixin
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.parameter import Parameter

from ..parameters.descriptions import descriptor
from ..parameters.specs import DEFAULTS, SPECS, changes_reason, pruned_class_lists
from .diagnostics import Diagnostics
from .frames import FrameStats, Throttle
from .lifecycle import refuse_invalid_transitions, schedule_autostart, spin_until_finished, transition
from .memory import device_memory_mib, give_back_freed_memory, resident_mib
from .pipeline import Pipeline
from .ros_session import exit_process, ros_session

NODE_NAME = "ov_seg"


class StartupError(RuntimeError):
    """The node cannot start with this configuration; the message says what to change."""


class OvSegNode(LifecycleNode):
    """Thin lifecycle shell around `Pipeline` (and through it `Segmenter`)."""

    def __init__(self, **kwargs: Any) -> None:
        Node.__init__(self, NODE_NAME, **kwargs)
        # Transitions take seconds to minutes (a model loading on a CPU). Their services get a group of
        # their own, reentrant so get_state answers during a transition, on a multi-threaded executor:
        # parameter services, diagnostics and inputs (the default group) go on meanwhile. Two transitions
        # never overlap: rcl refuses a transition from a transitional state, and `transition_lock`.
        LifecycleNodeMixin.__init__(self, callback_group=ReentrantCallbackGroup())
        refuse_invalid_transitions(self)
        self.transition_lock = threading.Lock()
        self.transition_failure: Optional[str] = None  # the last transition's failure, for /diagnostics
        self.finished = threading.Event()  # the spin loop ends when set (shutdown, failed autostart)
        self.exit_status = 0
        self._cfg = self._declare_parameters()
        self.autostart = bool(self._cfg["autostart"])
        self._stats = FrameStats()
        self._throttle = Throttle(5.0)
        self._params_lock = threading.Lock()  # cfg and the pipeline change together
        self._pipeline: Optional[Pipeline] = None
        if hasattr(self, "add_pre_set_parameters_callback"):  # Iron+ (Humble refuses such vocabulary edits)
            self.add_pre_set_parameters_callback(self._prune_class_lists)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        # A plain publisher: /diagnostics reports the unconfigured and inactive states too.
        self._diagnostics = Diagnostics(self, self._stats, self._throttle)
        self.create_timer(1.0, self._publish_diagnostics)
        if self.autostart:
            schedule_autostart(self)
        else:
            self.get_logger().info("autostart is false: waiting unconfigured for a lifecycle manager")

    @property
    def lifecycle_state(self) -> str:
        """The current state's label (unconfigured, configuring, inactive, active, ...)."""
        return self._state_machine.current_state[1]

    def finish(self, status: int = 0) -> None:
        """End the spin loop with this exit status (after the callbacks in flight)."""
        self.exit_status = status
        self.finished.set()

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

    # ----------------------------------------------------------------------- transitions
    @transition("configure")
    def on_configure(self, state: LifecycleState) -> str:
        cfg = self._cfg
        pipeline = Pipeline(self, cfg, self._stats, self._throttle)
        with self._params_lock:  # parameters set while the model loaded are applied now
            changes = {k: v for k, v in self._cfg.items() if cfg[k] != v}
            self._pipeline = pipeline
            if changes:
                pipeline.update(self._cfg, changes)
        super().on_configure(state)
        vocab = pipeline.vocabulary
        return f"{len(vocab.names)} classes {list(vocab.names)} on {pipeline.device}"

    @transition("activate")
    def on_activate(self, state: LifecycleState) -> str:
        super().on_activate(state)  # the lifecycle publishers publish from now on
        try:
            self._pipeline.activate()
        except BaseException:
            super().on_deactivate(state)
            raise
        vocab = self._pipeline.vocabulary
        # "ready:" as before the node was a lifecycle node: scripts and users wait for it.
        self.get_logger().info(
            f"ready: {len(vocab.names)} classes {list(vocab.names)} on {self._cfg['device']}; "
            f"subscribed to {self._pipeline.topics}"
        )
        return "subscribed and publishing"

    @transition("deactivate")
    def on_deactivate(self, state: LifecycleState) -> str:
        self._pipeline.deactivate()
        super().on_deactivate(state)
        return "unsubscribed, not publishing; model kept"

    @transition("cleanup")
    def on_cleanup(self, state: LifecycleState) -> str:
        device = self._pipeline.device
        before = resident_mib()
        self._release_pipeline(wait=True)
        super().on_cleanup(state)
        freed = before - resident_mib()
        cuda = device_memory_mib(device)
        on_device = f", on {device} {cuda['device_reserved_mib']:.0f} MiB reserved" if cuda else ""
        return f"model and text cache freed ({freed:.0f} MiB resident memory given back{on_device})"

    @transition("shutdown")
    def on_shutdown(self, state: LifecycleState) -> str:
        self._release_pipeline(wait=False)
        super().on_shutdown(state)
        self.finish(0)  # the spin loop ends after this transition's reply went out
        return "exiting"

    def on_error(self, state: LifecycleState) -> Any:
        self.get_logger().error(f"error processing after {state.label}: freeing the model, back to unconfigured")
        self._release_pipeline(wait=False)
        return super().on_error(state)

    def _release_pipeline(self, wait: bool) -> None:
        with self._params_lock:
            pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            pipeline.close(wait=wait)
            del pipeline  # the last reference to the model, the text cache and the frames
            give_back_freed_memory()

    # ---------------------------------------------------------------------- parameters
    def _validate_parameters(self, params: List[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in params}
        reason = changes_reason(self._cfg, changes)
        pipeline = self._pipeline
        if not reason and "method" in changes and pipeline is not None and pipeline.segmenter is not None:
            reason = pipeline.segmenter.method_reason(changes["method"])  # the loaded backbone decides
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
        """In every state: unconfigured, the values wait for configure; configured, the pipeline applies them."""
        changes = {p.name: p.value for p in params if p.name in DEFAULTS}
        with self._params_lock:
            self._cfg = {**self._cfg, **changes}  # one reference swap: readers see old or new, whole
            if self._pipeline is not None:
                self._pipeline.update(self._cfg, changes)

    # ---------------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        pipeline = self._pipeline
        self._diagnostics.publish(
            self._cfg,
            pipeline.device if pipeline else None,
            pipeline.vocabulary if pipeline else None,
            pipeline.cameras.values() if pipeline else (),
            state=self.lifecycle_state,
            problems=[self.transition_failure] if self.transition_failure else [],
        )

    # -------------------------------------------------------------------------- shutdown
    def close(self) -> None:
        """Stop the worker and the encoder before the node is destroyed (Ctrl-C): a frame in flight (seconds
        on a CPU) is abandoned rather than waited for, its outputs would go to a graph shutting down."""
        self._release_pipeline(wait=False)


def main(args: Optional[Sequence[str]] = None) -> NoReturn:
    """Entry point of `ov_seg_node`: exit status 0 on a clean shutdown, 1 when the node cannot start."""
    exit_process(run(args))


def run(args: Optional[Sequence[str]] = None) -> int:
    """The node's life: start, spin until Ctrl-C or the shutdown transition, clean up; the exit status."""
    with ros_session(args=args) as transport:
        logger = get_logger(NODE_NAME)
        logger.info(transport)
        try:
            node = OvSegNode()
        except StartupError as e:
            logger.fatal(f"cannot start: {e}")
            return 1
        try:
            status = spin_until_finished(node)  # ignores SIGINT from its end on
        finally:
            node.close()
            node.destroy_node()
    return status


if __name__ == "__main__":
    main(sys.argv)
