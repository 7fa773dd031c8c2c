"""How this package's processes start ROS: the DDS transport first, then rclpy, on every distro.

Two facts of the field live here and nowhere else:
- Jazzy's (and Humble's) `rclpy.init()` returns None; only Kilted's is a context manager. `ros_session`
  works on all of them.
- Fast DDS's builtin transports drop best-effort messages above ~512 KB between processes, i.e. every
  camera frame from 640x480 up. `apply_transport_profile` gives this process the shipped profile
  (config/fastdds_large_data.xml) unless the user chose a profile or another RMW; it must run before
  rclpy creates the process's DDS participant, which is why it is part of `ros_session`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

PROFILE_NAME = "fastdds_large_data.xml"
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


def shipped_profile() -> Optional[Path]:
    """The profile installed under share/ov_seg_ros/config (pip or colcon), else the source tree's."""
    candidates = [
        Path(sys.prefix) / "share/ov_seg_ros/config" / PROFILE_NAME,
        Path(__file__).resolve().parents[1] / "config" / PROFILE_NAME,
    ]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.insert(0, Path(get_package_share_directory("ov_seg_ros")) / "config" / PROFILE_NAME)
    except Exception:
        pass
    return next((p for p in candidates if p.is_file()), None)


def uses_fast_dds() -> bool:
    """The RMW rclpy will load: RMW_IMPLEMENTATION, else the distro's default (Fast DDS on Jazzy/Kilted)."""
    return os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp").startswith("rmw_fastrtps")


def apply_transport_profile() -> str:
    """Point Fast DDS at the shipped profile when nothing else was chosen; says what is in use."""
    for variable in PROFILE_VARIABLES:
        if os.environ.get(variable):
            return f"DDS transport: the user's Fast DDS profile {os.environ[variable]} (${variable})"
    if not uses_fast_dds():
        return f"DDS transport: {os.environ['RMW_IMPLEMENTATION']}'s own (no Fast DDS profile applied)"
    profile = shipped_profile()
    if profile is None:
        return (
            f"DDS transport: Fast DDS builtin (the shipped {PROFILE_NAME} was not found; large best-effort "
            "images may not arrive)"
        )
    os.environ[profile_variable()] = str(profile)  # read when the participant is created
    return f"DDS transport: shipped Fast DDS profile {profile} (64 MB shared memory + UDPv4)"


def profile_variable() -> str:
    """Fast DDS 2.x (Humble, Jazzy) reads FASTRTPS_..., 3.x (Kilted on) FASTDDS_... and warns on the old one."""
    return PROFILE_VARIABLES[0] if os.environ.get("ROS_DISTRO") in ("humble", "iron", "jazzy") else PROFILE_VARIABLES[1]


def exit_process(code: int) -> None:
    """End the process once ROS is shut down, skipping native static destructors.

    With the large-data profile's user transports, Fast DDS's teardown at interpreter exit sometimes
    aborts ("terminate called without an active exception", seen in 3 of 5 runs here) after every
    message was published and rclpy was shut down; `ros2 launch` then reports a crash. Nothing of ours
    is left to run at that point, so flush and leave.
    """
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


@contextlib.contextmanager
def ros_session(args: Any = None, transport: bool = True, **kwargs: Any) -> Iterator[str]:
    """rclpy.init ... try_shutdown around a block; yields the transport line for the log.
    transport=False leaves the process's DDS transport alone (tests that share one process)."""
    import rclpy

    transport_line = apply_transport_profile() if transport else "DDS transport: unchanged"
    rclpy.init(args=args, **kwargs)
    try:
        yield transport_line
    finally:
        rclpy.try_shutdown()
