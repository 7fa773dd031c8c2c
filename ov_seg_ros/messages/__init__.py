"""Pure numpy over ROS message layouts: images in every camera encoding (`convert`), depth, point
clouds, objects and their vision_msgs packing (`objects`, `vision`), overlays and label maps
(`visualize`), and the table of every per-frame output (`outputs`, with `frame_data` for what outputs
share). The node publishes these messages and the offline tool writes the same ones to recordings.

May import: numpy, OpenCV, PIL, message classes (sensor_msgs, std_msgs, vision_msgs), `engine`'s
torch-free modules and `parameters`. Never torch, rclpy's node API or rosbags (test_layers checks).
"""
