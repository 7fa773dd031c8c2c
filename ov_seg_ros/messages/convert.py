"""sensor_msgs <-> numpy: camera images in, label/float/colour images out, CameraInfo rescaling
(depth images: ov_seg_ros.depth).

Every bad input raises `ImageConversionError` naming the problem, so the node can log it and go on.
`cv_bridge` is used for 8-bit colour input when it is importable; the numpy path below is the one
tested and gives the same result. YUV 4:2:2 and Bayer input are converted by OpenCV with the codes
cv_bridge uses. No rclpy here: these are plain message classes.
"""

from __future__ import annotations

import array
import copy
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image


class Layout(NamedTuple):
    dtype: type
    channels: int  # values per pixel in memory (yuv422: 2 bytes per pixel, one Y and one U or V)
    width_multiple: int = 1  # yuv422 packs two pixels into one U/Y/V/Y quadruple


# ROS Bayer pattern -> OpenCV's name for it: OpenCV names the 2x2 block starting at the second row
# and column, so ROS's bayer_rggb is OpenCV's BayerBG (as in cv_bridge); test_convert checks each one.
_BAYER = {"rggb": "BG", "bggr": "RG", "gbrg": "GR", "grbg": "GB"}
# encoding -> memory layout; image_array checks every message against this one table
_LAYOUTS: Dict[str, Layout] = {
    "rgb8": Layout(np.uint8, 3),
    "bgr8": Layout(np.uint8, 3),
    "rgba8": Layout(np.uint8, 4),
    "bgra8": Layout(np.uint8, 4),
    "mono8": Layout(np.uint8, 1),
    "8UC1": Layout(np.uint8, 1),
    "8UC3": Layout(np.uint8, 3),
    "mono16": Layout(np.uint16, 1),
    "16UC1": Layout(np.uint16, 1),
    "32FC1": Layout(np.float32, 1),
    "rgb16": Layout(np.uint16, 3),
    "bgr16": Layout(np.uint16, 3),
    "rgba16": Layout(np.uint16, 4),
    "bgra16": Layout(np.uint16, 4),
    "yuv422": Layout(np.uint8, 2, 2),
    "uyvy": Layout(np.uint8, 2, 2),
    "yuv422_yuy2": Layout(np.uint8, 2, 2),
    "yuyv": Layout(np.uint8, 2, 2),
    **{f"bayer_{p}8": Layout(np.uint8, 1) for p in _BAYER},
    **{f"bayer_{p}16": Layout(np.uint16, 1) for p in _BAYER},
}
# encoding -> OpenCV colour conversion to RGB, by name (cv2 is imported only when one is needed)
_CV_CODES: Dict[str, str] = {
    "yuv422": "COLOR_YUV2RGB_UYVY",
    "uyvy": "COLOR_YUV2RGB_UYVY",
    "yuv422_yuy2": "COLOR_YUV2RGB_YUYV",
    "yuyv": "COLOR_YUV2RGB_YUYV",
    **{f"bayer_{p}{bits}": f"COLOR_Bayer{cv}2RGB" for p, cv in _BAYER.items() for bits in (8, 16)},
}
RGB_INPUTS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "rgb16", "bgr16", "rgba16", "bgra16", *_CV_CODES)
OUTPUTS = ("rgb8", "mono8", "mono16", "16UC1", "32FC1")
_BRIDGE_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")


class ImageConversionError(ValueError):
    """An Image message cannot be converted; the message says what is wrong with it."""


def _cv_bridge() -> Any:
    try:
        from cv_bridge import CvBridge  # optional: not on PyPI
    except ImportError:
        return None
    return CvBridge()


_BRIDGE = _cv_bridge()


def image_array(msg: Image, allowed: Tuple[str, ...] = tuple(_LAYOUTS)) -> np.ndarray:
    """The pixels of `msg` as an H x W (x C) array in native byte order; checks size, step, length."""
    enc = msg.encoding
    if enc not in _LAYOUTS or enc not in allowed:
        raise ImageConversionError(f"unsupported encoding {enc!r} (supported: {', '.join(allowed)})")
    dtype, channels, multiple = _LAYOUTS[enc]
    h, w = int(msg.height), int(msg.width)
    if h <= 0 or w <= 0:
        raise ImageConversionError(f"image has zero size ({w}x{h})")
    if w % multiple:
        raise ImageConversionError(f"{enc} needs a width that is a multiple of {multiple}, got {w}")
    item = np.dtype(dtype).itemsize
    row = w * channels * item
    if msg.step < row:
        raise ImageConversionError(
            f"step {msg.step} is smaller than width*channels*bytes = {w}*{channels}*{item} = {row}"
        )
    if len(msg.data) != msg.step * h:
        raise ImageConversionError(
            f"data has {len(msg.data)} bytes, expected step*height = {msg.step}*{h} = {msg.step * h}"
        )
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(h, msg.step)[:, :row]
    order = ">" if msg.is_bigendian else "<"
    pixels = raw.copy().view(np.dtype(dtype).newbyteorder(order) if item > 1 else dtype)
    pixels = pixels.astype(dtype, copy=False).reshape(h, w, channels)
    return pixels[:, :, 0] if channels == 1 else pixels


def mono16_to_8bit(img: np.ndarray) -> np.ndarray:
    """Stretch a 16-bit image's own min..max to 0..255 (12-bit sensors would be black under >> 8)."""
    lo, hi = int(img.min()), int(img.max())
    if hi == lo:
        return np.zeros(img.shape, np.uint8)
    return ((img.astype(np.float32) - lo) * (255.0 / (hi - lo)) + 0.5).astype(np.uint8)


def to_rgb(msg: Image) -> np.ndarray:
    """Camera image -> H x W x 3 uint8 RGB, from any of RGB_INPUTS (colour, mono, YUV 4:2:2, Bayer)."""
    pixels = image_array(msg, RGB_INPUTS)  # validates even when cv_bridge converts
    if _BRIDGE is not None and msg.encoding in _BRIDGE_ENCODINGS:
        return np.ascontiguousarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
    return pixels_to_rgb(pixels, msg.encoding)


def pixels_to_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """`image_array`'s pixels of an RGB_INPUTS encoding -> H x W x 3 uint8 RGB."""
    if encoding == "mono16":
        pixels = mono16_to_8bit(pixels)  # documented: 12-bit mono sensors would be black under >> 8
    elif pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)  # colour and Bayer: the top byte, as cv_bridge does
    code = _CV_CODES.get(encoding)
    if code is not None:
        return _cv_convert(pixels, code)
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if encoding.startswith("bgr"):
        pixels = pixels[:, :, 2::-1]
    return np.ascontiguousarray(pixels[:, :, :3])


def _cv_convert(pixels: np.ndarray, code: str) -> np.ndarray:
    import cv2  # imported here so that plain colour and mono input do not need OpenCV

    try:
        return cv2.cvtColor(pixels, getattr(cv2, code))
    except cv2.error as e:  # e.g. a mosaic too small to demosaic: a bad frame, not a crash
        raise ImageConversionError(f"OpenCV {code} failed on {pixels.shape}: {e}") from e


def message_to_rgb(msg: Union[Image, CompressedImage]) -> np.ndarray:
    """An Image or a CompressedImage (image_transport's `compressed`) -> H x W x 3 uint8 RGB."""
    if isinstance(msg, CompressedImage):
        return compressed_to_rgb(msg.format, msg.data)
    return to_rgb(msg)


def compressed_to_rgb(fmt: str, data: Any) -> np.ndarray:
    """A CompressedImage payload (JPEG or PNG, as image_transport writes it) -> H x W x 3 uint8 RGB.

    `fmt` is the message's `format`: "jpeg", "png", or image_transport's "rgb8; jpeg compressed bgr8".
    The codec is told by the payload itself; the word after "compressed" says the channel order the
    encoder was given (bgr8 unless stated otherwise, as OpenCV writes it).
    """
    import cv2  # OpenCV decodes; imported here so that message conversion alone does not need it

    buffer = np.frombuffer(bytes(data) if not isinstance(data, np.ndarray) else data, dtype=np.uint8)
    if buffer.size == 0:
        raise ImageConversionError(f"compressed image ({fmt!r}) has no data")
    pixels = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageConversionError(
            f"compressed image ({fmt!r}, {buffer.size} bytes) could not be decoded as JPEG or PNG"
        )
    if pixels.dtype == np.uint16:
        pixels = mono16_to_8bit(pixels) if pixels.ndim == 2 else (pixels >> 8).astype(np.uint8)
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    order = fmt.split("compressed", 1)[1].strip() if "compressed" in fmt else "bgr8"
    if order.startswith("rgb"):  # the encoder was given RGB bytes: they come back as they went in
        return np.ascontiguousarray(pixels[:, :, :3])
    code = cv2.COLOR_BGRA2RGB if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(pixels, code)


def to_image(pixels: np.ndarray, encoding: str, header: Any = None) -> Image:
    """H x W (x 3) array -> Image in one of the output encodings (rgb8, mono8, mono16, 16UC1, 32FC1)."""
    if encoding not in OUTPUTS:
        raise ImageConversionError(f"cannot publish encoding {encoding!r} (supported: {OUTPUTS})")
    dtype, channels, _ = _LAYOUTS[encoding]
    expected = (channels,) if channels > 1 else ()
    if pixels.ndim != 2 + len(expected) or pixels.shape[2:] != expected or 0 in pixels.shape:
        raise ImageConversionError(f"array of shape {pixels.shape} cannot be {encoding}")
    if np.issubdtype(dtype, np.integer) and pixels.size and (pixels.min() < 0 or pixels.max() > np.iinfo(dtype).max):
        raise ImageConversionError(f"values {pixels.min()}..{pixels.max()} do not fit {encoding}")
    data = np.ascontiguousarray(pixels, dtype=np.dtype(dtype).newbyteorder("<"))
    msg = Image(
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=0,
        step=pixels.shape[1] * channels * data.itemsize,
    )
    if header is not None:
        msg.header = header
    msg.data = array.array("B", data.tobytes())
    return msg


def labels_to_image(label_image: np.ndarray, encoding: str, header: Any = None) -> Image:
    """Label ids (0 = background/unlabelled) -> mono16 or mono8 Image."""
    if encoding not in ("mono16", "mono8"):
        raise ImageConversionError(f"label encoding must be mono16 or mono8, got {encoding!r}")
    return to_image(label_image, encoding, header)


def rescale_camera_info(info: CameraInfo, width: int, height: int, header: Optional[Any] = None) -> CameraInfo:
    """`info` for the same camera at width x height: K and P rows scaled, ROI and binning reset."""
    if info.width <= 0 or info.height <= 0:
        raise ImageConversionError(f"camera_info has zero size ({info.width}x{info.height})")
    sx, sy = width / info.width, height / info.height
    out = copy.deepcopy(info)
    if header is not None:
        out.header = header
    out.width, out.height = int(width), int(height)
    k = np.asarray(info.k, dtype=np.float64).reshape(3, 3).copy()
    k[0] *= sx
    k[1] *= sy
    p = np.asarray(info.p, dtype=np.float64).reshape(3, 4).copy()
    p[0] *= sx
    p[1] *= sy
    out.k = k.ravel().tolist()
    out.p = p.ravel().tolist()
    out.binning_x = out.binning_y = 0
    out.roi.x_offset = out.roi.y_offset = out.roi.height = out.roi.width = 0
    out.roi.do_rectify = False
    return out


def intrinsics(info: CameraInfo) -> Tuple[float, float, float, float]:
    """(fx, fy, cx, cy) from K; raises if K is unset (all zeros)."""
    fx, fy, cx, cy = info.k[0], info.k[4], info.k[2], info.k[5]
    if fx <= 0 or fy <= 0:
        raise ImageConversionError("camera_info has no focal length (K is unset)")
    return float(fx), float(fy), float(cx), float(cy)
