"""Which backend runs which precision where, and what to install for it: torch-free, so the node's
parameter checks, the launch file and `ov-seg --help` use the engine's own rule without loading torch.

`combination_error` is the one rule; parameters/checks.py turns it into a parameter reason and the
Segmenter raises it as a ValueError.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache
from typing import Dict, Optional, Tuple

BACKEND_NAMES = ("torch", "onnxruntime", "openvino", "tensorrt")
DEFAULT_BACKEND = "torch"
# Methods whose visual pass the compiled backends hold (one exported graph serves both: it returns
# MaskCLIP's features and the pooled ones). Other methods run in torch only.
COMPILED_METHODS = ("clip_dinoiser", "maskclip")
# backend -> (import name, pip extra of this package, what that extra installs)
PACKAGES: Dict[str, Tuple[str, str, str]] = {
    "onnxruntime": ("onnxruntime", "onnxruntime", "onnx onnxscript onnxruntime"),
    "openvino": ("openvino", "openvino", "onnx onnxscript openvino nncf"),
    "tensorrt": ("tensorrt", "tensorrt", "onnx onnxscript tensorrt"),
}
# backend -> {device type: precisions}; bf16 on CPU additionally needs the instruction set (below).
SUPPORTED = {
    "onnxruntime": {"cpu": ("fp32",)},
    "openvino": {"cpu": ("fp32", "bf16", "int8")},
    "tensorrt": {"cuda": ("fp32", "fp16")},
}
TORCH_PRECISIONS = ("fp32", "fp16", "bf16")  # autocast on any device, as before backends existed


class BackendUnavailable(ImportError):
    """A backend's package is not installed; the message is the one line saying what to install."""


def install_hint(backend: str) -> str:
    module, extra, packages = PACKAGES[backend]
    return (
        f"backend {backend!r} needs the Python package {module!r}: "
        f"pip install 'ov_seg_ros[{extra}]' (or: pip install {packages})"
    )


def require(backend: str, module: Optional[str] = None):
    """Import a backend's package (or one of its helpers), or raise BackendUnavailable with the hint."""
    name = module or PACKAGES[backend][0]
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendUnavailable(f"{install_hint(backend)} ({exc})") from None


def installed(backend: str) -> bool:
    return backend == "torch" or importlib.util.find_spec(PACKAGES[backend][0]) is not None


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset:
    """This CPU's instruction-set flags (/proc/cpuinfo; empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return frozenset(f.read().split())
    except OSError:
        return frozenset()


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: what OpenVINO's CPU plugin needs for bf16 (without it, it would run f32)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cpu_has_vnni() -> bool:
    """An int8 dot-product instruction (AVX512-VNNI, AVX-VNNI or AMX): without one OpenVINO's int8 matmuls
    take a generic kernel no faster than its f32 ones."""
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags())


def slow_precision(backend: str, precision: str, device: str = "cpu") -> Optional[str]:
    """A warning for a combination that runs but buys no speed on this CPU, or None. Measured with
    bench/bench_backends.py on an AVX2-only CPU (AMD Zen 3, 2 cores, 480×640 at input 448): torch bf16
    autocast 0.10× torch fp32 (bf16 emulated), OpenVINO int8 0.85–0.96× (labels 95 %)."""
    if device.split(":")[0] != "cpu" or not cpu_flags():
        return None
    if backend == "torch" and precision == "bf16" and not cpu_has_bf16():
        return (
            "precision bf16 on this CPU (no AVX512-BF16 or AMX) is emulated: about 10x slower than fp32 "
            "(bench/bench_backends.py); use fp32"
        )
    if backend == "openvino" and precision == "int8" and not cpu_has_vnni():
        return (
            "precision int8 on this CPU (no VNNI or AMX) runs no faster than fp32 and loses labels; "
            "it pays on CPUs with AVX512-VNNI, AVX-VNNI or AMX (bench/bench_backends.py)"
        )
    return None


def check_backend(backend: str) -> str:
    if backend not in BACKEND_NAMES:
        raise ValueError(f"backend must be one of {', '.join(BACKEND_NAMES)}; got {backend!r}")
    return backend


def combination_error(
    backend: str, precision: str, device: str = "cpu", method: str = "clip_dinoiser"
) -> Optional[str]:
    """Why this backend cannot run this precision on this device for this method, or None."""
    if backend not in BACKEND_NAMES:
        return f"backend must be one of {', '.join(BACKEND_NAMES)}; got {backend!r}"
    if backend == "torch":
        if precision not in TORCH_PRECISIONS:
            return f"precision {precision} needs backend openvino (torch runs {', '.join(TORCH_PRECISIONS)})"
        return None
    if method not in COMPILED_METHODS:
        return f"method {method} runs on backend torch only ({backend} holds {', '.join(COMPILED_METHODS)})"
    device_type = device.split(":")[0]
    precisions = SUPPORTED[backend].get(device_type)
    if precisions is None:
        where = ", ".join(SUPPORTED[backend])
        return f"backend {backend} runs on device {where}, not {device}"
    if precision not in precisions:
        others = [b for b in BACKEND_NAMES if precision in SUPPORTED.get(b, {}).get(device_type, ())]
        hint = f"; {precision} on {device_type} needs backend {' or '.join(others)}" if others else ""
        return f"backend {backend} on {device_type} runs {', '.join(precisions)}, not {precision}{hint}"
    if backend == "openvino" and precision == "bf16" and not cpu_has_bf16():
        return "precision bf16 needs a CPU with AVX512-BF16 or AMX (this one has neither); use fp32 or int8"
    return None
