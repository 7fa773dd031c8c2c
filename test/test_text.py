"""Text embeddings: the truncated encoder equals OpenCLIP's, and names are encoded once."""

import open_clip
import torch

from ov_seg_ros.engine.text import TEMPLATES, encode_text_truncated


def test_truncated_context_equals_full_encode_text(segmenter):
    clip = segmenter.text._clip
    tokens = open_clip.get_tokenizer("ViT-B-16")(["a photo of a cup.", "a tattoo of the traffic light."])
    with torch.inference_mode():
        full = clip.encode_text(tokens)
        short = encode_text_truncated(clip, tokens)
    assert torch.allclose(full, short, atol=1e-5)


def test_templates_are_the_reference_80():
    """SPEC.md section 1: the CLIP ImageNet 80-template list, in order, every prompt ending with a period."""
    prompts = [t("cup") for t in TEMPLATES]
    assert len(prompts) == 80 and len(set(prompts)) == 80
    assert prompts[:2] == ["a bad photo of a cup.", "a photo of many cup."]
    assert prompts[-1] == "a tattoo of the cup."
    assert all(p.endswith(".") and p.count("cup") == 1 for p in prompts)


def test_only_new_names_are_encoded(segmenter, monkeypatch):
    cache = segmenter.text
    encoded = []
    original = cache._encode
    monkeypatch.setattr(cache, "_encode", lambda names: encoded.extend(names) or original(names))
    names = ["zeppelin", "harmonica", "teapot"]  # names no other test uses: the cache is session-wide
    assert not any(n in cache for n in names)
    segmenter.prepare_vocabulary(names[:2], background=False)
    segmenter.prepare_vocabulary([names[1], names[0], names[2]], background=False)
    assert encoded == names
    assert "teapot" in cache


def test_embeddings_are_unit_norm_and_ordered(segmenter):
    vocab = segmenter.prepare_vocabulary(["lamp", "chair"], background=True)
    assert vocab.embeddings.shape == (3, 512)
    assert torch.allclose(vocab.embeddings.norm(dim=-1), torch.ones(3), atol=1e-5)
    swapped = segmenter.prepare_vocabulary(["chair", "lamp"], background=True)
    assert torch.equal(vocab.embeddings[1], swapped.embeddings[2])
