"""Each zoo method's test-time protocol on a normalised image: whole-image logits on the floor grid, or
the method's own sliding windows with the window logits averaged at image resolution (never probs).

Windows are mmseg's: grids = max(S − crop + stride − 1, 0) // stride + 1 per side, end = min(start +
crop, S), start = max(end − crop, 0); a window smaller than the crop (a small image) is used as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F

from .vit import LastBlock, ViT

MAX_WINDOW_ELEMENTS = 2**25  # upsampled window logits per batch (128 MiB fp32): more windows, more batches


@dataclass(frozen=True)
class Protocol:
    last_block: LastBlock
    logit_scale: float  # softmax temperature
    crop: int  # sliding window side
    stride: int
    centred_padding: bool  # pad windows to a multiple of 16, centred (ClearCLIP); else floor grid


def spans(size: int, crop: int, stride: int) -> List[Tuple[int, int]]:
    """(start, end) of the windows along one side."""
    count = max(size - crop + stride - 1, 0) // stride + 1
    out = []
    for i in range(count):
        end = min(i * stride + crop, size)
        out.append((max(end - crop, 0), end))
    return out


def windows(height: int, width: int, crop: int, stride: int) -> List[Tuple[int, int, int, int]]:
    """(y1, y2, x1, x2) of every window, row-major."""
    return [(y1, y2, x1, x2) for y1, y2 in spans(height, crop, stride) for x1, x2 in spans(width, crop, stride)]


def upsample(logits: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def whole_logits(vit: ViT, method: Protocol, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Patch logits B×K×⌊H/16⌋×⌊W/16⌋ of the whole normalised image, no padding."""
    return vit.patch_logits(x, method.last_block, text)


def _window_logits(vit: ViT, method: Protocol, crops: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Window logits upsampled to the window size (ClearCLIP: to the centred-padded size, cropped back)."""
    height, width = crops.shape[-2:]
    if not method.centred_padding:
        return upsample(vit.patch_logits(crops, method.last_block, text), (height, width))
    top, left = ((-height) % 16) // 2, ((-width) % 16) // 2
    bottom, right = (-height) % 16 - top, (-width) % 16 - left
    padded = F.pad(crops, (left, right, top, bottom))  # zeros in normalised space, as upstream
    logits = upsample(vit.patch_logits(padded, method.last_block, text), padded.shape[-2:])
    return logits[..., top : top + height, left : left + width]


def slide_logits(
    vit: ViT, method: Protocol, x: torch.Tensor, text: torch.Tensor, max_elements: int = MAX_WINDOW_ELEMENTS
) -> torch.Tensor:
    """Averaged window logits 1×K×H×W of one normalised 1×3×H×W image (all windows have one size, so
    they run in batches bounded by `max_elements` of upsampled logits)."""
    height, width = x.shape[-2:]
    boxes = windows(height, width, method.crop, method.stride)
    y1, y2, x1, x2 = boxes[0]
    per_window = text.shape[0] * (y2 - y1) * (x2 - x1)
    batch = max(1, max_elements // per_window)
    total = torch.zeros((1, text.shape[0], height, width), dtype=torch.float32, device=x.device)
    count = torch.zeros((1, 1, height, width), dtype=torch.float32, device=x.device)
    for start in range(0, len(boxes), batch):
        chunk = boxes[start : start + batch]
        crops = torch.cat([x[..., a:b, c:d] for a, b, c, d in chunk])
        for (a, b, c, d), logits in zip(chunk, _window_logits(vit, method, crops, text), strict=True):
            total[0, :, a:b, c:d] += logits.float()
            count[0, :, a:b, c:d] += 1
    return total / count


def pixel_logits(
    vit: ViT, method: Protocol, x: torch.Tensor, text: torch.Tensor, mode: str, size: Optional[Tuple[int, int]]
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(patch logits, logits at `size`, default x's size) under `mode` for a batch of normalised images.

    Slide runs each image's windows; its patch logits are the pixel logits area-pooled onto the floor grid."""
    size = size or tuple(x.shape[-2:])
    if mode == "whole":
        patch = whole_logits(vit, method, x, text)
        return patch, upsample(patch, size)
    pixels = torch.cat([slide_logits(vit, method, image[None], text) for image in x])
    grid = (max(1, x.shape[-2] // 16), max(1, x.shape[-1] // 16))
    patch = F.adaptive_avg_pool2d(pixels, grid)
    return patch, pixels if pixels.shape[-2:] == size else upsample(pixels, size)
