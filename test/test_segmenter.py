"""Segmenter: sizes, padding, batching, resize and slide modes, vocabulary handling, bad input."""

import numpy as np
import pytest
import torch
from conftest import random_image

from ov_seg_ros.engine.segmenter import resized_shape, slide_windows


@pytest.fixture(scope="module")
def vocab(segmenter):
    return segmenter.prepare_vocabulary(["cup", "bottle"], background=True)


@pytest.mark.parametrize("height,width", [(16, 16), (37, 53), (100, 17), (1, 1)])
def test_odd_sizes_are_padded_and_cropped(engine, vocab, height, width):
    r = engine.segment(random_image(height, width), vocab)
    grid = (-(-height // 16), -(-width // 16))
    assert r.probs.shape == (3,) + grid and r.objectness.shape == grid
    assert r.labels.shape == r.confidence.shape == r.objectness_image.shape == (height, width)
    assert np.allclose(r.probs.sum(0)[r.probs[0] < 1.0], 1.0, atol=1e-5)
    assert ((r.objectness >= 0) & (r.objectness <= 1)).all()


def test_confidence_is_the_probability_of_the_chosen_class(engine, vocab):
    image = random_image(64, 64, seed=3)
    r = engine.segment(image, vocab)
    up = torch.nn.functional.interpolate(
        torch.from_numpy(r.probs)[None], scale_factor=16, mode="bilinear", align_corners=False
    )[0].numpy()
    assert (r.labels == up.argmax(0)).mean() > 0.999
    np.testing.assert_allclose(r.confidence, up.max(0), atol=1e-6)


def test_batch_equals_single_images(engine, vocab):
    images = [random_image(48, 80, seed=s) for s in range(3)]
    batched = engine.segment_batch(images, vocab)
    for image, result in zip(images, batched, strict=True):
        single = engine.segment(image, vocab)
        np.testing.assert_allclose(result.probs, single.probs, atol=1e-5)
        np.testing.assert_allclose(result.objectness, single.objectness, atol=1e-6)
        assert (result.labels == single.labels).mean() > 0.999


def test_batch_of_mixed_sizes_groups_equal_sizes_and_keeps_order(engine, vocab, monkeypatch):
    images = [random_image(32, 32, seed=1), random_image(40, 24, seed=2), random_image(32, 32, seed=3)]
    passes = []
    stack = engine._segment_stack
    monkeypatch.setattr(
        engine, "_segment_stack", lambda ims, *a: passes.append([im.shape for im in ims]) or stack(ims, *a)
    )
    results = engine.segment_batch(images, vocab)
    assert passes == [[(32, 32, 3), (32, 32, 3)], [(40, 24, 3)]]  # the two 32×32 cameras share a pass
    monkeypatch.undo()
    for image, result in zip(images, results, strict=True):
        np.testing.assert_allclose(result.probs, engine.segment(image, vocab).probs, atol=1e-5)


def test_background_rule_only_runs_with_background(engine, segmenter):
    image = random_image(64, 96, seed=7)
    with_bg = segmenter.prepare_vocabulary(["cup", "bottle"], background=True)
    r = engine.segment(image, with_bg)
    forced = r.probs[0] == 1.0
    assert (r.objectness[forced] <= 0.5).all()
    without = segmenter.prepare_vocabulary(["cup", "bottle"], background=False)
    r2 = engine.segment(image, without)
    np.testing.assert_allclose(r2.probs.sum(0), 1.0, atol=1e-5)


def test_resize_mode_maps_back_to_image_size(engine, vocab):
    engine.configure(input_size=64)
    r = engine.segment(random_image(50, 120, seed=1), vocab)
    h, w = resized_shape(50, 120, 64)
    assert (h, w) == (64, 154)
    assert r.probs.shape[1:] == (4, 10)
    assert r.labels.shape == r.confidence.shape == r.objectness_image.shape == (50, 120)


def test_input_size_per_call_overrides_the_configured_one(engine, vocab):
    image = random_image(40, 72, seed=8)
    engine.configure(input_size=64)
    native = engine.segment(image, vocab, input_size=0)
    assert native.probs.shape[1:] == (3, 5) and native.labels.shape == (40, 72)
    assert engine.segment(image, vocab).probs.shape[1:] == (4, 8)  # the configured 64 (64×115)
    with pytest.raises(ValueError, match="input_size"):
        engine.segment(image, vocab, input_size=4)


def test_slide_windows_follow_the_benchmark_protocol():
    assert slide_windows(448, 597) == [(0, 448, 0, 448), (0, 448, 149, 597)]
    assert slide_windows(300, 200) == [(0, 300, 0, 200)]
    assert len(slide_windows(900, 900)) == 16  # mmseg's grid count: 4 per side, the last flush


def test_slide_mode_equals_whole_for_one_window_and_maps_back(engine, vocab):
    image = random_image(96, 128, seed=2)
    whole = engine.segment(image, vocab)
    engine.configure(mode="slide")
    slide = engine.segment(image, vocab)
    np.testing.assert_allclose(slide.confidence, whole.confidence, atol=1e-5)
    engine.configure(input_size=448)
    big = engine.segment(random_image(60, 80, seed=4), vocab)  # resized to 448×597: two windows
    assert big.labels.shape == (60, 80) and big.probs.shape[1:] == (28, 38)


def test_label_image_ids_are_stable_for_users(segmenter, engine):
    image = random_image(32, 48, seed=5)
    for background in (True, False):
        vocab = segmenter.prepare_vocabulary(["cup", "bottle"], background=background)
        r = engine.segment(image, vocab)
        ids = r.label_image()
        assert ids.dtype == np.uint16
        expected = r.labels + (0 if background else 1)
        assert (ids == expected).all()
        assert vocab.label_map()[1] == "cup" and vocab.label_map()[2] == "bottle"
        assert (r.label_image(min_confidence=1.01) == 0).all()


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), np.zeros((0, 5, 3), np.uint8), "not an image"],
)
def test_bad_images_raise_value_error(engine, vocab, bad):
    with pytest.raises(ValueError):
        engine.segment(bad, vocab)


@pytest.mark.parametrize(
    "names,reason",
    [
        ([], "empty"),
        (["cup", " "], "blank"),
        (["cup", "cup"], "duplicate"),
        (["Cup", "cup"], "'Cup' and 'cup'"),
        (["x" * 300], "longer"),
        (["background"], "background"),
    ],
)
def test_bad_vocabularies_are_rejected_with_a_reason(segmenter, names, reason):
    with pytest.raises(ValueError, match=reason):
        segmenter.prepare_vocabulary(names)


def test_configure_rejects_unknown_values(engine):
    before = engine.method, engine.input_size, engine.mode
    for kwargs in ({"method": "yolo"}, {"mode": "tile"}, {"input_size": 5000}, {"input_size": 8}, {"input_size": -1}):
        with pytest.raises(ValueError):
            engine.configure(**kwargs)
        assert (engine.method, engine.input_size, engine.mode) == before  # a rejected call changes nothing


def test_segment_uses_the_swapped_vocabulary(segmenter, engine):
    first = segmenter.prepare_vocabulary(["cup"], background=True)
    second = segmenter.prepare_vocabulary(["cup", "bottle", "plate"], background=False)
    assert second.version > first.version
    segmenter.use_vocabulary(second)
    assert engine.segment(random_image(16, 16)).vocabulary is second


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_autocast_runs_and_stays_close(engine, vocab, precision):
    """The autocast path (what CUDA fp16/bf16 use) works end to end; CPU runs it here."""
    image = random_image(48, 64, seed=9)
    reference = engine.segment(image, vocab)
    saved, engine.precision = engine.precision, precision
    try:
        low = engine.segment(image, vocab)
    finally:
        engine.precision = saved
    assert low.probs.dtype == np.float32 and np.isfinite(low.probs).all()
    assert np.abs(low.objectness - reference.objectness).max() < 0.02  # measured: 3e-3 bf16, 5e-4 fp16
    assert np.abs(low.probs - reference.probs).max() < 0.05
    assert (low.labels == reference.labels).mean() > 0.95
