"""Backends for the visual single pass: torch (eager, the default), onnxruntime and openvino (CPU),
tensorrt (CUDA).

The pass (image -> MaskCLIP features, correlation-pooled features, objectness) is exported to ONNX once
per input shape (`export`) and cached (`cache`) under $XDG_CACHE_HOME/ov_seg_ros/engines/, keyed by the
weights and heads (a hash), the shape, the precision, the backend and its version (TensorRT: also the
GPU's compute capability). The text tower and the classification stay in torch, outside the graph: a
vocabulary change never re-exports.

Modules: `support` (torch-free: names, the backend x precision x device x method rule, install hints),
`visual_pass` (the seam the Segmenter calls; per-shape graphs), `factory`, one module per backend
(`onnxruntime_pass`, `openvino_pass` + `openvino_int8`, `tensorrt_pass`).

This `__init__` imports nothing, so `support` loads without torch (parameters/checks.py uses it).
"""
