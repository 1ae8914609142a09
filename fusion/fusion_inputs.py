"""Measurements of the fusion tracker's inputs: boxes into the fixed frame, radar targets, camera boxes.

Each function turns one message into a :class:`Measured`: the usable rows' measurement vectors,
their scores and their class names (renamed by the sensor's ``class_map``), and how many rows
were dropped as invalid (non-finite values, non-positive sizes, empty 2D boxes) or, for cameras,
as cut by the image border.

* :func:`box_measurements` -- ``Detections3D`` rows to ``x, y, z, yaw, length, width, height`` in
  the fixed frame (through ``T_fixed_from_<frame>``).
* :func:`radar_measurements` -- ``RadarScan`` targets (polar, or cartesian converted; score 1,
  class ``target``) or radar ``Detections3D`` (centre, and the velocity projected on the line of
  sight as range rate; zero without velocity) to ``range, azimuth, range_rate`` in the sensor
  frame (z up).
* :func:`camera_measurements` -- ``Detections2D`` boxes through the camera's
  :class:`~calib.camera.CameraModel` (distortion removed) to the ``centre`` model's ``bearing,
  elevation`` of the box centre or the ``box`` model's four edge angles (see
  :mod:`fusion.camera_models`); the edges are read at the midpoints of the box's sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from calib.camera import CameraModel
from calib.transform import Transform
from fusion.camera_models import bearings_from_rays
from fusion.ego import transform_boxes
from percept.messages import Detections2D, Detections3D, RadarScan

#: Class name of the targets of a raw ``RadarScan`` (before the sensor's ``class_map``).
RADAR_TARGET_CLASS = "target"
#: A camera box edge within this many pixels of the image border is cut by it.
BORDER_PX = 1.0


@dataclass(frozen=True)
class Measured:
    """The usable rows of one message.

    Attributes:
        z: float64 (N, M) measurement vectors; score: float64 (N,) detection scores;
        cls: (N,) str tracker class names.
        invalid: rows dropped for bad values; truncated: camera boxes dropped at the border.
    """

    z: np.ndarray
    score: np.ndarray
    cls: np.ndarray
    invalid: int
    truncated: int = 0


def class_names(class_id: np.ndarray, names: tuple[str, ...], class_map: Mapping[str, str]) -> np.ndarray:
    """(N,) str names of class ids (``class_<id>`` outside ``names``), renamed by ``class_map``."""
    cid = np.asarray(class_id, np.int64).reshape(-1)
    raw = [names[c] if 0 <= c < len(names) else f"class_{c}" for c in cid.tolist()]
    return np.array([class_map.get(n, n) for n in raw], dtype=object).astype(str)


def box_measurements(
    dets: Detections3D, T_fixed_from_frame: Transform, vertical: str,
    class_map: Mapping[str, str] | None = None,
) -> Measured:
    """``z`` (N, 7) boxes in the fixed frame of the usable rows of ``dets``."""
    z = np.column_stack([dets.centre, dets.yaw, dets.size]).astype(np.float64).reshape(-1, 7)
    ok = np.isfinite(z).all(axis=1) & np.isfinite(dets.confidence) & (z[:, 4:] > 0).all(axis=1)
    z = z[ok]
    z[:, :3], z[:, 3] = transform_boxes(T_fixed_from_frame, z[:, :3], z[:, 3], vertical, "z")
    cls = class_names(dets.class_id[ok], dets.class_names, class_map or {})
    return Measured(z, dets.confidence[ok].astype(np.float64), cls, int((~ok).sum()))


def radar_measurements(msg: RadarScan | Detections3D, class_map: Mapping[str, str] | None = None) -> Measured:
    """``z`` (N, 3) ``range m, azimuth rad, range rate m/s`` in the sensor frame."""
    class_map = class_map or {}
    if isinstance(msg, Detections3D):
        c = msg.centre.astype(np.float64)
        rng = np.linalg.norm(c, axis=1)
        rate = (
            np.zeros(len(c))
            if msg.velocity is None
            else np.einsum("ij,ij->i", c, msg.velocity.astype(np.float64)) / np.maximum(rng, 1e-6)
        )
        z = np.column_stack([rng, np.arctan2(c[:, 1], c[:, 0]), rate])
        score = msg.confidence.astype(np.float64)
        cls = class_names(msg.class_id, msg.class_names, class_map)
    else:
        if msg.range_m is not None and msg.azimuth_rad is not None:
            z = np.column_stack([msg.range_m, msg.azimuth_rad, msg.range_rate_mps]).astype(np.float64)
        else:
            c = msg.xyz.astype(np.float64)
            z = np.column_stack([np.linalg.norm(c, axis=1), np.arctan2(c[:, 1], c[:, 0]), msg.range_rate_mps])
        score = np.ones(len(z))
        name = class_map.get(RADAR_TARGET_CLASS, RADAR_TARGET_CLASS)
        cls = np.full(len(z), name, dtype=object).astype(str)
    z = z.reshape(-1, 3)
    ok = np.isfinite(z).all(axis=1) & (z[:, 0] > 0) & np.isfinite(score)
    return Measured(z[ok], score[ok], cls[ok], int((~ok).sum()))


def camera_measurements(
    dets: Detections2D,
    camera: CameraModel,
    model: str = "centre",
    class_map: Mapping[str, str] | None = None,
    check_border: bool = False,
) -> Measured:
    """``z`` (N, 2) centre ``bearing, elevation`` or (N, 4) box edges (``model="box"``), rad.

    With ``check_border``, ``box`` measurements with an edge on the image border are dropped
    (counted in ``truncated``): the border, not the object, made that edge.
    """
    d = dets.detections
    xyxy = d.xyxy.astype(np.float64).reshape(-1, 4)
    score = d.confidence.astype(np.float64).reshape(-1)
    ok = np.isfinite(xyxy).all(axis=1) & (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    ok &= np.isfinite(score)
    invalid = int((~ok).sum())
    truncated = 0
    if model == "box" and check_border:
        w, h = camera.width - 1 - BORDER_PX, camera.height - 1 - BORDER_PX
        cut = ok & ((xyxy[:, :2] <= BORDER_PX).any(axis=1) | (xyxy[:, 2] >= w) | (xyxy[:, 3] >= h))
        truncated = int(cut.sum())
        ok &= ~cut
    b = xyxy[ok]
    cls = class_names(d.class_id[ok], dets.class_names, class_map or {})
    uc, vc = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    if model != "box":
        z = bearings_from_rays(camera.unproject(np.column_stack([uc, vc])))
        return Measured(z, score[ok], cls, invalid, truncated)
    n = len(b)
    sides = np.concatenate([np.column_stack([b[:, 0], vc]), np.column_stack([b[:, 2], vc]),
                            np.column_stack([uc, b[:, 1]]), np.column_stack([uc, b[:, 3]])])
    rays = camera.unproject(sides) if n else np.zeros((0, 3))
    xn, yn = (rays[:, 0] / rays[:, 2]).reshape(4, n), (rays[:, 1] / rays[:, 2]).reshape(4, n)
    z = np.stack([np.arctan(xn[0]), np.arctan(xn[1]), np.arctan(-yn[2]), np.arctan(-yn[3])], axis=1)
    return Measured(z, score[ok], cls, invalid, truncated)
