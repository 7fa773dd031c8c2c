"""Objects from label images: 8-connected components per target class, min size, boxes, scores, 3-D boxes."""

import numpy as np
import pytest

from ov_seg_ros.messages.objects import boxes_3d, find_objects


def _scene():
    labels = np.zeros((20, 30), np.uint16)
    labels[2:6, 3:9] = 2  # 24 px, class 2
    labels[10:18, 12:25] = 2  # 104 px, class 2
    labels[12:16, 0:4] = 1  # 16 px, class 1
    labels[0, 29] = 2  # 1 px, class 2: below any useful minimum
    return labels


def test_components_per_class_with_boxes_pixels_and_instances():
    labels = _scene()
    conf = np.full(labels.shape, 0.5, np.float32)
    objects = find_objects(labels, [2, 1], conf, min_pixels=10)
    assert len(objects) == 3
    assert objects.class_ids.tolist() == [2, 2, 1]
    assert objects.pixels.tolist() == [24, 104, 16]
    assert objects.boxes.tolist() == [[3, 2, 8, 5], [12, 10, 24, 17], [0, 12, 3, 15]]
    for i in range(3):
        pixels = objects.instances == i + 1
        assert pixels.sum() == objects.pixels[i]
        assert np.all(labels[pixels] == objects.class_ids[i])
        v, u = np.nonzero(pixels)
        assert [u.min(), v.min(), u.max(), v.max()] == objects.boxes[i].tolist()
    assert objects.instances[0, 29] == 0  # too small: no object
    np.testing.assert_allclose(objects.scores, 0.5)


def test_eight_connectivity_joins_diagonal_pixels():
    labels = np.zeros((5, 5), np.uint16)
    labels[[0, 1, 2, 3], [0, 1, 2, 3]] = 4  # a diagonal line
    objects = find_objects(labels, [4], np.ones(labels.shape, np.float32), min_pixels=4)
    assert len(objects) == 1 and objects.pixels.tolist() == [4]


def test_scores_are_mean_confidence_and_min_pixels_is_inclusive():
    labels = _scene()
    rng = np.random.default_rng(0)
    conf = rng.random(labels.shape, dtype=np.float32)
    objects = find_objects(labels, [1], conf, min_pixels=16)
    assert len(objects) == 1
    assert objects.scores[0] == pytest.approx(conf[labels == 1].mean(), rel=1e-6)
    assert len(find_objects(labels, [1], conf, min_pixels=17)) == 0


def test_no_targets_or_absent_class_gives_no_objects():
    labels = _scene()
    conf = np.ones(labels.shape, np.float32)
    for targets in ([], [7]):
        objects = find_objects(labels, targets, conf, min_pixels=1)
        assert len(objects) == 0 and objects.boxes.shape == (0, 4) and not objects.instances.any()


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        find_objects(np.zeros((4, 4), np.uint16), [1], np.zeros((4, 5), np.float32), 1)


def test_boxes_3d_median_and_extent_per_object():
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(101, 3)).astype(np.float32)  # what point clouds hold
    xyz[0, 0], xyz[1, 1] = 0.0, -0.0
    numbers = rng.integers(1, 4, size=101)
    numbers[numbers == 2] = 3  # object 2 has no points: no box for it
    boxes = boxes_3d(xyz.T, numbers)
    assert boxes.numbers.tolist() == sorted(set(numbers.tolist()))
    for row, n in enumerate(boxes.numbers):
        pts = xyz[numbers == n]
        np.testing.assert_array_equal(boxes.centers[row], np.median(pts.astype(np.float64), axis=0))
        np.testing.assert_array_equal(boxes.sizes[row], pts.max(axis=0).astype(np.float64) - pts.min(axis=0))


def test_boxes_3d_of_nothing():
    boxes = boxes_3d(np.zeros((3, 0), np.float32), np.zeros(0, np.uint16))
    assert boxes.numbers.size == 0 and boxes.centers.shape == (0, 3)


def test_more_components_than_16_bits_hold_fall_back_and_too_many_objects_raise():
    labels = np.zeros((600, 600), np.uint16)
    labels[::2, ::2] = 1  # 90000 one-pixel components
    conf = np.ones(labels.shape, np.float32)
    assert len(find_objects(labels, [1], conf, min_pixels=2)) == 0  # labelled with 32-bit ids, all too small
    with pytest.raises(ValueError, match="65535 objects"):
        find_objects(labels, [1], conf, min_pixels=1)


def test_sortable_keys_keep_float_order_and_round_trip():
    from ov_seg_ros.messages.objects import _sortable, _unsortable

    values = np.array([-np.inf, -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, 7.25, np.inf], np.float32)
    keys = _sortable(values)
    assert np.all(np.diff(keys.astype(np.int64)) > 0)
    np.testing.assert_array_equal(_unsortable(keys), values)
