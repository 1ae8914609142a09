"""Box Kalman model: closed-form constant-velocity predict/update, dt-awareness."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.errors import TrackingError
from fusion.motion import BoxMotion, BoxMotionConfig, transition, xyah_to_xyxy, xyxy_to_xyah


def test_box_conversions_round_trip() -> None:
    xyxy = np.array([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 1.0, 4.0]])
    xyah = xyxy_to_xyah(xyxy)
    np.testing.assert_allclose(xyah[0], [30, 60, 0.5, 80])
    np.testing.assert_allclose(xyah_to_xyxy(xyah), xyxy)


def test_predict_matches_closed_form_and_scales_with_dt() -> None:
    m = BoxMotion(np.array([0.0, 0.0, 20.0, 40.0]))
    m.kf.x[4:6, 0] = [30.0, -10.0]  # 30 px/s right, 10 px/s up
    x0, p0 = m.mean, m.covariance
    m.predict(0.5)
    f = transition(0.5)
    np.testing.assert_allclose(m.mean, f @ x0)
    np.testing.assert_allclose(m.covariance, f @ p0 @ f.T + m.process_noise(0.5), rtol=1e-9)
    np.testing.assert_allclose(m.mean[:2], [10 + 15, 20 - 5])

    one, two = BoxMotion(np.array([0.0, 0.0, 20.0, 40.0])), BoxMotion(np.array([0.0, 0.0, 20.0, 40.0]))
    for k in (one, two):
        k.kf.x[4, 0] = 100.0
    one.predict(0.04)
    two.predict(0.08)  # one frame gap of 2 dt predicts twice as far
    assert two.mean[0] - 10 == pytest.approx(2 * (one.mean[0] - 10))


def test_zero_dt_changes_nothing_and_negative_dt_raises() -> None:
    m = BoxMotion(np.array([0.0, 0.0, 20.0, 40.0]))
    x0, p0 = m.mean, m.covariance
    m.predict(0.0)
    np.testing.assert_array_equal(m.mean, x0)
    np.testing.assert_array_equal(m.covariance, p0)
    with pytest.raises(TrackingError, match="dt"):
        m.predict(-0.1)


def test_update_matches_closed_form_kalman_gain() -> None:
    m = BoxMotion(np.array([0.0, 0.0, 20.0, 40.0]), BoxMotionConfig())
    m.predict(0.04)
    x, p = m.mean, m.covariance
    r = m.measurement_noise()
    h = np.hstack([np.eye(4), np.zeros((4, 4))])
    z_box = np.array([2.0, 1.0, 22.0, 41.0])
    z = xyxy_to_xyah(z_box)
    k = p @ h.T @ np.linalg.inv(h @ p @ h.T + r)
    m.update(z_box)
    np.testing.assert_allclose(m.mean, x + k @ (z - h @ x), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(m.covariance, (np.eye(8) - k @ h) @ p, rtol=1e-6, atol=1e-9)


def test_constant_velocity_target_is_learned() -> None:
    m = BoxMotion(np.array([0.0, 0.0, 20.0, 40.0]))
    dt = 0.1
    for k in range(1, 30):
        m.predict(dt)
        m.update(np.array([50.0 * k * dt, 0.0, 50.0 * k * dt + 20, 40.0]))
    assert m.mean[4] == pytest.approx(50.0, rel=0.05)
    m.predict(1.0)
    assert m.mean[0] == pytest.approx(10 + 50 * 2.9 + 50, rel=0.02)


def test_invalid_first_box_raises() -> None:
    with pytest.raises(TrackingError, match="positive height"):
        BoxMotion(np.array([0.0, 5.0, 1.0, 5.0]))
