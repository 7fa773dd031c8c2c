"""int8 for OpenVINO: NNCF post-training quantization of the visual pass, calibrated on RGB frames
(a folder, a recording's frames from `ov-seg --calibration`, or by default the bundled demo frames).

What stays float, and why: the objectness head and the correlation keys/pooling. γ = 0.2 is a hard
threshold on the correlations and objectness 0.5 decides background, so int8 noise there flips whole
patches; they are a few percent of the pass's time. (Measured at input 96 on seeded weights, keeping them
float changed the labels little either way: the backbone's own int8 error dominates.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .support import require

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
MAX_CALIBRATION_FRAMES = 30  # NNCF's statistics settle well before; each frame costs one pass per shape


def demo_folder() -> Optional[Path]:
    """The bundled demo frames: the checkout's demo/, or share/ov_seg_ros/demo of an install."""
    for folder in (Path(__file__).resolve().parents[3] / "demo", Path(sys.prefix) / "share" / "ov_seg_ros" / "demo"):
        if any(folder.glob("frame_*.png")):
            return folder
    return None


def read_folder(folder: Path, limit: int = MAX_CALIBRATION_FRAMES) -> List[np.ndarray]:
    """RGB uint8 frames of a folder's images (sorted, at most `limit`, spread over the whole folder)."""
    from PIL import Image

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and "depth" not in p.name)
    if not files:
        raise ValueError(f"calibration folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    picks = files if len(files) <= limit else [files[i * len(files) // limit] for i in range(limit)]
    return [np.asarray(Image.open(p).convert("RGB")) for p in picks]


def calibration_frames(frames: Optional[Sequence[np.ndarray]]) -> List[np.ndarray]:
    if frames is not None:
        if len(frames) == 0:
            raise ValueError("int8 calibration needs at least one frame")
        return list(frames)[:MAX_CALIBRATION_FRAMES]
    folder = demo_folder()
    if folder is None:
        raise ValueError("int8 needs calibration frames: the bundled demo frames are not installed; pass a folder")
    return read_folder(folder)


def to_inputs(frames: Sequence[np.ndarray], shape: Tuple[int, ...]) -> List[np.ndarray]:
    """Frames resized to the graph's H×W, grouped into batches of its B (cycling through the frames)."""
    batch, _, height, width = shape
    images = [
        F.interpolate(
            torch.from_numpy(np.array(f)).permute(2, 0, 1)[None].float() / 255, (height, width), mode="bilinear"
        )
        for f in frames
    ]
    count = max(1, len(images) // batch)
    return [torch.cat([images[(i * batch + j) % len(images)] for j in range(batch)]).numpy() for i in range(count)]


def float_scope(model, heads_float: bool = True):
    """NNCF IgnoredScope keeping the heads and the pooling float: the objectness and correlation-key
    convolutions (256 and 1 output channels, unlike the 768-channel patch embedding) and the pooling's
    einsums. Found by op type and shape, as the exporter's node names carry no module paths."""
    nncf = require("openvino", "nncf")
    keep = []
    for op in model.get_ops():
        kind = op.get_type_name()
        if kind == "Einsum" or (kind == "Convolution" and op.get_output_partial_shape(0)[1].get_length() in (256, 1)):
            keep.append(op.get_friendly_name())
    return nncf.IgnoredScope(names=keep if heads_float else [], validate=False)


def quantize(model, frames: Sequence[np.ndarray], shape: Tuple[int, ...], heads_float: bool = True):
    """int8 weights and activations of the backbone's matmuls. SmoothQuant is off: measured on the demo
    frames (calibrated on 0-3, compared on 4-7, input 96), labels agree 95.9 % mean with torch fp32
    without it and 90.5 % with it (objectness 0.013 vs 0.025 max off); the preset made no difference."""
    nncf = require("openvino", "nncf")
    inputs = to_inputs(frames, shape)
    no_smooth_quant = nncf.AdvancedSmoothQuantParameters(matmul=-1)
    return nncf.quantize(
        model,
        nncf.Dataset(inputs),
        subset_size=len(inputs),
        model_type=nncf.ModelType.TRANSFORMER,
        ignored_scope=float_scope(model, heads_float),
        advanced_parameters=nncf.AdvancedQuantizationParameters(smooth_quant_alphas=no_smooth_quant),
    )
