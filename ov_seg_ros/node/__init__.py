"""The rclpy shell, no algorithm: the lifecycle node (`ov_seg_node`; `lifecycle` drives it, `pipeline`
is what it holds while configured, `memory` gives freed memory back), per-camera subscriptions and
publishers (`camera_io`, `adaptive_subscription`, `image_link` for QoS), the frame flow's slot and
statistics (`frames`), `/diagnostics`, the latched label topics, the ROS session helpers and the demo
player.

May import: rclpy, message packages, `engine`, `messages`, `parameters`. Nothing imports this package
except its own entry points (scripts/, launch files).
"""
