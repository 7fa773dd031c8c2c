"""How this package's processes start ROS: the DDS transport first, then rclpy, on every distro.

Two facts of the field live here and nowhere else:
- Jazzy's (and Humble's) `rclpy.init()` returns None; only Kilted's is a context manager. `ros_session`
  works on all of them.
- Fast DDS's builtin transports drop best-effort messages above ~512 KB between processes, i.e. every
  camera frame from 640x480 up. `apply_transport_profile` gives this process the shipped profile
  (config/fastdds_large_data.xml) unless the user chose a profile or another RMW; it must run before
  rclpy creates the process's DDS participant, which is why it is part of `ros_session`.
- Fast DDS 2.x (Humble, Jazzy) reads a profile only from FASTRTPS_DEFAULT_PROFILES_FILE; on 3.x stacks
  (Kilted) Fast DDS reads FASTDDS_DEFAULT_PROFILES_FILE and rmw_fastrtps also loads FASTRTPS_..., with a
  deprecation warning (measured with the PyPI wheels: Fast DDS 2.14.5 / rmw 8.4.3, 3.2.3 / 9.3.3). The
  version is read from the installed library, not from ROS_DISTRO: `ROS_DISTRO=jazzy source
  tools/env.sh` leaves ROS_DISTRO unset, and the profile then went to FASTDDS_..., which Jazzy ignores
  (issue 23: 1-18 of 20 best-effort outputs arrived instead of 20).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple

PROFILE_NAME = "fastdds_large_data.xml"
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")  # 2.x and 3.x, 3.x
FAST_DDS_2_DISTROS = ("foxy", "galactic", "humble", "iron", "jazzy")


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


def fast_dds_major() -> Optional[int]:
    """2 or 3: the Fast DDS that rmw_fastrtps will load, from its library in the ROS prefixes (the venv of
    the PyPI wheels, /opt/ros/<distro>); else from ROS_DISTRO; None when neither tells."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    for prefix in prefixes:
        lib = Path(prefix) / "lib"
        if any(lib.glob("libfastdds.so.3*")):
            return 3
        if any(lib.glob("libfastrtps.so.2*")):
            return 2
    distro = os.environ.get("ROS_DISTRO")
    if distro:
        return 2 if distro in FAST_DDS_2_DISTROS else 3
    return None


def profile_variables() -> Tuple[str, ...]:
    """The variables this process's Fast DDS stack reads a profile from, the one to set first. Unknown
    version: FASTRTPS_... first, which both read."""
    major = fast_dds_major()
    if major == 2:
        return (PROFILE_VARIABLES[0],)
    return PROFILE_VARIABLES[::-1] if major == 3 else PROFILE_VARIABLES


def apply_transport_profile() -> str:
    """Point Fast DDS at the shipped profile when nothing else was chosen; says what is in use."""
    readers = profile_variables()
    for variable in readers:
        if os.environ.get(variable):
            return f"DDS transport: the user's Fast DDS profile {os.environ[variable]} (${variable})"
    if not uses_fast_dds():
        return f"DDS transport: {os.environ['RMW_IMPLEMENTATION']}'s own (no Fast DDS profile applied)"
    ignored = [v for v in PROFILE_VARIABLES if v not in readers and os.environ.get(v)]
    if ignored:  # set for Fast DDS 3 on a 2.x stack: carry the user's choice over rather than drop it
        os.environ[readers[0]] = os.environ[ignored[0]]
        return (
            f"DDS transport: the user's Fast DDS profile {os.environ[ignored[0]]} (${ignored[0]} is not read "
            f"by this Fast DDS; set as ${readers[0]})"
        )
    profile = shipped_profile()
    if profile is None:
        return (
            f"DDS transport: Fast DDS builtin (the shipped {PROFILE_NAME} was not found; large best-effort "
            "images may not arrive)"
        )
    os.environ[readers[0]] = str(profile)  # read when the participant is created
    return f"DDS transport: shipped Fast DDS profile {profile} (64 MB shared memory + UDPv4, ${readers[0]})"


def exit_process(code: int) -> None:
    """End the process once ROS is shut down, skipping native static destructors.

    With the large-data profile's user transports, Fast DDS's teardown at interpreter exit sometimes
    aborts ("terminate called without an active exception", seen in 3 of 5 runs here) after every
    message was published and rclpy was shut down; `ros2 launch` then reports a crash. Nothing of ours
    is left to run at that point, so flush and leave, after `release_shared_memory`.
    """
    import logging
    import signal

    try:  # a second Ctrl-C (ros2 launch sends one, the terminal another) must not cut this short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass
    release_shared_memory()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


SHM_DIR = Path("/dev/shm")
SEGMENT_NAME = re.compile(r"(fastrtps|fastdds)_[0-9a-f]{16}")  # not the ports (fastrtps_port7411), shared


def release_shared_memory() -> int:
    """Unlink the Fast DDS shared-memory segments this process created, as Fast DDS's teardown would:
    `os._exit` skips it, and on Jazzy a segment whose node was not destroyed (the demo player, a node
    that failed to start) stayed in /dev/shm, keeping its size in RAM until reboot (91 segments of
    exited or killed processes, 1.2 GB, were there after an hour of tests). A process created the
    segments whose `<name>_el` file it holds an exclusive flock on (/proc/locks). Peers that map one keep
    their mapping.
    Returns how many were removed; 0 where there is no /proc or /dev/shm."""
    try:
        with open("/proc/locks") as locks:
            rows = [line.split() for line in locks]
        pid = str(os.getpid())
        # "1: FLOCK ADVISORY WRITE <pid> <major hex>:<minor hex>:<inode>": the device too, as inode
        # numbers repeat across file systems
        mine = {row[5] for row in rows if len(row) > 5 and row[1:4] == ["FLOCK", "ADVISORY", "WRITE"] and row[4] == pid}
        lock_files = list(SHM_DIR.glob("fast*_el"))
    except OSError:
        return 0
    removed = 0
    for lock_file in lock_files:
        segment = lock_file.with_name(lock_file.name[: -len("_el")])
        try:
            st = lock_file.stat()
            key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
            if SEGMENT_NAME.fullmatch(segment.name) and key in mine:
                segment.unlink(missing_ok=True)
                lock_file.unlink(missing_ok=True)
                removed += 1
        except OSError:
            continue
    return removed


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
