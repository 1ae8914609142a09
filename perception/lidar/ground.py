"""Ground removal for z-up point clouds: RANSAC planes (one per zone) or a grid of local minima.

Both return the height of every point above the estimated ground (metres, along +z for the
grid, along the plane normal for RANSAC); a point is ground when that height is at most the
configured threshold.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from perception.lidar.config import GroundConfig

__all__ = ["fit_ground_plane", "grid_ground_height", "height_above_ground", "plane_height",
           "zone_plane_height"]


def _plane_from_triplets(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Planes through (K, 3, 3) point triplets: unit normals (K, 3) with n_z >= 0, offsets (K,),
    valid (K,)."""
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    norm = np.linalg.norm(n, axis=1)
    valid = norm > 1e-9
    n = n / np.where(valid, norm, 1.0)[:, None]
    n = np.where(n[:, 2:3] < 0, -n, n)
    return n, -np.einsum("kj,kj->k", n, p[:, 0]), valid


def _refit(xyz: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane (unit normal with n_z >= 0, offset) through (M, 3) points."""
    c = xyz.mean(axis=0)
    _, _, vt = np.linalg.svd(xyz - c, full_matrices=False)
    n = vt[-1]
    if n[2] < 0:
        n = -n
    return n, float(-n @ c)


def fit_ground_plane(xyz: np.ndarray, cfg: GroundConfig) -> tuple[np.ndarray, float] | None:
    """RANSAC ground plane ``n . p + d = 0`` of float (N, 3) points, or None if no plane qualifies.

    ``cfg.iterations`` triplets drawn with ``numpy.random.default_rng(cfg.seed)`` (deterministic)
    define candidate planes; those tilted more than ``cfg.max_tilt_deg`` from horizontal are
    rejected; the one with the most inliers (distance <= ``cfg.threshold``) among a seeded subset
    of ``cfg.sample_points`` points wins and is refitted twice by least squares on its inliers
    among all points. The normal ``n`` (3,) is a unit vector pointing up (n_z > 0).
    """
    low = xyz[xyz[:, 2] <= np.quantile(xyz[:, 2], 0.05) + cfg.seed_height] if len(xyz) >= 3 else xyz
    n_pts = len(low)
    if n_pts < 3:
        return None
    rng = np.random.default_rng(cfg.seed)
    triplets = low[rng.integers(0, n_pts, size=(cfg.iterations, 3))]
    normals, offsets, valid = _plane_from_triplets(triplets)
    valid &= normals[:, 2] >= math.cos(math.radians(cfg.max_tilt_deg))
    if not valid.any():
        return None
    normals, offsets = normals[valid], offsets[valid]
    subset = low if n_pts <= cfg.sample_points else low[rng.choice(n_pts, cfg.sample_points, replace=False)]
    inliers = np.abs(subset @ normals.T + offsets) <= cfg.threshold  # (S, K)
    best = int(np.argmax(inliers.sum(axis=0)))
    n, d = normals[best], float(offsets[best])
    for _ in range(2):
        mask = np.abs(xyz @ n + d) <= cfg.threshold
        if mask.sum() < 3:
            break
        n_new, d_new = _refit(xyz[mask])
        if n_new[2] < math.cos(math.radians(cfg.max_tilt_deg)):
            break
        n, d = n_new, d_new
    return n, d


def plane_height(xyz: np.ndarray, plane: tuple[np.ndarray, float]) -> np.ndarray:
    """float64 (N,) signed distance of (N, 3) points above plane ``(n, d)`` (n pointing up)."""
    n, d = plane
    return xyz @ n + d


def grid_ground_height(xyz: np.ndarray, cfg: GroundConfig) -> np.ndarray:
    """float64 (N,) height of (N, 3) points above the lowest point of their neighbourhood.

    Points are binned into ``cfg.cell_size`` ground-plane cells; a cell's ground is the minimum
    z over the ``(2 cfg.neighbourhood + 1)^2`` cells around it (so a cell covered by an object
    takes the ground seen beside it).
    """
    if not len(xyz):
        return np.zeros(0)
    k = cfg.neighbourhood
    ij = np.floor(xyz[:, :2] / cfg.cell_size).astype(np.int64)
    ij -= ij.min(axis=0) - k  # >= k, so neighbour keys below never wrap into another row
    width = int(ij[:, 1].max()) + k + 1
    cells, inverse = np.unique(ij[:, 0] * width + ij[:, 1], return_inverse=True)
    inverse = inverse.reshape(-1)
    cell_min = np.full(len(cells), np.inf)
    np.minimum.at(cell_min, inverse, xyz[:, 2])
    ground = cell_min.copy()
    for di in range(-k, k + 1):  # occupied cells only: memory grows with the points, not the extent
        for dj in range(-k, k + 1):
            key = cells + di * width + dj
            pos = np.minimum(np.searchsorted(cells, key), len(cells) - 1)
            ground = np.minimum(ground, np.where(cells[pos] == key, cell_min[pos], np.inf))
    return xyz[:, 2] - ground[inverse]


_BOUNDARY_M = 2.0  # zone points this close to the inner edge compare a plane with its inner neighbour's


def _step(plane: tuple[np.ndarray, float], inner: tuple[np.ndarray, float], xy: np.ndarray) -> float:
    """Median height difference (metres) of two planes at the (M, 2) ground positions ``xy``."""
    if not len(xy):
        return 0.0

    def z_on(p: tuple[np.ndarray, float]) -> np.ndarray:  # z where the plane meets each (x, y)
        n, d = p
        return -(xy @ n[:2] + d) / n[2]

    return float(np.median(np.abs(z_on(plane) - z_on(inner))))


def zone_plane_height(xyz: np.ndarray, cfg: GroundConfig) -> np.ndarray:
    """float64 (N,) height above one RANSAC plane per zone of a concentric zone model.

    Zones: the disc inside ``cfg.ring_edges[0]``, then every further ring of ``cfg.ring_edges`` cut
    into ``cfg.sectors`` equal azimuth sectors (a ring-only split cannot hold a road that climbs
    ahead and stays flat behind). Zones are fitted from the inside out, zone ``z`` with seed
    ``cfg.seed + z``. A zone with fewer than ``cfg.min_ring_points`` points, no qualifying plane,
    or a plane whose height differs from its inner neighbour's (same sector, previous ring) by
    more than ``cfg.max_step`` (median over the zone's points within 2 m of their common edge)
    takes the inner neighbour's plane; without any plane the lowest point's z is a flat ground.
    """
    rng = np.hypot(xyz[:, 0], xyz[:, 1])
    sector_width = 2 * math.pi / cfg.sectors
    sector = np.minimum((np.mod(np.arctan2(xyz[:, 1], xyz[:, 0]), 2 * math.pi) // sector_width).astype(int),
                        cfg.sectors - 1)
    edges = (0.0, *cfg.ring_edges, math.inf)
    height = np.empty(len(xyz))
    flat = (np.array([0.0, 0.0, 1.0]), -float(xyz[:, 2].min()))
    inner: list[tuple[np.ndarray, float] | None] = [None] * cfg.sectors
    zone = 0
    for k, (lo, hi) in enumerate(itertools.pairwise(edges)):
        in_ring = (rng >= lo) & (rng < hi)
        for j in range(1 if k == 0 else cfg.sectors):
            sel = in_ring if k == 0 else in_ring & (sector == j)
            zone += 1
            plane = None
            if sel.sum() >= cfg.min_ring_points:
                plane = fit_ground_plane(xyz[sel], dataclasses.replace(cfg, seed=cfg.seed + zone - 1))
            ref = inner[j]
            edge = sel & (rng < lo + _BOUNDARY_M)
            if plane is None or (ref is not None and _step(plane, ref, xyz[edge, :2]) > cfg.max_step):
                plane = ref
            if k == 0:
                inner = [plane] * cfg.sectors
            else:
                inner[j] = plane
            if sel.any():
                height[sel] = plane_height(xyz[sel], plane if plane is not None else flat)
    return height


def height_above_ground(xyz: np.ndarray, cfg: GroundConfig) -> np.ndarray:
    """float64 (N,) height of every point above the ground, by ``cfg.method``."""
    xyz = np.asarray(xyz, np.float64)
    if not len(xyz):
        return np.zeros(0)
    if cfg.method == "grid":
        return grid_ground_height(xyz, cfg)
    return zone_plane_height(xyz, cfg)
