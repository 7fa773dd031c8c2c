"""Objects from a label image: 8-connected components of target classes, their 2-D boxes and scores,
and 3-D boxes from their back-projected points. numpy and OpenCV only (no ROS), tested on arrays.

An object is one 8-connected component of one target class with at least `min_pixels` pixels. Objects
are numbered 1..N in the order of the target ids, then in OpenCV's component order (raster order of
each component's first pixel); `instances` holds that number per pixel (0 = no object).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

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


def find_objects(label_image: np.ndarray, target_ids: Sequence[int], confidence: np.ndarray,
                 min_pixels: int) -> Objects:
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
        mask = mask.view(np.uint8)  # bool -> 0/1 without a copy
        count, components, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_32S)
        keep = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= min_pixels) + 1  # component 0 is the rest
        if keep.size == 0:
            continue
        if len(class_ids) + keep.size > np.iinfo(np.uint16).max:
            raise ValueError("more than 65535 objects in one frame: raise min_object_pixels")
        first = len(class_ids) + 1
        number = np.zeros(count, np.uint16)  # component -> object number, 0 for dropped ones
        number[keep] = np.arange(first, first + keep.size, dtype=np.uint16)
        numbered = number[components]
        np.maximum(instances, numbered, out=instances)  # classes never overlap: max is a merge
        left, top = stats[keep, cv2.CC_STAT_LEFT], stats[keep, cv2.CC_STAT_TOP]
        boxes.append(np.stack([left, top, left + stats[keep, cv2.CC_STAT_WIDTH] - 1,
                               top + stats[keep, cv2.CC_STAT_HEIGHT] - 1], axis=1))
        pixels.append(stats[keep, cv2.CC_STAT_AREA])
        class_ids.extend([target] * keep.size)
    n = len(class_ids)
    sums = np.bincount(instances.ravel(), weights=confidence.ravel(), minlength=n + 1)[1:]
    pixel_counts = np.concatenate(pixels) if pixels else np.zeros(0, np.int64)
    return Objects(instances=instances, class_ids=np.asarray(class_ids, np.int64), pixels=pixel_counts,
                   boxes=np.concatenate(boxes) if boxes else np.zeros((0, 4), np.int64),
                   scores=sums / np.maximum(pixel_counts, 1))


@dataclass(frozen=True)
class Boxes3D:
    """Axis-aligned 3-D boxes of the objects that have at least one point."""

    numbers: np.ndarray  # (M,) object numbers (1-based, as in Objects.instances)
    centers: np.ndarray  # (M, 3) per-axis median of the object's points
    sizes: np.ndarray  # (M, 3) max - min per axis


def _sortable(values: np.ndarray) -> np.ndarray:
    """float32 -> uint32 in the same order (negative floats have all bits flipped, positive the sign)."""
    bits = values.view(np.uint32)
    return bits ^ np.where(bits >> 31, np.uint32(0xFFFFFFFF), np.uint32(0x80000000))


def _unsortable(keys: np.ndarray) -> np.ndarray:
    """Inverse of _sortable."""
    return (keys ^ np.where(keys >> 31, np.uint32(0x80000000), np.uint32(0xFFFFFFFF))).view(np.float32)


def boxes_3d(xyz: np.ndarray, numbers: np.ndarray) -> Boxes3D:
    """Per-object median and extent of points `xyz` (P x 3) that belong to object `numbers` (P,), all > 0.

    Fully vectorised and exact: per axis one sort of 64-bit keys (object number in the high word, the
    coordinate's order-preserving bits in the low word) puts every object's values in order, one slice
    after another; the median is the mean of the two middle ranks, the extent last minus first.
    """
    xyz = np.ascontiguousarray(np.asarray(xyz, np.float32).reshape(-1, 3))
    numbers = np.asarray(numbers).ravel().astype(np.uint64)
    counts = np.bincount(numbers.astype(np.int64)) if numbers.size else np.zeros(1, np.int64)
    objects = np.flatnonzero(counts)
    counts = counts[objects]
    starts = np.cumsum(counts) - counts
    low, high, last = starts + (counts - 1) // 2, starts + counts // 2, starts + counts - 1
    centers, sizes = np.empty((objects.size, 3)), np.empty((objects.size, 3))
    for axis in range(3):
        keys = np.sort((numbers << np.uint64(32)) | _sortable(xyz[:, axis]).astype(np.uint64))
        values = _unsortable((keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)).astype(np.float64)
        centers[:, axis] = (values[low] + values[high]) / 2
        sizes[:, axis] = values[last] - values[starts]
    return Boxes3D(objects.astype(np.int64), centers, sizes)
