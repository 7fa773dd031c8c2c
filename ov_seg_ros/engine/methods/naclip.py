"""NACLIP (Hajimiri et al., WACV 2025, "Pay Attention to Your Neighbours"), from SPEC-NACLIP.

The last block keeps only its attention (`arch='reduced'`: no residual, no FFN, no ln_2), and that
attention is K·Kᵀ (q is unused) plus a Gaussian neighbourhood bias Ω over patch positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .vit import ViT, merge_heads, split_heads

LOGIT_SCALE = 40.0  # softmax temperature of the published method (not CLIP's 100)
GAUSSIAN_STD = 5.0  # sigma of the neighbourhood bias, in patches
SLIDE = (224, 112)  # crop, stride


def neighbourhood_bias(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Ω (1+N)×(1+N): exp(−‖p_n − p_m‖² / 2σ²) between patch (row, col) positions, unnormalised
    (1 on the diagonal); the CLS row and column are 0, so CLS is attended with no bias."""
    rows, cols = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    pos = torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1)
    omega = torch.exp(-torch.cdist(pos, pos).pow(2) / (2 * GAUSSIAN_STD**2))
    return F.pad(omega, (1, 0, 1, 0)).to(device=device, dtype=dtype)


def last_block(vit: ViT, z: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """out_proj(softmax(k·kᵀ/8 + Ω)·v) of ln_1(z), then ln_post and proj: B×N×512."""
    block = vit.last_block
    _, k, v = split_heads(block, block.ln_1(z))
    omega = vit.cached(("omega", h, w, k.device, k.dtype), lambda: neighbourhood_bias(h, w, k.device, k.dtype))
    return vit.project(merge_heads(block, F.scaled_dot_product_attention(k, k, v, attn_mask=omega)))
