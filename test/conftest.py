"""Shared test pieces: the seeded engine (built once per session, about 6 s on 2 cores), images,
ROS domains and an install prefix for the ros2 CLI."""

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
# One ROS domain per group of DDS tests, offset from the pid so concurrent runs rarely share one.
DOMAIN_OFFSETS = {
    "node": 0,
    "ros2_cli": 1,
    "demo_launch": 2,
    "demo_player": 3,
    "overlay_saver": 4,
    "cameras": 5,
    "cameras_launch": 6,
    "inputs_raw": 7,
    "inputs_compressed": 8,
    "consumers": 9,
    "lifecycle": 10,
    "zoo": 13,
    "transport": 20,
    "backends": 30,
    "bag_equal": 31,
}


# Test modules that import no ROS package (engine, zoo and backend numerics): their results cannot
# depend on the ROS distro, so a second distro's run may leave them out with OV_SEG_TEST_SCOPE=ros
# (.ci/run does, to fit both distros in CI's time; `make test` alone runs everything).
ROS_FREE_MODULES = {
    "test_auto_weights",
    "test_backends",
    "test_fixtures",
    "test_model",
    "test_segmenter",
    "test_text",
    "test_weights",
    "test_zoo_engine",
    "test_zoo_fixtures",
    "test_zoo_reference",
}


def _tree_bytes(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # removed meanwhile
                pass
    return total


# The suite's disk use, so a CI log says how close a run came to a full disk (one CI run failed on it:
# compiled-backend exports are hundreds of MB each). Peak of pytest's temporary folder and lowest free space.
DISK = {"peak": 0, "peak_at": "", "free": None}


def pytest_runtest_makereport(item, call):
    if call.when != "call":  # measured before teardown removes the test's own folder
        return
    base = item.config._tmp_path_factory.getbasetemp()
    used = _tree_bytes(base)
    if used > DISK["peak"]:
        DISK["peak"], DISK["peak_at"] = used, item.nodeid
    free = shutil.disk_usage(base).free
    DISK["free"] = free if DISK["free"] is None else min(DISK["free"], free)


def pytest_terminal_summary(terminalreporter):
    if DISK["free"] is not None:
        terminalreporter.write_line(
            f"disk: temporary files peaked at {DISK['peak'] / 2**20:.0f} MB (after {DISK['peak_at']}); "
            f"lowest free space {DISK['free'] / 2**30:.1f} GiB"
        )


def pytest_collection_modifyitems(config, items):
    if os.environ.get("OV_SEG_TEST_SCOPE", "all") != "ros":
        return
    kept = [item for item in items if item.module.__name__ not in ROS_FREE_MODULES]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


def ros_domain(group: str) -> int:
    return (os.getpid() + DOMAIN_OFFSETS[group]) % 100  # 0..101 are valid on loopback


def ros_env(domain: int) -> Dict[str, str]:
    """Environment for a ROS process of this checkout on `domain`, DDS on loopback, unbuffered logs."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {
        **os.environ,
        "ROS_DOMAIN_ID": str(domain),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "PYTHONPATH": path,
        "PYTHONUNBUFFERED": "1",
        "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
    }


@pytest.fixture(scope="session")
def segmenter():
    from ov_seg_ros import Segmenter

    return Segmenter(weights="seeded", heads="seeded", device="cpu", precision="fp32")


@pytest.fixture(scope="session")
def zoo_segmenter():
    """The training-free methods' engine: seeded OpenAI-architecture (QuickGELU) CLIP, no heads at all
    (the heads path does not exist, so loading them would fail)."""
    from ov_seg_ros import Segmenter

    return Segmenter(weights="seeded", heads="/nonexistent/last.pt", method="naclip", input_size=0)


@pytest.fixture()
def zoo(zoo_segmenter):
    """The zoo engine, with method/mode/refine/size restored after the test."""
    saved = zoo_segmenter.method, zoo_segmenter.mode, zoo_segmenter.refine, zoo_segmenter.input_size
    yield zoo_segmenter
    zoo_segmenter.method, zoo_segmenter.mode, zoo_segmenter.refine, zoo_segmenter.input_size = saved


@pytest.fixture()
def engine(segmenter):
    """The shared segmenter, with method/size/mode restored after the test."""
    saved = segmenter.method, segmenter.input_size, segmenter.mode
    yield segmenter
    segmenter.method, segmenter.input_size, segmenter.mode = saved


@contextlib.contextmanager
def temporary_cache_home(folder: Path):
    """XDG_CACHE_HOME at `folder` (where backends cache their exports) while inside; the folder, hundreds
    of MB per exported shape, is removed on the way out."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    try:
        yield folder
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME")
        else:
            os.environ["XDG_CACHE_HOME"] = saved
        shutil.rmtree(folder, ignore_errors=True)


def load_fixture(name: str) -> dict:
    """test/fixtures/<name>.npz (zoo fixtures: 'zoo/<method>_<case>')."""
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


def install_prefix(root: Path) -> Path:
    """What `pip install .` / `colcon build` put where ros2 launch and ros2 run look, from this tree."""
    share = root / "share"
    (share / "ament_index/resource_index/packages").mkdir(parents=True)
    (share / "ament_index/resource_index/packages/ov_seg_ros").touch()
    for sub, pattern in (("launch", "launch/*.launch.py"), ("config", "config/*"), ("demo", "demo/*")):
        (share / "ov_seg_ros" / sub).mkdir(parents=True)
        for f in REPO.glob(pattern):
            shutil.copy(f, share / "ov_seg_ros" / sub)
    shutil.copy(REPO / "package.xml", share / "ov_seg_ros")
    (root / "lib/ov_seg_ros").mkdir(parents=True)
    for script in ("ov_seg_node", "ov_seg_demo_player"):
        shutil.copy(REPO / "scripts" / script, root / "lib/ov_seg_ros")
    return root


def ament_prefix_path(root: Path) -> str:
    """AMENT_PREFIX_PATH with this tree installed under `root` first, then the venv's own."""
    return os.pathsep.join(p for p in (str(install_prefix(root)), sys.prefix, os.environ.get("AMENT_PREFIX_PATH")) if p)
