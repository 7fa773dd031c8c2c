"""The node's memory helpers: the resident size now, and freed heap handed back to the system."""

import gc

from ov_seg_ros.node import memory


def test_resident_memory_is_read_now_not_the_peak():
    before = memory.resident_mib()
    block = bytearray(200 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    assert memory.resident_mib() > before + 150
    del block
    gc.collect()
    assert memory.resident_mib() < before + 50  # one large block is its own mapping: back at once


def test_freed_small_allocations_are_given_back():
    """Blocks below glibc's mmap threshold live in the heap, and part of them stays resident after `del`
    (here ~60 of 250 MiB); give_back_freed_memory returns nearly all of it."""
    memory.give_back_freed_memory()  # free heap left by earlier tests would take the blocks unseen
    base = memory.resident_mib()
    blocks = [bytearray(64 * 1024) for _ in range(4000)]  # 250 MiB of 64 KiB blocks
    for b in blocks:
        b[::4096] = b"y" * len(b[::4096])
    pins = [bytearray(1000) for _ in range(10)]  # live objects above them in the heap
    assert memory.resident_mib() > base + 200
    del blocks, b
    memory.give_back_freed_memory()
    assert memory.resident_mib() < base + 25
    assert len(pins) == 10
