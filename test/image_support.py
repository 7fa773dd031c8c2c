"""Camera images as drivers and image_transport publish them, built with numpy and OpenCV: packed 4:2:2,
Bayer mosaics, encoded JPEG/PNG bytes, compressedDepth payloads. Shared by test_convert (numpy path) and
test_node_inputs (over DDS); not a test module."""

import array
import struct

import numpy as np
from sensor_msgs.msg import CompressedImage


def packed_422(y: np.ndarray, u: np.ndarray, v: np.ndarray, order: str) -> np.ndarray:
    """H x W luma and H x W/2 chroma -> H x W x 2 bytes in `order` ("UYVY" or "YUYV")."""
    planes = {"Y0": y[:, 0::2], "Y1": y[:, 1::2], "U": u, "V": v}
    names = ["U", "Y0", "V", "Y1"] if order == "UYVY" else ["Y0", "U", "Y1", "V"]
    return np.stack([planes[n] for n in names], axis=-1).reshape(y.shape[0], -1, 2)


# (row, column) of R, G, G, B in each 2x2 block, as the ROS encoding names them
BAYER_SITES = {
    "rggb": ("00", "01", "10", "11"),
    "bggr": ("11", "01", "10", "00"),
    "gbrg": ("10", "00", "11", "01"),
    "grbg": ("01", "00", "11", "10"),
}


def bayer_mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """What a sensor with this colour filter array sees of `rgb`: one channel per pixel."""
    mosaic = np.zeros(rgb.shape[:2], rgb.dtype)
    for (r, c), channel in zip(BAYER_SITES[pattern], (0, 1, 1, 2), strict=True):
        r, c = int(r), int(c)
        mosaic[r::2, c::2] = rgb[r::2, c::2, channel]
    return mosaic


def encoded_bytes(pixels: np.ndarray, ext: str) -> bytes:
    import cv2

    ok, buffer = cv2.imencode(ext, pixels)
    assert ok
    return buffer.tobytes()


def compressed_depth(pixels: np.ndarray, fmt: str, quant_a: float = 0.0, quant_b: float = 0.0) -> CompressedImage:
    """What compressed_depth_image_transport publishes: a 12-byte header, then a 16-bit PNG."""
    header = struct.pack("<iff", 0, quant_a, quant_b)
    return CompressedImage(format=fmt, data=array.array("B", header + encoded_bytes(pixels, ".png")))
