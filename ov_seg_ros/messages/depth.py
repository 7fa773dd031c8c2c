"""Depth images -> float32 metres: 16UC1/mono16 millimetres, 32FC1 metres, compressedDepth PNG; and
nearest-pixel resampling of a registered depth image to the label image's size."""

from __future__ import annotations

from typing import Any, Tuple, Union

import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from .convert import ImageConversionError, image_array

DEPTH_INPUTS = ("16UC1", "mono16", "32FC1")


def depth_to_metres(msg: Union[Image, CompressedImage]) -> np.ndarray:
    """Depth image -> H x W float32 metres: 16UC1/mono16 in millimetres, 32FC1 in metres; also
    compressed_depth_image_transport's CompressedImage ("16UC1; compressedDepth png")."""
    if isinstance(msg, CompressedImage):
        return compressed_depth_to_metres(msg.format, msg.data)
    return metres_from_depth(image_array(msg, DEPTH_INPUTS), msg.encoding)


_DEPTH_HEADER = 12  # compressed_depth_image_transport's ConfigHeader: int32 format, float32 depthParam[2]


def compressed_depth_to_metres(fmt: str, data: Any) -> np.ndarray:
    """A compressedDepth payload -> H x W float32 metres (missing depth NaN). 16UC1 is a 16-bit PNG of
    millimetres; 32FC1 is a 16-bit PNG of quantised inverse depth, depth = a / (value - b) with a, b
    from the header (value 0 = no depth), as compressed_depth_image_transport decodes it."""
    import cv2

    encoding = fmt.split(";", 1)[0].strip()
    if "compressedDepth" not in fmt or fmt.rstrip().endswith("rvl") or encoding not in ("16UC1", "32FC1"):
        raise ImageConversionError(
            f"unsupported compressed depth format {fmt!r} (supported: "
            "'16UC1; compressedDepth png', '32FC1; compressedDepth png')"
        )
    buffer = np.frombuffer(bytes(data), dtype=np.uint8)
    pixels = cv2.imdecode(buffer[_DEPTH_HEADER:], cv2.IMREAD_UNCHANGED) if buffer.size > _DEPTH_HEADER else None
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 2:
        raise ImageConversionError(
            f"compressed depth ({fmt!r}, {buffer.size} bytes) is not a 12-byte header and a 16-bit single-channel PNG"
        )
    if encoding == "16UC1":
        return metres_from_depth(pixels, "16UC1")
    quant_a, quant_b = np.frombuffer(buffer[4:_DEPTH_HEADER].tobytes(), dtype="<f4")
    with np.errstate(divide="ignore", invalid="ignore"):
        metres = np.float32(quant_a) / (pixels.astype(np.float32) - np.float32(quant_b))
    metres[pixels == 0] = np.nan
    return metres_from_depth(metres, "32FC1")


def metres_from_depth(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Depth pixels -> float32 metres; missing depth (0 in 16-bit, 0/NaN/inf/negative in float) -> NaN."""
    if encoding not in DEPTH_INPUTS:
        raise ImageConversionError(f"depth encoding {encoding!r} is not supported; use 16UC1 (mm) or 32FC1 (m)")
    if encoding == "32FC1":
        metres = np.array(depth, dtype=np.float32, copy=True)
    else:
        metres = np.asarray(depth, dtype=np.float32) * np.float32(0.001)
    with np.errstate(invalid="ignore"):
        metres[~np.isfinite(metres) | (metres <= 0)] = np.nan
    return metres


def resize_nearest(image: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Nearest-pixel resampling (registered depth at another resolution: never blend depths)."""
    height, width = shape
    if image.shape[:2] == (height, width):
        return image
    rows = np.arange(height) * image.shape[0] // height
    cols = np.arange(width) * image.shape[1] // width
    return image[rows[:, None], cols[None, :]]
