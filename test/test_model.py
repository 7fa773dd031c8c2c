"""Network pieces against their definitions: guided pooling, background rule, positional embedding."""

import pytest
import torch
import torch.nn.functional as F

from ov_seg_ros.engine.model import (
    CORRELATION_THRESHOLD,
    apply_background_rule,
    classify,
    pool_by_correlation,
    pool_guided,
    threshold_correlations,
)


def test_identity_correlation_leaves_features_unchanged():
    features = torch.randn(2, 8, 3, 4)
    eye = torch.eye(12).expand(2, 12, 12)
    torch.testing.assert_close(pool_by_correlation(features, eye), features, atol=1e-5, rtol=1e-5)


def test_pooling_is_a_weighted_mean():
    features = torch.randn(1, 4, 1, 3)
    corr = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]]])
    pooled = pool_by_correlation(features, corr).flatten(2)[0]
    flat = features.flatten(2)[0]
    torch.testing.assert_close(pooled[:, 0], (flat[:, 0] + flat[:, 1]) / 2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pooled[:, 2], (0.5 * flat[:, 0] + flat[:, 2]) / 1.5, atol=1e-5, rtol=1e-5)


def test_thresholded_correlations_are_nonnegative_with_unit_diagonal(segmenter):
    tap = torch.randn(2, 768, 4, 5)
    with torch.inference_mode():
        corr = segmenter.network.correlations(tap)
    assert corr.shape == (2, 20, 20)
    assert ((corr == 0) | (corr >= CORRELATION_THRESHOLD)).all()
    torch.testing.assert_close(torch.diagonal(corr, dim1=1, dim2=2), torch.ones(2, 20), atol=1e-5, rtol=0)


def test_background_rule_touches_only_the_background_class_per_batch_element():
    probs = torch.softmax(torch.randn(2, 3, 4, 4), dim=1)
    probs[1, 2, 0, 0] = 0.995  # confident: never overwritten
    objectness = torch.rand(2, 4, 4)
    out = apply_background_rule(probs, objectness, background_index=1)
    changed = out != probs
    assert not changed[:, [0, 2]].any()
    rule = (probs.max(1).values < 0.99) & (objectness <= 0.5)
    assert torch.equal(changed[:, 1], rule & (probs[:, 1] != 1.0))
    assert (out[:, 1][rule] == 1.0).all()
    assert torch.equal(apply_background_rule(probs, objectness, None), probs)


def test_classify_is_a_softmax_of_scaled_cosines():
    features = torch.randn(1, 512, 2, 2)
    text = F.normalize(torch.randn(3, 512), dim=-1)
    probs = classify(features, text)
    cos = F.normalize(features, dim=1)[0, :, 0, 0] @ text.t()
    torch.testing.assert_close(probs[0, :, 0, 0], torch.softmax(100 * cos, 0))


def test_positional_embedding_is_cached_and_not_mutated(segmenter):
    net = segmenter.network
    before = net.visual.positional_embedding.detach().clone()
    like = torch.zeros(1, dtype=torch.float32)
    with torch.inference_mode():
        first = net.positional_embedding(5, 7, like)
        again = net.positional_embedding(5, 7, like)
    assert first is again and first.shape == (36, 768)
    grid = before[1:].reshape(1, 14, 14, 768).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(5, 7), mode="bicubic", align_corners=False).reshape(768, 35).t()
    torch.testing.assert_close(first[1:], expected)
    assert torch.equal(net.visual.positional_embedding, before)


def test_chunked_pooling_equals_the_full_matrix():
    features = torch.randn(2, 16, 5, 7)
    keys = F.normalize(torch.randn(2, 8, 35), dim=1)
    full = pool_by_correlation(features, threshold_correlations(torch.einsum("bcn,bcm->bnm", keys, keys)))
    for budget in (2 * 35 * 35, 2 * 35 * 4, 1):  # one block, 4-row blocks, single rows
        torch.testing.assert_close(pool_guided(features, keys, max_elements=budget), full, atol=1e-5, rtol=1e-5)


def test_open_clip_layout_change_is_a_clear_error():
    """An open_clip that builds the model differently fails at load, naming its version and the change."""
    import open_clip

    from ov_seg_ros.engine.clip_layout import UnsupportedOpenClipError, check_layout, layout_problems
    from ov_seg_ros.engine.weights import load_clip

    clip = load_clip("seeded")  # a private copy: the checks below mutate it
    assert layout_problems(clip) == []
    clip.text_pool_type = "first"
    clip.visual.attn_pool = torch.nn.Identity()
    del clip.visual.transformer.resblocks[3].ls_2
    problems = layout_problems(clip)
    assert any("text_pool_type" in p for p in problems)
    assert any("attn_pool" in p for p in problems)
    assert any("block 3: ls_2 missing" in p for p in problems)
    with pytest.raises(UnsupportedOpenClipError, match=f"open_clip {open_clip.__version__}"):
        check_layout(clip)
