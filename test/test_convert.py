"""sensor_msgs <-> numpy conversions on hand-built messages (numpy path; no DDS)."""
import array

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from ov_seg_ros import convert
from ov_seg_ros.convert import ImageConversionError

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def make_image(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    """Pack pixels row by row with `pad` junk bytes after each row, in the requested byte order."""
    h, w = pixels.shape[:2]
    data = pixels.astype(pixels.dtype.newbyteorder(">" if bigendian else "<")).reshape(h, -1)
    rows = data.view(np.uint8).reshape(h, -1)
    rows = np.hstack([rows, np.full((h, pad), 0xAB, np.uint8)])
    return Image(height=h, width=w, encoding=encoding, is_bigendian=int(bigendian),
                 step=rows.shape[1], data=array.array("B", rows.tobytes()))


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("encoding, pixels", [
    ("rgb8", RGB),
    ("bgr8", RGB[:, :, ::-1]),
    ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)])),
    ("bgra8", np.dstack([RGB[:, :, ::-1], np.full(RGB.shape[:2], 9, np.uint8)])),
])
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


@pytest.mark.parametrize("mutate, words", [
    (lambda m: setattr(m, "encoding", "yuv422"), "unsupported encoding 'yuv422'"),
    (lambda m: setattr(m, "encoding", "32FC1"), "unsupported encoding '32FC1'"),
    (lambda m: (setattr(m, "height", 0), setattr(m, "data", array.array("B"))), "zero size"),
    (lambda m: setattr(m, "width", 0), "zero size"),
    (lambda m: setattr(m, "step", 20), "step 20 is smaller"),
    (lambda m: setattr(m, "data", m.data[:-1]), "data has 104 bytes"),
    (lambda m: setattr(m, "data", m.data + array.array("B", [0] * 21)), "expected step*height"),
])
def test_bad_images_raise_naming_the_problem(mutate, words):
    msg = make_image(RGB, "rgb8")
    mutate(msg)
    with pytest.raises(ImageConversionError, match=words.replace("*", r"\*").replace("(", r"\(")):
        convert.to_rgb(msg)
    assert issubclass(ImageConversionError, ValueError)


def test_depth_16uc1_mm_and_32fc1_m():
    mm = np.array([[0, 1000], [2500, 65535]], np.uint16)
    out = convert.depth_to_metres(make_image(mm, "16UC1", pad=2))
    assert out.dtype == np.float32 and np.isnan(out[0, 0])
    np.testing.assert_allclose(out[[0, 1, 1], [1, 0, 1]], [1.0, 2.5, 65.535], rtol=1e-6)
    m = np.array([[1.5, np.nan], [np.inf, -1.0]], np.float32)
    out = convert.depth_to_metres(make_image(m, "32FC1", bigendian=True))
    assert out[0, 0] == 1.5 and np.isnan(out[0, 1]) and np.isnan(out[1, 0]) and np.isnan(out[1, 1])
    with pytest.raises(ImageConversionError, match="unsupported encoding 'rgb8'"):
        convert.depth_to_metres(make_image(RGB, "rgb8"))
    with pytest.raises(ImageConversionError, match="16UC1"):
        convert.metres_from_depth(mm, "rgb8")


@pytest.mark.parametrize("encoding, pixels", [
    ("mono16", np.array([[0, 1, 65535]], np.uint16)),
    ("mono8", np.array([[0, 3, 255]], np.uint16)),
    ("32FC1", np.array([[0.0, 0.5, 1.0]], np.float32)),
    ("rgb8", RGB),
])
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
    up = convert.resize_nearest(depth, (4, 4))
    assert up.shape == (4, 4) and set(np.unique(up[~np.isnan(up)])) == {1.0, 2.0, 3.0}
    assert np.isnan(up[2:, 2:]).all() and (up[:2, :2] == 1.0).all()
    assert convert.resize_nearest(depth, (2, 2)) is depth
    assert convert.resize_nearest(up, (2, 2))[1, 0] == 3.0
