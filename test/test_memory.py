"""The node's memory helpers: the resident size now, and freed heap handed back to the system.

Each check runs in a fresh interpreter: in the suite's long-lived process, threads left by earlier tests
(executors, torch, Ray's driver) allocate and free at the same time and move the resident size."""

import subprocess
import sys
import textwrap

RESIDENT_IS_NOW = """
    import gc
    from ov_seg_ros.node import memory
    before = memory.resident_mib()
    block = bytearray(200 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    assert memory.resident_mib() > before + 150, (before, memory.resident_mib())
    del block
    gc.collect()
    assert memory.resident_mib() < before + 50, (before, memory.resident_mib())  # its own mapping: back at once
"""

SMALL_BLOCKS_GIVEN_BACK = """
    from ov_seg_ros.node import memory
    memory.give_back_freed_memory()
    base = memory.resident_mib()
    blocks = [bytearray(64 * 1024) for _ in range(4000)]  # 250 MiB of 64 KiB blocks
    for b in blocks:
        b[::4096] = b"y" * len(b[::4096])
    pins = [bytearray(1000) for _ in range(10)]  # live objects above them in the heap
    assert memory.resident_mib() > base + 200, (base, memory.resident_mib())
    del blocks, b
    memory.give_back_freed_memory()
    assert memory.resident_mib() < base + 25, (base, memory.resident_mib())
    assert len(pins) == 10
"""


def run_fresh(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_resident_memory_is_read_now_not_the_peak():
    run_fresh(RESIDENT_IS_NOW)


def test_freed_small_allocations_are_given_back():
    """Blocks below glibc's mmap threshold live in the heap, and part of them stays resident after `del`
    (here ~60 of 250 MiB); give_back_freed_memory returns nearly all of it."""
    run_fresh(SMALL_BLOCKS_GIVEN_BACK)
