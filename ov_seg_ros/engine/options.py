"""The engine's options and the rule for each, torch-free so every front-end (node parameters,
launch, ov-seg) validates with the engine's own rules without loading torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

PATCH = 16  # ViT-B/16 patch size: network inputs are padded to multiples of it
MODES = ("whole", "slide")
REFINES = ("none", "pamr")  # pamr: NACLIP's published post-processing, after any method
PRECISION_NAMES = ("fp32", "fp16", "bf16", "int8")  # int8: backend openvino
MAX_LONG_SIDE = 2048  # mmseg Resize(img_scale=(2048, 448), keep_ratio=True)
NATIVE_SIZE = 0  # input_size 0: the image's own size (the one spelling of it, everywhere)


@dataclass(frozen=True)
class Backbone:
    """A CLIP ViT-B/16 family: the weights a method was published with, and their activation."""

    title: str
    default_weights: str  # OpenCLIP pretrained tag
    quick_gelu: bool  # OpenAI CLIP uses x·σ(1.702x) in both towers; OpenCLIP's LAION models GELU


@dataclass(frozen=True)
class MethodInfo:
    backbone: str  # key of BACKBONES
    heads: bool  # needs CLIP-DINOiser's head checkpoint (its objectness / correlation heads)
    background_threshold: Optional[float]  # published prob threshold on datasets with a background


BACKBONES: Dict[str, Backbone] = {
    "laion": Backbone("OpenCLIP ViT-B/16 laion2b_s34b_b88k (GELU)", "laion2b_s34b_b88k", quick_gelu=False),
    "openai": Backbone("OpenAI CLIP ViT-B/16 (QuickGELU)", "openai", quick_gelu=True),
}
METHOD_INFO: Dict[str, MethodInfo] = {
    "clip_dinoiser": MethodInfo("laion", heads=True, background_threshold=None),
    "maskclip": MethodInfo("laion", heads=True, background_threshold=None),
    # Thresholds: NACLIP and SCLIP 0.1 on voc21/context60/coco_object, ClearCLIP 0.5 (voc21) .. 0.15 (context60).
    "naclip": MethodInfo("openai", heads=False, background_threshold=0.1),
    "clearclip": MethodInfo("openai", heads=False, background_threshold=0.15),
    "sclip": MethodInfo("openai", heads=False, background_threshold=0.1),
}
METHODS = tuple(METHOD_INFO)
ZOO_METHODS = tuple(m for m, info in METHOD_INFO.items() if not info.heads)  # training-free, CLIP only


def has_objectness(method: str) -> bool:
    """Whether the method produces an objectness map (only CLIP-DINOiser's head does)."""
    return METHOD_INFO[method].heads


def check_input_size(size: int) -> int:
    """`size` when it is 0 (native) or a usable short side; ValueError otherwise."""
    if size != NATIVE_SIZE and not PATCH <= size <= MAX_LONG_SIDE:
        raise ValueError(
            f"input_size must be 0 (native size) or at least {PATCH} and at most {MAX_LONG_SIDE}; got {size}"
        )
    return size
