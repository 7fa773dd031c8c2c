"""ros2 launch ov_seg_ros demo.launch.py [weights:=auto] [vocabulary:="[floor, wall, door, box]"] [rviz:=true]

No camera needed: ov_seg_demo_player publishes the bundled synthetic room (colour, registered depth,
camera_info) at 5 Hz in a loop, and the ov_seg node (seg.launch.py) segments it and publishes
/ov_seg/overlay, /ov_seg/labels, /ov_seg/objectness, /ov_seg/points, /ov_seg/label_map.

The overlays are also written to ./ov_seg_demo_output/overlay_NN.png (save_dir:=''  turns that off).

weights:=auto (default) uses trained weights when they are cached on this machine and otherwise falls
back to seeded (untrained) weights, with a loud warning here and a banner on the overlay.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, LogInfo, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from ov_seg_ros.engine.auto_weights import resolve_auto_weights, seeded_warning

SHARE = get_package_share_directory("ov_seg_ros")
DEMO_NS = "demo"  # the player's topics: /demo/image, /demo/depth, /demo/camera_info


def _player_and_node(context, *args, **kwargs):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    weights, heads, seeded = resolve_auto_weights(arg("weights"), arg("heads"))
    actions = [LogInfo(msg=seeded_warning(weights, heads))] if seeded else []
    save_dir = os.path.abspath(arg("save_dir")) if arg("save_dir") else ""  # the player's cwd may differ
    actions.append(
        Node(
            package="ov_seg_ros",
            executable="ov_seg_demo_player",
            namespace=DEMO_NS,
            output="screen",
            parameters=[{"rate": float(arg("rate")), "save_dir": save_dir}],
        )
    )
    actions.append(
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(SHARE, "launch", "seg.launch.py")),
            launch_arguments={
                "image": f"/{DEMO_NS}/image",
                "depth": f"/{DEMO_NS}/depth",
                "camera_info": f"/{DEMO_NS}/camera_info",
                "weights": weights,
                "heads": heads,
                "vocabulary": arg("vocabulary"),
                "device": arg("device"),
                "publish_points": "true",
            }.items(),
        )
    )
    return actions


def generate_launch_description() -> LaunchDescription:
    args = [
        ("weights", "auto", "'auto' (cached trained weights, else seeded), an OpenCLIP tag, a file or 'seeded'"),
        ("heads", "auto", "'auto', a CLIP-DINOiser last.pt or 'seeded'"),
        ("vocabulary", "[floor, wall, door, box]", "class names"),
        ("device", "cpu", "torch device (cpu, cuda, ...)"),
        ("rate", "5.0", "demo frames per second"),
        ("rviz", "false", "true to open RViz2 with config/ov_seg.rviz"),
        ("save_dir", "ov_seg_demo_output", "where the overlays are written as PNGs ('' = nowhere)"),
    ]
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        output="screen",
        arguments=["-d", os.path.join(SHARE, "config", "ov_seg.rviz")],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in args]
        + [OpaqueFunction(function=_player_and_node), rviz]
    )
