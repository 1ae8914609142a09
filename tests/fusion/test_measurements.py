"""Measurement models: consider updates, per-measurement noise, the likelihood association cost."""

from __future__ import annotations

import numpy as np
import pytest

from calib.transform import Transform
from fusion.camera_models import CameraBoxModel
from fusion.errors import TrackingError
from fusion.measurements import (
    MOTION_ROWS,
    BearingNoise,
    BoxModel,
    BoxNoise,
    RadarModel,
    RadarNoise,
    ekf_update,
    likelihood_cost,
    mahalanobis,
    measurement_noise,
)
from fusion.motion_world import MotionModel, MotionNoise

R_OPTICAL = np.array([[0, 0, 1.0], [-1, 0, 0], [0, -1, 0]])  # camera looking along +x


def _tracks(*centres, yaw: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    X = np.zeros((len(centres), 10))
    X[:, :3] = centres
    X[:, 3], X[:, 4:7] = yaw, (4.5, 1.8, 1.5)
    return X, np.broadcast_to(np.eye(10) * 0.5, (len(centres), 10, 10)).copy()


def test_point_sensors_leave_yaw_and_size_to_the_boxes() -> None:
    X, P = _tracks((30.0, 0.5, 0.75), yaw=0.1)
    radar = RadarModel(RadarNoise(), Transform.identity(), np.zeros(3), MotionModel(MotionNoise()), "nearest")
    X1, P1 = ekf_update(radar, X, P, np.array([[27.0, 0.03, -2.0]]))
    moved = np.flatnonzero(~np.isclose(X1[0], X[0]))
    assert set(moved.tolist()) <= set(MOTION_ROWS) and {0, 7} <= set(moved.tolist())
    assert np.allclose(P1[0, 3:7, 3:7], P[0, 3:7, 3:7])  # yaw and size as sure as before
    assert np.all(np.linalg.eigvalsh(P1[0]) > 0)  # the Joseph form keeps it a covariance
    cam = CameraBoxModel(BearingNoise(0.005, 0.005), Transform(R_OPTICAL, [0.0, 0.0, 1.4]))
    z = cam.predict(X)[0] + 0.01
    X2, _ = ekf_update(cam, X, P, z)
    assert np.isclose(X2[0, 3], X[0, 3], rtol=0, atol=1e-12) and X2[0, 4] == X[0, 4]  # not yaw, length
    assert X2[0, 5] != X[0, 5]  # but the width
    X3, _ = ekf_update(BoxModel(BoxNoise()), X, P, np.array([[30.5, 0.0, 0.8, 0.0, 4.0, 1.7, 1.4]]))
    assert np.all(X3[0, :7] != X[0, :7])  # a box corrects everything


def test_camera_edge_noise_grows_with_the_box() -> None:
    cam = CameraBoxModel(BearingNoise(0.004, 0.004, size_fraction=0.03), Transform(R_OPTICAL, [0, 0, 1.4]))
    z = np.array([[-0.01, 0.01, 0.01, -0.01], [-0.2, 0.2, 0.1, -0.1]])
    R = measurement_noise(cam, z)
    assert R.shape == (2, 4, 4) and np.allclose(R[0, 0, 0], 0.004**2 + (0.03 * 0.02) ** 2)
    assert (np.diag(R[1]) > np.diag(R[0])).all()
    X, P = _tracks((20.0, 0.0, 0.75))
    assert mahalanobis(cam, X, P, z).shape == (1, 2)  # per-measurement noise in the gate ...
    X1, P1 = ekf_update(cam, X, P, z[:1])  # ... and in the update
    assert np.isfinite(X1).all() and np.isfinite(P1).all()


def test_likelihood_cost_prefers_the_track_that_predicts_best() -> None:
    radar = RadarModel(RadarNoise(), Transform.identity(), np.zeros(3), MotionModel(MotionNoise()))
    X, P = _tracks((30.0, 0.0, 0.75), (30.5, 0.0, 0.75))
    P[1] *= 100  # the second track knows nothing
    z = radar.predict(X[:1])[0] + [0.4, 0.0, 0.0]
    d2, cost = likelihood_cost(radar, X, P, z)
    assert d2[1, 0] < d2[0, 0]  # nearer in Mahalanobis distance, as any vague track is ...
    assert cost[0, 0] < cost[1, 0]  # ... but less likely to have made the measurement


def test_behind_the_camera_is_infinitely_far() -> None:
    cam = CameraBoxModel(BearingNoise(), Transform(R_OPTICAL, [0.0, 0.0, 1.4]))
    X, P = _tracks((20.0, 0.0, 0.75), (-10.0, 0.0, 0.75))
    d2 = mahalanobis(cam, X, P, cam.predict(X[:1])[0])
    assert np.isfinite(d2[0, 0]) and d2[1, 0] == np.inf


def test_noise_and_reflection_settings_are_checked() -> None:
    with pytest.raises(TrackingError, match="reflection"):
        RadarModel(RadarNoise(), Transform.identity(), np.zeros(3), MotionModel(MotionNoise()), "side")
    with pytest.raises(TrackingError, match="size_fraction"):
        BearingNoise(size_fraction=-0.1)
