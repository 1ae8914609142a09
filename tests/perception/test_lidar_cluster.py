"""Voxel downsampling, Euclidean clustering and DBSCAN on the cKDTree radius graph."""

from __future__ import annotations

import numpy as np

from perception.lidar.cluster import dbscan_labels, euclidean_labels, group_indices, voxel_downsample


def _blobs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centres = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 5.0, 1.0]])
    pts = np.concatenate([c + rng.normal(0, 0.1, (100, 3)) for c in centres])
    return pts, np.repeat(np.arange(3), 100)


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_euclidean_finds_the_blobs():
    pts, truth = _blobs(np.random.default_rng(0))
    labels = euclidean_labels(pts, 0.5)
    assert _same_partition(labels, truth)
    assert euclidean_labels(np.zeros((0, 3)), 0.5).shape == (0,)


def test_dbscan_marks_sparse_points_noise_and_attaches_borders():
    rng = np.random.default_rng(1)
    pts, truth = _blobs(rng)
    lonely = np.array([[20.0, 20.0, 0.0], [-20.0, 3.0, 0.0]])
    border = np.array([[0.55, 0.0, 0.0]])  # near blob 0's edge only
    labels = dbscan_labels(np.concatenate([pts, lonely, border]), eps=0.5, min_neighbours=5)
    assert _same_partition(labels[:300], truth)
    assert labels[300] == labels[301] == -1
    # the border point (few neighbours, a core one among them) joins blob 0's cluster
    assert labels[302] == labels[0]


def test_dbscan_weights_count_the_points_a_voxel_stands_for():
    pts = np.array([[0.0, 0.0], [0.3, 0.0], [10.0, 0.0]])
    assert dbscan_labels(pts, 0.5, 3).tolist() == [-1, -1, -1]
    labels = dbscan_labels(pts, 0.5, 3, weights=np.array([2, 2, 1]))
    assert labels[0] == labels[1] >= 0 and labels[2] == -1


def test_voxel_centroids_and_inverse():
    pts = np.array([[0.01, 0.01, 0.0], [0.05, 0.03, 0.0], [0.5, 0.5, 0.5], [-0.02, 0.0, 0.0]])
    centroids, inverse = voxel_downsample(pts, 0.1)
    assert len(centroids) == 3 and inverse[0] == inverse[1] != inverse[3]
    np.testing.assert_allclose(centroids[inverse[0]], pts[:2].mean(axis=0))
    np.testing.assert_allclose(centroids[inverse], pts, atol=0.1 * np.sqrt(3))
    same, ident = voxel_downsample(pts, 0.0)
    np.testing.assert_array_equal(same, pts)
    assert ident.tolist() == [0, 1, 2, 3]


def test_group_indices_skips_noise():
    groups = group_indices(np.array([2, -1, 0, 2, 0, 1]))
    assert [g.tolist() for g in groups] == [[2, 4], [5], [0, 3]]
    assert group_indices(np.array([-1, -1])) == []
