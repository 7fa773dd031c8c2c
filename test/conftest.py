"""Shared, seeded engine for the tests: built once per session (about 6 s on 2 cores)."""
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def segmenter():
    from ov_seg_ros import Segmenter
    return Segmenter(weights="seeded", heads="seeded", device="cpu", precision="fp32")


@pytest.fixture()
def engine(segmenter):
    """The shared segmenter, with method/size/mode restored after the test."""
    saved = segmenter.method, segmenter.input_size, segmenter.mode
    yield segmenter
    segmenter.method, segmenter.input_size, segmenter.mode = saved


def load_fixture(name: str) -> dict:
    with np.load(FIXTURES / f"{name}.npz") as data:
        return {key: data[key] for key in data.files}


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth blobs rather than noise, so neighbouring patches correlate as in real images."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(height // 24, 2), max(width // 24, 2), 3)).astype(np.float32)
    rows = np.linspace(0, small.shape[0] - 1, height).round().astype(int)
    cols = np.linspace(0, small.shape[1] - 1, width).round().astype(int)
    noise = rng.normal(0, 12, size=(height, width, 3))
    return np.clip(small[rows][:, cols] + noise, 0, 255).astype(np.uint8)


def interrupt(proc, timeout: float) -> None:
    """Ctrl-C a child process as a user would; kill it if it does not end within `timeout` s."""
    import signal
    import subprocess
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
