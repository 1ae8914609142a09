"""Camera models: bearings through the calibration, the projected box, occlusion by nearer tracks."""

from __future__ import annotations

import math

import numpy as np

from calib.camera import CameraModel
from calib.transform import Transform
from fusion.camera_models import BearingModel, CameraBoxModel, bearings_from_rays, box_corners
from fusion.measurements import BearingNoise

R_OPTICAL = np.array([[0, 0, 1.0], [-1, 0, 0], [0, -1, 0]])  # camera looking along +x
CAM = Transform(R_OPTICAL, [0.0, 0.0, 1.4])


def _tracks(*centres) -> np.ndarray:
    X = np.zeros((len(centres), 10))
    X[:, :3], X[:, 4:7] = centres, (4.5, 1.8, 1.5)
    return X


def test_bearings_of_pixels_through_the_calibration() -> None:
    camera = CameraModel(640, 480, [[400.0, 0, 320.0], [0, 400.0, 240.0], [0, 0, 1]], [0.1, 0, 0, 0])
    point = np.array([[2.0, -1.0, 10.0]])  # optical frame: right, up, ahead
    b = bearings_from_rays(camera.unproject(camera.project(point)))
    assert np.allclose(b[0], [math.atan2(2.0, 10.0), math.atan2(1.0, math.hypot(2.0, 10.0))], atol=1e-6)
    X = _tracks((10.0, -2.0, 0.0))  # the same point seen by the centre model
    zhat, _ = BearingModel(BearingNoise(), Transform(R_OPTICAL, [0.0, 0.0, -1.0])).predict(X)
    assert np.allclose(zhat[0], b[0], atol=1e-6)


def test_box_edges_bound_the_projected_corners() -> None:
    X = _tracks((20.0, 1.0, 0.75))
    edges, H = CameraBoxModel(BearingNoise(), CAM).predict(X)
    c = (box_corners(X)[0] - CAM.translation) @ CAM.rotation
    xn, yn = c[:, 0] / c[:, 2], c[:, 1] / c[:, 2]
    assert np.allclose(edges[0], [math.atan(xn.min()), math.atan(xn.max()), math.atan(-yn.min()),
                                  math.atan(-yn.max())])
    assert edges[0, 0] < edges[0, 1] and edges[0, 2] > 0 > edges[0, 3]  # top above, bottom below the eye
    assert np.isfinite(H).all() and np.abs(H[0, :, 0]).sum() > 0  # the range moves the edges


def test_hidden_tracks_are_behind_a_nearer_one_or_the_camera() -> None:
    model = CameraBoxModel(BearingNoise(), CAM)
    X = _tracks((15.0, 0.0, 0.75), (35.0, 0.2, 0.75), (25.0, 7.0, 0.75), (-5.0, 0.0, 0.75))
    assert model.hidden(X).tolist() == [False, True, False, True]
    assert model.hidden(X[[1, 2]]).tolist() == [False, False]  # without the car in front, both show
