"""Objects from a label image: 8-connected components of target classes, their 2-D boxes and scores,
and 3-D boxes from their back-projected points. numpy and OpenCV only (no ROS), tested on arrays.

An object is one 8-connected component of one target class with at least `min_pixels` pixels. Objects
are numbered 1..N in the order of the target ids, then in OpenCV's component order (raster order of
each component's first pixel); `instances` holds that number per pixel (0 = no object).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import cv2
import numpy as np


@dataclass(frozen=True)
class Objects:
    """N objects of one frame; row i of every array is object i + 1 of `instances`."""

    instances: np.ndarray  # H x W uint16: 0 = no object, i = object i
    class_ids: np.ndarray  # (N,) label id of each object
    pixels: np.ndarray  # (N,) pixel count
    boxes: np.ndarray  # (N, 4) int: u_min, v_min, u_max, v_max (inclusive)
    scores: np.ndarray  # (N,) float: mean confidence over the object's pixels

    def __len__(self) -> int:
        return int(self.class_ids.shape[0])


def _components(mask: np.ndarray) -> Tuple[int, np.ndarray, np.ndarray]:
    """8-connected components of a 0/1 uint8 mask: (count, component image, stats); component 0 is the
    rest. 16-bit component images halve the memory traffic; OpenCV refuses them (cv2.error) for a mask
    with more than 65535 components, which then gets 32-bit ones."""
    try:
        count, components, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_16U)
    except cv2.error:
        count, components, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_32S)
    return count, components, stats


def find_objects(
    label_image: np.ndarray, target_ids: Sequence[int], confidence: np.ndarray, min_pixels: int
) -> Objects:
    """Components of every target id with >= min_pixels pixels (one OpenCV pass per target id)."""
    label_image = np.asarray(label_image)
    if confidence.shape != label_image.shape:
        raise ValueError(f"confidence has shape {confidence.shape}, labels {label_image.shape}")
    instances = np.zeros(label_image.shape, np.uint16)
    class_ids, pixels, boxes = [], [], []
    for target in dict.fromkeys(int(t) for t in target_ids):  # unique, in the order given
        mask = label_image == target
        if not mask.any():  # absent classes cost one comparison, not a labelling pass
            continue
        count, components, stats = _components(mask.view(np.uint8))  # bool -> 0/1 without a copy
        keep = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= min_pixels) + 1
        if keep.size == 0:
            continue
        if len(class_ids) + keep.size > np.iinfo(np.uint16).max:
            raise ValueError("more than 65535 objects in one frame: raise min_object_pixels")
        number = np.zeros(count, np.uint16)  # component -> object number, 0 for dropped ones
        number[keep] = np.arange(len(class_ids) + 1, len(class_ids) + 1 + keep.size, dtype=np.uint16)
        np.maximum(instances, number.take(components), out=instances)  # classes never overlap: a merge
        left, top = stats[keep, cv2.CC_STAT_LEFT], stats[keep, cv2.CC_STAT_TOP]
        boxes.append(
            np.stack(
                [left, top, left + stats[keep, cv2.CC_STAT_WIDTH] - 1, top + stats[keep, cv2.CC_STAT_HEIGHT] - 1],
                axis=1,
            )
        )
        pixels.append(stats[keep, cv2.CC_STAT_AREA])
        class_ids.extend([target] * keep.size)
    sums = np.bincount(instances.ravel(), weights=confidence.ravel(), minlength=len(class_ids) + 1)[1:]
    pixel_counts = np.concatenate(pixels) if pixels else np.zeros(0, np.int64)
    return Objects(
        instances=instances,
        class_ids=np.asarray(class_ids, np.int64),
        pixels=pixel_counts,
        boxes=np.concatenate(boxes) if boxes else np.zeros((0, 4), np.int64),
        scores=sums / np.maximum(pixel_counts, 1),
    )


@dataclass(frozen=True)
class Boxes3D:
    """Axis-aligned 3-D boxes of the objects that have at least one point."""

    numbers: np.ndarray  # (M,) object numbers (1-based, as in Objects.instances)
    centers: np.ndarray  # (M, 3) per-axis median of the object's points
    sizes: np.ndarray  # (M, 3) max - min per axis


def _sortable(values: np.ndarray) -> np.ndarray:
    """float32 -> uint32 in the same order: negative floats get all bits flipped, others the sign bit."""
    bits = np.ascontiguousarray(values, np.float32).view(np.uint32)
    return bits ^ ((bits.view(np.int32) >> 31).view(np.uint32) | np.uint32(0x80000000))


def _unsortable(keys: np.ndarray) -> np.ndarray:
    """Inverse of _sortable."""
    keys = np.ascontiguousarray(keys, np.uint32)
    return (keys ^ ((~(keys.view(np.int32) >> 31)).view(np.uint32) | np.uint32(0x80000000))).view(np.float32)


def boxes_3d(xyz: Sequence[np.ndarray], numbers: np.ndarray) -> Boxes3D:
    """Per-object median and extent of points (x, y, z: three arrays of P) of objects `numbers` (P,), > 0.

    Vectorised and exact: per axis one sort of 64-bit keys (object number in the high word, the
    coordinate's order-preserving bits in the low word) puts every object's values in order, one slice
    after another; the median is the mean of the two middle ranks, the extent last minus first.
    """
    numbers = np.asarray(numbers).ravel()
    counts = np.bincount(numbers) if numbers.size else np.zeros(1, np.int64)
    objects = np.flatnonzero(counts)
    counts = counts[objects]
    starts = np.cumsum(counts) - counts
    ranks = np.stack([starts + (counts - 1) // 2, starts + counts // 2, starts, starts + counts - 1])
    high_words = numbers.astype(np.uint64) << np.uint64(32)
    centers, sizes = np.empty((objects.size, 3)), np.empty((objects.size, 3))
    for axis, values in enumerate(xyz):
        keys = high_words | _sortable(values)  # uint64 | uint32 -> uint64
        keys.sort()
        low, high, first, last = _unsortable(keys[ranks] & np.uint64(0xFFFFFFFF)).astype(np.float64)
        centers[:, axis] = (low + high) / 2
        sizes[:, axis] = last - first
    return Boxes3D(objects.astype(np.int64), centers, sizes)
