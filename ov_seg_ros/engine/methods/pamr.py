"""PAMR, pixel-adaptive mask refinement (Araslanov & Roth, CVPR 2020), as NACLIP publishes it.

The scores of each pixel are replaced, 10 times over, by an affinity-weighted sum of its 16 neighbours
at dilations 8 and 16 (replicate padding; the pixel itself is not in the sum). The affinities come
from the guide image: per colour channel |x_n − x_c| / (1e-8 + 0.1·std), std the unbiased standard
deviation of the 18 samples {3×3 window with centre} × {8, 16}; mean over channels, softmax over the
neighbours of −that.

Upstream stacks all 16 shifted copies of the K×H×W scores (about 1.2 GB per iteration at 720p with 20
classes) and silently skips PAMR when that runs out of memory. Here the neighbours are accumulated one
at a time and the classes (independent under PAMR) are refined in chunks of bounded size, so memory is
the affinities (one 16×H×W tensor) plus a few copies of one chunk; a failure is an error, never a
silent skip.
"""

from __future__ import annotations

from typing import Iterator, List, Sequence, Tuple

import torch
import torch.nn.functional as F

DILATIONS = (8, 16)
ITERATIONS = 10
STD_FACTOR = 0.1
STD_EPS = 1e-8
MAX_CHUNK_ELEMENTS = 2**22  # 16 MiB of fp32 scores refined at once; more classes go in chunks
# The 3×3 kernel positions (row, col offsets) without the centre, in the kernel's row-major order.
NEIGHBOURS: Tuple[Tuple[int, int], ...] = tuple(
    (dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)
)


def _offsets(with_centre: bool) -> Iterator[Tuple[int, int, int]]:
    """(dilation, dy, dx) pixel offsets of the neighbours at every dilation."""
    for d in DILATIONS:
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if with_centre or (dy, dx) != (0, 0):
                    yield d, dy * d, dx * d


def _shifted(padded: torch.Tensor, pad: int, dy: int, dx: int, height: int, width: int) -> torch.Tensor:
    """The value at (y + dy, x + dx) for every pixel, from a copy padded by `pad` on each side."""
    return padded[..., pad + dy : pad + dy + height, pad + dx : pad + dx + width]


def _replicate(t: torch.Tensor, pad: int) -> torch.Tensor:
    return F.pad(t, (pad, pad, pad, pad), mode="replicate")


def affinities(image: torch.Tensor) -> torch.Tensor:
    """B×3×H×W guide image -> B×16×H×W neighbour weights (softmax over the 16)."""
    height, width = image.shape[-2:]
    image = image.float()
    padded = {d: _replicate(image, d) for d in DILATIONS}
    samples = [(d, dy, dx) for d, dy, dx in _offsets(with_centre=True)]
    mean = sum(_shifted(padded[d], d, dy, dx, height, width) for d, dy, dx in samples) / len(samples)
    var = sum((_shifted(padded[d], d, dy, dx, height, width) - mean) ** 2 for d, dy, dx in samples)
    scale = STD_EPS + STD_FACTOR * (var / (len(samples) - 1)).sqrt()  # unbiased std, per channel
    offsets = list(_offsets(with_centre=False))
    weights = image.new_empty((image.shape[0], len(offsets), height, width))  # filled in place: one 16×H×W
    for p, (d, dy, dx) in enumerate(offsets):
        weights[:, p] = -((image - _shifted(padded[d], d, dy, dx, height, width)).abs() / scale).mean(dim=1)
    weights -= weights.amax(dim=1, keepdim=True)  # softmax over the neighbours, in place
    weights.exp_()
    return weights.div_(weights.sum(dim=1, keepdim=True))


def _propagate(scores: torch.Tensor, weights: torch.Tensor, iterations: int) -> torch.Tensor:
    """`iterations` times: scores ← Σ_p weights_p · shift_p(scores), one neighbour at a time."""
    height, width = scores.shape[-2:]
    offsets: List[Tuple[int, int, int]] = list(_offsets(with_centre=False))
    for _ in range(iterations):
        padded = {d: _replicate(scores, d) for d in DILATIONS}
        out = torch.zeros_like(scores)
        for p, (d, dy, dx) in enumerate(offsets):
            out.addcmul_(weights[:, p : p + 1], _shifted(padded[d], d, dy, dx, height, width))
        scores = out
    return scores


def refine(
    scores: torch.Tensor,
    image: torch.Tensor,
    iterations: int = ITERATIONS,
    max_chunk_elements: int = MAX_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """PAMR of B×K×h×w scores (logits) guided by a B×3×H×W image; returns B×K×H×W float32.

    Scores at another size are first resized to the image with align_corners=True, as upstream."""
    height, width = image.shape[-2:]
    scores = scores.float()
    if scores.shape[-2:] != (height, width):
        scores = F.interpolate(scores, size=(height, width), mode="bilinear", align_corners=True)
    weights = affinities(image)
    per_class = scores.shape[0] * height * width
    step = max(1, max_chunk_elements // per_class)
    chunks: Sequence[torch.Tensor] = scores.split(step, dim=1)
    return torch.cat([_propagate(chunk, weights, iterations) for chunk in chunks], dim=1)
