"""The node's outputs of one bag frame (labels, confidence, objectness, overlay, camera_info, points,
label_map / label_info), written to the output bag with the frame's header and at its log time."""

from __future__ import annotations

import argparse
from typing import Any, Optional

from ..engine.options import has_objectness
from ..messages import convert
from ..messages.pointcloud import semantic_points, to_pointcloud2
from ..messages.visualize import SEEDED_BANNER, label_map_json, render_overlay
from .decode import IMAGE_MSG, Frame
from .input_bag import CAMERA_INFO_TYPE
from .msg_bridge import from_rclpy
from .output_bag import OutputBag, register_label_info


class Outputs:
    """The node's outputs of one frame, as rosbags messages under `namespace`."""

    def __init__(self, bag: OutputBag, args: argparse.Namespace, seeded: bool) -> None:
        self.bag, self.args = bag, args
        self.ns = "/" + args.namespace.strip("/") if args.namespace.strip("/") else ""
        self.banner = SEEDED_BANNER if seeded else None
        self.label_info_problem = register_label_info(bag.typestore)
        self._label_map_written = False

    def _write(self, name: str, msg: Any, msgtype: str, log_time: int) -> None:
        self.bag.write(f"{self.ns}/{name}", from_rclpy(msg, self.bag.typestore, msgtype), log_time)

    def label_map(self, vocabulary: Any, header: Any, log_time: int) -> None:
        """~/label_map (and vision_msgs LabelInfo) once, 1 ns before the first labels: ordered first
        by every player and reader, whatever it does with equal log times."""
        if self._label_map_written:
            return
        self._label_map_written = True
        at = max(log_time - 1, 0)
        from std_msgs.msg import String

        self._write("label_map", String(data=label_map_json(vocabulary, "mono16")), "std_msgs/msg/String", at)
        if self.label_info_problem is None:
            types = self.bag.typestore.types
            info = types["vision_msgs/msg/LabelInfo"](
                header=from_rclpy(header, self.bag.typestore, "std_msgs/msg/Header"),
                class_map=[
                    types["vision_msgs/msg/VisionClass"](class_id=i, class_name=name)
                    for i, name in vocabulary.label_map().items()
                ],
                threshold=float(self.args.min_confidence),
            )
            self.bag.write(f"{self.ns}/label_info", info, at)

    def frame(self, frame: Frame, result: Any) -> Optional[str]:
        """Write every output of one frame; the reason when points were asked for but not written."""
        header, at, args = frame.header, frame.log_time, self.args
        self.label_map(result.vocabulary, header, at)
        labels = result.label_image(args.min_confidence)
        self._write("labels", convert.labels_to_image(labels, "mono16", header), IMAGE_MSG, at)
        self._write("confidence", convert.to_image(result.confidence, "32FC1", header), IMAGE_MSG, at)
        if has_objectness(args.method):  # the training-free methods have no objectness head
            self._write("objectness", convert.to_image(result.objectness_image, "32FC1", header), IMAGE_MSG, at)
        if args.overlay:
            rgb = render_overlay(frame.rgb, labels, result.vocabulary.label_map(), args.overlay_alpha, self.banner)
            self._write("overlay", convert.to_image(rgb, "rgb8", header), IMAGE_MSG, at)
        height, width = labels.shape
        info = None
        if frame.info is not None:
            info = convert.rescale_camera_info(frame.info, width, height, header)
            self._write("camera_info", info, CAMERA_INFO_TYPE, at)
        if frame.depth is None:
            return frame.no_points
        try:
            fx, fy, cx, cy = convert.intrinsics(info)
            points = semantic_points(
                frame.depth,
                fx,
                fy,
                cx,
                cy,
                labels,
                result.confidence,
                result.objectness_image,
                result.vocabulary.label_map(),
                stride=args.point_stride,
                max_depth=args.max_depth,
            )
        except ValueError as exc:
            return f"no points: {exc}"
        self._write("points", to_pointcloud2(points, header), "sensor_msgs/msg/PointCloud2", at)
        return None
