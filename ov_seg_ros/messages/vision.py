"""vision_msgs packing: LabelInfo from a label map, Detection2DArray / Detection3DArray from objects.

vision_msgs is imported in this one place: where it is missing, `VISION_MSGS_MISSING` says why, the
outputs that need it are not advertised, and the node logs that once; everything else works.
No rclpy here: plain message classes, filled from the pure results of `objects`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from .objects import Boxes3D, Objects

try:
    from vision_msgs.msg import (
        Detection2D,
        Detection2DArray,
        Detection3D,
        Detection3DArray,
        LabelInfo,
        ObjectHypothesisWithPose,
        VisionClass,
    )

    VISION_MSGS_MISSING: Optional[str] = None
except ImportError as e:  # e.g. a ROS install without ros-<distro>-vision-msgs
    Detection2DArray = Detection3DArray = LabelInfo = None  # type: ignore[assignment,misc]
    VISION_MSGS_MISSING = f"vision_msgs cannot be imported ({e}); install ros-$ROS_DISTRO-vision-msgs"


def label_info(label_map: Mapping[int, str], threshold: float, header: Any) -> Any:
    """LabelInfo with one VisionClass per id that ~/labels can hold (0 included)."""
    classes = [VisionClass(class_id=int(i), class_name=name) for i, name in sorted(label_map.items())]
    return LabelInfo(header=header, class_map=classes, threshold=float(threshold))


def _hypothesis(class_name: str, score: float) -> Any:
    h = ObjectHypothesisWithPose()
    h.hypothesis.class_id, h.hypothesis.score = class_name, float(score)
    return h


def detections_2d(objects: Objects, label_map: Mapping[int, str], header: Any) -> Any:
    """One Detection2D per object: pixel box (center of the extent, size = extent + 1), the class name
    and the mean confidence; `id` is the object's number in ~/instances."""
    out = Detection2DArray(header=header)
    for i, (box, class_id, score) in enumerate(
        zip(objects.boxes.tolist(), objects.class_ids.tolist(), objects.scores.tolist(), strict=True), start=1
    ):
        u_min, v_min, u_max, v_max = box
        d = Detection2D(header=header, id=str(i), results=[_hypothesis(label_map.get(class_id, ""), score)])
        d.bbox.center.position.x, d.bbox.center.position.y = (u_min + u_max) / 2, (v_min + v_max) / 2
        d.bbox.size_x, d.bbox.size_y = float(u_max - u_min + 1), float(v_max - v_min + 1)
        out.detections.append(d)
    return out


def detections_3d(boxes: Boxes3D, objects: Objects, label_map: Mapping[int, str], header: Any) -> Any:
    """One Detection3D per object with depth: median point as the center, extent as the size, in the
    camera's optical frame; `id` matches the Detection2D of the same object."""
    out = Detection3DArray(header=header)
    for number, center, size in zip(boxes.numbers.tolist(), boxes.centers.tolist(), boxes.sizes.tolist(), strict=True):
        class_name = label_map.get(int(objects.class_ids[number - 1]), "")
        d = Detection3D(header=header, id=str(number), results=[_hypothesis(class_name, objects.scores[number - 1])])
        p = d.bbox.center.position
        p.x, p.y, p.z = center
        d.bbox.center.orientation.w = 1.0
        d.bbox.size.x, d.bbox.size.y, d.bbox.size.z = size
        out.detections.append(d)
    return out
