"""CameraModel: projection against closed-form models, round trips, undistortion maps, validation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calib import CalibrationError, CameraModel

K = np.array([[800.0, 0.0, 639.5], [0.0, 790.0, 359.5], [0.0, 0.0, 1.0]])
RADTAN = np.array([-0.28, 0.09, 0.001, -0.0005, -0.012])
FISHEYE = np.array([0.05, -0.01, 0.003, -0.0004])


def _points_in_view(n: int, half_angle_deg: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.tan(np.radians(half_angle_deg))
    xy = rng.uniform(-t, t, size=(n, 2))
    z = rng.uniform(1.0, 40.0, size=n)
    return np.column_stack([xy * z[:, None], z])


def _radtan_reference(p: np.ndarray, k: np.ndarray, d: np.ndarray) -> np.ndarray:
    k1, k2, p1, p2, k3 = d
    x, y = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.column_stack([k[0, 0] * xd + k[0, 2], k[1, 1] * yd + k[1, 2]])


def _fisheye_reference(p: np.ndarray, k: np.ndarray, d: np.ndarray) -> np.ndarray:
    a, b = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
    r = np.hypot(a, b)
    th = np.arctan(r)
    thd = th * (1 + d[0] * th**2 + d[1] * th**4 + d[2] * th**6 + d[3] * th**8)
    s = np.where(r > 0, thd / np.maximum(r, 1e-12), 1.0)
    return np.column_stack([k[0, 0] * a * s + k[0, 2], k[1, 1] * b * s + k[1, 2]])


def test_pinhole_project_matches_radtan_formula_and_round_trips() -> None:
    cam = CameraModel(1280, 720, K, RADTAN)
    pts = _points_in_view(500, 30.0)
    px = cam.project(pts)
    assert px.shape == (500, 2) and px.dtype == np.float64
    np.testing.assert_allclose(px, _radtan_reference(pts, K, RADTAN), atol=1e-9)
    rays = cam.unproject(px)
    np.testing.assert_allclose(np.linalg.norm(rays, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(rays, pts / np.linalg.norm(pts, axis=1, keepdims=True), atol=1e-9)
    ideal = cam.undistort_points(px)
    np.testing.assert_allclose(ideal, (pts[:, :2] / pts[:, 2:]) @ K[:2, :2].T + K[:2, 2], atol=1e-6)


def test_fisheye_project_matches_kannala_brandt_and_round_trips() -> None:
    cam = CameraModel(1280, 720, K, FISHEYE, model="fisheye")
    pts = _points_in_view(500, 60.0, seed=1)
    px = cam.project(pts)
    np.testing.assert_allclose(px, _fisheye_reference(pts, K, FISHEYE), atol=1e-9)
    rays = cam.unproject(px)
    np.testing.assert_allclose(rays, pts / np.linalg.norm(pts, axis=1, keepdims=True), atol=1e-9)


def test_points_behind_camera_are_nan_and_shapes_checked() -> None:
    cam = CameraModel(640, 480, K, RADTAN)
    px = cam.project(np.array([[0.0, 0.0, 5.0], [0.1, 0.2, -3.0], [1.0, 1.0, 0.0]]))
    assert np.all(np.isfinite(px[0])) and np.all(np.isnan(px[1:]))
    np.testing.assert_allclose(px[0], K[:2, 2])
    assert cam.project(np.zeros((0, 3))).shape == (0, 2)
    with pytest.raises(CalibrationError, match=r"\(N, 3\)"):
        cam.project(np.zeros((4, 2)))


@pytest.mark.parametrize(("model", "dist"), [("pinhole", RADTAN), ("fisheye", FISHEYE)])
def test_undistort_maps_point_at_the_distorted_source_pixel(model: str, dist: np.ndarray) -> None:
    cam = CameraModel(1280, 720, K, dist, model=model)  # type: ignore[arg-type]
    for alpha in (0.0, 1.0):
        ideal = cam.undistorted(alpha)
        assert ideal.dist.size == 0 and ideal.size == cam.size
        m1, m2 = cam.undistort_maps(alpha)
        assert m1.shape == (720, 1280) and m2.shape == (720, 1280) and m1.dtype == np.float32
        uv = np.array([[100, 50], [640, 360], [1200, 700], [300, 600]])
        rays = np.column_stack([(uv - ideal.K[:2, 2]) / [ideal.fx, ideal.fy], np.ones(len(uv))])
        expected = cam.project(rays)
        got = np.column_stack([m1[uv[:, 1], uv[:, 0]], m2[uv[:, 1], uv[:, 0]]])
        np.testing.assert_allclose(got, expected, atol=0.02)


def test_remap_makes_distorted_straight_line_straight() -> None:
    cam = CameraModel(1280, 720, K, RADTAN)
    # a straight 3D line, rendered through the distorted camera, bends; after remap it is straight
    line = np.column_stack([np.linspace(-3, 3, 400), np.full(400, 1.2), np.full(400, 5.0)])
    img = np.zeros((720, 1280), np.uint8)
    px = np.round(cam.project(line)).astype(int)
    img[px[:, 1], px[:, 0]] = 255
    img = cv2.dilate(img, np.ones((3, 3), np.uint8))
    assert np.ptp(px[:, 1]) > 10  # visibly curved before
    m1, m2 = cam.undistort_maps(0.0)
    out = cv2.remap(img, m1, m2, cv2.INTER_LINEAR)
    ys, xs = np.nonzero(out > 128)
    fit = np.polyfit(xs, ys, 1)
    assert np.abs(np.polyval(fit, xs) - ys).max() < 3.0


def test_scaled_camera_follows_pixel_centre_convention() -> None:
    cam = CameraModel(1280, 720, K, RADTAN)
    half = cam.scaled(0.5, 0.5)
    assert (half.width, half.height) == (640, 360)
    pts = _points_in_view(50, 25.0, seed=3)
    np.testing.assert_allclose(half.project(pts), (cam.project(pts) + 0.5) * 0.5 - 0.5, atol=1e-9)
    assert half.fx == pytest.approx(400.0) and half.fy == pytest.approx(395.0)
    with pytest.raises(CalibrationError, match="positive"):
        cam.scaled(0.0, 1.0)


def test_properties_equality_and_immutability() -> None:
    cam = CameraModel(1280, 720, K.tolist(), RADTAN.tolist())
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (800.0, 790.0, 639.5, 359.5)
    assert cam == CameraModel(1280, 720, K, RADTAN) and hash(cam) == hash(CameraModel(1280, 720, K, RADTAN))
    assert cam != CameraModel(1280, 720, K, np.zeros(5))
    with pytest.raises(ValueError):
        cam.K[0, 0] = 1.0
    assert CameraModel(10, 10, K, [], model="fisheye").dist.tolist() == [0.0] * 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"K": [[-800.0, 0, 320], [0, 800, 240], [0, 0, 1]]}, r"K: focal lengths must be positive.*fx=-800"),
        ({"K": np.eye(3)[:2]}, r"K: expected a \(3, 3\) matrix, got shape \(2, 3\)"),
        ({"K": [[800.0, 0, 320], [0, 800, 240], [0, 1, 1]]}, r"K: expected last row"),
        ({"dist": [0.1, 0.2, 0.3]}, r"dist: the pinhole model takes .* got 3"),
        (
            {"dist": [0.1] * 5, "model": "fisheye"},
            r"dist: the fisheye model takes 0 or 4 coefficients, got 5",
        ),
        ({"width": 0}, r"width: expected a positive integer, got 0"),
        ({"height": 480.5}, r"height: expected a positive integer"),
        ({"model": "omni"}, r"model: expected 'pinhole' or 'fisheye'"),
    ],
)
def test_validation_errors(kwargs: dict, message: str) -> None:
    args = {"width": 640, "height": 480, "K": K, "dist": RADTAN, "model": "pinhole", **kwargs}
    with pytest.raises(CalibrationError, match=message):
        CameraModel(**args)
