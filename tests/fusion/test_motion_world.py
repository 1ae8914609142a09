"""World-frame motion models: the heading-aligned options of the constant-velocity model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.errors import TrackingError
from fusion.motion_world import NBOX, MotionModel, MotionNoise, numeric_jacobian


def _state(yaw: float, v=(10.0, 1.0)) -> np.ndarray:
    X = np.zeros((1, 10))
    X[0, 3], X[0, 4:7], X[0, 7:9] = yaw, (4.5, 1.8, 1.5), v
    return X


def test_lateral_acceleration_noise_follows_the_heading() -> None:
    model = MotionModel(MotionNoise(accel_std=4.0, lateral_accel_std=1.0))
    for yaw in (0.0, math.pi / 3, math.pi / 3 + math.pi):  # a box back to front gets the same noise
        X = _state(yaw)
        _, P = model.predict(X, np.zeros((1, 10, 10)), 1.0)
        heading, across = np.array([math.cos(yaw), math.sin(yaw)]), np.array([-math.sin(yaw), math.cos(yaw)])
        Q = P[0, 7:9, 7:9]
        assert heading @ Q @ heading == pytest.approx(16.0) and across @ Q @ across == pytest.approx(1.0)
    plain = MotionModel(MotionNoise(accel_std=4.0)).predict(_state(0.3), np.zeros((1, 10, 10)), 1.0)[1]
    assert np.allclose(plain[0, 7:9, 7:9], np.eye(2) * 16.0)


def test_new_tracks_move_along_their_heading() -> None:
    z = np.array([[5.0, 0.0, 0.75, math.pi / 2, 4.5, 1.8, 1.5]])
    _, P = MotionModel(MotionNoise(init_velocity_std=15.0, init_lateral_velocity_std=2.0)).initial(
        z, np.eye(NBOX) * 0.1)
    assert P[0, 8, 8] == pytest.approx(225.0) and P[0, 7, 7] == pytest.approx(4.0)  # heading along +y


def test_lateral_velocity_relaxes_and_the_jacobian_matches() -> None:
    model = MotionModel(MotionNoise(lateral_velocity_tau_s=2.0))
    X = _state(0.0)
    X1, _ = model.predict(X, np.broadcast_to(np.eye(10), (1, 10, 10)).copy(), 2.0)
    assert X1[0, 7] == pytest.approx(10.0) and X1[0, 8] == pytest.approx(math.exp(-1.0))
    assert X1[0, 0] == pytest.approx(20.0) and X1[0, 1] == pytest.approx(2.0 * (1 - math.exp(-1.0)))
    X = _state(0.7)
    F = model._jacobian(X, 0.1)
    J = numeric_jacobian(lambda x: model._f(x, 0.1), X)
    rows = [0, 1, 2, 7, 8, 9]
    assert np.allclose(F[0][np.ix_(rows, rows)], J[0][np.ix_(rows, rows)], atol=1e-6)


def test_lateral_options_are_checked() -> None:
    for name in ("lateral_accel_std", "init_lateral_velocity_std", "lateral_velocity_tau_s"):
        with pytest.raises(TrackingError, match=name):
            MotionNoise(**{name: 0.0})
