"""ClearCLIP (Lan et al., ECCV 2024), from SPEC-CLEARCLIP (upstream is non-commercial: nothing copied).

The last block keeps only its attention, with self-self Q·Qᵀ attention (`model_type='ClearCLIP'`,
`ignore_residual=True`, as the paper and demo.py; the shipped config's 'vanilla' is not the method).
Its sliding windows are 448/224 and pad a window whose side is not a multiple of 16 *centred*
(protocol.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .vit import ViT, merge_heads, split_heads

LOGIT_SCALE = 50.0
SLIDE = (448, 224)  # crop, stride


def last_block(vit: ViT, z: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """out_proj(softmax(q·qᵀ/8)·v) of ln_1(z), no residual and no FFN, then ln_post and proj."""
    block = vit.last_block
    q, _, v = split_heads(block, block.ln_1(z))
    return vit.project(merge_heads(block, F.scaled_dot_product_attention(q, q, v)))
