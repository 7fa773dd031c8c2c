"""Depth + labels -> semantic point cloud (numpy) and its sensor_msgs/PointCloud2 packing.

No rclpy here, only message classes, so all of it is unit-tested on arrays. Points are in the camera's
optical frame (x right, y down, z forward), the frame of the depth image registered to the colour camera.
"""

from __future__ import annotations

import array
from typing import Mapping, Optional, Tuple

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

from .visualize import color_rows, id_colors

# x y z rgb confidence objectness label, padded to 28 bytes so every float32 stays 4-byte aligned.
POINT_DTYPE = np.dtype(
    {
        "names": ["x", "y", "z", "rgb", "confidence", "objectness", "label"],
        "formats": ["<f4", "<f4", "<f4", "<f4", "<f4", "<f4", "<u2"],
        "offsets": [0, 4, 8, 12, 16, 20, 24],
        "itemsize": 28,
    }
)
# Obstacle clouds: what a costmap's observation source reads, nothing more.
XYZ_DTYPE = np.dtype({"names": ["x", "y", "z"], "formats": ["<f4"] * 3, "offsets": [0, 4, 8], "itemsize": 12})
# Target clouds: which class and which object (the 1-based index into ~/detections) each point is.
TARGET_DTYPE = np.dtype(
    {
        "names": ["x", "y", "z", "label", "instance"],
        "formats": ["<f4", "<f4", "<f4", "<u2", "<u2"],
        "offsets": [0, 4, 8, 12, 14],
        "itemsize": 16,
    }
)
# Messages generated since Iron take `check_fields`: with it on, an array('B') assigned to `data` is stored
# as given instead of copied once more (older ones always store it as given).
_STORE_AS_GIVEN = {"check_fields": True} if "_check_fields" in PointCloud2.__slots__ else {}
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
                f"registered to the colour camera at the same resolution"
            )


def semantic_points(
    depth_m: np.ndarray,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    label_image: np.ndarray,
    confidence: np.ndarray,
    objectness: np.ndarray,
    label_map: Mapping[int, str],
    stride: int = 1,
    max_depth: float = 10.0,
) -> np.ndarray:
    """Back-project every stride-th pixel with valid depth through the pinhole model.

    Pixel (u, v) at depth z becomes x = (u - cx) z / fx, y = (v - cy) z / fy. Depth that is NaN, inf,
    <= 0 or > max_depth is skipped. Returns a 1-D POINT_DTYPE array in row-major pixel order.
    """
    depth_m = np.asarray(depth_m)
    _check_shapes(
        depth_m,
        label_image=np.asarray(label_image),
        confidence=np.asarray(confidence),
        objectness=np.asarray(objectness),
    )
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if fx <= 0 or fy <= 0:
        raise ValueError(f"focal lengths must be positive, got fx={fx} fy={fy}")
    sub = (slice(None, None, stride), slice(None, None, stride))
    z = depth_m[sub].astype(np.float32, copy=False)
    # flat indices + take(): several times faster than 2-D fancy indexing
    idx = np.flatnonzero(valid_depth(z, max_depth))
    rows, cols = np.divmod(idx, z.shape[1])
    z = z.ravel().take(idx)
    # per-column / per-row ray slopes, looked up instead of recomputed per point
    x_slope = (np.arange(0, depth_m.shape[1], stride, dtype=np.float32) - np.float32(cx)) / np.float32(fx)
    y_slope = (np.arange(0, depth_m.shape[0], stride, dtype=np.float32) - np.float32(cy)) / np.float32(fy)
    labels = np.asarray(label_image)[sub].ravel().take(idx)
    points = np.zeros(idx.size, dtype=POINT_DTYPE)  # zeros: the 2 padding bytes of each point are sent too
    points["x"] = x_slope.take(cols) * z
    points["y"] = y_slope.take(rows) * z
    points["z"] = z
    confidence, objectness = (np.asarray(image)[sub].ravel().take(idx) for image in (confidence, objectness))
    return _with_semantics(points, labels, confidence, objectness, label_map)


def _with_semantics(
    points: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    objectness: np.ndarray,
    label_map: Mapping[int, str],
) -> np.ndarray:
    """Fill the per-point label, its colour (the overlay's; UNKNOWN_COLOR for ids not in the map),
    confidence and objectness of POINT_DTYPE points, whatever their layout (sparse or organised)."""
    table = id_colors(label_map)
    points["rgb"] = pack_rgb(table).take(color_rows(labels, table))
    points["label"] = labels
    points["confidence"] = confidence
    points["objectness"] = objectness
    return points


def valid_depth(depth_m: np.ndarray, max_depth: float) -> np.ndarray:
    """True where depth is a usable range: finite, > 0 and <= max_depth."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth_m) & (depth_m > 0) & (depth_m <= max_depth)


def organized_points(
    depth_m: np.ndarray,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    label_image: np.ndarray,
    confidence: np.ndarray,
    objectness: np.ndarray,
    label_map: Mapping[int, str],
    max_depth: float = 10.0,
) -> np.ndarray:
    """Every pixel, H x W POINT_DTYPE in row-major order; x/y/z NaN where depth is not valid.

    The layout Nav2's semantic_segmentation_layer reads: point (v, u) belongs to mask pixel (v, u).
    """
    depth_m = np.asarray(depth_m)
    _check_shapes(
        depth_m,
        label_image=np.asarray(label_image),
        confidence=np.asarray(confidence),
        objectness=np.asarray(objectness),
    )
    height, width = depth_m.shape
    z = np.where(valid_depth(depth_m, max_depth), depth_m, np.nan).astype(np.float32, copy=False)
    points = np.zeros((height, width), dtype=POINT_DTYPE)  # zeros: the 2 padding bytes of each point are sent too
    points["x"] = ((np.arange(width, dtype=np.float32) - np.float32(cx)) / np.float32(fx))[None, :] * z
    points["y"] = ((np.arange(height, dtype=np.float32) - np.float32(cy)) / np.float32(fy))[:, None] * z
    points["z"] = z
    return _with_semantics(points, np.asarray(label_image), confidence, objectness, label_map)


def masked_points(
    depth_m: np.ndarray,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    mask: np.ndarray,
    stride: int = 1,
    max_depth: float = 10.0,
) -> Tuple[np.ndarray, np.ndarray]:
    """XYZ_DTYPE points of the stride-grid pixels where `mask` is true and depth is valid, and their
    flat indices into the full image (to look up labels, instances, ... of the same pixels)."""
    depth_m = np.asarray(depth_m)
    _check_shapes(depth_m, mask=np.asarray(mask))
    height, width = depth_m.shape
    sub = (slice(None, None, stride), slice(None, None, stride))
    keep = mask[sub] & valid_depth(depth_m[sub], max_depth)
    rows, cols = np.nonzero(keep)
    rows, cols = rows * stride, cols * stride
    z = depth_m[rows, cols].astype(np.float32, copy=False)
    points = np.empty(z.size, dtype=XYZ_DTYPE)
    points["x"] = (cols.astype(np.float32) - np.float32(cx)) / np.float32(fx) * z
    points["y"] = (rows.astype(np.float32) - np.float32(cy)) / np.float32(fy) * z
    points["z"] = z
    return points, rows * width + cols


def point_fields(dtype: np.dtype = POINT_DTYPE) -> list:
    """PointField list describing a little-endian structured dtype."""
    fields = []
    for name in dtype.names:
        sub, offset = dtype.fields[name][:2]
        fields.append(PointField(name=name, offset=offset, datatype=_POINTFIELD_TYPES[sub], count=1))
    return fields


def to_pointcloud2(points: np.ndarray, header, dtype: Optional[np.dtype] = None) -> PointCloud2:
    """PointCloud2 carrying `header` (frame and stamp of the input image) in `dtype`'s layout
    (POINT_DTYPE unless given). A 1-D array is an unordered, dense cloud (height 1); an H x W array is
    an organised one (height H, row-major), not dense: its invalid points are NaN."""
    dtype = dtype or (points.dtype if points.dtype in (XYZ_DTYPE, TARGET_DTYPE) else POINT_DTYPE)
    if points.dtype != dtype:
        points = points.astype(dtype)
    points = np.ascontiguousarray(points)
    height, width = points.shape if points.ndim == 2 else (1, points.shape[0])
    msg = PointCloud2(
        header=header,
        height=int(height),
        width=int(width),
        fields=point_fields(dtype),
        is_bigendian=False,
        point_step=dtype.itemsize,
        row_step=dtype.itemsize * int(width),
        is_dense=points.ndim == 1,
        **_STORE_AS_GIVEN,
    )
    # One copy into an array('B') assigned after construction: passing bytes to the constructor copies
    # them twice more (10+ ms for a 640x480 organised cloud), a numpy array is checked per element.
    data = array.array("B")
    data.frombytes(points.reshape(-1).view(np.uint8))
    msg.data = data
    return msg


def from_pointcloud2(msg: PointCloud2) -> np.ndarray:
    """Read a cloud written by to_pointcloud2 back (tests, offline tools): POINT_DTYPE, XYZ_DTYPE or
    TARGET_DTYPE by the field names, 1-D (row-major for an organised cloud)."""
    names = tuple(f.name for f in msg.fields)
    dtype = next((d for d in (POINT_DTYPE, XYZ_DTYPE, TARGET_DTYPE) if d.names == names), None)
    if dtype is None or msg.point_step != dtype.itemsize or msg.is_bigendian:
        raise ValueError("not a cloud in one of ov_seg_ros's point layouts")
    return np.frombuffer(bytes(msg.data), dtype=dtype, count=msg.width * msg.height)
