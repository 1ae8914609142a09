"""Synthetic lidar scenes for the lidar object tests: points on box surfaces, a ground plane, noise."""

from __future__ import annotations

import math

import numpy as np

GROUND_Z = -1.7  # metres below the sensor at x = 0
GROUND_SLOPE = 0.01  # rise per metre forward


def ground_z(x: np.ndarray) -> np.ndarray:
    return GROUND_Z + GROUND_SLOPE * np.asarray(x)


def box_points(centre_xy: tuple[float, float], size: tuple[float, float, float], yaw: float,
               rng: np.random.Generator, density: float = 300.0, visible_only: bool = False,
               faces: tuple[str, ...] = ("+x", "-x", "+y", "-y", "top")) -> np.ndarray:
    """float (N, 3) points on the faces of an upright box standing on the ground.

    ``density`` points per square metre; ``visible_only`` keeps the side faces that face the
    sensor at the origin (and the top).
    """
    length, w, h = size
    cx, cy = centre_xy
    base = float(ground_z(cx))
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, -s], [s, c]])
    out = []
    for face in faces:
        if face == "top":
            n = int(density * length * w)
            local = np.column_stack([rng.uniform(-length / 2, length / 2, n), rng.uniform(-w / 2, w / 2, n),
                                     np.full(n, h)])
        else:
            along_x = face[1] == "y"  # the +-y faces extend along x
            span = length if along_x else w
            n = int(density * span * h)
            t = rng.uniform(-span / 2, span / 2, n)
            off = (w / 2 if along_x else length / 2) * (1.0 if face[0] == "+" else -1.0)
            local = np.column_stack([t, np.full(n, off), rng.uniform(0, h, n)]) if along_x else \
                np.column_stack([np.full(n, off), t, rng.uniform(0, h, n)])
            if visible_only:
                axis = np.array([0.0, 1.0]) if along_x else np.array([1.0, 0.0])
                normal = rot @ axis * np.sign(off)
                face_centre = np.array([cx, cy]) + rot @ (axis * off)
                if normal @ (-face_centre) <= 0:
                    continue
        xy = local[:, :2] @ rot.T + np.array([cx, cy])
        out.append(np.column_stack([xy, local[:, 2] + base]))
    return np.concatenate(out) if out else np.zeros((0, 3))


def ground_points(rng: np.random.Generator, x_range: tuple[float, float] = (2.0, 40.0),
                  y_range: tuple[float, float] = (-15.0, 15.0), step: float = 0.25) -> np.ndarray:
    """float (N, 3) points on the sloped ground plane, jittered grid."""
    xs, ys = np.meshgrid(np.arange(*x_range, step), np.arange(*y_range, step), indexing="ij")
    x = xs.ravel() + rng.uniform(-step / 3, step / 3, xs.size)
    y = ys.ravel() + rng.uniform(-step / 3, step / 3, xs.size)
    return np.column_stack([x, y, ground_z(x)])


def scene(boxes: list[tuple[tuple[float, float], tuple[float, float, float], float]], seed: int = 0,
          noise: float = 0.02, visible_only: bool = False) -> np.ndarray:
    """float32 (N, 4) ``x, y, z, intensity`` of boxes ``(centre_xy, (l, w, h), yaw)`` on the ground."""
    rng = np.random.default_rng(seed)
    parts = [ground_points(rng)] + [box_points(c, s, y, rng, visible_only=visible_only) for c, s, y in boxes]
    xyz = np.concatenate(parts)
    xyz = xyz + rng.normal(0.0, noise, xyz.shape)
    return np.column_stack([xyz, rng.uniform(0, 1, len(xyz))]).astype(np.float32)
