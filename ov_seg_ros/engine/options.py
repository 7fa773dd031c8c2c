"""The engine's options and the rule for each, torch-free so every front-end (node parameters,
launch, ov-seg) validates with the engine's own rules without loading torch."""

from __future__ import annotations

PATCH = 16  # ViT-B/16 patch size: network inputs are padded to multiples of it
METHODS = ("clip_dinoiser", "maskclip")
MODES = ("whole", "slide")
PRECISION_NAMES = ("fp32", "fp16", "bf16", "int8")  # int8: backend openvino
MAX_LONG_SIDE = 2048  # mmseg Resize(img_scale=(2048, 448), keep_ratio=True)
NATIVE_SIZE = 0  # input_size 0: the image's own size (the one spelling of it, everywhere)


def check_input_size(size: int) -> int:
    """`size` when it is 0 (native) or a usable short side; ValueError otherwise."""
    if size != NATIVE_SIZE and not PATCH <= size <= MAX_LONG_SIDE:
        raise ValueError(
            f"input_size must be 0 (native size) or at least {PATCH} and at most {MAX_LONG_SIDE}; got {size}"
        )
    return size
