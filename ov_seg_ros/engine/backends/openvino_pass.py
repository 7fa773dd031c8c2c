"""OpenVINO on CPU: fp32 (with the f32 inference hint: OpenVINO would pick bf16 on CPUs that have it),
bf16 (the same graph, bf16 hint), int8 (NNCF post-training quantization, `openvino_int8`).

fp32/bf16 read the cached ONNX directly; int8 caches its quantized IR, keyed by OpenVINO's and NNCF's
versions and by the calibration frames.
"""

from __future__ import annotations

import threading
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from . import cache
from .support import require
from .visual_pass import CompiledPass, Runner

HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8: what is not quantized runs in f32


class OpenVinoPass(CompiledPass):
    name = "openvino"

    def __init__(
        self, network, precision: str, device: str = "cpu", calibration: Optional[Sequence[np.ndarray]] = None
    ):
        ov = require(self.name)
        self.version = ov.__version__.split("-")[0]
        super().__init__(network, precision, device)
        self._calibration = calibration  # RGB uint8 frames for int8; None = the bundled demo frames

    def build(self, shape: Tuple[int, ...]) -> Tuple[Runner, str]:
        ov = require(self.name)
        core = ov.Core()
        if self.precision == "int8":
            model, how = self._int8(shape)
        else:
            path, how = self.onnx(shape)
            model = core.read_model(str(path))
        config = {
            "INFERENCE_PRECISION_HINT": HINTS[self.precision],
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
        }
        request = core.compile_model(model, "CPU", config).create_infer_request()
        lock = threading.Lock()  # one infer request: one frame at a time through it

        def run(x: np.ndarray):
            with lock:
                request.infer({0: x})
                return [request.get_output_tensor(i).data.copy() for i in range(3)]

        return run, how

    def _int8(self, shape: Tuple[int, ...]):
        from .openvino_int8 import calibration_frames, quantize

        nncf = require(self.name, "nncf")
        frames = calibration_frames(self._calibration)
        key = {
            "artifact": "openvino-int8",
            "precision": "int8",
            "shape": list(shape),
            "version": self.version,
            "nncf": nncf.__version__,
            "calibration": cache.hash_arrays(frames),
        }
        ov = require(self.name)

        def build(folder):
            onnx_path, _ = self.onnx(shape)
            quantized = quantize(ov.Core().read_model(str(onnx_path)), frames, shape)
            ov.save_model(quantized, str(folder / "visual.xml"), compress_to_fp16=False)  # keep float parts f32

        return cache.load_or_build(self.folder(), key, build, lambda f: ov.Core().read_model(str(f / "visual.xml")))[:2]
