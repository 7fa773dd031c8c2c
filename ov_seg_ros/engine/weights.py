"""Where the network's weights come from: OpenCLIP tags or files, head checkpoints, seeded weights.

Every failure to find weights raises `WeightsNotFoundError` naming the file or tag and how to get it;
nothing here reaches a hub unless a pretrained tag is asked for.
"""

from __future__ import annotations

import math
import os
import re
import zlib
from pathlib import Path
from typing import Dict, Mapping, Tuple

import numpy as np
import torch

from .auto_weights import (
    CLIP_ENV,
    CLIP_HF_REPO,
    DEFAULT_CLIP_WEIGHTS,
    DEFAULT_HEADS_PATH,
    HEADS_ENV,
    HEADS_URL,
    OPENAI_HF_REPO,
    SEEDED,
    cached_heads,
)
from .clip_layout import check_layout
from .options import BACKBONES, METHOD_INFO

CLIP_ARCH = "ViT-B-16"

HEAD_SHAPES: Dict[str, Tuple[int, ...]] = {
    "obj_proj.weight": (256, 768, 3, 3),
    "obj_proj.bias": (256,),
    "bkg_decoder.weight": (1, 768, 1, 1),
    "bkg_decoder.bias": (1,),
}
_LAYERNORM_WEIGHT = re.compile(r"(^|\.)(ln_\w+|ln_pre|ln_post|ln_final)\.weight$")


class WeightsNotFoundError(FileNotFoundError):
    """Weights could not be found or read; the message says how to obtain them."""


def seeded_tensor(key: str, shape: Tuple[int, ...]) -> torch.Tensor:
    """One deterministic tensor, drawn as the reference fixtures were (see shared/reference/README.md)."""
    rng = np.random.default_rng(zlib.crc32(key.encode("utf-8")))
    x = rng.standard_normal(shape)
    if _LAYERNORM_WEIGHT.search(key):
        x = 1 + 0.02 * x
    elif key == "logit_scale":
        x = np.full(shape, math.log(100.0))
    elif key == "bkg_decoder.weight":
        pass  # unscaled N(0, 1), as the fixtures were drawn: the rules below must not apply to it
    elif key.startswith("visual.transformer."):
        x = 0.02 * x
    elif len(shape) >= 2:
        x = x / math.sqrt(math.prod(shape[1:]))
    else:
        x = 0.02 * x
    return torch.from_numpy(np.asarray(x, dtype=np.float32))


def seeded_state_dict(shapes: Mapping[str, Tuple[int, ...]]) -> Dict[str, torch.Tensor]:
    return {key: seeded_tensor(key, tuple(shape)) for key, shape in shapes.items()}


def _missing_clip_message(what: str, reason: str) -> str:
    tag, repo = ("openai", OPENAI_HF_REPO) if what == "openai" else (DEFAULT_CLIP_WEIGHTS, CLIP_HF_REPO)
    return (
        f"CLIP weights {what!r} could not be loaded ({reason}).\n"
        f"Get them on a machine with internet access, e.g.\n"
        f'  python -c "import open_clip; '
        f"open_clip.create_model('{CLIP_ARCH}', pretrained='{tag}')\"\n"
        f"(fills the Hugging Face cache, ~600 MB, {repo}), or download\n"
        f"open_clip_pytorch_model.bin from that repository and pass its path as `weights` "
        f"(ROS parameter `weights`, or environment variable {CLIP_ENV}). "
        f"Use weights='{SEEDED}' for deterministic untrained weights (tests, demos without a model)."
    )


def _looks_like_path(weights: str) -> bool:
    return os.sep in weights or Path(weights).suffix in {".bin", ".pt", ".pth", ".safetensors"}


def resolve_backbone(weights: str, method: str) -> Tuple[str, bool]:
    """(weights, quick_gelu) that `method` runs on under the `weights` setting.

    '' is the method's default: OpenAI's for the training-free methods, laion2b_s34b_b88k (or
    $OV_SEG_WEIGHTS) for CLIP-DINOiser and MaskCLIP. The activation is an OpenCLIP tag's own (open_clip
    3.x builds GELU for 'openai' unless told: it only warns), else (seeded, files) the method's family's.
    """
    family = BACKBONES[METHOD_INFO[method].backbone]
    if not weights:
        env = os.environ.get(CLIP_ENV, "") if family.default_weights == DEFAULT_CLIP_WEIGHTS else ""
        weights = env or family.default_weights
    if weights == SEEDED or _looks_like_path(weights):
        return weights, family.quick_gelu
    import open_clip

    config = open_clip.get_pretrained_cfg(CLIP_ARCH, weights)
    return weights, bool(config.get("quick_gelu", False)) if config else family.quick_gelu


def backbone_name(weights: str, quick_gelu: bool) -> str:
    """What a loaded backbone is called in logs, refusals and the text cache's key."""
    return f"{weights} ({'QuickGELU' if quick_gelu else 'GELU'})"


def load_clip(weights: str = DEFAULT_CLIP_WEIGHTS, quick_gelu: bool = False) -> torch.nn.Module:
    """Build OpenCLIP ViT-B-16 on CPU from 'seeded', an OpenCLIP pretrained tag, or a local file;
    quick_gelu builds OpenAI CLIP's x·σ(1.702x) in both towers (same tensors, another network)."""
    import open_clip

    weights = weights or os.environ.get(CLIP_ENV, DEFAULT_CLIP_WEIGHTS)
    if weights == SEEDED:
        model = open_clip.create_model(CLIP_ARCH, pretrained=None, force_quick_gelu=quick_gelu)
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        model.load_state_dict(seeded_state_dict(shapes), strict=True)
        check_layout(model)
        return model.eval()
    looks_like_path = _looks_like_path(weights)
    if looks_like_path and not Path(weights).is_file():
        raise WeightsNotFoundError(_missing_clip_message(weights, "no such file"))
    if not looks_like_path and weights not in open_clip.list_pretrained_tags_by_model(CLIP_ARCH):
        raise WeightsNotFoundError(_missing_clip_message(weights, f"not a file and not an OpenCLIP tag of {CLIP_ARCH}"))
    try:
        model = open_clip.create_model(CLIP_ARCH, pretrained=weights, force_quick_gelu=quick_gelu)
    except Exception as exc:  # hub unreachable, corrupt file, ...
        raise WeightsNotFoundError(_missing_clip_message(weights, f"{type(exc).__name__}: {exc}")) from exc
    check_layout(model)
    return model.eval()


def _missing_heads_message(path: str, reason: str) -> str:
    return (
        f"CLIP-DINOiser head checkpoint {path!r} could not be loaded ({reason}).\n"
        f"Download last.pt (7 MB) from {HEADS_URL}\n"
        f"to {DEFAULT_HEADS_PATH}, or pass its path as `heads` (ROS parameter `heads`, or environment "
        f"variable {HEADS_ENV}). "
        f"Use heads='{SEEDED}' for deterministic untrained heads."
    )


def load_heads(heads: str) -> Dict[str, torch.Tensor]:
    """The four head tensors from 'seeded' or an upstream last.pt ({'model_state_dict': ...} or bare).

    '' means $OV_SEG_HEADS, else ~/.cache/ov_seg_ros/last.pt.
    """
    heads = heads or cached_heads() or os.environ.get(HEADS_ENV, "") or str(DEFAULT_HEADS_PATH.expanduser())
    if heads == SEEDED:
        return seeded_state_dict(HEAD_SHAPES)
    if not Path(heads).is_file():
        raise WeightsNotFoundError(_missing_heads_message(heads, "no such file"))
    try:
        checkpoint = torch.load(heads, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsNotFoundError(_missing_heads_message(heads, f"{type(exc).__name__}: {exc}")) from exc
    state = checkpoint.get("model_state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise WeightsNotFoundError(_missing_heads_message(heads, "not a state dict"))
    missing = sorted(set(HEAD_SHAPES) - set(state))
    if missing:
        raise WeightsNotFoundError(_missing_heads_message(heads, f"missing keys {missing}"))
    for key, shape in HEAD_SHAPES.items():
        if tuple(state[key].shape) != shape:
            raise WeightsNotFoundError(
                _missing_heads_message(heads, f"{key} has shape {tuple(state[key].shape)}, expected {shape}")
            )
    return {key: state[key].float() for key in HEAD_SHAPES}
