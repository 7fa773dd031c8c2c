"""The zoo in the engine: each method's backbone and activation, refusals across backbones, no heads,
no objectness, background by confidence, PAMR after any method, windows, bad input."""

import numpy as np
import pytest
from conftest import random_image

from ov_seg_ros.engine.methods.protocol import spans
from ov_seg_ros.engine.options import METHOD_INFO, ZOO_METHODS
from ov_seg_ros.engine.weights import resolve_backbone


def test_each_method_brings_its_default_weights_and_activation(monkeypatch):
    monkeypatch.delenv("OV_SEG_WEIGHTS", raising=False)
    for method in ZOO_METHODS:
        assert resolve_backbone("", method) == ("openai", True)
        assert resolve_backbone("seeded", method) == ("seeded", True)
    for method in ("clip_dinoiser", "maskclip"):
        assert resolve_backbone("", method) == ("laion2b_s34b_b88k", False)
        assert resolve_backbone("seeded", method) == ("seeded", False)
    # a tag keeps its own activation whatever the method (open_clip alone would build GELU for openai)
    assert resolve_backbone("openai", "clip_dinoiser") == ("openai", True)
    assert resolve_backbone("laion2b_s34b_b88k", "naclip") == ("laion2b_s34b_b88k", False)
    monkeypatch.setenv("OV_SEG_WEIGHTS", "/models/laion.bin")  # replaces the LAION default only
    assert resolve_backbone("", "clip_dinoiser")[0] == "/models/laion.bin"
    assert resolve_backbone("", "sclip")[0] == "openai"


def test_zoo_engine_is_quickgelu_in_both_towers_and_loads_no_heads(zoo_segmenter):
    clip = zoo_segmenter.text._clip
    assert type(clip.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    assert type(clip.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    assert not zoo_segmenter.network.heads_loaded  # its heads path does not even exist
    assert zoo_segmenter.backbone.describe("naclip") == "method naclip on seeded (QuickGELU), no heads"


def test_switching_within_a_backbone_works_and_across_is_refused_with_the_restart_parameter(zoo, engine):
    zoo.configure(method="sclip")
    assert zoo.method == "sclip"
    reason = zoo.method_reason("clip_dinoiser")
    assert "seeded (GELU)" in reason and "restart with method:=clip_dinoiser" in reason
    with pytest.raises(ValueError, match="restart with method:=naclip"):
        engine.configure(method="naclip")
    assert engine.method == "clip_dinoiser" and zoo.method == "sclip"  # a refusal changes nothing


def test_a_vocabulary_from_another_backbone_is_refused(zoo, segmenter):
    vocab = segmenter.prepare_vocabulary(["floor"], background=False)
    with pytest.raises(ValueError, match="embedded on seeded \\(GELU\\)"):
        zoo.segment(random_image(32, 32), vocab)


@pytest.mark.parametrize("method", ZOO_METHODS)
def test_background_is_label_0_only_below_min_confidence_and_objectness_is_absent(zoo, method):
    zoo.configure(method=method, mode="whole")
    vocab = zoo.prepare_vocabulary(["floor", "door", "wall"], background=True)
    result = zoo.segment(random_image(64, 80, seed=3), vocab, probs_image=True)
    assert result.probs.shape == (4, 4, 5) and np.all(result.probs[0] == 0)  # the background is not scored
    assert np.all(result.probs_image[0] == 0) and result.labels.min() >= 1
    assert np.isnan(result.objectness).all() and np.isnan(result.objectness_image).all()
    threshold = float(np.median(result.confidence))
    ids = result.label_image(min_confidence=threshold)
    assert np.array_equal(ids == 0, result.confidence < threshold)
    assert METHOD_INFO[method].background_threshold is not None  # the published guidance exists


def test_pamr_runs_after_clip_dinoiser_and_keeps_probabilities(engine, vocab_engine):
    engine.configure(mode="whole", input_size=0)
    image = random_image(48, 64, seed=5)
    plain = engine.segment(image, vocab_engine, probs_image=True)
    engine.configure(refine="pamr")
    refined = engine.segment(image, vocab_engine, probs_image=True)
    engine.configure(refine="none")
    np.testing.assert_allclose(refined.probs_image.sum(axis=0), 1.0, atol=1e-5)
    assert np.abs(refined.probs_image - plain.probs_image).max() > 1e-4  # it did something
    np.testing.assert_array_equal(refined.objectness_image, plain.objectness_image)


@pytest.fixture()
def vocab_engine(segmenter):
    # no background: the background rule sets p(background) = 1 without renormalising the others
    return segmenter.prepare_vocabulary(["floor", "door"], background=False)


def test_windows_follow_mmseg_for_each_crop():
    assert spans(250, 224, 112) == [(0, 224), (26, 250)]
    assert spans(100, 224, 112) == [(0, 100)]  # a small image is one window, used as is
    assert spans(500, 448, 224) == [(0, 448), (52, 500)]
    assert spans(720, 224, 112) == [(0, 224), (112, 336), (224, 448), (336, 560), (448, 672), (496, 720)]


def test_batches_equal_single_images_and_resizing_maps_back(zoo):
    zoo.configure(method="clearclip", mode="whole", input_size=0)
    vocab = zoo.prepare_vocabulary(["floor", "door"], background=False)
    images = [random_image(40, 56, seed=s) for s in (1, 2)]
    batch = zoo.segment_batch(images, vocab)
    for image, result in zip(images, batch, strict=True):
        np.testing.assert_allclose(result.probs, zoo.segment(image, vocab).probs, atol=1e-5)
    resized = zoo.segment(images[0], vocab, input_size=32)
    assert resized.labels.shape == (40, 56) and resized.probs.shape == (2, 2, 2)


def test_an_image_smaller_than_a_patch_is_a_clear_error(zoo):
    vocab = zoo.prepare_vocabulary(["floor"], background=False)
    with pytest.raises(ValueError, match="at least 16×16 pixels"):
        zoo.segment(np.zeros((8, 40, 3), np.uint8), vocab, input_size=0)


def test_auto_weights_look_for_the_methods_own_weights_and_ignore_heads(monkeypatch, tmp_path):
    from ov_seg_ros.engine import auto_weights as aw

    for var in ("OV_SEG_WEIGHTS", "OV_SEG_HEADS", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(aw, "DEFAULT_HEADS_PATH", tmp_path / "none" / "last.pt")
    assert aw.resolve_auto_weights("auto", "auto", "naclip") == ("seeded", "", True)
    snap = tmp_path / "hub" / "models--timm--vit_base_patch16_clip_224.openai" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "open_clip_model.safetensors").write_bytes(b"x")
    assert aw.resolve_auto_weights("auto", "auto", "sclip") == ("openai", "", False)  # no heads: not seeded
    assert aw.resolve_auto_weights("auto", "auto", "clip_dinoiser") == ("seeded", "seeded", True)


@pytest.mark.parametrize("method", ZOO_METHODS)
def test_reduced_precision_runs_every_protocol(zoo, method):
    vocab = zoo.prepare_vocabulary(["floor", "door"], background=False)
    image = random_image(40, 56, seed=8)
    saved = zoo.precision
    zoo.precision = "bf16"  # autocast, as Segmenter(precision="bf16") runs
    try:
        for mode, refine in (("whole", "none"), ("slide", "pamr")):
            zoo.configure(method=method, mode=mode, refine=refine)
            result = zoo.segment(image, vocab, probs_image=True)
            assert np.isfinite(result.probs_image).all() and result.labels.shape == (40, 56)
    finally:
        zoo.precision = saved
