"""Depth + labels -> semantic point cloud (numpy) and its sensor_msgs/PointCloud2 packing.

No rclpy here, only message classes, so all of it is unit-tested on arrays. Points are in the camera's
optical frame (x right, y down, z forward), the frame of the depth image registered to the colour camera.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

from .visualize import palette

# x y z rgb confidence objectness label, padded to 28 bytes so every float32 stays 4-byte aligned.
POINT_DTYPE = np.dtype({
    "names": ["x", "y", "z", "rgb", "confidence", "objectness", "label"],
    "formats": ["<f4", "<f4", "<f4", "<f4", "<f4", "<f4", "<u2"],
    "offsets": [0, 4, 8, 12, 16, 20, 24],
    "itemsize": 28,
})
_POINTFIELD_TYPES = {np.dtype("<f4"): PointField.FLOAT32, np.dtype("<u2"): PointField.UINT16}


def pack_rgb(colors: np.ndarray) -> np.ndarray:
    """Nx3 uint8 -> N float32 with bytes 0x00RRGGBB, the PCL / RViz 'rgb' packing."""
    c = colors.astype(np.uint32)
    return ((c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]).view(np.float32)


def unpack_rgb(rgb: np.ndarray) -> np.ndarray:
    """Inverse of pack_rgb: N float32 -> Nx3 uint8."""
    v = np.ascontiguousarray(rgb, dtype=np.float32).view(np.uint32)
    return np.stack([(v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF], axis=-1).astype(np.uint8)


def _check_shapes(depth_m: np.ndarray, **images: np.ndarray) -> None:
    if depth_m.ndim != 2:
        raise ValueError(f"depth must be HxW, got shape {depth_m.shape}")
    for name, image in images.items():
        if image.shape != depth_m.shape:
            raise ValueError(
                f"{name} has shape {image.shape} but depth has {depth_m.shape}; the depth image must be "
                f"registered to the colour camera at the same resolution")


def semantic_points(depth_m: np.ndarray, fx: float, fy: float, cx: float, cy: float,
                    label_image: np.ndarray, confidence: np.ndarray, objectness: np.ndarray,
                    label_map: Mapping[int, str], stride: int = 1, max_depth: float = 10.0) -> np.ndarray:
    """Back-project every stride-th pixel with valid depth through the pinhole model.

    Pixel (u, v) at depth z becomes x = (u - cx) z / fx, y = (v - cy) z / fy. Depth that is NaN, inf,
    <= 0 or > max_depth is skipped. Returns a 1-D POINT_DTYPE array in row-major pixel order.
    """
    depth_m = np.asarray(depth_m)
    _check_shapes(depth_m, label_image=np.asarray(label_image), confidence=np.asarray(confidence),
                  objectness=np.asarray(objectness))
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if fx <= 0 or fy <= 0:
        raise ValueError(f"focal lengths must be positive, got fx={fx} fy={fy}")
    sub = (slice(None, None, stride), slice(None, None, stride))
    z = depth_m[sub].astype(np.float32, copy=False)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(z) & (z > 0) & (z <= max_depth)
    idx = np.flatnonzero(valid)  # flat indices + take(): several times faster than 2-D fancy indexing
    rows, cols = np.divmod(idx, z.shape[1])
    z = z.ravel().take(idx)
    # per-column / per-row ray slopes, looked up instead of recomputed per point
    x_slope = (np.arange(0, depth_m.shape[1], stride, dtype=np.float32) - np.float32(cx)) / np.float32(fx)
    y_slope = (np.arange(0, depth_m.shape[0], stride, dtype=np.float32) - np.float32(cy)) / np.float32(fy)
    labels = np.asarray(label_image)[sub].ravel().take(idx)
    points = np.empty(idx.size, dtype=POINT_DTYPE)
    points["x"] = x_slope.take(cols) * z
    points["y"] = y_slope.take(rows) * z
    points["z"] = z
    table = np.vstack([palette(label_map), np.zeros((1, 3), np.uint8)])  # last row: ids not in the map
    packed = pack_rgb(table)
    points["rgb"] = packed.take(np.minimum(labels, len(table) - 1))
    points["label"] = labels
    points["confidence"] = np.asarray(confidence)[sub].ravel().take(idx)
    points["objectness"] = np.asarray(objectness)[sub].ravel().take(idx)
    return points


def point_fields(dtype: np.dtype = POINT_DTYPE) -> list:
    """PointField list describing a little-endian structured dtype."""
    fields = []
    for name in dtype.names:
        sub, offset = dtype.fields[name][:2]
        fields.append(PointField(name=name, offset=offset, datatype=_POINTFIELD_TYPES[sub], count=1))
    return fields


def to_pointcloud2(points: np.ndarray, header) -> PointCloud2:
    """Unordered (height 1), dense PointCloud2 carrying `header` (frame and stamp of the input image)."""
    if points.dtype != POINT_DTYPE:
        points = points.astype(POINT_DTYPE)
    points = np.ascontiguousarray(points)
    return PointCloud2(
        header=header, height=1, width=int(points.shape[0]), fields=point_fields(POINT_DTYPE),
        is_bigendian=False, point_step=POINT_DTYPE.itemsize,
        row_step=POINT_DTYPE.itemsize * int(points.shape[0]),
        data=points.tobytes(),  # bytes assign in milliseconds; a numpy array would be checked per element
        is_dense=True)


def from_pointcloud2(msg: PointCloud2) -> np.ndarray:
    """Read a cloud written by to_pointcloud2 back into a POINT_DTYPE array (tests, offline tools)."""
    if msg.point_step != POINT_DTYPE.itemsize or msg.is_bigendian:
        raise ValueError("not a cloud in ov_seg_ros's point layout")
    return np.frombuffer(bytes(msg.data), dtype=POINT_DTYPE, count=msg.width * msg.height)
