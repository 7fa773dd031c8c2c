"""weights:=auto resolution from the filesystem and environment only."""

import pytest

from ov_seg_ros.engine import auto_weights as aw


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    # an empty HF cache and home, so the machine's own caches do not leak into the answer
    for var in ("OV_SEG_WEIGHTS", "OV_SEG_HEADS", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(aw, "DEFAULT_HEADS_PATH", tmp_path / "ov_seg_ros" / "last.pt")
    return tmp_path


def test_nothing_cached_falls_back_to_seeded(clean_env):
    assert aw.resolve_auto_weights() == ("seeded", "seeded", True)
    message = aw.seeded_warning("seeded", "seeded")
    assert "NOT from a trained model" in message and "last.pt" in message


def test_cached_hf_checkpoint_and_default_heads_are_used(clean_env):
    snap = clean_env / "hub" / "models--laion--CLIP-ViT-B-16-laion2B-s34B-b88K" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "open_clip_model.safetensors").write_bytes(b"x")
    aw.DEFAULT_HEADS_PATH.parent.mkdir(parents=True)
    aw.DEFAULT_HEADS_PATH.write_bytes(b"x")
    assert aw.resolve_auto_weights() == ("laion2b_s34b_b88k", str(aw.DEFAULT_HEADS_PATH), False)


def test_environment_files_win_and_explicit_values_pass_through(clean_env, monkeypatch):
    clip, heads = clean_env / "clip.bin", clean_env / "heads.pt"
    clip.write_bytes(b"x")
    heads.write_bytes(b"x")
    monkeypatch.setenv("OV_SEG_WEIGHTS", str(clip))
    monkeypatch.setenv("OV_SEG_HEADS", str(heads))
    assert aw.resolve_auto_weights() == (str(clip), str(heads), False)
    assert aw.resolve_auto_weights("seeded", "auto") == ("seeded", str(heads), True)
    assert aw.resolve_auto_weights("x.bin", "y.pt") == ("x.bin", "y.pt", False)


def test_half_cached_is_still_flagged_seeded(clean_env):
    aw.DEFAULT_HEADS_PATH.parent.mkdir(parents=True)
    aw.DEFAULT_HEADS_PATH.write_bytes(b"x")
    w, h, seeded = aw.resolve_auto_weights()
    assert (w, seeded) == ("seeded", True) and h == str(aw.DEFAULT_HEADS_PATH)
