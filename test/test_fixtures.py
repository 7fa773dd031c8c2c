"""The engine reproduces the reference implementation's own outputs (shared/reference/README.md bar)."""

import numpy as np
import pytest
import torch
from conftest import load_fixture, random_image

BAR = {"text_embeddings": 1e-5, "maskclip_features": 1e-5, "objectness": 1e-5, "maskclip_probs": 1e-4, "probs": 1e-4}
LABEL_AGREEMENT = 0.999


def _engine_outputs(engine, image, classes, background):
    names = [c for c in classes if c != "background"]
    vocab = engine.prepare_vocabulary(names, background=bool(background))
    assert list(vocab.classes) == list(classes)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        engine.method = "maskclip"
        maskclip_probs, _ = engine.predict(x, vocab)
        engine.method = "clip_dinoiser"
        features, _ = engine.network.encode_image(
            torch.nn.functional.pad(x, (0, (-x.shape[-1]) % 16, 0, (-x.shape[-2]) % 16))
        )
    result = engine.segment(image, vocab)
    return {
        "text_embeddings": vocab.embeddings.numpy(),
        "maskclip_features": features[0].numpy(),
        "objectness": result.objectness,
        "maskclip_probs": maskclip_probs[0].numpy(),
        "probs": result.probs,
        "labels": result.labels,
    }


@pytest.mark.parametrize("name", ["bg448", "sq448"])
def test_reproduces_reference_fixture(engine, name):
    fixture = load_fixture(name)
    ours = _engine_outputs(engine, fixture["image"], list(fixture["classes"]), fixture["background"])
    for key, tolerance in BAR.items():
        error = np.abs(ours[key] - fixture[key]).max()
        assert error <= tolerance, f"{name}:{key} max-abs {error:.2e} > {tolerance:.0e}"
    assert (ours["labels"] == fixture["labels"]).mean() >= LABEL_AGREEMENT


def test_background_rule_moves_the_same_patches_as_the_reference(engine):
    """bg448 exercises both branches of the background rule, and the engine moves exactly the patches
    the reference moved to background (probability 1), no more and no fewer."""
    fixture = load_fixture("bg448")
    names = [c for c in fixture["classes"] if c != "background"]
    ours = engine.segment(fixture["image"], engine.prepare_vocabulary(names, background=True))
    theirs = fixture["probs"][0] == 1.0
    assert 0 < theirs.sum() < theirs.size  # some patches moved, some kept their own class
    assert np.array_equal(ours.probs[0] == 1.0, theirs)


@pytest.fixture(scope="module")
def reference(segmenter):
    from bench.reference_impl import ReferencePath
    from ov_seg_ros.engine.weights import HEAD_SHAPES, seeded_state_dict

    return ReferencePath(segmenter.network.visual, seeded_state_dict(HEAD_SHAPES))


@pytest.mark.parametrize(
    "height,width,names,background",
    [
        (200, 328, ("tree", "car"), True),
        (97, 150, ("sky", "road", "person"), False),
    ],
)
def test_matches_reference_path_on_other_sizes_and_vocabularies(engine, reference, height, width, names, background):
    """Sizes and vocabularies outside the fixtures, against the upstream-style code path."""
    import open_clip

    from bench.reference_impl import reference_text_embeddings

    image = random_image(height, width, seed=height)
    vocab = engine.prepare_vocabulary(list(names), background=background)
    clip = engine.text._clip
    text = reference_text_embeddings(clip, open_clip.get_tokenizer("ViT-B-16"), list(vocab.classes))
    assert np.abs(vocab.embeddings.numpy() - text.numpy()).max() <= BAR["text_embeddings"]
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    expected = reference(x, text, background)
    result = engine.segment(image, vocab)
    assert np.abs(result.objectness - expected["objectness"].numpy()).max() <= BAR["objectness"]
    assert np.abs(result.probs - expected["probs"].numpy()).max() <= BAR["probs"]
    engine.method = "maskclip"
    assert np.abs(engine.segment(image, vocab).probs - expected["maskclip_probs"].numpy()).max() <= BAR["probs"]


def test_sequence_first_open_clip_layout_gives_the_same_result(engine):
    """open_clip <= 2.24 ran its transformer sequence-first; the engine handles both layouts."""
    from bench.reference_impl import sequence_first

    image = random_image(64, 80, seed=11)
    vocab = engine.prepare_vocabulary(["cup", "bottle"], background=True)
    batch_first = engine.segment(image, vocab)
    with sequence_first(engine.network.visual):
        seq_first = engine.segment(image, vocab)
    assert np.abs(batch_first.probs - seq_first.probs).max() <= BAR["probs"]
    assert np.abs(batch_first.objectness - seq_first.objectness).max() <= BAR["objectness"]
