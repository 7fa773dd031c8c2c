"""The settings every front-end shares: the `ParamSpec` table (`specs`: name, type, default, range,
choices, help, launch argument) and the value rules (`checks`: name lists, vocabularies, cameras).
The node's parameter service, seg.launch.py and `ov-seg` all validate through here, so one value is
refused the same way everywhere.

May import: `engine`'s torch-free modules (options, vocabulary). Never torch, rclpy or rosbags.
"""
