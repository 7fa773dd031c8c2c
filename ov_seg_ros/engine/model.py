"""The CLIP-DINOiser network: one CLIP pass, MaskCLIP last block, the two heads, guided pooling.

Tensors are batch-first throughout; blocks are run from their weights, so open_clip's own layout
(sequence-first before 2.26, batch-first since) does not matter and no forward hooks are needed.
Nothing here mutates a parameter, so one instance can serve several threads.
"""

from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

HEAD_LAYER = 9  # feats_idx -3 of 12 blocks: the heads read this block's ln_2 output
CORRELATION_THRESHOLD = 0.2  # gamma: correlations below it do not pool
CONFIDENCE_THRESHOLD = 0.99  # delta: below it a non-salient patch becomes background
OBJECTNESS_THRESHOLD = 0.5  # FOUND's hard threshold on the sigmoid
LOGIT_SCALE = 100.0  # fixed softmax temperature of MaskCLIP (not the model's logit_scale)
POOL_EPS = 1e-6  # keeps the pooling denominator away from zero, as upstream
MAX_CORRELATION_ELEMENTS = 2**24  # 64 MiB of fp32 correlations; larger inputs pool in row blocks
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CLIPDINOiser(nn.Module):
    """Image side of CLIP-DINOiser over an OpenCLIP ViT-B-16 visual tower."""

    def __init__(self, visual: nn.Module, heads: Optional[Dict[str, torch.Tensor]]):
        super().__init__()
        self.visual = visual
        width = visual.conv1.out_channels
        self.obj_proj = nn.Conv2d(width, 256, 3, padding=1, padding_mode="replicate")
        self.bkg_decoder = nn.Conv2d(width, 1, 1)
        self.heads_loaded = False  # the training-free methods share the tower and never load heads
        if heads is not None:
            self.load_heads(heads)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)
        self._pos_cache: Dict[Tuple[int, int, torch.device, torch.dtype], torch.Tensor] = {}
        self._pos_lock = threading.Lock()

    def load_heads(self, heads: Dict[str, torch.Tensor]) -> None:
        """Strict on exactly the four head tensors (upstream's strict=False hides typos)."""
        state = {k.split(".", 1)[1]: v for k, v in heads.items() if k.startswith("obj_proj.")}
        self.obj_proj.load_state_dict(state, strict=True)
        state = {k.split(".", 1)[1]: v for k, v in heads.items() if k.startswith("bkg_decoder.")}
        self.bkg_decoder.load_state_dict(state, strict=True)
        self.heads_loaded = True

    # ----------------------------------------------------------------------------------- CLIP
    def positional_embedding(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        """Positional embedding for an h×w patch grid, bicubic from the 14×14 grid, cached per size."""
        key = (h, w, like.device, like.dtype)
        cached = self._pos_cache.get(key)
        if cached is not None:
            return cached
        pos = self.visual.positional_embedding
        side = int(round((pos.shape[0] - 1) ** 0.5))
        if (h, w) == (side, side):
            out = pos
        else:
            grid = pos[1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
            grid = F.interpolate(grid.float(), size=(h, w), mode="bicubic", align_corners=False)
            out = torch.cat([pos[:1], grid.reshape(pos.shape[1], h * w).t().to(pos.dtype)])
        out = out.to(device=like.device, dtype=like.dtype)
        with self._pos_lock:
            self._pos_cache[key] = out
        return out

    def _tokens(self, x: torch.Tensor) -> Tuple[torch.Tensor, int, int]:
        """Normalise, patch-embed, add CLS and positional embedding, ln_pre."""
        v = self.visual
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        x = v.conv1(x.to(v.conv1.weight.dtype))
        b, c, h, w = x.shape
        x = x.reshape(b, c, h * w).transpose(1, 2)
        cls = v.class_embedding.to(x.dtype).expand(b, 1, c)
        x = torch.cat([cls, x], dim=1)
        x = x + self.positional_embedding(h, w, x)
        return v.ln_pre(x), h, w

    @staticmethod
    def _attention(block: nn.Module, y: torch.Tensor) -> torch.Tensor:
        """The block's multi-head self-attention from its weights, through fused SDPA.

        Reading the weights directly makes open_clip's tensor layout (sequence-first up to 2.24,
        batch-first since 2.26) irrelevant, and SDPA beats nn.MultiheadAttention's path on CPU.
        """
        attn = block.attn
        b, n, dim = y.shape
        heads = attn.num_heads
        qkv = F.linear(y, attn.in_proj_weight, attn.in_proj_bias).view(b, n, 3, heads, dim // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, dim)
        return attn.out_proj(out)

    def _block(self, block: nn.Module, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """A standard pre-LN residual block; also returns its ln_2 output (the heads' tap)."""
        x = x + block.ls_1(self._attention(block, block.ln_1(x)))
        tap = block.ln_2(x)
        return x + block.ls_2(block.mlp(tap)), tap

    @staticmethod
    def _maskclip_block(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The last block with attention replaced by its value path: each token attends to itself."""
        attn = block.attn
        dim = x.shape[-1]
        v = F.linear(block.ln_1(x), attn.in_proj_weight[2 * dim :], attn.in_proj_bias[2 * dim :])
        x = x + block.ls_1(attn.out_proj(v))
        return x + block.ls_2(block.mlp(block.ln_2(x)))

    def encode_image(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x: B×3×H×W in [0,1], H and W multiples of 16.

        Returns (F, A): MaskCLIP features B×512×h×w (un-normalised) and the block-9 ln_2 tap
        B×768×h×w, from a single pass over blocks 0..10 plus the modified block 11.
        """
        z, h, w = self._tokens(x)
        blocks = self.visual.transformer.resblocks
        for index, block in enumerate(blocks[:-1]):
            z, block_tap = self._block(block, z)
            if index == HEAD_LAYER:
                tap = block_tap
        # Identity attention makes tokens independent, so the CLS token can be dropped first.
        z = self._maskclip_block(blocks[-1], z[:, 1:])
        features = self.visual.ln_post(z) @ self.visual.proj
        return _to_grid(features, h, w), _to_grid(tap[:, 1:], h, w)

    # ---------------------------------------------------------------------------------- heads
    def objectness(self, tap: torch.Tensor) -> torch.Tensor:
        """FOUND-like saliency: sigmoid(bkg_decoder(A / ||A||)), B×h×w."""
        return torch.sigmoid(self.bkg_decoder(F.normalize(tap, dim=1)))[:, 0]

    def correlation_keys(self, tap: torch.Tensor) -> torch.Tensor:
        """Unit-norm obj_proj features B×256×N whose dot products are the patch correlations."""
        return F.normalize(self.obj_proj(tap).flatten(2), dim=1)

    def correlations(self, tap: torch.Tensor) -> torch.Tensor:
        """Thresholded patch-to-patch cosine similarities predicted by obj_proj, B×N×N."""
        keys = self.correlation_keys(tap)
        return correlation_matrix(keys, keys)

    def forward(self, x: torch.Tensor, pool: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns (features B×512×h×w: guided-pooled, or MaskCLIP's own without `pool`; objectness B×h×w)."""
        features, tap = self.encode_image(x)
        objectness = self.objectness(tap)
        if pool:
            features = pool_guided(features, self.correlation_keys(tap))
        return features, objectness


def _to_grid(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w)


def threshold_correlations(corr: torch.Tensor) -> torch.Tensor:
    # gamma also removes negative weights; gamma=0 clamps at 0 (upstream would keep them).
    return corr.masked_fill(corr < max(CORRELATION_THRESHOLD, 0.0), 0.0)


def correlation_matrix(query_keys: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Thresholded cosine similarities of query patches (B×256×n) to all patches (B×256×N): B×n×N."""
    return threshold_correlations(torch.einsum("bcn,bcm->bnm", query_keys, keys))


def _weighted_mean(flat: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
    """B×C×N features averaged with B×n×N weights -> B×C×n."""
    pooled = torch.einsum("bnm,bcm->bcn", corr, flat.to(corr.dtype))
    return pooled / (corr.sum(-1).unsqueeze(1) + POOL_EPS)


def pool_by_correlation(features: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
    """Guided pooling: each patch becomes the correlation-weighted mean of all patches."""
    return _weighted_mean(features.flatten(2), corr).reshape(features.shape).to(features.dtype)


def pool_guided(
    features: torch.Tensor, keys: torch.Tensor, max_elements: int = MAX_CORRELATION_ELEMENTS
) -> torch.Tensor:
    """pool_by_correlation over blocks of query patches, so the N×N matrix never exists whole."""
    n = keys.shape[-1]
    rows = max(1, max_elements // (n * keys.shape[0]))  # one block (the whole matrix) up to the budget
    flat = features.flatten(2)
    pooled = [
        _weighted_mean(flat, correlation_matrix(keys[..., start : start + rows], keys)) for start in range(0, n, rows)
    ]
    return torch.cat(pooled, dim=-1).reshape(features.shape).to(features.dtype)


def classify(features: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """softmax over K of 100·cos(features, text): B×512×h×w, K×512 -> B×K×h×w."""
    logits = torch.einsum("bchw,kc->bkhw", F.normalize(features.float(), dim=1), text.float())
    return torch.softmax(LOGIT_SCALE * logits, dim=1)


def apply_background_rule(
    probs: torch.Tensor, objectness: torch.Tensor, background_index: Optional[int]
) -> torch.Tensor:
    """Patches neither salient nor confident become background (probability 1), per batch element."""
    if background_index is None:
        return probs
    uncertain = probs.max(dim=1).values < CONFIDENCE_THRESHOLD
    not_salient = objectness <= OBJECTNESS_THRESHOLD
    out = probs.clone()
    out[:, background_index] = torch.where(uncertain & not_salient, 1.0, probs[:, background_index])
    return out
