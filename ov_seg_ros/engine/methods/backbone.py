"""The CLIP backbone a Segmenter holds, which methods can run on it, and what the log says about it.

A method brings its default weights and activation (options.METHOD_INFO): the training-free methods
OpenAI CLIP ViT-B/16 with QuickGELU, CLIP-DINOiser and MaskCLIP laion2b_s34b_b88k with GELU. Switching
method within the loaded backbone is free; a method that needs another backbone needs a new engine
(the node refuses such a switch and names the parameter to restart with). CLIP-DINOiser's heads are
loaded only for the methods that use them, so a machine without last.pt runs the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..model import CLIPDINOiser
from ..options import METHOD_INFO, METHODS
from ..text import TextEmbeddingCache
from ..weights import CLIP_ARCH, WeightsNotFoundError, backbone_name, load_clip, load_heads, resolve_backbone
from .vit import ViT


@dataclass
class LoadedBackbone:
    name: str  # backbone_name(weights, quick_gelu): the key vocabularies are embedded under
    weights: str  # the `weights` setting it was loaded for ('' = each method's default)
    heads: str  # the `heads` setting, loaded when a method first needs it
    network: CLIPDINOiser  # the visual tower (+ heads once loaded)
    vit: ViT  # the same tower for the training-free methods
    text: TextEmbeddingCache

    def switch_reason(self, method: str) -> Optional[str]:
        """Why `method` cannot run on this backbone (restart needed), or None; loads the heads on first
        need, so a missing last.pt is reported here rather than on the next frame."""
        if method not in METHODS:
            return f"method must be one of {', '.join(METHODS)}; got {method!r}"
        needed = backbone_name(*resolve_backbone(self.weights, method))
        if needed != self.name:
            return (
                f"method {method} runs on {needed} but this engine loaded {self.name}: a backbone is chosen at "
                f"start-up, so restart with method:={method} (weights:='' gives each method its default)"
            )
        if METHOD_INFO[method].heads and not self.network.heads_loaded:
            try:
                self.network.load_heads(load_heads(self.heads))
            except WeightsNotFoundError as e:
                return f"method {method} needs CLIP-DINOiser's heads: {e}"
        return None

    def describe(self, method: str) -> str:
        """The log line: which method, weights and activation, and which heads."""
        heads = f"heads {self.heads or 'default location'!r}" if self.network.heads_loaded else "no heads"
        return f"method {method} on {self.name}, {heads}"


def load_backbone(weights: str, heads: str, method: str, device: torch.device) -> LoadedBackbone:
    """Load what `method` needs under the `weights` / `heads` settings, on `device`."""
    import open_clip

    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    resolved, quick_gelu = resolve_backbone(weights, method)
    head_state = load_heads(heads) if METHOD_INFO[method].heads else None  # the cheap file first: fail fast
    clip = load_clip(resolved, quick_gelu)
    network = CLIPDINOiser(clip.visual, head_state).to(device).eval()
    name = backbone_name(resolved, quick_gelu)
    text = TextEmbeddingCache(clip.to(device), open_clip.get_tokenizer(CLIP_ARCH), device, backbone=name)
    return LoadedBackbone(name, weights, heads, network, ViT(network.visual), text)
