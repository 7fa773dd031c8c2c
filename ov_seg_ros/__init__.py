"""ov_seg_ros: open-vocabulary semantic segmentation (CLIP-DINOiser) with a ROS 2 shell.

Layers, imports going down only (test/test_layers.py enforces it; docs/architecture.md draws it):
  engine/      numpy in, numpy out, torch inside, no ROS
  parameters/  the parameter table and value rules every front-end shares
  messages/    numpy over ROS message layouts, no torch
  node/        the rclpy shell          offline/  ov-seg: image folders and recordings
The engine's public API is exported here lazily, so torch-free modules start fast.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Segmenter": "engine.segmenter",
    "Segmentation": "engine.segmentation",
    "Vocabulary": "engine.vocabulary",
    "WeightsNotFoundError": "engine.weights",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
