"""L-shape (Zhang et al. 2017) and minimum-area rectangle fitting on rectangle outlines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perception.lidar.boxfit import fit_lshape, fit_min_area, wrap_half_pi


def _outline(centre, length, width, yaw, sides, rng, n=200, noise=0.01) -> np.ndarray:
    """Points on the named sides (``front``, ``back``, ``left``, ``right``) of a rectangle."""
    half = {"front": ((1, 0), (0, 1), width), "back": ((-1, 0), (0, 1), width),
            "left": ((0, 1), (1, 0), length), "right": ((0, -1), (1, 0), length)}
    pts = []
    for side in sides:
        normal, along, span = np.array(half[side][0], float), np.array(half[side][1], float), half[side][2]
        offset = normal * np.array([length / 2, width / 2])
        pts.append(offset + np.outer(rng.uniform(-span / 2, span / 2, n), along))
    local = np.concatenate(pts) + rng.normal(0, noise, (len(sides) * n, 2))
    c, s = math.cos(yaw), math.sin(yaw)
    return local @ np.array([[c, -s], [s, c]]).T + np.asarray(centre)


@pytest.mark.parametrize("yaw", [0.0, 0.3, -1.2, 1.5])
@pytest.mark.parametrize("criterion, sides", [
    ("closeness", ("back", "left")), ("variance", ("back", "left")),
    # the smallest rectangle around an L is ambiguous (one along the diagonal is as small):
    # the area criterion needs all four sides, as Zhang et al. found
    ("area", ("back", "left", "front", "right")),
])
def test_lshape_recovers_a_rectangle(yaw, criterion, sides):
    rng = np.random.default_rng(0)
    xy = _outline((10.0, -4.0), 4.5, 1.8, yaw, sides, rng)
    fit = fit_lshape(xy, math.radians(0.5), criterion)
    np.testing.assert_allclose(fit.centre, [10.0, -4.0], atol=0.05)
    assert abs(fit.length - 4.5) < 0.08 and abs(fit.width - 1.8) < 0.08  # noise widens by ~3 sigma a side
    assert abs(wrap_half_pi(fit.yaw - yaw)) < math.radians(1.5)


def test_closeness_beats_area_on_a_noisy_l():
    rng = np.random.default_rng(1)
    xy = _outline((0.0, 0.0), 4.0, 2.0, 0.4, ("back", "left"), rng, n=60, noise=0.05)
    err = {c: abs(wrap_half_pi(fit_lshape(xy, math.radians(1), c).yaw - 0.4)) for c in ("closeness", "area")}
    assert err["closeness"] <= err["area"] and err["closeness"] < math.radians(3)


def test_min_area_rect_matches_the_outline():
    rng = np.random.default_rng(2)
    xy = _outline((-3.0, 7.0), 3.0, 1.0, 0.7, ("front", "back", "left", "right"), rng, noise=0.0)
    fit = fit_min_area(xy)
    np.testing.assert_allclose(fit.centre, [-3.0, 7.0], atol=0.02)
    assert abs(fit.length - 3.0) < 0.03 and abs(fit.width - 1.0) < 0.03
    assert abs(wrap_half_pi(fit.yaw - 0.7)) < math.radians(0.5)
    assert -math.pi / 2 <= fit.yaw < math.pi / 2


def test_single_point_and_bad_criterion():
    fit = fit_lshape(np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(fit.centre, [1.0, 2.0])
    assert fit.length == fit.width == 0.0
    with pytest.raises(ValueError, match="criterion: expected closeness, area or variance"):
        fit_lshape(np.zeros((3, 2)), criterion="iou")
