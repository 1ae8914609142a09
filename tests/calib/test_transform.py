"""Transform algebra against 4x4 matrices, quaternions, and FrameTree lookups."""

from __future__ import annotations

import numpy as np
import pytest

from calib import CalibrationError, FrameTree, Transform
from calib.transform import matrix_to_quaternion, quaternion_to_matrix


def _random_transform(rng: np.random.Generator) -> Transform:
    q = rng.normal(size=4)
    return Transform.from_quaternion(q / np.linalg.norm(q), rng.uniform(-5, 5, size=3))


def test_compose_inverse_apply_match_homogeneous_matrices() -> None:
    rng = np.random.default_rng(7)
    pts = rng.uniform(-10, 10, size=(20, 3))
    hom = np.column_stack([pts, np.ones(20)])
    for _ in range(10):
        a, b = _random_transform(rng), _random_transform(rng)
        ma, mb = a.as_matrix(), b.as_matrix()
        np.testing.assert_allclose((a @ b).as_matrix(), ma @ mb, atol=1e-12)
        np.testing.assert_allclose(a.inverse().as_matrix(), np.linalg.inv(ma), atol=1e-12)
        np.testing.assert_allclose(a.apply(pts), (hom @ ma.T)[:, :3], atol=1e-12)
        np.testing.assert_allclose((a @ b).apply(pts), a.apply(b.apply(pts)), atol=1e-12)
        np.testing.assert_allclose((a @ a.inverse()).as_matrix(), np.eye(4), atol=1e-12)
    np.testing.assert_allclose(a.apply(pts[0]), a.apply(pts[:1])[0])


def test_from_matrix_accepts_4x4_and_3x4_and_snaps_rotation() -> None:
    rng = np.random.default_rng(3)
    T = _random_transform(rng)
    assert np.allclose(Transform.from_matrix(T.as_matrix()).as_matrix(), T.as_matrix())
    assert np.allclose(Transform.from_matrix(T.as_matrix()[:3]).as_matrix(), T.as_matrix())
    noisy = T.as_matrix()
    noisy[:3, :3] += 3e-6
    with pytest.raises(CalibrationError, match="not orthonormal"):
        Transform.from_matrix(noisy)
    snapped = Transform.from_matrix(noisy, tol=1e-4)
    np.testing.assert_allclose(snapped.rotation @ snapped.rotation.T, np.eye(3), atol=1e-14)
    assert Transform.identity() == Transform(np.eye(3), [0, 0, 0])


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.diag([1.0, 1.0, 1.01, 1.0]), r"rotation: not orthonormal: max \|R·Rᵀ - I\| = 0\.0201"),
        (np.diag([1.0, 1.0, -1.0, 1.0]), r"determinant -1 is not \+1"),
        (np.eye(4)[:2], r"expected shape \(4, 4\) or \(3, 4\), got \(2, 4\)"),
        (np.vstack([np.eye(4)[:3], [0, 0, 1, 1]]), r"last row must be \[0, 0, 0, 1\]"),
    ],
)
def test_from_matrix_errors(matrix: np.ndarray, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        Transform.from_matrix(matrix)


def test_constructor_checks_translation() -> None:
    with pytest.raises(CalibrationError, match="translation: expected 3 finite numbers"):
        Transform(np.eye(3), [1.0, 2.0])
    with pytest.raises(CalibrationError, match="translation"):
        Transform(np.eye(3), [1.0, np.nan, 0.0])


def test_quaternions() -> None:
    s = np.sqrt(0.5)
    Rz90 = quaternion_to_matrix([0.0, 0.0, s, s])
    np.testing.assert_allclose(Rz90, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)
    np.testing.assert_allclose(matrix_to_quaternion(Rz90), [0, 0, s, s], atol=1e-15)
    rng = np.random.default_rng(11)
    for _ in range(50):
        T = _random_transform(rng)
        np.testing.assert_allclose(quaternion_to_matrix(T.as_quaternion()), T.rotation, atol=1e-12)
    # the rotation by pi (trace -1) takes another branch
    np.testing.assert_allclose(
        quaternion_to_matrix(matrix_to_quaternion(np.diag([1.0, -1, -1]))), np.diag([1.0, -1, -1])
    )
    with pytest.raises(CalibrationError, match="quaternion norm is 2"):
        quaternion_to_matrix([0, 0, 0, 2.0])


def _tree() -> tuple[FrameTree, dict[str, Transform]]:
    rng = np.random.default_rng(5)
    T = {k: _random_transform(rng) for k in ("base_lidar", "base_mount", "mount_cam", "mount_radar")}
    tree = FrameTree()
    tree.add("base_link", "lidar", T["base_lidar"])
    tree.add("base_link", "mount", T["base_mount"])
    tree.add("mount", "camera", T["mount_cam"])
    tree.add("mount", "radar", T["mount_radar"])
    return tree, T


def test_frame_tree_lookup_across_three_levels() -> None:
    tree, T = _tree()
    assert tree.frames() == ["base_link", "lidar", "mount", "camera", "radar"]
    assert tree.parent("camera") == "mount" and tree.parent("base_link") is None
    m = {k: v.as_matrix() for k, v in T.items()}
    cam_from_lidar = np.linalg.inv(m["base_mount"] @ m["mount_cam"]) @ m["base_lidar"]
    np.testing.assert_allclose(tree.lookup("camera", "lidar").as_matrix(), cam_from_lidar, atol=1e-12)
    np.testing.assert_allclose(
        tree.lookup("lidar", "camera").as_matrix(), np.linalg.inv(cam_from_lidar), atol=1e-12
    )
    radar_from_cam = np.linalg.inv(m["mount_radar"]) @ m["mount_cam"]
    np.testing.assert_allclose(tree.lookup("radar", "camera").as_matrix(), radar_from_cam, atol=1e-12)
    np.testing.assert_allclose(
        tree.lookup("base_link", "camera").as_matrix(), m["base_mount"] @ m["mount_cam"], atol=1e-12
    )
    np.testing.assert_allclose(tree.lookup("camera", "camera").as_matrix(), np.eye(4), atol=1e-12)
    assert len(tree.edges()) == 4


def test_frame_tree_errors() -> None:
    tree, _ = _tree()
    tree.add("world", "gps", Transform.identity())
    with pytest.raises(CalibrationError, match=r"frames 'camera' and 'gps' are not connected"):
        tree.lookup("camera", "gps")
    with pytest.raises(CalibrationError, match=r"unknown frame 'nope'"):
        tree.lookup("camera", "nope")
    with pytest.raises(CalibrationError, match=r"'camera' already has parent 'mount'"):
        tree.add("lidar", "camera", Transform.identity())
    with pytest.raises(CalibrationError, match="cycle"):
        tree.add("camera", "base_link", Transform.identity())
    with pytest.raises(CalibrationError, match="own parent"):
        tree.add("x", "x", Transform.identity())
    with pytest.raises(CalibrationError, match="expected a Transform"):
        tree.add("a", "b", np.eye(4))  # type: ignore[arg-type]


def test_time_offsets() -> None:
    tree, _ = _tree()
    assert tree.time_offset_ns("camera") == 0
    tree.set_time_offset("camera", -12_000_000)
    tree.set_time_offset("lidar", np.int64(5))
    assert tree.time_offset_ns("camera") == -12_000_000
    assert tree.time_offsets() == {"camera": -12_000_000, "lidar": 5}
    with pytest.raises(CalibrationError, match="integer nanoseconds"):
        tree.set_time_offset("camera", 0.5)  # type: ignore[arg-type]


def test_transform_arrays_are_read_only_normalised_copies() -> None:
    rotation = np.eye(3).tolist()
    T = Transform(rotation, [1, 2, 3])
    assert T.rotation.dtype == np.float64 and T.translation.tolist() == [1.0, 2.0, 3.0]
    for array in (T.rotation, T.translation):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 5.0
