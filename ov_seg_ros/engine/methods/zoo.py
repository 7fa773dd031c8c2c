"""The zoo's table (method name -> protocol) and the one entry point the Segmenter dispatches to."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from . import clearclip, naclip, pamr, sclip
from .protocol import Protocol, pixel_logits, upsample
from .vit import ViT, normalise

NO_OBJECTNESS = float("nan")  # what objectness maps hold for methods without an objectness head

ZOO: Dict[str, Protocol] = {
    "naclip": Protocol(naclip.last_block, naclip.LOGIT_SCALE, *naclip.SLIDE, centred_padding=False),
    "clearclip": Protocol(clearclip.last_block, clearclip.LOGIT_SCALE, *clearclip.SLIDE, centred_padding=True),
    "sclip": Protocol(sclip.last_block, sclip.LOGIT_SCALE, *sclip.SLIDE, centred_padding=False),
}
MIN_SIDE = 16  # one patch: the floor grid of anything smaller is empty


def predict(
    vit: ViT,
    name: str,
    x: torch.Tensor,
    text: torch.Tensor,
    background: bool,
    mode: str,
    refine: str,
    size: Optional[Tuple[int, int]] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Method `name` on B×3×H×W images in [0, 1] with unit-norm text K×512 (no background row).

    Returns (patch probs B×K'×h×w, pixel probs B×K'×size): softmax(scale·logits) of the patch logits and
    of the logits at pixel level (so labels are the argmax of upsampled logits, not of upsampled probs).
    With `background`, K' = K + 1 and channel 0 is a zero "background" that no pixel wins: these
    methods have no background model, so label 0 comes from a confidence threshold only. PAMR (`refine`)
    runs on the pixel logits at the network's input size, guided by the normalised image.
    """
    if min(x.shape[-2:]) < MIN_SIDE:
        raise ValueError(f"{name} needs an image of at least {MIN_SIDE}×{MIN_SIDE} pixels, got {tuple(x.shape[-2:])}")
    method = ZOO[name]
    x = normalise(x)
    size = size or tuple(x.shape[-2:])
    if refine == "pamr":
        patch, pixels = pixel_logits(vit, method, x, text, mode, None)
        pixels = pamr.refine(pixels, x)
        if pixels.shape[-2:] != size:
            pixels = upsample(pixels, size)
    else:
        patch, pixels = pixel_logits(vit, method, x, text, mode, size)
    probs = torch.softmax(method.logit_scale * patch.float(), dim=1)
    pixel_probs = torch.softmax(method.logit_scale * pixels.float(), dim=1)
    if background:
        probs, pixel_probs = F.pad(probs, (0, 0, 0, 0, 1, 0)), F.pad(pixel_probs, (0, 0, 0, 0, 1, 0))
    return probs, pixel_probs


def engine_maps(
    vit: ViT, name: str, x: torch.Tensor, vocab, mode: str, refine: str, size: Tuple[int, int]
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`predict` in the Segmenter's layout: patch probs, objectness B×h×w (NaN: none) and the pixel
    probs with that objectness as one more channel."""
    text = vocab.embeddings[1 if vocab.background else 0 :]  # the background row is not scored
    probs, pixels = predict(vit, name, x, text, vocab.background, mode, refine, size)
    objectness = torch.full_like(probs[:, 0], NO_OBJECTNESS)
    return probs, objectness, torch.cat([pixels, torch.full_like(pixels[:, :1], NO_OBJECTNESS)], 1)


def refine_probabilities(pixels: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """PAMR after CLIP-DINOiser / MaskCLIP: on the K probability channels of (K+1)-channel maps (its
    weighted sums keep them probabilities), objectness untouched, guided by the normalised image."""
    return torch.cat([pamr.refine(pixels[:, :-1], normalise(x)), pixels[:, -1:].float()], 1)
