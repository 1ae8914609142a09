"""Oriented 3D boxes: IoU/GIoU against closed forms, both frame conventions, gating."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.errors import TrackingError
from fusion.geometry3d import bev_corners, box_overlaps, centre_distance, clip_convex, convex_hull, wrap_angle


def boxes(centres, sizes, yaws):
    return (np.array(centres, float).reshape(-1, 3), np.array(sizes, float).reshape(-1, 3),
            np.array(yaws, float).reshape(-1))


def test_identical_and_half_shifted_boxes() -> None:
    a = boxes([[0, 0, 10]], [[4, 2, 1.5]], [0.3])
    heading = np.array([math.cos(0.3), 0, -math.sin(0.3)])  # camera frame: (cos yaw, -sin yaw) in x-z
    b = boxes([[0, 0, 10], np.array([0, 0, 10]) + 2 * heading], [[4, 2, 1.5]] * 2, [0.3, 0.3])
    np.testing.assert_allclose(box_overlaps(a, b, "y"), [[1.0, 1 / 3]], atol=1e-9)


def test_rotated_square_matches_octagon_area() -> None:
    a = boxes([[0, 0, 0]], [[2, 2, 2]], [0.0])
    b = boxes([[0, 0, 0]] * 2, [[2, 2, 2]] * 2, [math.pi / 4, math.pi / 2])
    inter = 8 * (math.sqrt(2) - 1)  # the regular octagon shared by two 2x2 squares at 45 degrees
    np.testing.assert_allclose(box_overlaps(a, b, "z")[0], [inter / (8 - inter), 1.0], atol=1e-9)


def test_vertical_overlap_scales_iou() -> None:
    a = boxes([[0, 0, 0]], [[2, 2, 2]], [0.0])
    b = boxes([[0, 0, 1]], [[2, 2, 2]], [0.0])  # half of the height shared along z (z-up frame)
    np.testing.assert_allclose(box_overlaps(a, b, "z"), [[4 / 12]], atol=1e-9)
    np.testing.assert_allclose(box_overlaps(a, b, "y"), [[4 / 12]], atol=1e-9)  # along z = ground in "y"


def test_camera_and_z_up_conventions_agree() -> None:
    # the same two boxes written in a KITTI camera frame (x right, y down, z forward, yaw about +y)
    # and a z-up frame (x forward, y left, z up, yaw about +z): x_up = z_cam, y_up = -x_cam, z_up = -y_cam
    cam_a = boxes([[1.0, 1.5, 12.0]], [[4.2, 1.8, 1.5]], [0.4])
    cam_b = boxes([[1.8, 1.4, 12.6]], [[4.0, 1.7, 1.6]], [0.9])

    def to_up(b):
        c, s, y = b
        return np.column_stack([c[:, 2], -c[:, 0], -c[:, 1]]), s, -y - math.pi / 2  # KITTI: yaw = -ry - pi/2

    for gen in (False, True):
        np.testing.assert_allclose(box_overlaps(cam_a, cam_b, "y", gen),
                                   box_overlaps(to_up(cam_a), to_up(cam_b), "z", gen), atol=1e-9)


def test_giou_of_separated_cubes_closed_form() -> None:
    gap = 0.5
    a = boxes([[0, 0, 0]], [[1, 1, 1]], [0.0])
    b = boxes([[1 + gap, 0, 0]], [[1, 1, 1]], [0.0])
    assert box_overlaps(a, b, "z")[0, 0] == 0.0
    np.testing.assert_allclose(box_overlaps(a, b, "z", generalized=True), [[-gap / (2 + gap)]], atol=1e-9)


def test_pairs_beyond_max_dist_are_not_computed() -> None:
    a = boxes([[0, 0, 0]], [[4, 2, 1.5]], [0.0])
    b = boxes([[0.5, 0, 0], [30, 0, 0]], [[4, 2, 1.5]] * 2, [0.0, 0.0])
    iou = box_overlaps(a, b, "z", max_dist=5.0)
    giou = box_overlaps(a, b, "z", generalized=True, max_dist=5.0)
    assert iou[0, 0] > 0.7 and iou[0, 1] == 0.0
    assert giou[0, 1] == -1.0
    assert box_overlaps(boxes([], [], []), b, "z").shape == (0, 2)


def test_errors_name_the_problem() -> None:
    a = boxes([[0, 0, 0]], [[1, 1, 1]], [0.0])
    with pytest.raises(TrackingError, match="vertical axis"):
        box_overlaps(a, a, "x")
    with pytest.raises(TrackingError, match="equal rows"):
        box_overlaps((a[0], a[1], np.zeros(2)), a, "z")


def test_polygon_helpers() -> None:
    square = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)]
    shifted = [(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)]
    assert sorted(clip_convex(square, shifted)) == [(1.0, 1.0), (1.0, 2.0), (2.0, 1.0), (2.0, 2.0)]
    assert clip_convex(square, [(5.0, 5.0), (6.0, 5.0), (6.0, 6.0)]) == []
    assert sorted(convex_hull([*square, (1.0, 1.0)])) == sorted(square)
    corners = bev_corners(np.array([[0.0, 0.0]]), np.array([[4.0, 2.0]]), np.array([math.pi / 2]))
    np.testing.assert_allclose(np.sort(corners[0], axis=0), [[-1, -2], [-1, -2], [1, 2], [1, 2]], atol=1e-12)
    np.testing.assert_allclose(centre_distance(np.zeros((1, 3)), np.array([[3.0, 4.0, 0.0]])), [[5.0]])
    assert wrap_angle(3 * math.pi / 2) == pytest.approx(-math.pi / 2)
    np.testing.assert_allclose(wrap_angle(np.array([0.0, 2 * math.pi + 0.1])), [0.0, 0.1], atol=1e-12)


box_st = st.tuples(st.floats(-20, 20), st.floats(-2, 2), st.floats(-20, 20), st.floats(0.3, 6),
                   st.floats(0.3, 3), st.floats(0.3, 3), st.floats(-math.pi, math.pi))


@settings(max_examples=60, deadline=None)
@given(box_st, box_st)
def test_iou_is_symmetric_bounded_and_reflexive(p, q) -> None:
    a = boxes([p[:3]], [p[3:6]], [p[6]])
    b = boxes([q[:3]], [q[3:6]], [q[6]])
    ab, ba = box_overlaps(a, b, "y")[0, 0], box_overlaps(b, a, "y")[0, 0]
    assert 0.0 <= ab <= 1.0 + 1e-9
    assert ab == pytest.approx(ba, abs=1e-9)
    assert box_overlaps(a, a, "y")[0, 0] == pytest.approx(1.0)
    g = box_overlaps(a, b, "y", generalized=True)[0, 0]
    assert -1.0 - 1e-9 <= g <= ab + 1e-9
