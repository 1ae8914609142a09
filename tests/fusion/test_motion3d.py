"""BoxMotion3D: time-aware constant velocity, heading flips and wrap, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.errors import TrackingError
from fusion.motion3d import BoxMotion3D, BoxMotion3DConfig, measurement, transition


def test_learns_velocity_of_a_constant_speed_object() -> None:
    rng = np.random.default_rng(0)
    m = BoxMotion3D(measurement([0, 1.5, 10], [4, 1.8, 1.5], 0.0))
    for k in range(1, 31):  # 10 Hz, 8 m/s along z (forward), 0.2 m measurement noise
        m.predict(0.1)
        centre = [rng.normal(0, 0.2), 1.5, 10 + 0.8 * k + rng.normal(0, 0.2)]
        m.update(measurement(centre, [4, 1.8, 1.5], 0.0))
    np.testing.assert_allclose(m.velocity, [0, 0, 8.0], atol=0.6)
    assert m.box[2] == pytest.approx(34.0, abs=0.4)
    assert m.mean.shape == (10,) and m.covariance.shape == (10, 10)


def test_prediction_scales_with_elapsed_time() -> None:
    a = BoxMotion3D(measurement([0, 0, 0], [4, 2, 1.5], 0.0))
    a.kf.x[9, 0] = 5.0  # vz = 5 m/s
    b = BoxMotion3D(measurement([0, 0, 0], [4, 2, 1.5], 0.0))
    b.kf.x[9, 0] = 5.0
    a.predict(0.1)
    b.predict(0.2)
    assert a.box[2] == pytest.approx(0.5) and b.box[2] == pytest.approx(1.0)
    assert np.trace(b.covariance) > np.trace(a.covariance)
    np.testing.assert_array_equal(transition(0.3)[[0, 1, 2], [7, 8, 9]], [0.3] * 3)
    before = a.mean
    a.predict(0.0)
    np.testing.assert_array_equal(a.mean, before)


def test_heading_seen_back_to_front_does_not_turn_the_track() -> None:
    m = BoxMotion3D(measurement([0, 0, 10], [4, 2, 1.5], 0.2))
    for _ in range(5):
        m.predict(0.1)
        m.update(measurement([0, 0, 10], [4, 2, 1.5], 0.2 + math.pi))
    assert m.box[3] == pytest.approx(0.2, abs=1e-6)


def test_heading_across_the_seam_stays_near_pi() -> None:
    m = BoxMotion3D(measurement([0, 0, 10], [4, 2, 1.5], 3.1))
    m.predict(0.1)
    m.update(measurement([0, 0, 10], [4, 2, 1.5], -3.1))  # 0.08 rad away across +-pi
    assert abs(abs(m.box[3]) - math.pi) < 0.1  # averaging without unwrapping would give ~0


def test_sizes_stay_positive_and_bad_input_is_refused() -> None:
    m = BoxMotion3D(measurement([0, 0, 0], [4, 2, 1.5], 0.0))
    m.update(measurement([0, 0, 0], [0.01, 0.01, 0.01], 0.0))
    assert (m.box[4:] > 0).all()
    with pytest.raises(TrackingError, match="positive size"):
        BoxMotion3D(measurement([0, 0, 0], [4, -2, 1.5], 0.0))
    with pytest.raises(TrackingError, match="7 finite values"):
        BoxMotion3D(np.array([0, 0, np.nan, 0, 1, 1, 1.0]))
    with pytest.raises(TrackingError, match="dt must be"):
        m.predict(-0.1)
    with pytest.raises(TrackingError, match="vertical"):
        BoxMotion3DConfig(vertical="x")
    with pytest.raises(TrackingError, match="accel_std"):
        BoxMotion3DConfig(accel_std=0.0)
