"""TensorRT on a GPU (skipped without CUDA or without the tensorrt package): fp32 reproduces the torch
engine within the engine bar, fp16 keeps the labels, and the engine file is reused from the cache."""

import numpy as np
import pytest
import torch
from conftest import random_image, temporary_cache_home

from ov_seg_ros.engine.backends.support import installed

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.skipif(not installed("tensorrt"), reason="tensorrt not installed"),
]


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    from ov_seg_ros import Segmenter

    make = lambda backend, precision: Segmenter(  # noqa: E731
        weights="seeded", heads="seeded", device="cuda", backend=backend, precision=precision, input_size=0
    )
    with temporary_cache_home(tmp_path_factory.mktemp("trt_cache")):
        yield {"torch": make("torch", "fp32"), "fp32": make("tensorrt", "fp32"), "fp16": make("tensorrt", "fp16")}


@pytest.mark.parametrize("precision,probs,labels", [("fp32", 1e-4, 0.999), ("fp16", None, 0.95)])
def test_tensorrt_matches_torch(engines, precision, probs, labels):
    image = random_image(224, 320, seed=2)
    vocab = ["floor", "wall", "door", "person"]
    ref = engines["torch"].segment(image, engines["torch"].prepare_vocabulary(vocab))
    seg = engines[precision]
    ours = seg.segment(image, seg.prepare_vocabulary(vocab))
    if probs is not None:
        assert np.abs(ours.probs - ref.probs).max() <= probs
        assert np.abs(ours.objectness - ref.objectness).max() <= 1e-5
    assert (ours.labels == ref.labels).mean() >= labels
    again = type(seg)(weights="seeded", heads="seeded", device="cuda", backend="tensorrt", precision=precision)
    again.segment(image, again.prepare_vocabulary(vocab), input_size=0)
    assert again.visual.builds[-1]["how"] == "cached"
