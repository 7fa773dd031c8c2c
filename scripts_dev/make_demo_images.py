#!/usr/bin/env python3
"""Render the bundled demo sequence: a synthetic room (floor, walls, door, a moving box) by ray casting.

Writes demo/frame_XX.png (640x480 rgb8), demo/depth_XX.png (16UC1, millimetres, registered to the
colour image: same camera) and demo/camera_info.yaml (camera_calibration format). Deterministic;
re-run to regenerate:  python scripts_dev/make_demo_images.py [--out demo]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Tuple

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 640, 480
FX = FY = 525.0
CX, CY = 319.5, 239.5
FRAMES = 8
CAMERA_HEIGHT = 1.2  # m above the floor; optical frame: x right, y down, z forward
ROOM = {"left": -2.5, "right": 2.5, "ceiling": -1.5, "back": 5.0}
DOOR = (0.6, 1.5, CAMERA_HEIGHT - 2.05, CAMERA_HEIGHT)  # x0, x1, y0, y1 on the back wall
BOX_SIZE = np.array([0.7, 0.5, 0.6])  # x, y (height), z extents
LIGHT = np.array([0.0, -0.8, 2.5])

# surface ids
FLOOR, CEILING, LEFT, RIGHT, BACK, DOOR_ID, BOX_TOP, BOX_FRONT, BOX_SIDE = range(9)
BASE_COLOR = {
    FLOOR: (150, 110, 75),
    CEILING: (235, 235, 228),
    LEFT: (205, 200, 185),
    RIGHT: (200, 195, 180),
    BACK: (215, 210, 195),
    DOOR_ID: (120, 70, 35),
    BOX_TOP: (205, 165, 110),
    BOX_FRONT: (185, 145, 90),
    BOX_SIDE: (160, 122, 75),
}


def rays() -> Tuple[np.ndarray, np.ndarray]:
    """Per-pixel ray directions with d_z = 1, so the hit parameter t is the depth z itself."""
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    return (u - CX) / FX, (v - CY) / FY


def room_hits(dx: np.ndarray, dy: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Depth and surface id of the nearest room plane along each ray."""
    inf = np.full(dx.shape, np.inf)
    with np.errstate(divide="ignore"):
        candidates = {
            FLOOR: np.where(dy > 0, CAMERA_HEIGHT / dy, inf),
            CEILING: np.where(dy < 0, ROOM["ceiling"] / dy, inf),
            LEFT: np.where(dx < 0, ROOM["left"] / dx, inf),
            RIGHT: np.where(dx > 0, ROOM["right"] / dx, inf),
            BACK: np.full(dx.shape, ROOM["back"]),
        }
    ids = np.array(list(candidates))
    stack = np.stack(list(candidates.values()))
    nearest = stack.argmin(0)
    depth = stack.min(0)
    surface = ids[nearest]
    x, y = dx * depth, dy * depth
    on_door = (surface == BACK) & (x > DOOR[0]) & (x < DOOR[1]) & (y > DOOR[2]) & (y < DOOR[3])
    surface[on_door] = DOOR_ID
    return depth, surface


def box_hits(dx: np.ndarray, dy: np.ndarray, centre: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Slab test against the axis-aligned box; returns depth (inf where missed) and face id."""
    lo, hi = centre - BOX_SIZE / 2, centre + BOX_SIZE / 2
    d = np.stack([dx, dy, np.ones_like(dx)])
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = lo[:, None, None] / d
        t2 = hi[:, None, None] / d
    tmin, tmax = np.minimum(t1, t2), np.maximum(t1, t2)
    t_near, axis = tmin.max(0), tmin.argmax(0)
    hit = (t_near <= tmax.min(0)) & (t_near > 0)
    face = np.choose(axis, [BOX_SIDE, BOX_TOP, BOX_FRONT])
    return np.where(hit, t_near, np.inf), face


def normals(surface: np.ndarray) -> np.ndarray:
    table = {
        FLOOR: (0, -1, 0),
        CEILING: (0, 1, 0),
        LEFT: (1, 0, 0),
        RIGHT: (-1, 0, 0),
        BACK: (0, 0, -1),
        DOOR_ID: (0, 0, -1),
        BOX_TOP: (0, -1, 0),
        BOX_FRONT: (0, 0, -1),
        BOX_SIDE: (1, 0, 0),
    }
    lut = np.array([table[i] for i in range(len(table))], dtype=np.float64)
    return lut[surface]


def texture(surface: np.ndarray, points: np.ndarray, box_centre: np.ndarray) -> np.ndarray:
    """Base colours with a little structure: floor boards, door panels and handle, box tape."""
    lut = np.array([BASE_COLOR[i] for i in range(len(BASE_COLOR))], dtype=np.float64)
    color = lut[surface]
    x, y = points[..., 0], points[..., 1]
    floor = surface == FLOOR
    board = np.floor(x / 0.25).astype(int) % 2 == 0
    color[floor & board] *= 0.88
    seam = floor & (np.abs(x / 0.25 - np.round(x / 0.25)) < 0.03)
    color[seam] *= 0.6
    door = surface == DOOR_ID
    panel = (
        door
        & (np.abs(x - (DOOR[0] + DOOR[1]) / 2) < 0.3)
        & (((y > DOOR[2] + 0.15) & (y < -0.05)) | ((y > 0.1) & (y < DOOR[3] - 0.15)))
    )
    color[panel] *= 1.15
    handle = door & (np.hypot(x - (DOOR[0] + 0.1), y - 0.15) < 0.04)
    color[handle] = (200, 190, 90)
    frame = (surface == BACK) & (x > DOOR[0] - 0.08) & (x < DOOR[1] + 0.08) & (y > DOOR[2] - 0.08)
    color[frame] = (240, 238, 230)
    tape = (surface == BOX_TOP) & (np.abs(x - box_centre[0]) < 0.05)
    color[tape] = (150, 120, 80)
    return color


def shade(color: np.ndarray, points: np.ndarray, surface: np.ndarray, box_centre: np.ndarray) -> np.ndarray:
    """Lambert from one ceiling light plus ambient, and a soft contact shadow under the box."""
    to_light = LIGHT - points
    dist = np.linalg.norm(to_light, axis=-1, keepdims=True)
    lambert = np.clip((normals(surface) * to_light / dist).sum(-1), 0, 1)
    light = 0.45 + 0.75 * lambert / (1 + 0.04 * dist[..., 0] ** 2)
    floor = surface == FLOOR
    gap = np.maximum(np.abs(points[..., 0] - box_centre[0]) - BOX_SIZE[0] / 2, 0) + np.maximum(
        np.abs(points[..., 2] - box_centre[2]) - BOX_SIZE[2] / 2, 0
    )
    light = np.where(floor, light * (1 - 0.45 * np.exp(-gap / 0.12)), light)
    return np.clip(color * light[..., None], 0, 255)


def box_centre(frame: int) -> np.ndarray:
    """Round an ellipse on the floor, so the loop is seamless and no two frames are alike."""
    theta = 2 * np.pi * frame / FRAMES
    return np.array([-0.4 + 1.2 * np.cos(theta), CAMERA_HEIGHT - BOX_SIZE[1] / 2, 3.0 + 0.5 * np.sin(theta)])


def render(frame: int) -> Tuple[np.ndarray, np.ndarray]:
    dx, dy = rays()
    depth, surface = room_hits(dx, dy)
    centre = box_centre(frame)
    t_box, face = box_hits(dx, dy, centre)
    nearer = t_box < depth
    depth = np.where(nearer, t_box, depth)
    surface = np.where(nearer, face, surface)
    points = np.stack([dx * depth, dy * depth, depth], axis=-1)
    rgb = shade(texture(surface, points, centre), points, surface, centre)
    return rgb.round().astype(np.uint8), np.round(depth * 1000).astype(np.uint16)


def camera_info_yaml() -> str:
    k = [FX, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0]
    p = [FX, 0.0, CX, 0.0, 0.0, FY, CY, 0.0, 0.0, 0.0, 1.0, 0.0]
    fmt = lambda xs: "[" + ", ".join(f"{x:g}" for x in xs) + "]"  # noqa: E731
    return (
        f"# Synthetic pinhole camera of the bundled demo (scripts_dev/make_demo_images.py)\n"
        f"image_width: {WIDTH}\nimage_height: {HEIGHT}\ncamera_name: ov_seg_demo\n"
        f"camera_matrix:\n  rows: 3\n  cols: 3\n  data: {fmt(k)}\n"
        f"distortion_model: plumb_bob\ndistortion_coefficients:\n  rows: 1\n  cols: 5\n"
        f"  data: [0, 0, 0, 0, 0]\n"
        f"rectification_matrix:\n  rows: 3\n  cols: 3\n  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]\n"
        f"projection_matrix:\n  rows: 3\n  cols: 4\n  data: {fmt(p)}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "demo")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(FRAMES):
        rgb, depth_mm = render(i)
        Image.fromarray(rgb).save(args.out / f"frame_{i:02d}.png", optimize=True)
        Image.fromarray(depth_mm).save(args.out / f"depth_{i:02d}.png", optimize=True)
    (args.out / "camera_info.yaml").write_text(camera_info_yaml())
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {FRAMES} frames to {args.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
