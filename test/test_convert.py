"""sensor_msgs <-> numpy conversions on hand-built messages (numpy path; no DDS)."""

import array

import numpy as np
import pytest
from image_support import bayer_mosaic, compressed_depth, encoded_bytes, packed_422
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from ov_seg_ros.messages import convert
from ov_seg_ros.messages.convert import ImageConversionError
from ov_seg_ros.messages.depth import depth_to_metres, metres_from_depth, resize_nearest

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def make_image(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    """Pack pixels row by row with `pad` junk bytes after each row, in the requested byte order."""
    h, w = pixels.shape[:2]
    data = pixels.astype(pixels.dtype.newbyteorder(">" if bigendian else "<")).reshape(h, -1)
    rows = data.view(np.uint8).reshape(h, -1)
    rows = np.hstack([rows, np.full((h, pad), 0xAB, np.uint8)])
    return Image(
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=rows.shape[1],
        data=array.array("B", rows.tobytes()),
    )


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize(
    "encoding, pixels",
    [
        ("rgb8", RGB),
        ("bgr8", RGB[:, :, ::-1]),
        ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)])),
        ("bgra8", np.dstack([RGB[:, :, ::-1], np.full(RGB.shape[:2], 9, np.uint8)])),
    ],
)
def test_colour_encodings_give_rgb(encoding, pixels, pad):
    out = convert.to_rgb(make_image(np.ascontiguousarray(pixels), encoding, pad))
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, RGB)


def test_mono8_is_grey_rgb():
    grey = RGB[:, :, 0]
    out = convert.to_rgb(make_image(grey, "mono8", pad=1))
    assert out.shape == (5, 7, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], grey)


@pytest.mark.parametrize("bigendian", [False, True])
def test_mono16_is_stretched_to_8_bit(bigendian):
    # a 12-bit sensor: values 100..4000 must use the whole 8-bit range, not be black under >> 8
    img = np.linspace(100, 4000, 35).astype(np.uint16).reshape(5, 7)
    out = convert.to_rgb(make_image(img, "mono16", pad=2, bigendian=bigendian))
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    assert np.all(np.diff(out[:, :, 0].ravel().astype(int)) >= 0)  # order kept
    flat = convert.to_rgb(make_image(np.full((2, 2), 7, np.uint16), "mono16"))
    assert flat.shape == (2, 2, 3) and flat.max() == 0


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda m: setattr(m, "encoding", "nv12"), "unsupported encoding 'nv12'"),
        (lambda m: setattr(m, "encoding", "32FC1"), "unsupported encoding '32FC1'"),
        (lambda m: (setattr(m, "height", 0), setattr(m, "data", array.array("B"))), "zero size"),
        (lambda m: setattr(m, "width", 0), "zero size"),
        (lambda m: setattr(m, "step", 20), "step 20 is smaller"),
        (lambda m: setattr(m, "data", m.data[:-1]), "data has 104 bytes"),
        (lambda m: setattr(m, "data", m.data + array.array("B", [0] * 21)), "expected step*height"),
    ],
)
def test_bad_images_raise_naming_the_problem(mutate, words):
    msg = make_image(RGB, "rgb8")
    mutate(msg)
    with pytest.raises(ImageConversionError, match=words.replace("*", r"\*").replace("(", r"\(")):
        convert.to_rgb(msg)
    assert issubclass(ImageConversionError, ValueError)


# ---------------------------------------------------------------- camera-driver encodings
def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """BT.601 limited range (what OpenCV's and cv_bridge's 4:2:2 conversions compute)."""
    y, u, v = (np.asarray(a, np.float64) for a in (y, u, v))
    c, d, e = 1.164 * (y - 16), u - 128, v - 128
    rgb = np.stack([c + 1.596 * e, c - 0.391 * d - 0.813 * e, c + 2.018 * d], axis=-1)
    return np.clip(rgb, 0, 255)


@pytest.mark.parametrize(
    "encoding, order", [("yuv422", "UYVY"), ("uyvy", "UYVY"), ("yuv422_yuy2", "YUYV"), ("yuyv", "YUYV")]
)
def test_yuv422_from_known_y_u_v(encoding, order):
    y = RNG.integers(16, 236, (4, 8), dtype=np.uint8)
    u = np.array([[128, 90, 200, 60]] * 4, np.uint8)  # grey, greenish, blue, ...
    v = np.array([[128, 240, 100, 60]] * 4, np.uint8)  # ... red, and green
    out = convert.to_rgb(make_image(packed_422(y, u, v, order), encoding, pad=4))
    expected = yuv_to_rgb(y, np.repeat(u, 2, axis=1), np.repeat(v, 2, axis=1))
    assert out.shape == (4, 8, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out, expected, atol=2)
    assert out[0, 2, 0] > out[0, 2, 2] and out[0, 4, 2] > out[0, 4, 0]  # V is red, U is blue


def test_yuv422_needs_even_width_and_two_bytes_per_pixel():
    msg = make_image(np.zeros((2, 6, 2), np.uint8), "yuv422_yuy2")
    msg.width = 5
    with pytest.raises(ImageConversionError, match="multiple of 2, got 5"):
        convert.to_rgb(msg)
    msg = make_image(np.zeros((2, 6, 2), np.uint8), "yuv422")
    msg.step = 6  # one byte per pixel is too little
    with pytest.raises(ImageConversionError, match=r"step 6 is smaller than width\*channels\*bytes = 6\*2\*1"):
        convert.to_rgb(msg)
    msg = make_image(np.zeros((2, 6, 2), np.uint8), "yuv422")
    msg.data = msg.data[:-2]
    with pytest.raises(ImageConversionError, match="data has 22 bytes"):
        convert.to_rgb(msg)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_mosaic_gives_the_colours_back(pattern, bits):
    # four flat colour quadrants: inside each, demosaicing must return exactly that colour
    colours = np.array([[[200, 100, 50], [30, 180, 90]], [[60, 70, 220], [250, 250, 10]]], np.uint8)
    rgb = np.repeat(np.repeat(colours, 8, axis=0), 8, axis=1)  # 16 x 16
    wide = rgb.astype(np.uint16) * 257 if bits == 16 else rgb  # >> 8 gives the 8-bit value back
    msg = make_image(bayer_mosaic(wide, pattern), f"bayer_{pattern}{bits}", pad=2, bigendian=bits == 16)
    out = convert.to_rgb(msg)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    for qr in (0, 1):
        for qc in (0, 1):
            inner = out[qr * 8 + 2 : qr * 8 + 6, qc * 8 + 2 : qc * 8 + 6].reshape(-1, 3)
            np.testing.assert_array_equal(
                inner, np.broadcast_to(colours[qr, qc], inner.shape), err_msg=f"{pattern} quadrant {qr}{qc}"
            )


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize(
    "encoding, pixels",
    [
        ("rgb16", RGB),
        ("bgr16", RGB[:, :, ::-1]),
        ("rgba16", np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)])),
        ("bgra16", np.dstack([RGB[:, :, ::-1], np.full(RGB.shape[:2], 9, np.uint8)])),
    ],
)
def test_16_bit_colour_keeps_the_top_byte(encoding, pixels, bigendian):
    wide = pixels.astype(np.uint16) * 256 + 0xAB  # the low byte must not matter
    out = convert.to_rgb(make_image(np.ascontiguousarray(wide), encoding, pad=2, bigendian=bigendian))
    np.testing.assert_array_equal(out, RGB)


def test_bayer_too_small_for_opencv_is_a_bad_image_not_a_crash():
    msg = make_image(np.zeros((1, 1), np.uint8), "bayer_rggb8")
    try:
        assert convert.to_rgb(msg).shape == (1, 1, 3)
    except ImageConversionError as e:  # either is fine, as long as it is not cv2.error
        assert "OpenCV" in str(e)


# --------------------------------------------------------------------------- compressed
@pytest.mark.parametrize(
    "fmt, given", [("rgb8; jpeg compressed bgr8", "bgr"), ("jpeg", "bgr"), ("bgr8; jpeg compressed rgb8", "rgb")]
)
def test_jpeg_payload_gives_rgb_in_the_stated_channel_order(fmt, given):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:] = (220, 40, 30)
    data = encoded_bytes(rgb[:, :, ::-1] if given == "bgr" else rgb, ".jpg")
    msg = CompressedImage(format=fmt, data=array.array("B", data))
    out = convert.message_to_rgb(msg)
    assert out.shape == (16, 16, 3)
    np.testing.assert_allclose(out.astype(int), rgb.astype(int), atol=4)


def test_png_payload_is_lossless_and_16_bit_mono_is_stretched():
    data = encoded_bytes(RGB[:, :, ::-1], ".png")
    np.testing.assert_array_equal(convert.compressed_to_rgb("rgb8; png compressed bgr8", data), RGB)
    mono = np.linspace(100, 4000, 35).astype(np.uint16).reshape(5, 7)  # a 12-bit sensor
    out = convert.compressed_to_rgb("mono16; png compressed mono16", encoded_bytes(mono, ".png"))
    assert out.shape == (5, 7, 3) and out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    np.testing.assert_array_equal(out[:, :, 0], convert.mono16_to_8bit(mono))


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda b: b[: len(b) // 2],  # truncated in transit
        lambda b: b[100:],  # no start-of-image marker
        lambda b: b"\xff\xd8" + bytes(500),  # a header and nothing else
        lambda b: b"",
    ],
)
def test_corrupt_jpeg_raises_naming_the_problem(corrupt):
    good = encoded_bytes(RGB[:, :, ::-1].repeat(8, axis=0).repeat(8, axis=1), ".jpg")
    msg = CompressedImage(format="rgb8; jpeg compressed bgr8", data=array.array("B", corrupt(good)))
    with pytest.raises(ImageConversionError, match="jpeg compressed"):
        convert.message_to_rgb(msg)


def test_compressed_depth_16uc1_and_32fc1():
    mm = np.array([[0, 1000], [2500, 65535]], np.uint16)
    out = depth_to_metres(compressed_depth(mm, "16UC1; compressedDepth png"))
    assert out.dtype == np.float32 and np.isnan(out[0, 0])
    np.testing.assert_allclose(out[[0, 1, 1], [1, 0, 1]], [1.0, 2.5, 65.535], rtol=1e-6)
    # 32FC1: quantised inverse depth, value = a / depth + b (the transport's defaults: a = 100, max 10 m)
    a, b = 100.0, 1 - 100.0 / 10.0
    metres = np.array([[1.0, 2.0], [5.0, np.nan]], np.float32)
    with np.errstate(invalid="ignore"):
        inverse = np.where(np.isfinite(metres), np.round(a / metres + b), 0).astype(np.uint16)
    out = depth_to_metres(compressed_depth(inverse, "32FC1; compressedDepth png", a, b))
    np.testing.assert_allclose(out[[0, 0, 1], [0, 1, 0]], [1.0, 2.0, 5.0], rtol=1e-6)
    assert np.isnan(out[1, 1])


@pytest.mark.parametrize(
    "fmt, data, words",
    [
        ("16UC1; compressedDepth rvl", None, "unsupported compressed depth format"),
        ("rgb8; jpeg compressed bgr8", None, "unsupported compressed depth format"),
        ("16UC1; compressedDepth png", b"\x00" * 12, "12-byte header"),
        ("16UC1; compressedDepth png", b"\x00" * 12 + b"\x89PNG junk", "16-bit single-channel PNG"),
    ],
)
def test_bad_compressed_depth_raises_naming_the_problem(fmt, data, words):
    msg = compressed_depth(np.zeros((2, 2), np.uint16), fmt)
    if data is not None:
        msg.data = array.array("B", data)
    with pytest.raises(ImageConversionError, match=words):
        depth_to_metres(msg)
    eight_bit = compressed_depth(np.zeros((2, 2), np.uint8), "16UC1; compressedDepth png")
    with pytest.raises(ImageConversionError, match="16-bit"):
        depth_to_metres(eight_bit)


def test_depth_16uc1_mm_and_32fc1_m():
    mm = np.array([[0, 1000], [2500, 65535]], np.uint16)
    out = depth_to_metres(make_image(mm, "16UC1", pad=2))
    assert out.dtype == np.float32 and np.isnan(out[0, 0])
    np.testing.assert_allclose(out[[0, 1, 1], [1, 0, 1]], [1.0, 2.5, 65.535], rtol=1e-6)
    m = np.array([[1.5, np.nan], [np.inf, -1.0]], np.float32)
    out = depth_to_metres(make_image(m, "32FC1", bigendian=True))
    assert out[0, 0] == 1.5 and np.isnan(out[0, 1]) and np.isnan(out[1, 0]) and np.isnan(out[1, 1])
    with pytest.raises(ImageConversionError, match="unsupported encoding 'rgb8'"):
        depth_to_metres(make_image(RGB, "rgb8"))
    with pytest.raises(ImageConversionError, match="16UC1"):
        metres_from_depth(mm, "rgb8")


@pytest.mark.parametrize(
    "encoding, pixels",
    [
        ("mono16", np.array([[0, 1, 65535]], np.uint16)),
        ("mono8", np.array([[0, 3, 255]], np.uint16)),
        ("32FC1", np.array([[0.0, 0.5, 1.0]], np.float32)),
        ("rgb8", RGB),
    ],
)
def test_outputs_round_trip(encoding, pixels):
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 34
    msg = convert.to_image(pixels, encoding, header)
    assert (msg.encoding, msg.height, msg.width, msg.is_bigendian) == (encoding, *pixels.shape[:2], 0)
    assert msg.header.frame_id == "cam" and msg.header.stamp.sec == 12
    assert len(msg.data) == msg.step * msg.height
    np.testing.assert_array_equal(convert.image_array(msg), pixels)


def test_output_rejects_values_and_shapes_that_do_not_fit():
    with pytest.raises(ImageConversionError, match="do not fit mono8"):
        convert.labels_to_image(np.array([[256]], np.uint16), "mono8")
    with pytest.raises(ImageConversionError, match="cannot be rgb8"):
        convert.to_image(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(ImageConversionError, match="label encoding"):
        convert.labels_to_image(np.zeros((2, 2), np.uint16), "32FC1")


def test_camera_info_rescaled_to_output_size():
    info = CameraInfo(width=640, height=480)
    info.header.frame_id = "cam"
    info.k = [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]
    info.p = [500.0, 0.0, 320.0, 5.0, 0.0, 510.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.d = [0.1, 0.0, 0.0, 0.0, 0.0]
    out = convert.rescale_camera_info(info, 320, 120)
    assert (out.width, out.height, out.header.frame_id) == (320, 120, "cam")
    assert list(out.k) == [250.0, 0.0, 160.0, 0.0, 127.5, 60.0, 0.0, 0.0, 1.0]
    assert list(out.p) == [250.0, 0.0, 160.0, 2.5, 0.0, 127.5, 60.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert list(out.d) == list(info.d) and info.width == 640  # input untouched
    assert convert.intrinsics(out) == (250.0, 127.5, 160.0, 60.0)
    with pytest.raises(ImageConversionError, match="no focal length"):
        convert.intrinsics(CameraInfo(width=2, height=2))


def test_resize_nearest_never_blends_depths():
    depth = np.array([[1.0, 2.0], [3.0, np.nan]], np.float32)
    up = resize_nearest(depth, (4, 4))
    assert up.shape == (4, 4) and set(np.unique(up[~np.isnan(up)])) == {1.0, 2.0, 3.0}
    assert np.isnan(up[2:, 2:]).all() and (up[:2, :2] == 1.0).all()
    assert resize_nearest(depth, (2, 2)) is depth
    assert resize_nearest(up, (2, 2))[1, 0] == 3.0


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_cv_bridge_path_gives_the_numpy_result(encoding):
    """Where cv_bridge is importable (a ROS installation; not on PyPI) to_rgb uses it for 8-bit colour:
    it must give exactly what the numpy path gives."""
    pytest.importorskip("cv_bridge", reason="cv_bridge is not installable from PyPI; runs in a ROS installation")
    from ov_seg_ros.messages import convert

    channels = {"mono8": 1, "rgb8": 3, "bgr8": 3}.get(encoding, 4)
    pixels = np.random.default_rng(3).integers(0, 256, (5, 7, channels), dtype=np.uint8).squeeze()
    msg = convert.to_image(pixels[..., :3] if channels == 4 else pixels, "rgb8" if channels != 1 else "mono8")
    msg.encoding = encoding
    if channels == 4:
        msg.data = pixels.tobytes()
        msg.step = 7 * 4
    bridged = convert.to_rgb(msg)
    saved, convert._BRIDGE = convert._BRIDGE, None
    try:
        assert np.array_equal(bridged, convert.to_rgb(msg))
    finally:
        convert._BRIDGE = saved
