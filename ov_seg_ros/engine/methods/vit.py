"""The OpenAI CLIP ViT-B/16 pieces NACLIP, ClearCLIP and SCLIP share, run from the block weights.

All three run the visual tower without padding (patch grid ⌊H/16⌋×⌊W/16⌋: a side that is not a multiple
of 16 loses its last pixels, and the bilinear upsampling later stretches the grid over them), with the
DINO-style positional embedding (bicubic with scale (h+0.1)/14, not size=(h, w)), blocks 0..10 unchanged;
only the last block differs per method (naclip.py, clearclip.py, sclip.py).
"""

from __future__ import annotations

import threading
from typing import Callable, Dict, Tuple

import torch
import torch.nn.functional as F
from torch import nn

# Upstream's eval constants on 0..255 values: the OpenAI mean/std ×255 rounded to 3 decimals.
MEAN_255 = (122.771, 116.746, 104.094)
STD_255 = (68.501, 66.632, 70.323)
POS_SCALE_OFFSET = 0.1  # DINO's trick: scale_factor (h + 0.1) / 14 avoids floating-point size errors

LastBlock = Callable[["ViT", torch.Tensor, int, int], torch.Tensor]  # tokens after block 10 -> B×N×512


def normalise(x: torch.Tensor) -> torch.Tensor:
    """B×3×H×W in [0, 1] -> normalised with the zoo's constants (x·255 − mean) / std."""
    mean = torch.tensor(MEAN_255, device=x.device, dtype=x.dtype).view(1, 3, 1, 1) / 255.0
    std = torch.tensor(STD_255, device=x.device, dtype=x.dtype).view(1, 3, 1, 1) / 255.0
    return (x - mean) / std


def split_heads(block: nn.Module, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v of the block's attention, each B×heads×N×64 (q·k scale left to SDPA: 64^-0.5)."""
    attn = block.attn
    b, n, dim = y.shape
    heads = attn.num_heads
    qkv = F.linear(y, attn.in_proj_weight, attn.in_proj_bias).view(b, n, 3, heads, dim // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    return q, k, v


def merge_heads(block: nn.Module, out: torch.Tensor) -> torch.Tensor:
    """B×heads×N×64 -> out_proj(B×N×768)."""
    b, heads, n, d = out.shape
    return block.attn.out_proj(out.transpose(1, 2).reshape(b, n, heads * d))


class ViT:
    """The visual tower of one CLIP model with per-size caches; never mutates a parameter (thread-safe)."""

    def __init__(self, visual: nn.Module):
        self.visual = visual
        self._cache: Dict[tuple, torch.Tensor] = {}
        self._lock = threading.Lock()

    def cached(self, key: tuple, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        value = self._cache.get(key)
        if value is None:
            value = make()
            with self._lock:
                self._cache[key] = value
        return value

    def positional_embedding(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        """(1+h·w)×768: raw on the 14×14 grid (tested on the grid shape, not the token count as upstream
        does, so a 7×28 grid is not given the 14×14 table), else bicubic with the +0.1 scale."""
        return self.cached(("pos", h, w, like.device, like.dtype), lambda: self._interpolated(h, w, like))

    def _interpolated(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        pos = self.visual.positional_embedding
        side = int(round((pos.shape[0] - 1) ** 0.5))
        if (h, w) == (side, side):
            return pos.to(device=like.device, dtype=like.dtype)
        grid = pos[1:].reshape(1, side, side, -1).permute(0, 3, 1, 2).float()
        scale = ((h + POS_SCALE_OFFSET) / side, (w + POS_SCALE_OFFSET) / side)
        grid = F.interpolate(
            grid, scale_factor=scale, mode="bicubic", align_corners=False, recompute_scale_factor=False
        )
        if grid.shape[-2:] != (h, w):  # never seen; would mean the +0.1 trick failed for this size
            raise RuntimeError(f"positional embedding interpolated to {tuple(grid.shape[-2:])}, not {(h, w)}")
        grid = grid.reshape(pos.shape[1], h * w).t()
        return torch.cat([pos[:1].float(), grid]).to(device=like.device, dtype=like.dtype)

    def tokens_before_last_block(self, x: torch.Tensor) -> Tuple[torch.Tensor, int, int]:
        """Normalised B×3×H×W -> tokens (CLS first) after block 10, and the floor grid h×w."""
        v = self.visual
        z = v.conv1(x.to(v.conv1.weight.dtype))  # stride 16, no padding: the floor grid
        b, c, h, w = z.shape
        z = z.reshape(b, c, h * w).transpose(1, 2)
        z = torch.cat([v.class_embedding.to(z.dtype).expand(b, 1, c), z], dim=1)
        z = v.ln_pre(z + self.positional_embedding(h, w, z))
        for block in v.transformer.resblocks[:-1]:
            q, k, val = split_heads(block, block.ln_1(z))
            z = z + block.ls_1(merge_heads(block, F.scaled_dot_product_attention(q, k, val)))
            z = z + block.ls_2(block.mlp(block.ln_2(z)))
        return z, h, w

    @property
    def last_block(self) -> nn.Module:
        return self.visual.transformer.resblocks[-1]

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """ln_post on all tokens, the 768->512 projection, CLS dropped: B×N×512."""
        return (self.visual.ln_post(z) @ self.visual.proj)[:, 1:]

    def patch_logits(self, x: torch.Tensor, last_block: LastBlock, text: torch.Tensor) -> torch.Tensor:
        """Normalised B×3×H×W -> cosine logits B×K×h×w against unit-norm text K×512."""
        z, h, w = self.tokens_before_last_block(x)
        features = F.normalize(last_block(self, z, h, w).float(), dim=-1)
        logits = features @ text.float().t()  # B×N×K
        return logits.transpose(1, 2).reshape(x.shape[0], text.shape[0], h, w)
