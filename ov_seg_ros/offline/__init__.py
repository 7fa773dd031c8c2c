"""`ov-seg`, the offline tool: image folders (`image_files`), recordings in (`input_bag`, `plan`,
`decode`) and out (`output_bag`, `outputs`, `msg_bridge`), one recording's run (`segment_bag`) and
the command line (`cli`).

May import: rosbags, `engine`, `messages`, `parameters`. Nothing imports this package except its own
entry point (the `ov-seg` console script).
"""
