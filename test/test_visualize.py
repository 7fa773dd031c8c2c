"""Colours stable per class name and distinct, overlays with legend and banner, objectness colour map."""

import numpy as np
import pytest

from ov_seg_ros.messages.visualize import (
    BACKGROUND_COLOR,
    PALETTE,
    SEEDED_BANNER,
    assign_colors,
    class_color,
    colorize,
    objectness_to_rgb,
    palette,
    render_overlay,
)

NAMES = ["floor", "wall", "door", "box", "person", "chair", "table", "window", "sofa", "bed", "lamp", "tv"]


def test_class_color_is_stable_and_from_palette():
    assert class_color("door") == class_color("door") == class_color(" Door ")
    assert class_color("door") in PALETTE
    assert class_color("background") == class_color("unlabelled") == BACKGROUND_COLOR


def test_colors_in_one_vocabulary_are_distinct():
    colors = assign_colors(NAMES)
    assert len(set(colors.values())) == len(NAMES)
    assert BACKGROUND_COLOR not in colors.values()


def test_more_names_than_palette_slots_still_get_colors():
    names = [f"class{i}" for i in range(40)]
    colors = assign_colors(names)
    assert len(set(colors.values())) == 40


def test_color_survives_vocabulary_change_and_reordering():
    before = palette({0: "background", 1: "floor", 2: "door"})
    after = palette({0: "background", 1: "person", 2: "door", 3: "floor"})
    assert tuple(before[2]) == tuple(after[2])  # door
    assert tuple(before[1]) == tuple(after[3])  # floor moved from id 1 to id 3, same colour


def test_colliding_names_resolved_deterministically():
    # Find two names that prefer the same slot, then check both orders give the same answer.
    by_slot = {}
    for i in range(200):
        by_slot.setdefault(class_color(f"n{i}"), []).append(f"n{i}")
    a, b = next(v for v in by_slot.values() if len(v) >= 2)[:2]
    first, second = assign_colors([a, b]), assign_colors([b, a])
    assert first == second and first[a] != first[b]


def test_palette_shape_and_missing_ids():
    table = palette({0: "unlabelled", 3: "door"})
    assert table.shape == (4, 3) and table.dtype == np.uint8
    assert tuple(table[0]) == tuple(table[1]) == BACKGROUND_COLOR
    assert tuple(table[3]) == class_color("door")


def test_colorize_maps_unknown_ids_to_grey():
    lab = np.array([[0, 1], [2, 9]], np.uint16)
    out = colorize(lab, {0: "background", 1: "floor", 2: "door"})
    assert tuple(out[0, 1]) == class_color("floor")
    assert tuple(out[1, 1]) == BACKGROUND_COLOR


def _scene(h=480, w=640):
    rgb = np.full((h, w, 3), 128, np.uint8)
    lab = np.zeros((h, w), np.uint16)
    lab[h // 2 :] = 1
    lab[: h // 2, w // 2 :] = 2
    return rgb, lab, {0: "background", 1: "floor", 2: "door", 3: "person"}


def test_overlay_blends_class_colours():
    rgb, lab, lm = _scene()
    out = render_overlay(rgb, lab, lm, alpha=0.5)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    expected = (np.array(class_color("floor")) * 0.5 + 64).round()
    np.testing.assert_allclose(out[400, 300], expected, atol=1)
    # a class boundary is outlined in white
    assert tuple(out[239, 100]) == (255, 255, 255)


def test_legend_lists_present_classes_only():
    rgb, lab, lm = _scene()
    out = render_overlay(rgb, lab, lm)
    legend = out[:120, :200].reshape(-1, 3)
    present = {tuple(c) for c in legend}
    assert class_color("floor") in present and class_color("door") in present
    assert class_color("person") not in present


def test_banner_is_drawn_at_the_bottom():
    rgb, lab, lm = _scene()
    plain = render_overlay(rgb, lab, lm)
    bannered = render_overlay(rgb, lab, lm, banner=SEEDED_BANNER)
    assert not np.array_equal(plain[-10:], bannered[-10:])
    assert np.array_equal(plain[200:300], bannered[200:300])
    red = bannered[-3:].reshape(-1, 3)
    assert (red[:, 0] > 150).mean() > 0.9 and (red[:, 1] < 60).mean() > 0.5


@pytest.mark.parametrize("size", [16, 128])
def test_overlay_draws_on_tiny_and_small_images(size):
    """A 16x16 image is all legend (nothing to check but that it is drawn); at 128x128 the class colour
    is blended at half opacity away from the legend and the banner."""
    rgb = np.zeros((size, size, 3), np.uint8)
    lab = np.ones((size, size), np.uint16)
    out = render_overlay(rgb, lab, {0: "background", 1: "floor"}, alpha=0.5, banner="x")
    assert out.shape == (size, size, 3) and out.dtype == np.uint8 and (out != rgb).any()
    if size >= 128:
        floor = np.asarray(class_color("floor"), dtype=int)
        centre = out[60:90, 60:90].reshape(-1, 3).astype(int)
        assert np.abs(centre - floor // 2).max() <= 1


def test_overlay_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="does not match"):
        render_overlay(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 11), np.uint16), {0: "background"})


def test_objectness_colormap_is_monotone_in_brightness():
    obj = np.linspace(0, 1, 11, dtype=np.float32)[None, :]
    out = objectness_to_rgb(obj)
    assert out.shape == (1, 11, 3) and out.dtype == np.uint8
    luma = out[0] @ np.array([0.299, 0.587, 0.114])
    assert np.all(np.diff(luma) > 0)
    assert tuple(objectness_to_rgb(np.array([[np.nan, -1.0, 2.0]]))[0, 0]) == (0, 0, 0)
    np.testing.assert_array_equal(objectness_to_rgb(np.array([[-1.0]])), objectness_to_rgb(np.array([[0.0]])))


def test_label_map_document_is_one_format_for_node_and_cli():
    from ov_seg_ros.messages.visualize import label_map_document

    doc = label_map_document({0: "background", 2: "door", 1: "floor"}, 7, encoding="mono8")
    assert list(doc)[:3] == ["0", "1", "2"] and doc["2"] == "door"
    assert doc["colors"]["1"] == list(class_color("floor")) and doc["version"] == 7
    assert doc["encoding"] == "mono8"
