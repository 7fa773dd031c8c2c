"""`ov-seg`, the offline tool: image folders (`image_files`), recordings in (`input_bag`, `plan`,
`decode`) and out (`output_bag`, `outputs`, `node_config`), one recording's run (`segment_bag`) and
the command line (`cli`).

May import: rosbags, rclpy's serialization (never its node API), `engine`, `messages`, `parameters`.
Nothing imports this package except its own entry point (the `ov-seg` console script).
"""
