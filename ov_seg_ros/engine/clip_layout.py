"""What the engine borrows from open_clip's ViT-B-16, checked once when the model is loaded.

The engine runs CLIP's blocks from their weights (model.py) and encodes text over a truncated context
(text.py), so it depends on attribute names and on the absence of extras that later open_clip
versions or other configs add (attention pooling, scaled-cosine attention, head scaling, a text
pooler other than end-of-text argmax). Any of those would not crash: it would give silently wrong
features. This check turns such a change into a clear error naming the open_clip version.
"""

from __future__ import annotations

from typing import List

import torch

VISUAL = ("conv1", "class_embedding", "positional_embedding", "ln_pre", "transformer", "ln_post", "proj")
BLOCK = ("ln_1", "attn", "ls_1", "ln_2", "mlp", "ls_2")
TEXT = ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection", "attn_mask")


class UnsupportedOpenClipError(RuntimeError):
    """The installed open_clip builds ViT-B-16 differently from what the engine was verified on."""


def layout_problems(clip: torch.nn.Module) -> List[str]:
    """Every way `clip` differs from the layout the engine relies on (empty when it matches)."""
    visual = clip.visual
    problems = [f"visual.{name} missing" for name in VISUAL if not hasattr(visual, name)]
    problems += [f"text {name} missing" for name in TEXT if not hasattr(clip, name)]
    if problems:
        return problems
    if getattr(visual, "attn_pool", None) is not None:
        problems.append("visual.attn_pool is set (attention pooling replaces the CLS token)")
    for index, block in enumerate(visual.transformer.resblocks):
        problems += [f"block {index}: {name} missing" for name in BLOCK if not hasattr(block, name)]
        attn = getattr(block, "attn", None)
        if not isinstance(attn, torch.nn.MultiheadAttention):
            problems.append(
                f"block {index}: attention is {type(attn).__name__}, not nn.MultiheadAttention "
                "(scaled-cosine/head-scale attention is not run by the engine)"
            )
        if getattr(block, "ln_attn", None) is not None and not isinstance(block.ln_attn, torch.nn.Identity):
            problems.append(f"block {index}: has ln_attn (scale_attn), which the engine does not apply")
    pool = getattr(clip, "text_pool_type", "argmax")
    if pool != "argmax":
        problems.append(f"text_pool_type is {pool!r}; the engine pools at the end-of-text token (argmax)")
    if getattr(clip, "text_pooler", None) is not None or getattr(clip, "cls_emb", None) is not None:
        problems.append("the text tower has a CLS embedding/pooler the engine does not apply")
    return problems


def check_layout(clip: torch.nn.Module) -> None:
    """Raise UnsupportedOpenClipError naming the open_clip version when the layout differs."""
    problems = layout_problems(clip)
    if problems:
        import open_clip

        raise UnsupportedOpenClipError(
            f"open_clip {getattr(open_clip, '__version__', '?')} builds ViT-B-16 differently from what "
            f"ov_seg_ros was verified on (open_clip 3.x): {'; '.join(problems)}. Install open_clip_torch "
            "3.x (pip install 'open_clip_torch>=3,<4') or report this layout."
        )
