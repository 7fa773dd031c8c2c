"""Layers import only what they need: the ROS shell's and the front-ends' modules load no torch, so
parameter validation, message conversion and `ov-seg --help` stay fast and the engine loads once."""

import subprocess
import sys

import pytest

TORCH_FREE = [
    "params",
    "convert",
    "pointcloud",
    "visualize",
    "camera_io",
    "segmentation",
    "outputs",
    "frame_data",
    "objects",
    "image_link",
    "engine_options",
    "vocabulary",
    "cli",
    "image_files",
    "depth",
    "bag",
    "output_bag",
    "bag_plan",
    "bag_frames",
    "bag_outputs",
    "bag_segment",
    "diagnostics",
    "param_checks",
]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_loads_no_torch(module):
    code = (
        f"import sys, ov_seg_ros.{module}; "
        "heavy = [m for m in ('torch', 'open_clip', 'ov_seg_ros.segmenter') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"ov_seg_ros.{module} loaded {done.stdout.strip()} {done.stderr[-500:]}"
