"""ament_python package ov_seg_ros (also pip-installable)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ov_seg_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),  # seg.yaml, rviz, the Fast DDS profile, Nav2 snippets
        (f"share/{PACKAGE}/demo", glob("demo/*")),
        # ros2 run / ros2 launch look for executables here, not in bin/.
        (f"lib/{PACKAGE}", glob("scripts/*")),
    ],
    install_requires=["numpy", "torch", "open_clip_torch", "pillow", "tqdm", "pyyaml", "rosbags"],
    # Optional extras: `ov-seg BAG BAG ... --ray` runs many recordings on a Ray cluster
    # (ov_seg_ros/offline/ray_workers.py); the compiled backends of the image pass (README "Backends"):
    # `pip install .[openvino]` etc. The exporter is torch's dynamo one, which needs onnxscript; the
    # names here are what support.install_hint prints.
    extras_require={
        "ray": ["ray>=2.50"],
        "onnxruntime": ["onnx", "onnxscript", "onnxruntime"],
        "openvino": ["onnx", "onnxscript", "openvino", "nncf"],
        "tensorrt": ["onnx", "onnxscript", "tensorrt"],
    },
    zip_safe=True,
    maintainer="ov_seg_ros developers",
    maintainer_email="dev@ov-seg-ros.invalid",
    description="Open-vocabulary semantic segmentation (CLIP-DINOiser) for ROS 2",
    license="Apache-2.0",
    # The ROS executables (`ros2 run ov_seg_ros ov_seg_node`) are the scripts/ files installed under
    # lib/ov_seg_ros above, their one location; the command-line tool `ov-seg` is a console script in
    # bin/, which is on PATH in a venv and in a sourced colcon workspace alike.
    entry_points={"console_scripts": ["ov-seg = ov_seg_ros.offline.cli:main"]},
)
