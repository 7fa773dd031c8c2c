"""NACLIP, ClearCLIP and SCLIP (+ PAMR) written out straightforwardly from the SPECs (baseline, not product).

An independent oracle for the engine (ov_seg_ros/engine/methods) on sizes the shared fixtures do not
cover (sides that are not multiples of 16, several windows per side): it runs open_clip's own blocks
0..10, builds every attention matrix explicitly, runs one window at a time, and does PAMR the way
1-stage-wseg does (stacking the 16 shifted copies through convolutions), so it shares no code with the
engine beyond open_clip. Nothing is copied from upstream (ClearCLIP is non-commercial, SCLIP unlicensed).
"""

from __future__ import annotations

from typing import Dict, Tuple

import torch
import torch.nn.functional as F

MEAN = torch.tensor((122.771, 116.746, 104.094)).view(1, 3, 1, 1)
STD = torch.tensor((68.501, 66.632, 70.323)).view(1, 3, 1, 1)
SCALE = {"naclip": 40.0, "clearclip": 50.0, "sclip": 40.0}
WINDOW = {"naclip": (224, 112), "clearclip": (448, 224), "sclip": (224, 112)}


def normalised(image_uint8: torch.Tensor) -> torch.Tensor:
    """H×W×3 uint8 -> 1×3×H×W normalised as upstream's data preprocessor does on 0..255 values."""
    return (image_uint8.permute(2, 0, 1)[None].float() - MEAN) / STD


def omega(h: int, w: int, sigma: float = 5.0) -> torch.Tensor:
    """Gaussian neighbourhood bias by its closed form, with a zero CLS row and column."""
    out = torch.zeros(1 + h * w, 1 + h * w)
    ys = torch.arange(h).repeat_interleave(w).float()
    xs = torch.arange(w).repeat(h).float()
    d2 = (ys[:, None] - ys[None, :]) ** 2 + (xs[:, None] - xs[None, :]) ** 2
    out[1:, 1:] = torch.exp(-d2 / (2 * sigma * sigma))
    return out


def features(visual, x: torch.Tensor, method: str) -> torch.Tensor:
    """1×3×H×W normalised -> N×512 patch features (h×w row-major), and the grid."""
    tokens = visual.conv1(x)  # no padding: floor grid
    h, w = tokens.shape[-2:]
    tokens = tokens.flatten(2).transpose(1, 2)
    tokens = torch.cat([visual.class_embedding.view(1, 1, -1), tokens], dim=1)
    pos = visual.positional_embedding
    if (h, w) != (14, 14):
        grid = pos[1:].reshape(1, 14, 14, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(
            grid,
            scale_factor=((h + 0.1) / 14, (w + 0.1) / 14),
            mode="bicubic",
            align_corners=False,
            recompute_scale_factor=False,
        )
        pos = torch.cat([pos[:1], grid.flatten(2)[0].t()])
    z = visual.ln_pre(tokens + pos)
    for block in visual.transformer.resblocks[:-1]:
        z = block(z)  # open_clip's own block (batch-first in 3.x)
    last = visual.transformer.resblocks[-1]
    y = last.ln_1(z)[0]
    q, k, v = F.linear(y, last.attn.in_proj_weight, last.attn.in_proj_bias).chunk(3, dim=-1)
    heads = last.attn.num_heads
    q, k, v = (t.reshape(t.shape[0], heads, -1).transpose(0, 1) for t in (q, k, v))  # heads×N×64
    s = q.shape[-1] ** -0.5
    if method == "naclip":
        attn = torch.softmax(k @ k.transpose(1, 2) * s + omega(h, w), dim=-1)
    elif method == "clearclip":
        attn = torch.softmax(q @ q.transpose(1, 2) * s, dim=-1)
    else:
        attn = torch.softmax(q @ q.transpose(1, 2) * s, dim=-1) + torch.softmax(k @ k.transpose(1, 2) * s, dim=-1)
    out = last.attn.out_proj((attn @ v).transpose(0, 1).reshape(y.shape[0], -1))
    if method == "sclip":
        out = z[0] + out
        out = out + last.mlp(last.ln_2(out))
    out = visual.ln_post(out) @ visual.proj
    return out[1:], (h, w)


def logits(visual, x: torch.Tensor, text: torch.Tensor, method: str, size: Tuple[int, int]) -> torch.Tensor:
    """K×size cosine logits of one normalised image, bilinearly upsampled from the patch grid."""
    feats, (h, w) = features(visual, x, method)
    cos = (F.normalize(feats, dim=-1) @ text.t()).t().reshape(1, -1, h, w)
    return F.interpolate(cos, size=size, mode="bilinear", align_corners=False)[0]


def slide(visual, x: torch.Tensor, text: torch.Tensor, method: str) -> torch.Tensor:
    crop, stride = WINDOW[method]
    height, width = x.shape[-2:]
    total = torch.zeros(text.shape[0], height, width)
    count = torch.zeros(1, height, width)
    for i in range(max(height - crop + stride - 1, 0) // stride + 1):
        for j in range(max(width - crop + stride - 1, 0) // stride + 1):
            y2, x2 = min(i * stride + crop, height), min(j * stride + crop, width)
            y1, x1 = max(y2 - crop, 0), max(x2 - crop, 0)
            window = x[..., y1:y2, x1:x2]
            wh, ww = window.shape[-2:]
            if method == "clearclip" and (wh % 16 or ww % 16):
                ph, pw = (16 - wh % 16) % 16, (16 - ww % 16) % 16
                t, lft = ph // 2, pw // 2
                window = F.pad(window, (lft, pw - lft, t, ph - t))
                out = logits(visual, window, text, method, window.shape[-2:])[:, t : t + wh, lft : lft + ww]
            else:
                out = logits(visual, window, text, method, (wh, ww))
            total[:, y1:y2, x1:x2] += out
            count[:, y1:y2, x1:x2] += 1
    return total / count


def _shift_kernels(centre: float, neighbour: float, with_centre: bool) -> torch.Tensor:
    positions = [(r, c) for r in range(3) for c in range(3) if with_centre or (r, c) != (1, 1)]
    weight = torch.zeros(len(positions), 1, 3, 3)
    for n, (r, c) in enumerate(positions):
        if (r, c) != (1, 1):
            weight[n, 0, 1, 1] += centre
        weight[n, 0, r, c] += neighbour
    return weight


def _local(x: torch.Tensor, weight: torch.Tensor, dilations=(8, 16)) -> torch.Tensor:
    """B×C×H×W -> B×C×P×H×W, P = kernels × dilations (replicate padding)."""
    b, c, h, w = x.shape
    flat = x.reshape(b * c, 1, h, w)
    out = [F.conv2d(F.pad(flat, [d] * 4, mode="replicate"), weight, dilation=d) for d in dilations]
    return torch.cat(out, 1).reshape(b, c, -1, h, w)


def pamr(image: torch.Tensor, mask: torch.Tensor, iterations: int = 10) -> torch.Tensor:
    """1-stage-wseg's PAMR: all 16 shifted copies at once (what the engine avoids)."""
    std = _local(image, _shift_kernels(0.0, 1.0, with_centre=True)).std(2, keepdim=True)
    diff = _local(image, _shift_kernels(1.0, -1.0, with_centre=False)).abs()
    aff = torch.softmax((-diff / (1e-8 + 0.1 * std)).mean(1, keepdim=True), dim=2)
    copies = _shift_kernels(0.0, 1.0, with_centre=False)
    for _ in range(iterations):
        mask = (_local(mask, copies) * aff).sum(2)
    return mask


@torch.no_grad()
def reference(visual, image_uint8, text: torch.Tensor, method: str, mode: str, use_pamr: bool = False) -> Dict:
    """{'probs' K×h×w (whole), 'probs_image' K×H×W, 'labels' H×W} as the published method computes them."""
    x = normalised(torch.from_numpy(image_uint8))
    size = tuple(x.shape[-2:])
    out: Dict[str, torch.Tensor] = {}
    if mode == "whole":
        feats, (h, w) = features(visual, x, method)
        patch = (F.normalize(feats, dim=-1) @ text.t()).t().reshape(-1, h, w)
        out["probs"] = torch.softmax(SCALE[method] * patch, dim=0)
        pixel = logits(visual, x, text, method, size)
    else:
        pixel = slide(visual, x, text, method)
    if use_pamr:
        pixel = pamr(x, pixel[None])[0]
    out["probs_image"] = torch.softmax(SCALE[method] * pixel, dim=0)
    out["labels"] = pixel.argmax(0)
    return out
