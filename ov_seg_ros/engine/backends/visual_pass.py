"""What the Segmenter asks for each frame: the visual pass's (features, objectness) for a padded batch.

`TorchPass` runs the live network (today's path). `CompiledPass` holds one compiled graph per input
shape, loaded from the cache or exported on first use; subclasses say how a backend builds and runs one.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..model import CLIPDINOiser
from . import cache
from .export import ONNX_FILE, export_onnx

Runner = Callable[[np.ndarray], Sequence[np.ndarray]]  # image -> (maskclip, pooled, objectness)


class TorchPass:
    """The network itself, eager (autocast is the Segmenter's precision context)."""

    name = "torch"

    def __init__(self, network: CLIPDINOiser):
        self.network = network
        self.builds: List[Dict[str, Any]] = []

    def __call__(self, x: torch.Tensor, pool: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.network(x, pool=pool)

    def prepare(self, shape: Tuple[int, ...]) -> Dict[str, Any]:
        return {"shape": tuple(shape), "how": "eager", "seconds": 0.0}


class CompiledPass:
    """Per-shape compiled graphs of one backend, from the cache under cache.cache_root()."""

    name = ""
    version = ""

    def __init__(self, network: CLIPDINOiser, precision: str, device: str = "cpu"):
        self.network = network
        self.precision = precision
        self.device = device
        self._runners: Dict[Tuple[int, ...], Runner] = {}
        self._lock = threading.Lock()
        self._model_hash: Optional[str] = None
        self.builds: List[Dict[str, Any]] = []  # what prepare() did per shape: exported or loaded, seconds

    # ------------------------------------------------------------------ per-shape graphs
    def __call__(self, x: torch.Tensor, pool: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        runner = self._runners.get(tuple(x.shape)) or self._runner(tuple(x.shape))
        maskclip, pooled, objectness = runner(np.ascontiguousarray(x.detach().float().cpu().numpy()))
        features = torch.from_numpy(np.asarray(pooled if pool else maskclip, dtype=np.float32))
        return features.to(x.device), torch.from_numpy(np.asarray(objectness, dtype=np.float32)).to(x.device)

    def prepare(self, shape: Tuple[int, ...]) -> Dict[str, Any]:
        """Load (or export and build) the graph for a B×3×H×W input now rather than on the first frame."""
        self._runner(tuple(shape))
        return self.builds[-1] if self.builds and self.builds[-1]["shape"] == tuple(shape) else {}

    def _runner(self, shape: Tuple[int, ...]) -> Runner:
        if len(shape) != 4 or shape[1] != 3 or shape[2] % 16 or shape[3] % 16:
            raise ValueError(f"visual pass input must be B×3×H×W with H, W multiples of 16; got {shape}")
        with self._lock:
            if shape not in self._runners:
                start = time.perf_counter()
                runner, how = self.build(shape)
                self.builds.append({"shape": shape, "how": how, "seconds": time.perf_counter() - start})
                self._runners[shape] = runner
            return self._runners[shape]

    def build(self, shape: Tuple[int, ...]) -> Tuple[Runner, str]:
        """(runner, 'built' or 'cached') for one shape."""
        raise NotImplementedError

    # ------------------------------------------------------------------------- the cache
    @property
    def model_hash(self) -> str:
        if self._model_hash is None:
            self._model_hash = cache.hash_tensors(self.network.state_dict().items())
        return self._model_hash

    def folder(self) -> Path:
        return cache.cache_root() / self.model_hash

    def onnx(self, shape: Tuple[int, ...], half: bool = False) -> Tuple[Path, str]:
        """The exported ONNX for a shape (fp32, or fp16 for TensorRT): (path, 'built' or 'cached')."""
        onnx = _require_onnx(self.name)
        key = {
            "artifact": "onnx",
            "precision": "fp16" if half else "fp32",
            "shape": list(shape),
            "torch": torch.__version__.split("+")[0],
            "version": onnx.__version__,
        }

        def build(folder: Path) -> None:
            export_onnx(self.network, shape, folder, half=half, device=self.device)

        def load(folder: Path) -> Path:
            return folder / ONNX_FILE  # its files' sizes were checked against the entry's meta.json

        return cache.load_or_build(self.folder(), key, build, load)[:2]


def _require_onnx(backend: str):
    from .support import require

    require(backend, "onnxscript")
    return require(backend, "onnx")
