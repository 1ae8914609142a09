"""Scene geometry: zones, tripwire sides, headings, and where (and how surely) tracks stand."""

from __future__ import annotations

import numpy as np
import pytest

from calib.ground import apply_homography
from events.errors import EventsError
from events.geometry import Locator, Tripwire, Zone, angle_between_deg, heading_deg, polygon_problem
from percept.messages import Tracks, TrackStatus
from tests.calib.test_ground import H_TRUE
from tests.events.scripted import tracks_2d, tracks_3d


def test_zone_contains_is_strict_and_nan_safe() -> None:
    z = Zone("z", np.array([[0.0, 0], [4, 0], [4, 2], [0, 2]]))
    pts = np.array([[1, 1], [5, 1], [4, 1], [np.nan, 1], [3.9, 1.9]])
    assert z.contains(pts).tolist() == [True, False, False, False, True]
    assert z.centroid == pytest.approx((2.0, 1.0))


@pytest.mark.parametrize(("points", "problem"), [
    ([[0, 0], [1, 0], [1, 1]], None),
    ([[0, 0], [2, 2], [2, 0], [0, 2]], "polygon is self-intersecting at (1, 1)"),
    ([[0, 0], [1, 1], [2, 2], [3, 3]], "polygon has no area (its points are collinear)"),
    ([[0, 0], [1, 1]], "a polygon needs at least 3 [x, y] points, got 2"),
    ([[0, 0], [1, np.inf], [1, 1]], "polygon points must be finite numbers"),
])
def test_polygon_problem(points: list, problem: str | None) -> None:
    assert polygon_problem(np.array(points, np.float64)) == problem


def test_headings_follow_the_frame_convention() -> None:
    v = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    assert heading_deg(v, "ground").tolist() == [0.0, 90.0, 180.0, -90.0]  # [-180, 180)
    # in an image y grows downwards: +y pixels/s is moving down the screen, heading -90
    assert heading_deg(v, "image").tolist() == [0.0, -90.0, -180.0, 90.0]
    assert angle_between_deg(np.array([170.0, -170.0, 10.0]), -175.0).tolist() == [15.0, 5.0, 175.0]


def test_tripwire_sides_in_ground_and_image_frames() -> None:
    ground = Tripwire("t", (0.0, 0.0), (10.0, 0.0), frame="ground")
    d, within = ground.offsets(np.array([[5.0, 2.0], [5.0, -1.0], [11.0, 1.0], [-0.4, 1.0]]))
    assert d.tolist() == [2.0, -1.0, 1.0, 1.0]  # left of a->b is north (+y)
    assert within.tolist() == [True, True, False, True]  # past the end by more than the 0.5 margin: no
    image = Tripwire("t", (0.0, 0.0), (10.0, 0.0), frame="image")
    assert image.offsets(np.array([[5.0, 2.0]]))[0].tolist() == [-2.0]  # y down: +y is on the right
    both = Tripwire("t", (0.0, 0.0), (1.0, 0.0))
    one = Tripwire("t", (0.0, 0.0), (1.0, 0.0), direction="left_to_right")
    assert both.counts(1, -1) and both.counts(-1, 1)
    assert one.counts(1, -1) and not one.counts(-1, 1)


def test_locate_3d_uses_xy_and_the_covariance_block() -> None:
    msg = tracks_3d(1.0, [(1, 3.0, 4.0, {"sigma": 0.3}), (2, -1.0, 2.0, {"sigma": 2.0})], covariance=True)
    loc = Locator("ground").locate(msg)
    assert loc.xy.tolist() == [[3.0, 4.0], [-1.0, 2.0]] and loc.box is None
    assert loc.sigma == pytest.approx([0.3, 2.0], rel=1e-5)
    assert loc.aspect == pytest.approx([1.75 / 0.6] * 2, rel=1e-5)  # height / max(length, width)
    assert Locator("ground").locate(tracks_3d(1.0, [(1, 3.0, 4.0)])).sigma.tolist() == [0.0]
    with pytest.raises(EventsError, match=r"tracks in frame 'world' are 3D \(x, y\) but the scene's"):
        Locator("image").locate(msg)


def test_locate_2d_bottom_centre_through_the_homography() -> None:
    ground = np.array([[0.0, 10.0], [3.0, 25.0]])
    feet = apply_homography(np.linalg.inv(H_TRUE), ground)
    boxes = [(i + 1, [u - 10, v - 60, u + 10, v]) for i, (u, v) in enumerate(feet)]
    loc = Locator("ground", H_TRUE).locate(tracks_2d(1.0, boxes))
    assert np.allclose(loc.xy, ground, atol=1e-3)
    assert loc.aspect == pytest.approx([3.0, 3.0]) and loc.box.shape == (2, 4)
    # same pixel uncertainty (same box height), but metres per pixel grow with distance
    assert loc.sigma[1] > 2 * loc.sigma[0] > 0
    young = Locator("ground", H_TRUE).locate(tracks_2d(1.0, boxes, age=1))
    assert young.sigma == pytest.approx(loc.sigma * 5)  # young_age 5 / age 1
    img = Locator("image").locate(tracks_2d(1.0, boxes))
    assert np.allclose(img.xy, feet, atol=1e-3) and img.sigma == pytest.approx([0.05 * 60] * 2, rel=1e-5)
    with pytest.raises(EventsError, match=r"2D image boxes but the scene \(frame: ground\) has no homog"):
        Locator("ground").locate(tracks_2d(1.0, boxes))


def test_locate_2d_covariance_is_propagated() -> None:
    msg = tracks_2d(1.0, [(1, [100.0, 100.0, 140.0, 200.0])])
    cov = np.zeros((1, 6, 6), np.float32)
    cov[0, 3, 3] = 16.0  # y2 (the feet) uncertain by 4 px, nothing else
    loc = Locator("image").locate(msg.replace(covariance=cov))
    assert loc.sigma == pytest.approx([4.0])
    cov[0, 0, 0] = cov[0, 2, 2] = 36.0  # x1 and x2 by 6 px each, independent: centre x by sqrt(18)
    loc = Locator("image").locate(msg.replace(covariance=cov))
    assert loc.sigma == pytest.approx([np.sqrt(18.0)])


def test_points_beyond_the_horizon_are_unknown() -> None:
    loc = Locator("ground", H_TRUE).locate(tracks_2d(1.0, [(1, [400.0, -500.0, 420.0, -450.0])]))
    assert np.all(np.isnan(loc.xy)) and loc.sigma.tolist() == [np.inf]


def test_tracks_without_position_fields_are_refused() -> None:
    bad = Tracks(stamp_ns=0, frame_id="x", track_id=np.zeros(1, np.int64), class_id=np.zeros(1, np.int32),
                 confidence=np.ones(1, np.float32), state=np.zeros((1, 2), np.float32),
                 age=np.ones(1, np.int32), status=np.full(1, TrackStatus.CONFIRMED, np.uint8),
                 sensors=np.zeros(1, np.uint32), state_fields=("u", "v"))
    with pytest.raises(EventsError, match=r"state_fields \['u', 'v'\] have neither x1, y1, x2, y2 nor x, y"):
        Locator("ground").locate(bad)
