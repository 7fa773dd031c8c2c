"""Builds the Segmenter's visual pass for a backend (each backend's package imported only when chosen)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from ..model import CLIPDINOiser
from .support import check_backend
from .visual_pass import CompiledPass, TorchPass

Calibration = Union[None, str, Path, Sequence[np.ndarray]]


def make_visual_pass(
    backend: str, network: CLIPDINOiser, precision: str, device: str = "cpu", calibration: Calibration = None
) -> Union[TorchPass, CompiledPass]:
    """The pass for `backend`; BackendUnavailable (an ImportError) names what to install."""
    check_backend(backend)
    if backend == "torch":
        return TorchPass(network)
    if backend == "onnxruntime":
        from .onnxruntime_pass import OnnxRuntimePass

        return OnnxRuntimePass(network, precision, device)
    if backend == "openvino":
        from .openvino_pass import OpenVinoPass

        frames = calibration_frames(calibration) if precision == "int8" else None
        return OpenVinoPass(network, precision, device, calibration=frames)
    from .tensorrt_pass import TensorRtPass

    return TensorRtPass(network, precision, device)


def calibration_frames(calibration: Calibration) -> Optional[Sequence[np.ndarray]]:
    """A folder path read into frames; frames as they are; None (the bundled demo frames) as it is."""
    if calibration is None or (isinstance(calibration, str) and not calibration):
        return None
    if isinstance(calibration, (str, Path)):
        from .openvino_int8 import read_folder

        if not Path(calibration).is_dir():
            raise ValueError(f"calibration {str(calibration)!r} is not a folder of images")
        return read_folder(Path(calibration))
    return calibration
