"""Class-name text embeddings: 80 ImageNet prompt templates, cached per name."""

from __future__ import annotations

import threading
from typing import Callable, Dict, List, Sequence

import torch
import torch.nn.functional as F
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

TEMPLATES: Sequence[Callable[[str], str]] = OPENAI_IMAGENET_TEMPLATES  # the reference's 80, in order
CLASSES_PER_BATCH = 4  # 320 prompts per text-encoder call: bounded memory, good throughput


class TextEmbeddingCache:
    """Encodes class names once; later vocabularies only pay for names not seen before.

    One cache per text tower: `backbone` names it, and vocabularies carry it, because the same name
    embeds differently on another backbone (e.g. OpenAI's QuickGELU tower vs LAION's GELU one)."""

    def __init__(self, clip: torch.nn.Module, tokenizer: Callable, device: torch.device, backbone: str = ""):
        self.backbone = backbone
        self._clip = clip
        self._tokenizer = tokenizer
        self._device = device
        self._cache: Dict[str, torch.Tensor] = {}
        self._lock = threading.Lock()  # one encoder run at a time; lookups stay cheap

    def __contains__(self, name: str) -> bool:
        return name in self._cache

    def embeddings(self, names: Sequence[str]) -> torch.Tensor:
        """K×512 float32 on CPU, unit norm, in the order of `names`."""
        with self._lock:
            missing = [n for n in dict.fromkeys(names) if n not in self._cache]
            for start in range(0, len(missing), CLASSES_PER_BATCH):
                chunk = missing[start : start + CLASSES_PER_BATCH]
                self._cache.update(zip(chunk, self._encode(chunk), strict=True))
            return torch.stack([self._cache[n] for n in names])

    @torch.inference_mode()
    def _encode(self, names: List[str]) -> List[torch.Tensor]:
        prompts = [template(name) for name in names for template in TEMPLATES]
        tokens = self._tokenizer(prompts).to(self._device)
        per_prompt = F.normalize(encode_text_truncated(self._clip, tokens).float(), dim=-1)
        means = per_prompt.reshape(len(names), len(TEMPLATES), -1).mean(dim=1)
        return list(F.normalize(means, dim=-1).cpu())


def encode_text_truncated(clip: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """OpenCLIP encode_text over only the context the prompts use.

    The text transformer is causal and pools at the end-of-text token, so padding after the
    longest prompt cannot influence the result; cutting it saves most of the 77-token work.
    """
    length = int(tokens.argmax(dim=-1).max()) + 1
    tokens = tokens[:, :length]
    cast = clip.transformer.get_cast_dtype()
    x = clip.token_embedding(tokens).to(cast) + clip.positional_embedding[:length].to(cast)
    mask = clip.attn_mask[:length, :length] if clip.attn_mask is not None else None
    x = clip.transformer(x, attn_mask=mask)
    x = clip.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    return x @ clip.text_projection
