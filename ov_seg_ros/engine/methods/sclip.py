"""SCLIP (Wang et al., ECCV 2024), from SPEC-SCLIP (upstream states no licence: nothing copied).

The last block keeps residual and FFN but its attention is correlative: softmax(q·qᵀ) + softmax(k·kᵀ),
a sum of two row-stochastic matrices (rows sum to 2, on purpose: no 1/2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .vit import ViT, merge_heads, split_heads

LOGIT_SCALE = 40.0
SLIDE = (224, 112)  # crop, stride


def last_block(vit: ViT, z: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """z + out_proj((softmax(q·qᵀ/8) + softmax(k·kᵀ/8))·v), then + FFN, ln_post and proj."""
    block = vit.last_block
    q, k, v = split_heads(block, block.ln_1(z))
    attended = F.scaled_dot_product_attention(q, q, v) + F.scaled_dot_product_attention(k, k, v)
    z = z + block.ls_1(merge_heads(block, attended))
    z = z + block.ls_2(block.mlp(block.ln_2(z)))
    return vit.project(z)
