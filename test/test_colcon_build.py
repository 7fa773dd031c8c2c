"""The package builds the way ROS 2 users build it: `colcon build` in a workspace (ament_python)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_colcon_build_installs_node_launch_and_config(tmp_path):
    if shutil.which("colcon") is None:
        pytest.skip("colcon not installed (pip install colcon-common-extensions)")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ov_seg_ros").symlink_to(REPO)
    env = dict(os.environ, COLCON_HOME=str(tmp_path / ".colcon"))
    before = git_status()
    out = subprocess.run(
        ["colcon", "build", "--event-handlers", "console_direct-"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    prefix = tmp_path / "install" / "ov_seg_ros"
    for executable in ("ov_seg_node", "ov_seg_demo_player"):  # where ros2 run / launch look
        assert os.access(prefix / "lib" / "ov_seg_ros" / executable, os.X_OK)
    assert sorted(p.name for p in (prefix / "lib" / "ov_seg_ros").iterdir()) == ["ov_seg_demo_player", "ov_seg_node"]
    assert os.access(prefix / "bin" / "ov-seg", os.X_OK)  # on PATH once the workspace is sourced
    site = next(prefix.glob("lib/python3*/site-packages"))
    help_text = subprocess.run(
        [str(prefix / "bin" / "ov-seg"), "--help"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(site)),
    )
    assert help_text.returncode == 0 and help_text.stdout.startswith("usage: ov-seg"), help_text.stderr
    share = prefix / "share" / "ov_seg_ros"
    for path in (
        "package.xml",
        "launch/seg.launch.py",
        "launch/demo.launch.py",
        "config/seg.yaml",
        "config/ov_seg.rviz",
        "demo/camera_info.yaml",
    ):
        assert (share / path).is_file(), path
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "ov_seg_ros").is_file()
    assert git_status() == before  # the build leaves the source tree as it was (beyond ignored files)


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
