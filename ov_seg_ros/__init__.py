"""ov_seg_ros: open-vocabulary semantic segmentation (CLIP-DINOiser) with a ROS 2 shell.

The engine (Segmenter) is importable without ROS; `ov_seg_ros.node` is the only module using rclpy.
"""
from .segmenter import Segmentation, Segmenter
from .vocabulary import Vocabulary
from .weights import WeightsNotFoundError

__all__ = ["Segmenter", "Segmentation", "Vocabulary", "WeightsNotFoundError"]
