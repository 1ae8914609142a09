"""Ground removal: the seeded RANSAC plane, per-ring planes and the grid of local minima."""

from __future__ import annotations

import math

import numpy as np

from perception.lidar.config import GroundConfig
from perception.lidar.ground import (
    fit_ground_plane,
    grid_ground_height,
    height_above_ground,
    plane_height,
    zone_plane_height,
)


def _plane_cloud(rng: np.random.Generator, n: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    """Ground z = 0.04 x - 0.02 y - 1.7 (+ 1 cm noise) and 30 % clutter 0.5-3 m above it."""
    xy = rng.uniform([-30, -30], [30, 30], (n, 2))
    z = 0.04 * xy[:, 0] - 0.02 * xy[:, 1] - 1.7
    clutter = rng.random(n) < 0.3
    z = z + np.where(clutter, rng.uniform(0.5, 3.0, n), rng.normal(0, 0.01, n))
    return np.column_stack([xy, z]), clutter


def test_ransac_recovers_the_plane_deterministically():
    xyz, clutter = _plane_cloud(np.random.default_rng(0))
    cfg = GroundConfig(method="ransac", ring_edges=())
    n, d = fit_ground_plane(xyz, cfg)
    true_n = np.array([-0.04, 0.02, 1.0]) / np.linalg.norm([-0.04, 0.02, 1.0])
    assert math.degrees(math.acos(min(1.0, float(n @ true_n)))) < 0.2
    assert abs(d - 1.7 * true_n[2]) < 0.01
    again = fit_ground_plane(xyz, cfg)
    np.testing.assert_array_equal(again[0], n)
    h = plane_height(xyz, (n, d))
    assert np.all(np.abs(h[~clutter]) < 0.05) and np.all(h[clutter] > 0.45)


def test_ransac_rejects_steep_planes():
    wall = np.random.default_rng(1).uniform([0, -5, -2], [0.01, 5, 2], (500, 3))  # a vertical plane x = 0
    assert fit_ground_plane(wall, GroundConfig(max_tilt_deg=10)) is None


def _bent_road(rng: np.random.Generator) -> np.ndarray:
    """Flat, then climbing 6 % from 20 m ahead (z in metres, sensor at the origin)."""
    xy = rng.uniform([-40, -10], [40, 10], (20000, 2))
    z = -1.7 + 0.06 * np.maximum(xy[:, 0] - 20.0, 0.0)
    return np.column_stack([xy, z + rng.normal(0, 0.01, len(z))])


def test_zones_and_grid_follow_a_road_that_bends_up():
    road = _bent_road(np.random.default_rng(2))
    far = road[:, 0] > 30
    one_plane = height_above_ground(road, GroundConfig(method="ransac", ring_edges=()))
    zones = zone_plane_height(road, GroundConfig(method="ransac", ring_edges=(10.0, 20.0, 30.0)))
    grid = grid_ground_height(road, GroundConfig(method="grid"))
    assert np.abs(one_plane[far]).max() > 0.3  # one plane cannot follow the bend
    assert np.abs(zones).max() < 0.25 and np.abs(grid).max() < 0.2


def test_grid_height_of_an_object_over_sloped_ground():
    rng = np.random.default_rng(3)
    road = _bent_road(rng)
    post = np.column_stack([np.full(50, 35.0), np.full(50, 0.0), np.linspace(0.2, 1.5, 50)])
    post[:, 2] += -1.7 + 0.06 * 15.0  # standing on the climbing road at r = 35 m
    h = grid_ground_height(np.concatenate([road, post]), GroundConfig(method="grid"))
    np.testing.assert_allclose(h[-50:], np.linspace(0.2, 1.5, 50), atol=0.15)


def test_no_points_no_heights():
    assert height_above_ground(np.zeros((0, 3)), GroundConfig()).shape == (0,)
    assert fit_ground_plane(np.zeros((2, 3)), GroundConfig()) is None


def test_grid_memory_follows_points_not_extent():
    pts = np.array([[0.0, 0.0, -1.7], [0.15, 0.05, -1.0], [1e7, -1e7, 5.0]])  # and one wild point far away
    h = grid_ground_height(pts, GroundConfig(method="grid", cell_size=0.1))
    np.testing.assert_allclose(h, [0.0, 0.7, 0.0])
