"""The visual single pass as one graph, exported to ONNX per input shape.

Graph: image B×3×H×W in [0, 1] (H, W multiples of 16) -> MaskCLIP features B×512×h×w, correlation-pooled
features B×512×h×w, objectness B×h×w. The text tower and the classification stay outside it, so a
vocabulary change never touches an exported graph, and one graph serves clip_dinoiser and maskclip.
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path
from typing import Tuple

import torch
from torch import nn

from ..model import CLIPDINOiser, pool_guided

ONNX_FILE = "visual.onnx"
INPUT_NAME = "image"
OUTPUT_NAMES = ("maskclip_features", "pooled_features", "objectness")


class VisualPass(nn.Module):
    """CLIPDINOiser's image side returning all three outputs (what `forward(pool=...)` picks from)."""

    def __init__(self, network: CLIPDINOiser):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features, tap = self.network.encode_image(x)
        objectness = self.network.objectness(tap)
        pooled = pool_guided(features, self.network.correlation_keys(tap))
        return features, pooled, objectness


def export_onnx(
    network: CLIPDINOiser, shape: Tuple[int, ...], folder: Path, half: bool = False, device: str = "cpu"
) -> Path:
    """Write folder/visual.onnx (+ external weights) for a static input shape; fp16 weights and
    activations with `half` (TensorRT's strongly typed builder takes its precision from the graph)."""
    if half:  # a copy (the live network stays fp32); deepcopy cannot copy the network's lock
        heads = {k: v for k, v in network.state_dict().items() if k.startswith(("obj_proj.", "bkg_decoder."))}
        network = CLIPDINOiser(copy.deepcopy(network.visual), heads).half()
    module = VisualPass(network)
    module = module.to(device).eval()
    dtype = torch.float16 if half else torch.float32
    x = torch.rand(shape, dtype=dtype, device=device)
    # The positional embedding is cached per grid size: fill it eagerly, so the trace reads a real
    # tensor (a constant in the graph) instead of storing a traced one in the live network's cache.
    module.network.positional_embedding(shape[2] // 16, shape[3] // 16, x.new_empty(0))
    path = folder / ONNX_FILE
    # The dynamo exporter: the TorchScript one (dynamo=False) fails on round(Tensor) in tracing.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "torch._dynamo", "torch.export")]
        levels = [q.level for q in quiet]
        for q in quiet:
            q.setLevel(logging.ERROR)
        try:
            torch.onnx.export(
                module,
                (x,),
                str(path),
                dynamo=True,
                external_data=True,
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                verbose=False,
            )
        finally:
            for q, level in zip(quiet, levels, strict=True):
                q.setLevel(level)
    return path
