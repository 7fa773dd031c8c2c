"""ov_seg_ros: open-vocabulary semantic segmentation (CLIP-DINOiser) with a ROS 2 shell.

The engine (Segmenter) is importable without ROS; only the node, its per-camera topics (camera_io)
and the demo player use rclpy.
Exports load lazily, so torch-free modules (visualize, pointcloud, the demo player) start fast.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Segmenter": "segmenter",
    "Segmentation": "segmenter",
    "Vocabulary": "vocabulary",
    "WeightsNotFoundError": "weights",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
