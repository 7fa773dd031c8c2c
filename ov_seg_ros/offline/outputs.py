"""The node's outputs of one bag frame, made by the node's own table (`messages.outputs.OUTPUTS`, with the
same `FrameData` and parameter values) and serialized to CDR by rclpy, as a publisher would: a recorded
frame and a live one are the same bytes. Each is written under `<namespace>/<suffix>` with its frame's
header and at its frame's log time; `label_map` and `label_info` once, just before the first frame.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from rclpy.serialization import serialize_message
from std_msgs.msg import Header, String

from ..engine.segmentation import Segmentation
from ..messages import vision
from ..messages.frame_data import FrameData
from ..messages.outputs import Output, advertised, wanted
from ..messages.visualize import label_map_json
from ..parameters.checks import class_names
from .decode import Frame
from .output_bag import OutputBag, msgtype_of


def recorded(cfg: Mapping[str, Any]) -> List[Output]:
    """The outputs a recording of `cfg` holds: what the node advertises and builds for a subscriber,
    less those about a class list (targets, obstacle_classes) that is empty."""
    return [
        o
        for o in advertised(dict(cfg))
        if wanted(o, dict(cfg), subscribers=1) and (o.classes is None or class_names(cfg, o.classes))
    ]


class Outputs:
    """Writes the outputs of each frame into `bag` under `namespace`."""

    def __init__(self, bag: OutputBag, cfg: Dict[str, Any], namespace: str) -> None:
        self.bag, self.cfg = bag, cfg
        self.ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
        self.problems: Dict[str, str] = {}  # output -> why it is not written at all
        self.outputs = [o for o in recorded(cfg) if self._usable(o.suffix, o.msg_type)]
        self._label_map_ok = self._usable("label_map", String)
        if vision.LabelInfo is None:
            self.problems["label_info"] = vision.VISION_MSGS_MISSING or "vision_msgs missing"
        self._label_info = vision.LabelInfo is not None and self._usable("label_info", vision.LabelInfo)
        self._label_map_written = False

    def _usable(self, name: str, msg_type: Any) -> bool:
        problem = self.bag.type_problem(msgtype_of(msg_type))
        if problem:
            self.problems[name] = problem
        return problem is None

    def _write(self, name: str, msg: Any, log_time: int) -> None:
        self.bag.write(f"{self.ns}/{name}", msgtype_of(type(msg)), serialize_message(msg), log_time)

    def label_map(self, result: Segmentation, header: Header, log_time: int) -> None:
        """~/label_map and ~/label_info once, 1 ns before the first outputs: ordered first by every player
        and reader, whatever it does with equal log times. LabelInfo carries the first frame's header."""
        if self._label_map_written:
            return
        self._label_map_written = True
        at = max(log_time - 1, 0)
        vocabulary = result.vocabulary
        if self._label_map_ok:
            self._write("label_map", String(data=label_map_json(vocabulary, self.cfg["label_encoding"])), at)
        if self._label_info:
            info = vision.label_info(vocabulary.label_map(), self.cfg["min_confidence"], header)
            self._write("label_info", info, at)

    def frame(self, frame: Frame, result: Segmentation) -> List[str]:
        """Write every output of one frame; why points-like outputs were not written for it, if asked for."""
        self.label_map(result, frame.header, frame.log_time)
        shared = FrameData(result, self.cfg, frame.info, frame.depth_msg)
        problems = [frame.no_points] if frame.no_points else []
        for output in self.outputs:
            try:
                msg: Optional[Any] = output.build(frame, result, shared, self.cfg)
            except ValueError as exc:  # e.g. a camera_info whose intrinsics are unusable: this output only
                problems.append(f"no {output.suffix}: {exc}")
                continue
            if msg is not None:
                self._write(output.suffix, msg, frame.log_time)
        return problems
