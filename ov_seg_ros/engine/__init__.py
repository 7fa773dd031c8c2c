"""The engine: numpy in, numpy out, torch inside, no ROS.

Holds the CLIP-DINOiser network (`model`), the checks on open_clip's layout (`clip_layout`), the text
tower and its per-name cache (`text`), where weights come from (`auto_weights`, torch-free) and how
they load (`weights`), the `Vocabulary`, the `Segmenter` and the `Segmentation` it returns, and the
engine's options and their rules (`options`, torch-free), and `methods/`: NACLIP, ClearCLIP, SCLIP
and PAMR beside CLIP-DINOiser. Room for `backends/`.

May import: torch, open_clip, numpy. Never rclpy, ROS message packages or rosbags (test_layers checks).
This `__init__` imports nothing, so torch-free modules here (options, vocabulary, auto_weights) load
without torch.
"""
