"""The simulated camera: box hulls projected with :class:`calib.camera.CameraModel`, occlusion,
2D ground-truth boxes and a simple rendered image.

Each actor's oriented box is clipped to the near plane, its vertices projected, and their convex
hull taken as the actor's silhouette. Silhouettes are painted far to near (painter's order), so
nearer objects occlude farther ones; an actor's visibility is the fraction of its silhouette
(inside the image) not covered by nearer silhouettes, measured on an id buffer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from calib.camera import CameraModel
from calib.transform import Transform
from sensors.sim.geometry import BOX_EDGES, R_BODY_FROM_OPTICAL, box_corners, rpy_matrix
from sensors.sim.scenario import CameraSpec, MountSpec
from sensors.sim.world import WorldState

NEAR_M = 0.1
MAX_DEPTH_M = 250.0
#: BGR colours per class id (car, truck, pedestrian, cyclist, bag).
CLASS_BGR = np.array([[200, 60, 40], [40, 140, 220], [60, 60, 230], [60, 200, 60], [30, 200, 200]],
                     dtype=np.float64)


def mount_transform(mount: MountSpec, optical: bool) -> Transform:
    """``T_parent_from_sensor`` of a mount (parent: ``ego`` or ``world``); ``optical`` for cameras."""
    r = rpy_matrix(*(math.radians(a) for a in mount.rpy_deg))
    if optical:
        r = r @ R_BODY_FROM_OPTICAL
    return Transform(r, np.array(mount.xyz, dtype=np.float64))


def sensor_pose(T_parent_from_sensor: Transform, mount: str, state: WorldState) -> Transform:
    """``T_world_from_sensor`` at the state's time."""
    if mount == "world":
        return T_parent_from_sensor
    if state.T_world_from_ego is None:  # excluded by scenario validation
        raise ValueError("sensor mounted on the ego in a world without ego")
    return state.T_world_from_ego @ T_parent_from_sensor


@dataclass(frozen=True)
class CameraView:
    """What one camera sees of a world state; rows are the actors in front of the camera.

    Attributes:
        index: (M,) row into the world state of each seen actor.
        hulls: M int32 (K, 2) pixel polygons (silhouettes, unclipped).
        depth: (M,) distance camera-to-box-centre, metres.
        visible: (M,) fraction of the in-image silhouette not occluded by nearer ones, 0..1.
        xyxy: (M, 4) float32 amodal boxes (hull bounds) clipped to the image, pixels.
        order: indices into these rows, far to near.
    """

    index: np.ndarray
    hulls: list[np.ndarray]
    depth: np.ndarray
    visible: np.ndarray
    xyxy: np.ndarray
    order: np.ndarray


def _clip_near(corners: np.ndarray) -> np.ndarray:
    """Vertices of a box (8, 3 in the camera frame) clipped to ``z >= NEAR_M``: (K, 3)."""
    z = corners[:, 2]
    keep = [corners[z >= NEAR_M]]
    a, b = corners[BOX_EDGES[:, 0]], corners[BOX_EDGES[:, 1]]
    za, zb = a[:, 2], b[:, 2]
    cross = (za - NEAR_M) * (zb - NEAR_M) < 0
    if np.any(cross):
        t = (NEAR_M - za[cross]) / (zb[cross] - za[cross])
        keep.append(a[cross] + t[:, None] * (b[cross] - a[cross]))
    return np.concatenate(keep)


class SimCamera:
    """A pinhole camera of a scenario (``spec``) with a visibility buffer at ``vis_scale``."""

    def __init__(self, spec: CameraSpec, vis_scale: float = 0.5) -> None:
        self.spec = spec
        f = (spec.width / 2.0) / math.tan(math.radians(spec.hfov_deg) / 2.0)
        K = np.array([[f, 0.0, (spec.width - 1) / 2.0], [0.0, f, (spec.height - 1) / 2.0], [0, 0, 1]])
        self.model = CameraModel(spec.width, spec.height, K, np.zeros(0))
        self.T_parent_from_cam = mount_transform(spec.mount, optical=True)
        self.vis_scale = vis_scale
        self._vis_size = (max(1, round(spec.width * vis_scale)), max(1, round(spec.height * vis_scale)))
        self._background: np.ndarray | None = None

    def pose(self, state: WorldState) -> Transform:
        """``T_world_from_camera`` (optical frame) at the state's time."""
        return sensor_pose(self.T_parent_from_cam, self.spec.mount.mount, state)

    def view(self, state: WorldState) -> CameraView:
        """Silhouettes, depths, visibility and amodal boxes of the actors in front."""
        T_cam_from_world = self.pose(state).inverse()
        n = len(state)
        corners = T_cam_from_world.apply(box_corners(state.centre, state.size, state.yaw).reshape(-1, 3))
        corners = corners.reshape(n, 8, 3)
        centres = T_cam_from_world.apply(state.centre.reshape(-1, 3))
        rows, polys, depths = [], [], []
        w, h = self.model.width, self.model.height
        for i in range(n):
            depth = float(np.linalg.norm(centres[i]))
            if depth > MAX_DEPTH_M or np.all(corners[i, :, 2] < NEAR_M):
                continue
            px = self.model.project(_clip_near(corners[i]))
            px = px[np.all(np.isfinite(px), axis=1)]
            if len(px) < 3:
                continue
            hull = cv2.convexHull(px.astype(np.float32)).reshape(-1, 2)
            lo, hi = hull.min(axis=0), hull.max(axis=0)
            if hi[0] < 0 or hi[1] < 0 or lo[0] > w - 1 or lo[1] > h - 1:
                continue
            rows.append(i)
            polys.append(hull)
            depths.append(depth)
        m = len(rows)
        depth_arr = np.array(depths, dtype=np.float64)
        order = np.argsort(-depth_arr, kind="stable")
        visible = self._visibility(polys, order)
        xyxy = np.zeros((m, 4), dtype=np.float32)
        for k, hull in enumerate(polys):
            lo = np.clip(hull.min(axis=0), 0, [w - 1, h - 1])
            hi = np.clip(hull.max(axis=0), 0, [w - 1, h - 1])
            xyxy[k] = [lo[0], lo[1], hi[0], hi[1]]
        hulls = [np.round(p).astype(np.int32) for p in polys]
        return CameraView(np.array(rows, dtype=np.int64), hulls, depth_arr, visible, xyxy, order)

    def _visibility(self, polys: list[np.ndarray], order: np.ndarray) -> np.ndarray:
        """Visible fraction of each silhouette, from an id buffer painted far to near."""
        m = len(polys)
        if m == 0:
            return np.zeros(0)
        wv, hv = self._vis_size
        ids = np.full((hv, wv), -1, dtype=np.int32)
        scratch = np.zeros((hv, wv), dtype=np.uint8)
        own = np.zeros(m)
        shift = 4  # sub-pixel precision of fillPoly
        scaled = [np.round(p * self.vis_scale * (1 << shift)).astype(np.int32) for p in polys]
        for k in order:
            cv2.fillPoly(ids, [scaled[k]], int(k), shift=shift)
            scratch[:] = 0
            cv2.fillPoly(scratch, [scaled[k]], 1, shift=shift)
            own[k] = np.count_nonzero(scratch)
        seen = np.bincount(ids[ids >= 0].ravel(), minlength=m).astype(np.float64)
        return np.where(own > 0, seen / np.maximum(own, 1), 0.0)

    def background(self) -> np.ndarray:
        """uint8 (H, W, 3) BGR sky and ground; constant because the ego never pitches or rolls."""
        if self._background is None:
            w, h = self.model.width, self.model.height
            R = self.T_parent_from_cam.rotation
            u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
            rays = np.stack([(u - self.model.cx) / self.model.fx, (v - self.model.cy) / self.model.fy,
                             np.ones_like(u)], axis=-1) @ R.T
            height = max(float(self.T_parent_from_cam.translation[2]), 0.1)
            down = rays[..., 2] < -1e-6
            dist = np.where(down, height / np.maximum(-rays[..., 2], 1e-6), np.inf)
            shade = np.clip(1.0 - dist / 200.0, 0.3, 1.0)[..., None]
            ground = np.array([90.0, 100.0, 105.0]) * shade + 40.0
            sky = np.array([235.0, 200.0, 160.0]) - 60.0 * np.clip(rays[..., 2:3], 0, 1)
            self._background = np.where(down[..., None], ground, sky).astype(np.uint8)
        return self._background

    def render(self, state: WorldState, view: CameraView) -> np.ndarray:
        """uint8 (H, W, 3) BGR image: background, then filled silhouettes far to near."""
        img = self.background().copy()
        for k in view.order:
            cls = int(state.class_id[view.index[k]])
            shade = max(0.45, 1.0 - view.depth[k] / 150.0)
            colour = tuple(int(c) for c in CLASS_BGR[cls % len(CLASS_BGR)] * shade)
            cv2.fillPoly(img, [view.hulls[k]], colour, lineType=cv2.LINE_AA)
            cv2.polylines(img, [view.hulls[k]], True, (20, 20, 20), 1, lineType=cv2.LINE_AA)
        return img
