"""NACLIP, ClearCLIP and SCLIP reproduce the unmodified upstream code's outputs on the seeded weights
(shared/reference/zoo: whole image, slide, and NACLIP's slide + PAMR), within the reference bar."""

import numpy as np
import pytest
from conftest import load_fixture

PROBS_BAR = 1e-4
TEXT_BAR = 1e-5
LABEL_AGREEMENT = 0.999
CASES = [(method, case) for case in ("sq448", "r336x448") for method in ("naclip", "clearclip", "sclip")]


def _vocabulary(zoo, fixture):
    vocab = zoo.prepare_vocabulary(list(fixture["classes"]), background=False)
    assert np.abs(vocab.embeddings.numpy() - fixture["text_embeddings"]).max() <= TEXT_BAR
    return vocab


def _close(name, ours, theirs, labels=None, their_labels=None):
    error = np.abs(ours - theirs).max()
    assert error <= PROBS_BAR, f"{name}: probs max-abs {error:.2e}"
    if labels is not None:
        agreement = (labels == their_labels).mean()
        assert agreement >= LABEL_AGREEMENT, f"{name}: labels agree on {agreement:.4%}"


@pytest.mark.parametrize("method,case", CASES)
def test_whole_image_matches_upstream(zoo, method, case):
    fixture = load_fixture(f"zoo/{method}_{case}")
    zoo.configure(method=method, mode="whole", refine="none", input_size=0)
    result = zoo.segment(fixture["image"], _vocabulary(zoo, fixture))
    assert result.probs.shape == fixture["probs"].shape  # the floor grid
    _close(f"{method} {case} whole", result.probs, fixture["probs"], result.labels, fixture["labels"])


@pytest.mark.parametrize("method,case", CASES)
def test_slide_matches_upstream(zoo, method, case):
    fixture = load_fixture(f"zoo/{method}_{case}")
    zoo.configure(method=method, mode="slide", refine="none", input_size=0)
    result = zoo.segment(fixture["image"], _vocabulary(zoo, fixture), probs_image=True)
    agreement = (result.labels == fixture["labels_slide"]).mean()
    assert agreement >= LABEL_AGREEMENT, f"{method} {case} slide labels agree on {agreement:.4%}"
    if "probs_slide" in fixture:  # NACLIP publishes slide probabilities only after PAMR
        _close(f"{method} {case} slide", result.probs_image, fixture["probs_slide"])
    np.testing.assert_allclose(result.confidence, result.probs_image.max(axis=0))


@pytest.mark.parametrize("case", ["sq448", "r336x448"])
def test_naclip_slide_with_pamr_matches_upstream(zoo, case):
    fixture = load_fixture(f"zoo/naclip_{case}")
    zoo.configure(method="naclip", mode="slide", refine="pamr", input_size=0)
    result = zoo.segment(fixture["image"], _vocabulary(zoo, fixture), probs_image=True)
    name = f"naclip {case} slide+pamr"
    _close(name, result.probs_image, fixture["probs_slide_pamr"], result.labels, fixture["labels_slide_pamr"])
