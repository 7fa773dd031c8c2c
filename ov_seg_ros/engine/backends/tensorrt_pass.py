"""TensorRT on CUDA from the exported ONNX: fp16 from an fp16 ONNX (strongly typed networks take their
precision from the graph: TensorRT 11, the one on PyPI, has no fp16/int8 builder flags) or fp32.

Supported: TensorRT 10 (with the STRONGLY_TYPED flag, as on Jetson) and 11. The engine file is keyed by
TensorRT's version and the GPU's compute capability. Tensors stay on the GPU: no numpy round trip.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Tuple

import torch

from . import cache
from .export import INPUT_NAME, OUTPUT_NAMES
from .support import require
from .visual_pass import CompiledPass, Runner

ENGINE_FILE = "visual.engine"


class TensorRtPass(CompiledPass):
    name = "tensorrt"

    def __init__(self, network, precision: str, device: str = "cuda"):
        trt = require(self.name)
        if not torch.cuda.is_available():
            raise ValueError("backend tensorrt needs a CUDA device")
        self.version = trt.__version__
        self.capability = "sm{}{}".format(*torch.cuda.get_device_capability(torch.device(device)))
        super().__init__(network, precision, device)
        self._logger = trt.Logger(trt.Logger.WARNING)

    def __call__(self, x: torch.Tensor, pool: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        runner = self._runners.get(tuple(x.shape)) or self._runner(tuple(x.shape))
        maskclip, pooled, objectness = runner(x)
        return (pooled if pool else maskclip).float(), objectness.float()

    def build(self, shape: Tuple[int, ...]) -> Tuple[Runner, str]:
        trt = require(self.name)
        half = self.precision == "fp16"
        key = {
            "artifact": "tensorrt",
            "precision": self.precision,
            "shape": list(shape),
            "version": self.version,
            "gpu": self.capability,
        }

        def build(folder: Path) -> None:
            onnx_path, _ = self.onnx(shape, half=half)
            flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
            builder = trt.Builder(self._logger)
            network = builder.create_network(0 if flag is None else 1 << int(flag))
            parser = trt.OnnxParser(network, self._logger)
            if not parser.parse_from_file(str(onnx_path)):
                errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
                raise RuntimeError(f"TensorRT could not parse the exported ONNX: {errors}")
            config = builder.create_builder_config()
            if not half and hasattr(trt.BuilderFlag, "TF32"):
                config.clear_flag(trt.BuilderFlag.TF32)  # fp32 means IEEE fp32, as in the torch path
            serialized = builder.build_serialized_network(network, config)
            if serialized is None:
                raise RuntimeError("TensorRT failed to build the engine (see its log above)")
            (folder / ENGINE_FILE).write_bytes(bytes(serialized))

        def load(folder: Path):
            engine = trt.Runtime(self._logger).deserialize_cuda_engine((folder / ENGINE_FILE).read_bytes())
            if engine is None:
                raise RuntimeError("engine file does not deserialize")
            return engine

        engine, how = cache.load_or_build(self.folder(), key, build, load)[:2]
        return self._runner_for(engine, shape, half), how

    def _runner_for(self, engine, shape: Tuple[int, ...], half: bool) -> Runner:
        context = engine.create_execution_context()
        dtype = torch.float16 if half else torch.float32
        h, w = shape[2] // 16, shape[3] // 16
        outputs = [
            torch.empty((shape[0], 512, h, w), dtype=dtype, device=self.device),
            torch.empty((shape[0], 512, h, w), dtype=dtype, device=self.device),
            torch.empty((shape[0], h, w), dtype=dtype, device=self.device),
        ]
        for name, tensor in zip(OUTPUT_NAMES, outputs, strict=True):
            context.set_tensor_address(name, tensor.data_ptr())
        lock = threading.Lock()  # one context, its output buffers reused: one frame at a time

        def run(x: torch.Tensor):
            with lock:
                image = x.to(dtype).contiguous()
                context.set_tensor_address(INPUT_NAME, image.data_ptr())
                stream = torch.cuda.current_stream(x.device)
                if not context.execute_async_v3(stream.cuda_stream):
                    raise RuntimeError("TensorRT execution failed")
                return [t.clone() for t in outputs]

        return run
