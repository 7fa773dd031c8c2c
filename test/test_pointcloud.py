"""Semantic point cloud: analytic back-projection, invalid depth, sizes, stride, PointCloud2 round trip."""

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import PointField
from std_msgs.msg import Header

from ov_seg_ros.messages.pointcloud import (
    POINT_DTYPE,
    XYZ_DTYPE,
    from_pointcloud2,
    masked_points,
    organized_points,
    semantic_points,
    to_pointcloud2,
    unpack_rgb,
)
from ov_seg_ros.messages.visualize import UNKNOWN_COLOR, class_color, colorize, render_overlay

H, W = 48, 64
FX, FY, CX, CY = 50.0, 60.0, 31.5, 23.5
LABEL_MAP = {0: "background", 1: "floor", 2: "door"}


def _inputs(depth):
    labels = np.zeros(depth.shape, np.uint16)
    labels[:, W // 2 :] = 2
    conf = np.full(depth.shape, 0.75, np.float32)
    obj = np.tile(np.linspace(0, 1, depth.shape[1], dtype=np.float32), (depth.shape[0], 1))
    return labels, conf, obj


def _points(depth, **kw):
    labels, conf, obj = _inputs(depth)
    return semantic_points(depth, FX, FY, CX, CY, labels, conf, obj, LABEL_MAP, **kw)


def test_plane_at_two_metres_back_projects_analytically():
    depth = np.full((H, W), 2.0, np.float32)
    pts = _points(depth)
    assert pts.dtype == POINT_DTYPE and pts.shape == (H * W,)
    v, u = np.mgrid[0:H, 0:W]
    np.testing.assert_allclose(pts["z"], 2.0)
    np.testing.assert_allclose(pts["x"], ((u - CX) * 2.0 / FX).ravel(), rtol=1e-6)
    np.testing.assert_allclose(pts["y"], ((v - CY) * 2.0 / FY).ravel(), rtol=1e-6)
    # pixel (u=10, v=5) is row-major index 5*W+10
    p = pts[5 * W + 10]
    assert p["x"] == pytest.approx((10 - CX) * 2 / FX) and p["y"] == pytest.approx((5 - CY) * 2 / FY)


def test_labels_colours_confidence_objectness_follow_the_pixel():
    depth = np.full((H, W), 1.5, np.float32)
    labels, _, obj = _inputs(depth)
    pts = _points(depth)
    np.testing.assert_array_equal(pts["label"], labels.ravel())
    np.testing.assert_allclose(pts["confidence"], 0.75)
    np.testing.assert_allclose(pts["objectness"], obj.ravel())
    colours = unpack_rgb(pts["rgb"])
    assert tuple(colours[W - 1]) == class_color("door")
    assert tuple(colours[0]) == class_color("background")


def test_an_unknown_id_has_one_colour_in_overlay_and_clouds():
    """Ids missing from the label map (a gap, or beyond its last id) are UNKNOWN_COLOR everywhere."""
    label_map = {0: "background", 2: "door", 6: "chair"}  # 5: a gap, 9: beyond the last id
    labels = np.repeat(np.array([0, 2, 5, 9], np.uint16), 16)[None, :].repeat(64, axis=0)  # 16-px bands
    depth = np.full(labels.shape, 1.0, np.float32)
    conf = obj = np.ones_like(depth)
    overlay = render_overlay(np.zeros((64, 64, 3), np.uint8), labels, label_map, alpha=1.0)
    cloud = unpack_rgb(semantic_points(depth, 1.0, 1.0, 32, 32, labels, conf, obj, label_map)["rgb"])
    grid = unpack_rgb(organized_points(depth, 1.0, 1.0, 32, 32, labels, conf, obj, label_map)["rgb"])
    np.testing.assert_array_equal(cloud.reshape(64, 64, 3), colorize(labels, label_map))
    np.testing.assert_array_equal(grid, colorize(labels, label_map))
    for column in (40, 56):  # band centres of ids 5 and 9, in the bottom row (below the legend)
        assert tuple(overlay[63, column]) == tuple(grid[63, column]) == UNKNOWN_COLOR
    assert tuple(overlay[63, 24]) == tuple(grid[63, 24]) == class_color("door") != UNKNOWN_COLOR


def test_nan_zero_negative_inf_and_far_depth_are_skipped():
    depth = np.full((H, W), 3.0, np.float32)
    depth[0, 0], depth[0, 1], depth[0, 2], depth[0, 3], depth[0, 4] = np.nan, 0.0, -1.0, np.inf, 12.0
    pts = _points(depth, max_depth=10.0)
    assert len(pts) == H * W - 5
    assert np.all(np.isfinite(pts["z"])) and pts["z"].min() > 0
    assert len(_points(depth, max_depth=2.0)) == 0


def test_max_depth_is_inclusive_and_bounds_the_cloud():
    depth = np.tile(np.linspace(0.5, 5.0, W, dtype=np.float32), (H, 1))
    pts = _points(depth, max_depth=2.0)
    assert pts["z"].max() <= 2.0
    assert len(pts) == H * int(np.sum(depth[0] <= 2.0))


def test_stride_keeps_every_nth_pixel_at_its_true_position():
    depth = np.full((H, W), 2.0, np.float32)
    pts = _points(depth, stride=4)
    assert len(pts) == (H // 4) * (W // 4)
    us = pts["x"] * FX / 2.0 + CX
    vs = pts["y"] * FY / 2.0 + CY
    np.testing.assert_allclose(np.unique(np.round(us)), np.arange(0, W, 4))
    np.testing.assert_allclose(np.unique(np.round(vs)), np.arange(0, H, 4))
    assert set(np.unique(pts["label"])) == {0, 2}


@pytest.mark.parametrize("bad", ["label_image", "confidence", "objectness"])
def test_mismatched_sizes_raise_a_clear_error(bad):
    depth = np.full((H, W), 2.0, np.float32)
    labels, conf, obj = _inputs(depth)
    args = {"label_image": labels, "confidence": conf, "objectness": obj}
    args[bad] = args[bad][:-1]
    with pytest.raises(ValueError, match=f"{bad} has shape .* registered"):
        semantic_points(depth, FX, FY, CX, CY, label_map=LABEL_MAP, **args)


def test_bad_stride_and_focal_length_raise():
    depth = np.full((H, W), 2.0, np.float32)
    with pytest.raises(ValueError, match="stride"):
        _points(depth, stride=0)
    labels, conf, obj = _inputs(depth)
    with pytest.raises(ValueError, match="focal"):
        semantic_points(depth, 0.0, FY, CX, CY, labels, conf, obj, LABEL_MAP)


def test_pointcloud2_round_trip():
    depth = np.full((H, W), 2.0, np.float32)
    depth[::3] = np.nan
    pts = _points(depth, stride=2)
    header = Header(frame_id="camera_color_optical_frame", stamp=Time(sec=12, nanosec=345))
    msg = to_pointcloud2(pts, header)
    assert msg.header.frame_id == "camera_color_optical_frame" and msg.header.stamp.sec == 12
    assert (msg.height, msg.width) == (1, len(pts))
    assert msg.point_step == POINT_DTYPE.itemsize and msg.row_step == msg.point_step * len(pts)
    assert not msg.is_bigendian and msg.is_dense and len(msg.data) == msg.row_step
    fields = {f.name: (f.offset, f.datatype, f.count) for f in msg.fields}
    assert fields == {
        "x": (0, PointField.FLOAT32, 1),
        "y": (4, PointField.FLOAT32, 1),
        "z": (8, PointField.FLOAT32, 1),
        "rgb": (12, PointField.FLOAT32, 1),
        "confidence": (16, PointField.FLOAT32, 1),
        "objectness": (20, PointField.FLOAT32, 1),
        "label": (24, PointField.UINT16, 1),
    }
    back = from_pointcloud2(msg)
    for name in POINT_DTYPE.names:
        np.testing.assert_array_equal(back[name], pts[name])
    # read as a generic consumer would: by the offsets in the message, not by our dtype
    raw = np.frombuffer(bytes(msg.data), np.uint8).reshape(len(pts), msg.point_step)
    z = raw[:, 8:12].copy().view("<f4").ravel()
    np.testing.assert_array_equal(z, pts["z"])


def test_empty_cloud_is_a_valid_message():
    pts = _points(np.zeros((H, W), np.float32))
    msg = to_pointcloud2(pts, Header(frame_id="f"))
    assert msg.width == 0 and len(msg.data) == 0 and len(from_pointcloud2(msg)) == 0


# ----------------------------------------------------------------- organised and masked clouds
def test_organized_cloud_is_the_label_grid_with_nan_where_depth_is_invalid():
    depth = np.full((H, W), 2.0, np.float32)
    depth[3, 4], depth[5, :], depth[7, 9] = np.nan, 0.0, 20.0  # hole, missing row, beyond max_depth
    labels, conf, obj = _inputs(depth)
    pts = organized_points(depth, FX, FY, CX, CY, labels, conf, obj, LABEL_MAP, max_depth=10.0)
    assert pts.shape == (H, W)
    invalid = ~np.isfinite(depth) | (depth <= 0) | (depth > 10.0)
    for axis in "xyz":
        np.testing.assert_array_equal(np.isnan(pts[axis]), invalid)
    v, u = np.mgrid[0:H, 0:W]
    np.testing.assert_allclose(pts["x"][~invalid], ((u - CX) * 2.0 / FX)[~invalid], rtol=1e-6)
    np.testing.assert_allclose(pts["y"][~invalid], ((v - CY) * 2.0 / FY)[~invalid], rtol=1e-6)
    np.testing.assert_array_equal(pts["label"], labels)  # every pixel keeps its label, even without depth
    msg = to_pointcloud2(pts, Header(frame_id="cam"))
    assert (msg.height, msg.width) == (H, W) and not msg.is_dense
    assert msg.row_step == W * msg.point_step and len(msg.data) == H * msg.row_step
    back = from_pointcloud2(msg)
    np.testing.assert_array_equal(back["label"], labels.ravel())  # row-major


def test_masked_points_keep_mask_and_valid_depth_on_the_stride_grid():
    depth = np.full((H, W), 1.0, np.float32)
    depth[:, :8] = 0.0
    mask = np.zeros((H, W), bool)
    mask[10:30, 4:40] = True
    pts, index = masked_points(depth, FX, FY, CX, CY, mask, stride=3, max_depth=5.0)
    grid = np.zeros((H, W), bool)
    grid[::3, ::3] = True
    expected = grid & mask & (depth > 0)
    assert pts.dtype == XYZ_DTYPE and len(pts) == expected.sum()
    np.testing.assert_array_equal(np.sort(index), np.flatnonzero(expected))
    rows, cols = np.divmod(index, W)
    np.testing.assert_allclose(pts["x"], (cols - CX) / FX, rtol=1e-6)
    np.testing.assert_allclose(pts["y"], (rows - CY) / FY, rtol=1e-6)
    msg = to_pointcloud2(pts, Header(frame_id="cam"))
    assert [f.name for f in msg.fields] == ["x", "y", "z"] and msg.point_step == 12 and msg.is_dense
    np.testing.assert_array_equal(from_pointcloud2(msg)["z"], pts["z"])


def test_empty_masked_cloud_is_a_valid_empty_message():
    depth = np.full((H, W), 1.0, np.float32)
    pts, index = masked_points(depth, FX, FY, CX, CY, np.zeros((H, W), bool), stride=2)
    msg = to_pointcloud2(pts, Header(frame_id="cam"))
    assert msg.width == 0 and msg.height == 1 and len(msg.data) == 0 and index.size == 0
