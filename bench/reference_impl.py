"""The reference implementation's code path, rebuilt on open_clip's own modules (baseline, not product).

It does what upstream clip_dinoiser does per frame: overwrite the visual positional embedding with an
interpolated copy, run the *full* OpenCLIP visual forward with forward hooks (block-9 ln_2, block-10
output), then a second, MaskCLIP-modified last block that still computes q and k. The tests use it as
an independent oracle for sizes and vocabularies the fixtures do not cover; bench_engine.py times it.
"""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator, Sequence

import torch
import torch.nn.functional as F
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

MEAN = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
STD = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)


def reference_text_embeddings(clip, tokenizer, names: Sequence[str]) -> torch.Tensor:
    """Per class: encode_text over the full 77-token context, normalise, mean, normalise."""
    out = []
    device = next(clip.parameters()).device
    with torch.inference_mode():
        for name in names:
            e = clip.encode_text(tokenizer([t(name) for t in OPENAI_IMAGENET_TEMPLATES]).to(device))
            out.append(F.normalize(F.normalize(e, dim=-1).mean(0), dim=-1))
    return torch.stack(out)


@contextlib.contextmanager
def sequence_first(visual: torch.nn.Module) -> Iterator[None]:
    """Run open_clip's tower in the LND layout of open_clip 2.24, the version upstream pins.

    (nn.MultiheadAttention then takes its general path instead of the batch-first fast path,
    as it did for upstream.) Not thread-safe: flips flags on shared modules for the call.
    """
    modules = [visual.transformer] + [block.attn for block in visual.transformer.resblocks]
    saved = [m.batch_first for m in modules]
    for m in modules:
        m.batch_first = False
    try:
        yield
    finally:
        for m, flag in zip(modules, saved, strict=True):
            m.batch_first = flag


class ReferencePath:
    """Upstream-style CLIP-DINOiser forward: full CLIP pass + hooks + a second last block."""

    def __init__(self, visual: torch.nn.Module, heads: Dict[str, torch.Tensor]):
        self.visual = visual
        self.pristine = visual.positional_embedding.detach().clone()
        self.obj_proj = torch.nn.Conv2d(768, 256, 3, padding=1, padding_mode="replicate")
        self.obj_proj.load_state_dict({"weight": heads["obj_proj.weight"], "bias": heads["obj_proj.bias"]})
        self.bkg_decoder = torch.nn.Conv2d(768, 1, 1)
        self.bkg_decoder.load_state_dict({"weight": heads["bkg_decoder.weight"], "bias": heads["bkg_decoder.bias"]})

    def _interpolate_pos(self, h: int, w: int) -> torch.Tensor:
        grid = self.pristine[1:].reshape(1, 14, 14, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        return torch.cat([self.pristine[:1], grid.reshape(768, h * w).t()])

    @torch.inference_mode()
    def __call__(self, image01: torch.Tensor, text: torch.Tensor, background: bool, pool: bool = True):
        """image01: 1×3×H×W in [0,1]. Returns dict of features, objectness, maskclip_probs, probs."""
        pad_h, pad_w = (-image01.shape[-2]) % 16, (-image01.shape[-1]) % 16
        x = (F.pad(image01, (0, pad_w, 0, pad_h)) - MEAN.to(image01.device)) / STD.to(image01.device)
        h, w = x.shape[-2] // 16, x.shape[-1] // 16
        taps = {}
        blocks = self.visual.transformer.resblocks
        hooks = [
            blocks[9].ln_2.register_forward_hook(lambda m, i, o: taps.__setitem__("ln2", o)),
            blocks[10].register_forward_hook(lambda m, i, o: taps.__setitem__("x10", o)),
        ]
        if (h, w) != (14, 14):
            self.visual.positional_embedding.data = self._interpolate_pos(h, w)
        try:
            with sequence_first(self.visual):
                self.visual(x)  # full forward; pooled output discarded, as upstream
            taps = {key: value.permute(1, 0, 2) for key, value in taps.items()}  # LND -> NLD
        finally:
            self.visual.positional_embedding.data = self.pristine.clone()
            for hook in hooks:
                hook.remove()
        last = blocks[11]
        y = last.ln_1(taps["x10"])
        qkv = F.linear(y, last.attn.in_proj_weight, last.attn.in_proj_bias)
        q, k, v = qkv.chunk(3, dim=-1)
        q, k = last.attn.out_proj(q), last.attn.out_proj(k)  # upstream's wasted work
        u = taps["x10"] + last.attn.out_proj(v)
        u = u + last.mlp(last.ln_2(u))
        feats = (self.visual.ln_post(u) @ self.visual.proj)[:, 1:].transpose(1, 2).reshape(1, -1, h, w)
        tap = taps["ln2"][:, 1:].transpose(1, 2).reshape(1, 768, h, w)
        objectness = torch.sigmoid(self.bkg_decoder(F.normalize(tap, dim=1)))[:, 0]
        q_corr = F.normalize(self.obj_proj(tap), dim=1).flatten(2)
        corr = torch.einsum("bcn,bcm->bnm", q_corr, q_corr)
        corr[corr < 0.2] = 0
        flat = feats.flatten(2)
        pooled = (torch.einsum("bnm,bcm->bcn", corr, flat) / (corr.sum(-1)[:, None] + 1e-6)).reshape(feats.shape)

        def scores(f):
            return torch.softmax(100 * torch.einsum("bchw,kc->bkhw", F.normalize(f, dim=1), text), dim=1)

        maskclip_probs = scores(feats)
        probs = scores(pooled)
        if background:
            rule = (probs.max(1).values < 0.99) & ~(objectness > 0.5)
            probs[:, 0][rule] = 1.0
        return {
            "maskclip_features": feats[0],
            "objectness": objectness[0],
            "maskclip_probs": maskclip_probs[0],
            "probs": probs[0],
        }
