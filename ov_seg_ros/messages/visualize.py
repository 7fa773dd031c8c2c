"""Colours per class name, label overlays with a legend, and an objectness colour map.

numpy + Pillow only, so the node, the CLI and the docs script draw exactly the same pictures.
A class's colour depends on its name, not its id: when the vocabulary changes, "door" stays the colour
it was. Names in one vocabulary get distinct colours (collisions are resolved deterministically).
"""

from __future__ import annotations

import colorsys
import json
import zlib
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

RGB = Tuple[int, int, int]

BACKGROUND_NAMES = frozenset({"background", "unlabelled", "unlabeled"})
BACKGROUND_COLOR: RGB = (64, 64, 64)
UNKNOWN_COLOR: RGB = BACKGROUND_COLOR  # ids missing from the label map: overlay, legend and cloud alike
SEEDED_BANNER = "UNTRAINED SEEDED WEIGHTS - masks are not from a trained model"

# 24 colours picked greedily for the largest minimum CIELAB distance (>= 37 dE between any two, far
# from the background grey, black and white), so classes stay tellable apart even when blended at 0.5.
PALETTE: Tuple[RGB, ...] = (
    (0, 0, 255),
    (0, 255, 0),
    (255, 0, 0),
    (255, 38, 183),
    (255, 212, 0),
    (38, 129, 255),
    (0, 178, 104),
    (140, 0, 35),
    (140, 110, 21),
    (33, 171, 217),
    (0, 0, 140),
    (255, 159, 140),
    (217, 255, 140),
    (178, 98, 152),
    (219, 38, 255),
    (89, 255, 241),
    (255, 147, 38),
    (255, 0, 106),
    (191, 255, 0),
    (49, 79, 140),
    (94, 140, 0),
    (0, 255, 128),
    (49, 140, 125),
    (140, 0, 140),
)
# Probe stride on a collision; coprime with len(PALETTE) so every slot is visited once.
_PROBE_STEP = 7
_GOLDEN = (5**0.5 - 1) / 2

# Anchors of matplotlib's viridis (perceptually uniform, readable in greyscale), interpolated linearly.
_VIRIDIS = np.array(
    [
        (68, 1, 84),
        (72, 40, 120),
        (62, 74, 137),
        (49, 104, 142),
        (38, 130, 142),
        (31, 158, 137),
        (53, 183, 121),
        (109, 205, 89),
        (180, 222, 44),
        (253, 231, 37),
    ],
    dtype=np.float32,
)


def _key(name: str) -> str:
    return name.strip().lower()


def _hash(name: str) -> int:
    return zlib.crc32(_key(name).encode("utf-8"))


def _overflow_color(name: str) -> RGB:
    """A colour for the 25th+ class of one vocabulary: hue from the golden-ratio sequence of its hash."""
    h = (_hash(name) * _GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.75, 0.9)
    return int(r * 255), int(g * 255), int(b * 255)


def class_color(name: str) -> RGB:
    """The colour of a class name on its own (its preferred palette slot); stable across runs."""
    if _key(name) in BACKGROUND_NAMES:
        return BACKGROUND_COLOR
    return PALETTE[_hash(name) % len(PALETTE)]


def assign_colors(names: Iterable[str]) -> Dict[str, RGB]:
    """Distinct colours for the names of one vocabulary.

    Names claim their preferred slot in order of (hash, name), which does not depend on ids or on the
    order the user typed them; a name whose slot is taken probes onward. So a class changes colour only
    when a newly added name collides with it and wins the slot.
    """
    colors: Dict[str, RGB] = {}
    taken: set = set()
    for name in sorted(set(names), key=lambda n: (_hash(n), _key(n), n)):
        if _key(name) in BACKGROUND_NAMES:
            colors[name] = BACKGROUND_COLOR
            continue
        slot = _hash(name) % len(PALETTE)
        for _ in range(len(PALETTE)):
            if slot not in taken:
                break
            slot = (slot + _PROBE_STEP) % len(PALETTE)
        if slot in taken:
            colors[name] = _overflow_color(name)
        else:
            taken.add(slot)
            colors[name] = PALETTE[slot]
    return colors


def label_map_document(label_map: Mapping[int, str], version: int, **extra: object) -> Dict[str, object]:
    """The JSON label map of ~/label_map and of ov-seg's *_labels.json: one format for both.

    {"0": "background", "1": "floor", ..., "colors": {"0": [r, g, b], ...}, "version": n, **extra}
    """
    table = palette(label_map)
    doc: Dict[str, object] = {str(i): name for i, name in sorted(label_map.items())}
    doc["colors"] = {str(i): [int(c) for c in table[i]] for i in sorted(label_map)}
    doc["version"] = version
    doc.update(extra)
    return doc


def palette(label_map: Mapping[int, str]) -> np.ndarray:
    """(max_id+1)x3 uint8 lookup table: palette(label_map)[label_image] colours a label image.

    Ids missing from label_map get UNKNOWN_COLOR.
    """
    size = max(label_map, default=0) + 1
    table = np.empty((size, 3), dtype=np.uint8)
    table[:] = UNKNOWN_COLOR
    colors = assign_colors(label_map.values())
    for idx, name in label_map.items():
        table[idx] = colors[name]
    return table


def id_colors(label_map: Mapping[int, str]) -> np.ndarray:
    """palette(label_map) and one last row, UNKNOWN_COLOR, for every id beyond the map: the one colour
    rule of the overlay, its legend and the point cloud. Index it with color_rows(ids, table)."""
    return np.vstack([palette(label_map), np.array([UNKNOWN_COLOR], dtype=np.uint8)])


def color_rows(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Row of `table` (from id_colors) for each id: an id beyond the label map takes the last row."""
    return np.minimum(np.asarray(ids).astype(np.int64), len(table) - 1)


def colorize(label_image: np.ndarray, label_map: Mapping[int, str]) -> np.ndarray:
    """HxW ids -> HxWx3 uint8 class colours (ids missing from the label map are UNKNOWN_COLOR)."""
    return _colorize(label_image, id_colors(label_map))


def _colorize(label_image: np.ndarray, table: np.ndarray) -> np.ndarray:
    return table[color_rows(label_image, table)]


def load_font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont) -> int:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return right - left


def _boundaries(label_image: np.ndarray) -> np.ndarray:
    """True where a pixel's label differs from its right or lower neighbour (1-px class outlines)."""
    edge = np.zeros(label_image.shape, dtype=bool)
    edge[:, :-1] |= label_image[:, :-1] != label_image[:, 1:]
    edge[:-1, :] |= label_image[:-1, :] != label_image[1:, :]
    return edge


def _legend_entries(label_image: np.ndarray, label_map: Mapping[int, str]) -> List[Tuple[int, str, float]]:
    """(id, name, share of pixels) for each class present, in id order so rows do not jump around."""
    counts = np.bincount(label_image.ravel().astype(np.int64), minlength=max(label_map, default=0) + 1)
    total = max(int(label_image.size), 1)
    return [(i, label_map.get(i, f"id {i}"), counts[i] / total) for i in np.flatnonzero(counts)]


def _draw_legend(
    draw: ImageDraw.ImageDraw, entries: List[Tuple[int, str, float]], colors: np.ndarray, font_px: int, max_height: int
) -> None:
    font = load_font(font_px)
    pad, sw, line = max(2, font_px // 3), font_px, font_px + max(2, font_px // 3)
    rows = max(1, (max_height - 2 * pad) // line)
    shown, hidden = (entries, 0) if len(entries) <= rows else (entries[: rows - 1], len(entries) - rows + 1)
    labels = [f"{name}  {share:4.0%}" for _, name, share in shown]
    if hidden:
        labels.append(f"+{hidden} more")
    width = max((_text_width(draw, t, font) for t in labels), default=0) + sw + 3 * pad
    draw.rectangle([0, 0, width, pad * 2 + line * len(labels)], fill=(0, 0, 0, 170))
    for row, text in enumerate(labels):
        y = pad + row * line
        if row < len(shown):
            fill = tuple(int(c) for c in colors[min(shown[row][0], len(colors) - 1)])
            draw.rectangle([pad, y + 1, pad + sw, y + sw], fill=fill + (255,), outline=(255, 255, 255, 255))
        draw.text((2 * pad + sw, y), text, font=font, fill=(255, 255, 255, 255))


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> List[str]:
    lines, current = [], ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and _text_width(draw, trial, font) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return lines + ([current] if current else [])


def draw_banner(draw: ImageDraw.ImageDraw, text: str, size: Tuple[int, int], font_px: int) -> int:
    """A yellow-on-red band at the bottom, impossible to miss; returns its height."""
    w, h = size
    font = load_font(font_px)
    pad = max(2, font_px // 3)
    lines = _wrap(draw, text, font, w - 2 * pad)
    band = 2 * pad + len(lines) * (font_px + pad)
    draw.rectangle([0, h - band, w, h], fill=(180, 0, 0, 230))
    for i, line in enumerate(lines):
        draw.text((pad, h - band + pad + i * (font_px + pad)), line, font=font, fill=(255, 235, 0, 255))
    return band


def render_overlay(
    rgb: np.ndarray,
    label_image: np.ndarray,
    label_map: Mapping[int, str],
    alpha: float = 0.5,
    banner: Optional[str] = None,
) -> np.ndarray:
    """Blend class colours over the image, outline classes, and draw a legend (and an optional banner).

    The legend lists only the classes present in this frame, with their pixel share, in id order: a
    vocabulary can hold dozens of names and only the present ones fit at 640x480 and tell the operator
    something; absent names would push present ones off the image.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be HxWx3 uint8, got {rgb.shape} {rgb.dtype}")
    if label_image.shape != rgb.shape[:2]:
        raise ValueError(f"label image {label_image.shape} does not match image {rgb.shape[:2]}")
    table = id_colors(label_map)  # once per frame, for the blend and the legend
    colors = _colorize(label_image, table)
    out = rgb.astype(np.float32) * (1.0 - alpha) + colors.astype(np.float32) * alpha
    out[_boundaries(label_image)] = 255.0
    canvas = Image.fromarray(out.round().astype(np.uint8)).convert("RGBA")
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    h = rgb.shape[0]
    font_px = max(8, round(h / 32))  # 15 px at 480 rows
    band = draw_banner(draw, banner, canvas.size, font_px + 1) if banner else 0
    entries = _legend_entries(label_image, label_map)
    _draw_legend(draw, entries, table, font_px, h - band)
    return np.asarray(Image.alpha_composite(canvas, layer).convert("RGB"))


def objectness_to_rgb(objectness: np.ndarray) -> np.ndarray:
    """HxW objectness in [0, 1] -> HxWx3 uint8 viridis (dark purple = 0, yellow = 1; NaN black)."""
    obj = np.asarray(objectness, dtype=np.float32)
    nan = ~np.isfinite(obj)
    pos = np.clip(np.nan_to_num(obj, nan=0.0), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(_VIRIDIS) - 1)
    frac = (pos - lo)[..., None]
    out = _VIRIDIS[lo] * (1.0 - frac) + _VIRIDIS[hi] * frac
    out[nan] = 0.0
    return out.round().astype(np.uint8)


def label_map_json(vocab: Any, encoding: str) -> str:
    """{"0": "background", "1": "floor", ..., "colors": {"0": [r, g, b], ...}, "version": n, "encoding": e}."""
    return json.dumps(label_map_document(vocab.label_map(), vocab.version, encoding=encoding))
