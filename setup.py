"""ament_python package ov_seg_ros (also pip-installable)."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ov_seg_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["data/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
        (f"share/{PACKAGE}/demo", glob("demo/*")),
        # ros2 run / ros2 launch look for executables here, not in bin/.
        (f"lib/{PACKAGE}", glob("scripts/*")),
    ],
    install_requires=["numpy", "torch", "open_clip_torch", "pillow", "tqdm", "pyyaml", "rosbags"],
    zip_safe=True,
    maintainer="ov_seg_ros developers",
    maintainer_email="dev@ov-seg-ros.invalid",
    description="Open-vocabulary semantic segmentation (CLIP-DINOiser) for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "ov_seg_node = ov_seg_ros.node:main",
            "ov-seg = ov_seg_ros.cli:main",
        ],
    },
)
