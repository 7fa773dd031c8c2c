"""Weights: seeded weights bit-identical to the recipe, head checkpoints, helpful errors, no hub."""

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from ov_seg_ros.engine.weights import HEAD_SHAPES, WeightsNotFoundError, load_clip, load_heads, seeded_tensor

KEYS = Path(__file__).parent / "fixtures" / "clip_vit_b16_keys.json"


def test_seeded_tensor_follows_the_recipe():
    key = "visual.transformer.resblocks.3.mlp.c_fc.weight"
    expected = 0.02 * np.random.default_rng(zlib.crc32(key.encode())).standard_normal((4, 5))
    assert np.array_equal(seeded_tensor(key, (4, 5)).numpy(), expected.astype(np.float32))
    assert torch.allclose(seeded_tensor("visual.ln_post.weight", (768,)).mean(), torch.tensor(1.0), atol=0.01)
    assert float(seeded_tensor("logit_scale", ())) == pytest.approx(np.log(100), rel=1e-6)
    proj = seeded_tensor("text_projection", (512, 512))
    assert float(proj.std()) == pytest.approx(1 / np.sqrt(512), rel=0.02)


def test_seeded_clip_has_the_reference_keys(segmenter):
    shapes = {k: tuple(v) for k, v in json.loads(KEYS.read_text()).items()}
    visual = {k: tuple(v.shape) for k, v in segmenter.network.visual.state_dict().items()}
    assert {f"visual.{k}": s for k, s in visual.items()} == {k: s for k, s in shapes.items() if k.startswith("visual.")}


def _write_heads(path, wrap=True, drop=None):
    state = {k: torch.zeros(s) for k, s in HEAD_SHAPES.items() if k != drop}
    torch.save({"epoch": 100, "model_state_dict": state} if wrap else state, path)
    return str(path)


@pytest.mark.parametrize("wrap", [True, False])
def test_upstream_and_bare_head_checkpoints_load(tmp_path, wrap):
    heads = load_heads(_write_heads(tmp_path / "last.pt", wrap=wrap))
    assert {k: tuple(v.shape) for k, v in heads.items()} == HEAD_SHAPES


def test_head_checkpoint_missing_a_key_is_rejected(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="bkg_decoder.bias"):
        load_heads(_write_heads(tmp_path / "last.pt", drop="bkg_decoder.bias"))


def test_missing_head_file_says_how_to_get_it(tmp_path):
    missing = tmp_path / "nowhere" / "last.pt"
    with pytest.raises(WeightsNotFoundError) as err:
        load_heads(str(missing))
    message = str(err.value)
    assert str(missing) in message and "clip_dinoiser" in message and "OV_SEG_HEADS" in message


def test_corrupt_head_file_is_reported(tmp_path):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsNotFoundError, match="could not be loaded"):
        load_heads(str(bad))


def test_missing_clip_file_says_how_to_get_it(tmp_path):
    with pytest.raises(WeightsNotFoundError) as err:
        load_clip(str(tmp_path / "open_clip_pytorch_model.bin"))
    assert "laion2b_s34b_b88k" in str(err.value) and "OV_SEG_WEIGHTS" in str(err.value)


def test_unknown_tag_is_rejected():
    with pytest.raises(WeightsNotFoundError, match="not a file and not an OpenCLIP tag"):
        load_clip("laion_typo")


def test_uncached_pretrained_tag_fails_offline_with_instructions(tmp_path):
    """A real tag with an empty, offline cache: a clear error, and no network access."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path))
    code = (
        "from ov_seg_ros.engine.weights import load_clip, WeightsNotFoundError\n"
        "try:\n load_clip('laion2b_s34b_b88k')\n"
        "except WeightsNotFoundError as e:\n print('ERROR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "ERROR CLIP weights 'laion2b_s34b_b88k' could not be loaded" in out.stdout, out.stderr
    assert "open_clip.create_model" in out.stdout


def test_local_clip_file_loads(tmp_path, segmenter):
    """A local OpenCLIP state-dict file is the path real weights take when dropped in by hand."""
    clip = segmenter.text._clip
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(clip.state_dict(), path)
    loaded = load_clip(str(path))
    assert torch.equal(loaded.visual.proj, clip.visual.proj.cpu())


def test_empty_heads_means_env_then_default_location(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OV_SEG_HEADS", raising=False)
    with pytest.raises(WeightsNotFoundError) as err:
        load_heads("")
    assert str(tmp_path / ".cache" / "ov_seg_ros" / "last.pt") in str(err.value)
    monkeypatch.setenv("OV_SEG_HEADS", _write_heads(tmp_path / "mine.pt"))
    assert set(load_heads("")) == set(HEAD_SHAPES)
