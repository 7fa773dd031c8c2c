"""The zoo methods on what the shared fixtures do not cover, against bench/zoo_reference.py (the SPECs
written out straightforwardly): sides that are not multiples of 16 (floor grid, (h+0.1)/14 positional
scale, logits stretched over the lost pixels), several windows per side (logits averaged), ClearCLIP's
centred padding, a 7×28 grid that upstream's token-count test gets wrong, and PAMR."""

import numpy as np
import pytest
import torch
from conftest import random_image

from bench import zoo_reference
from ov_seg_ros.engine.methods import pamr

PROBS_BAR = 1e-4
LABEL_AGREEMENT = 0.999
NAMES = ["tree", "car", "sky"]

CASES = [  # method, mode, pamr, height, width: what each one exercises
    ("naclip", "whole", False, 250, 330),  # floor grid 15×20, +0.1 scale
    ("clearclip", "whole", False, 250, 330),
    ("sclip", "whole", False, 112, 448),  # 7×28 = 196 patches: not the raw 14×14 table
    ("naclip", "slide", True, 250, 330),  # 2×2 windows of 224, odd sides, then PAMR
    ("sclip", "slide", False, 250, 330),
    ("clearclip", "slide", False, 250, 500),  # 2 windows of 250×448, padded centred to 256×448
]


@pytest.fixture(scope="module")
def text(zoo_segmenter):
    return zoo_segmenter.prepare_vocabulary(NAMES, background=False).embeddings


@pytest.mark.parametrize("method,mode,use_pamr,height,width", CASES)
def test_matches_the_spec_on_other_sizes(zoo, text, method, mode, use_pamr, height, width):
    image = random_image(height, width, seed=height + width)
    zoo.configure(method=method, mode=mode, refine="pamr" if use_pamr else "none", input_size=0)
    vocab = zoo.prepare_vocabulary(NAMES, background=False)
    result = zoo.segment(image, vocab, probs_image=True)
    expected = zoo_reference.reference(zoo.network.visual, image, text, method, mode, use_pamr)
    if mode == "whole":
        assert result.probs.shape == (len(NAMES), height // 16, width // 16)
        assert np.abs(result.probs - expected["probs"].numpy()).max() <= PROBS_BAR
    assert np.abs(result.probs_image - expected["probs_image"].numpy()).max() <= PROBS_BAR
    assert (result.labels == expected["labels"].numpy()).mean() >= LABEL_AGREEMENT


def test_pamr_in_chunks_equals_upstreams_stacked_copies():
    """Bounded memory changes nothing: one neighbour at a time, classes in chunks of 1, equals the
    16 stacked copies of 1-stage-wseg."""
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, 40, 52, generator=generator)
    scores = torch.randn(1, 5, 40, 52, generator=generator)
    expected = zoo_reference.pamr(image, scores)
    assert torch.allclose(pamr.refine(scores, image), expected, atol=1e-5)
    assert torch.allclose(pamr.refine(scores, image, max_chunk_elements=1), expected, atol=1e-5)
