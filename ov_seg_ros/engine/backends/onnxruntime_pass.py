"""ONNX Runtime on CPU, fp32: the exported ONNX is the cached artifact (ONNX Runtime reads any opset it
supports, so the entry is keyed by the exporter, not by ONNX Runtime's version)."""

from __future__ import annotations

from typing import Tuple

import torch

from .support import require
from .visual_pass import CompiledPass, Runner


class OnnxRuntimePass(CompiledPass):
    name = "onnxruntime"

    def __init__(self, network, precision: str, device: str = "cpu"):
        ort = require(self.name)
        self.version = ort.__version__
        super().__init__(network, precision, device)

    def build(self, shape: Tuple[int, ...]) -> Tuple[Runner, str]:
        ort = require(self.name)
        path, how = self.onnx(shape)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # the same thread budget as torch
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return (lambda x: session.run(None, {name: x})), how
