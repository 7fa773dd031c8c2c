"""`weights:=auto`: real weights when they are on this machine, seeded ones (loudly) when not.

Only looks at the filesystem and the environment: no network, no torch import, so a launch file can
call it before any node starts. The weight-source constants live here, once; ov_seg_ros.weights imports them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Tuple

from .options import BACKBONES, METHOD_INFO

AUTO = "auto"
SEEDED = "seeded"
DEFAULT_CLIP_WEIGHTS = "laion2b_s34b_b88k"
CLIP_HF_REPO = "laion/CLIP-ViT-B-16-laion2B-s34B-b88K"  # where open_clip fetches that tag from
CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
OPENAI_HF_REPO = "timm/vit_base_patch16_clip_224.openai"  # where open_clip 3.x fetches 'openai' ViT-B-16 from
CLIP_ENV = "OV_SEG_WEIGHTS"
HEADS_ENV = "OV_SEG_HEADS"
HEADS_URL = "https://github.com/wysoczanska/clip_dinoiser/raw/main/checkpoints/last.pt"
DEFAULT_HEADS_PATH = Path("~/.cache/ov_seg_ros/last.pt")


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache, honouring HF_HUB_CACHE and HF_HOME as huggingface_hub does."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def _in_hf_cache(repo: str) -> bool:
    snapshots = hf_hub_cache() / ("models--" + repo.replace("/", "--")) / "snapshots"
    return any(any(snapshots.glob(f"*/{name}")) for name in CLIP_FILES)


def cached_clip_weights(method: str = "clip_dinoiser") -> Optional[str]:
    """The method's default weights when they are on this machine: for CLIP-DINOiser / MaskCLIP
    $OV_SEG_WEIGHTS if it names a file, else laion2b_s34b_b88k; for the others OpenAI's; from the HF cache."""
    if BACKBONES[METHOD_INFO[method].backbone].default_weights == "openai":
        return "openai" if _in_hf_cache(OPENAI_HF_REPO) else None
    env = os.environ.get(CLIP_ENV, "")
    if env and Path(env).expanduser().is_file():
        return str(Path(env).expanduser())
    return DEFAULT_CLIP_WEIGHTS if _in_hf_cache(CLIP_HF_REPO) else None


def cached_heads() -> Optional[str]:
    """$OV_SEG_HEADS or ~/.cache/ov_seg_ros/last.pt, whichever is a file first."""
    for candidate in (os.environ.get(HEADS_ENV, ""), str(DEFAULT_HEADS_PATH)):
        if candidate and Path(candidate).expanduser().is_file():
            return str(Path(candidate).expanduser())
    return None


def resolve_auto_weights(
    weights: str = AUTO, heads: str = AUTO, method: str = "clip_dinoiser"
) -> Tuple[str, str, bool]:
    """(weights, heads, is_seeded): each "auto" becomes the cached real file/tag for `method`, else "seeded".

    Values other than "auto" pass through untouched; a method without heads gets heads "" (unused).
    is_seeded is True when a part the method uses is seeded: the masks then do not come from a trained
    model and every output should say so.
    """
    uses_heads = METHOD_INFO[method].heads
    if weights == AUTO:
        weights = cached_clip_weights(method) or SEEDED
    if heads == AUTO:
        heads = (cached_heads() or SEEDED) if uses_heads else ""
    return weights, heads, weights == SEEDED or (uses_heads and heads == SEEDED)


def seeded_warning(weights: str, heads: str) -> str:
    """The loud message to log when resolve_auto_weights fell back to seeded weights."""
    lines: List[str] = [
        "*" * 78,
        "UNTRAINED SEEDED WEIGHTS: the masks are NOT from a trained model (demo plumbing only).",
    ]
    if weights == SEEDED:
        lines.append(
            f"  For trained CLIP weights, run once with internet access\n"
            f"    python -c \"import open_clip; open_clip.create_model('ViT-B-16', "
            f"pretrained='{DEFAULT_CLIP_WEIGHTS}')\"\n"
            f"  or set {CLIP_ENV}=/path/to/open_clip_pytorch_model.bin"
        )
    if heads == SEEDED:
        lines.append(
            f"  For trained CLIP-DINOiser heads, download last.pt from\n"
            f"    {HEADS_URL}\n"
            f"  to {DEFAULT_HEADS_PATH} or set {HEADS_ENV}=/path/to/last.pt"
        )
    lines.append("*" * 78)
    return "\n".join(lines)
