"""Point clustering: voxel-grid downsampling, Euclidean clustering and DBSCAN on a radius graph.

All functions take float (N, K) points in any metric space (K = 3 for lidar xyz, 3 for radar
``(x, y, scaled v_r)``) and return one integer label per point, ``-1`` for noise. The radius graph
comes from ``scipy.spatial.cKDTree.query_pairs`` and its components from
``scipy.sparse.csgraph.connected_components``; no Python loop over points.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["dbscan_labels", "euclidean_labels", "group_indices", "voxel_downsample"]


def voxel_downsample(points: np.ndarray, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """Centroids of the occupied voxels of edge ``voxel``.

    Returns ``(centroids float64 (M, K), inverse int64 (N,))`` with ``inverse[i]`` the voxel of
    point ``i``; voxels are ordered by their integer key. ``voxel <= 0`` keeps every point.
    """
    pts = np.asarray(points, np.float64)
    if voxel <= 0 or not len(pts):
        return pts.copy(), np.arange(len(pts), dtype=np.int64)
    keys = np.floor(pts / voxel).astype(np.int64)
    keys -= keys.min(axis=0)
    span = keys.max(axis=0) + 1
    flat = np.ravel_multi_index(keys.T, tuple(int(s) for s in span))
    _, inverse = np.unique(flat, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    counts = np.bincount(inverse).astype(np.float64)
    centroids = np.stack([np.bincount(inverse, weights=pts[:, k]) for k in range(pts.shape[1])], axis=1)
    return centroids / counts[:, None], inverse


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def euclidean_labels(points: np.ndarray, tolerance: float) -> np.ndarray:
    """int64 (N,) cluster labels 0..C-1: connected components of the graph linking points at most
    ``tolerance`` apart (single linkage)."""
    pts = np.asarray(points, np.float64)
    if not len(pts):
        return np.zeros(0, np.int64)
    pairs = cKDTree(pts).query_pairs(tolerance, output_type="ndarray")
    return _components(len(pts), pairs.reshape(-1, 2))


def dbscan_labels(points: np.ndarray, eps: float, min_neighbours: int,
                  weights: np.ndarray | None = None) -> np.ndarray:
    """int64 (N,) DBSCAN labels (Ester et al. 1996), ``-1`` for noise.

    A core point has a neighbourhood weight (points within ``eps``, itself included; each point
    counts ``weights[i]``, default 1, e.g. the points a voxel stands for) of at least
    ``min_neighbours``. Cores within ``eps`` of each other form clusters; a non-core point within
    ``eps`` of a core joins the cluster of its nearest such core.
    """
    pts = np.asarray(points, np.float64)
    n = len(pts)
    if not n:
        return np.zeros(0, np.int64)
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    pairs = cKDTree(pts).query_pairs(eps, output_type="ndarray").reshape(-1, 2)
    weight = w.copy()
    np.add.at(weight, pairs[:, 0], w[pairs[:, 1]])
    np.add.at(weight, pairs[:, 1], w[pairs[:, 0]])
    core = weight >= min_neighbours
    labels = np.full(n, -1, np.int64)
    if not core.any():
        return labels
    both = core[pairs[:, 0]] & core[pairs[:, 1]]
    core_idx = np.flatnonzero(core)
    remap = np.full(n, -1, np.int64)
    remap[core_idx] = np.arange(len(core_idx))
    labels[core_idx] = _components(len(core_idx), remap[pairs[both]])
    # border points: pairs with exactly one core end, nearest core wins
    one = core[pairs[:, 0]] != core[pairs[:, 1]]
    if one.any():
        p = pairs[one]
        border = np.where(core[p[:, 0]], p[:, 1], p[:, 0])
        corept = np.where(core[p[:, 0]], p[:, 0], p[:, 1])
        dist = np.linalg.norm(pts[border] - pts[corept], axis=1)
        order = np.lexsort((dist, border))
        border, corept = border[order], corept[order]
        first = np.r_[True, border[1:] != border[:-1]]
        labels[border[first]] = labels[corept[first]]
    return labels


def group_indices(labels: np.ndarray) -> list[np.ndarray]:
    """Indices of each non-negative label's members, ascending label order (noise ``-1`` skipped)."""
    labels = np.asarray(labels)
    keep = np.flatnonzero(labels >= 0)
    if not len(keep):
        return []
    order = keep[np.argsort(labels[keep], kind="stable")]
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return np.split(order, cuts)
