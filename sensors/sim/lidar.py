"""The simulated spinning lidar: every ray of one revolution cast onto the actors' oriented boxes
and the ground plane at once (numpy slab test), with range noise and dropout.

The scan is instantaneous (no motion distortion during the revolution). Points are returned in
the lidar frame (x forward, y left, z up, metres) with an ``intensity`` in [0, 1] from the hit
surface's class reflectivity, fading with range.
"""

from __future__ import annotations

import numpy as np

from calib.transform import Transform
from sensors.sim.camera import mount_transform, sensor_pose
from sensors.sim.classes import CLASSES
from sensors.sim.scenario import LidarSpec
from sensors.sim.world import WorldState

GROUND_REFLECTIVITY = 0.15
MIN_RANGE_M = 0.5
REFLECTIVITY = np.array([c.reflectivity for c in sorted(CLASSES.values(), key=lambda c: c.class_id)])


def ray_directions(spec: LidarSpec) -> np.ndarray:
    """(R, 3) unit rays in the lidar frame, azimuth-major (all beams of one azimuth together)."""
    elev = np.radians(np.linspace(spec.elevation_deg[0], spec.elevation_deg[1], spec.beams))
    azim = np.radians(np.arange(0.0, 360.0, spec.azimuth_step_deg))
    az, el = np.meshgrid(azim, elev, indexing="ij")
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1).reshape(-1, 3)


def cast(origin: np.ndarray, dirs: np.ndarray, centre: np.ndarray, size: np.ndarray, yaw: np.ndarray,
         max_range: float) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast (R, 3) world-frame unit rays from ``origin`` (3,) onto boxes and the ground z = 0.

    Returns ``(t, hit)``: (R,) range in metres (inf where nothing within ``max_range``) and (R,)
    int64 index of the box hit, -1 for the ground or nothing.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        t_best = np.where(dirs[:, 2] < -1e-9, -origin[2] / dirs[:, 2], np.inf)
    hit = np.full(len(dirs), -1, dtype=np.int64)
    # cull boxes out of range
    reach = np.linalg.norm(centre[:, :2] - origin[:2], axis=1) - 0.5 * np.linalg.norm(size[:, :2], axis=1)
    boxes = np.flatnonzero(reach < max_range)
    if len(boxes):
        c, s = np.cos(yaw[boxes])[:, None], np.sin(yaw[boxes])[:, None]
        rel = origin[None, :] - centre[boxes]  # (B, 3)
        o = np.stack([c[:, 0] * rel[:, 0] + s[:, 0] * rel[:, 1], -s[:, 0] * rel[:, 0] + c[:, 0] * rel[:, 1],
                      rel[:, 2]], axis=1)  # origins in box frames (B, 3)
        dx = c * dirs[None, :, 0] + s * dirs[None, :, 1]  # (B, R)
        dy = -s * dirs[None, :, 0] + c * dirs[None, :, 1]
        dz = np.broadcast_to(dirs[None, :, 2], dx.shape)
        half = 0.5 * size[boxes]
        t_near = np.full(dx.shape, -np.inf)
        t_far = np.full(dx.shape, np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            for axis, d in enumerate((dx, dy, dz)):
                inv = 1.0 / d
                t1 = (-half[:, axis:axis + 1] - o[:, axis:axis + 1]) * inv
                t2 = (half[:, axis:axis + 1] - o[:, axis:axis + 1]) * inv
                parallel = d == 0
                outside = np.abs(o[:, axis:axis + 1]) > half[:, axis:axis + 1]
                # a ray parallel to a slab misses unless its origin lies between the slab's planes
                t1 = np.where(parallel, np.where(outside, np.inf, -np.inf), t1)
                t2 = np.where(parallel, np.inf, t2)
                t_near = np.maximum(t_near, np.minimum(t1, t2))
                t_far = np.minimum(t_far, np.maximum(t1, t2))
        ok = (t_far >= t_near) & (t_near > 0)
        t_box = np.where(ok, t_near, np.inf)
        k = np.argmin(t_box, axis=0)
        t_min = t_box[k, np.arange(len(dirs))]
        closer = t_min < t_best
        t_best = np.where(closer, t_min, t_best)
        hit = np.where(closer, boxes[k], -1)
    t_best = np.where(t_best <= max_range, t_best, np.inf)
    return t_best, np.where(np.isfinite(t_best), hit, -1)


class SimLidar:
    """A spinning lidar of a scenario (``spec``); randomness from ``rng``."""

    def __init__(self, spec: LidarSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.rng = rng
        self.T_parent_from_lidar = mount_transform(spec.mount, optical=False)
        self.dirs = ray_directions(spec)

    def pose(self, state: WorldState) -> Transform:
        """``T_world_from_lidar`` at the state's time."""
        return sensor_pose(self.T_parent_from_lidar, self.spec.mount.mount, state)

    def scan(self, state: WorldState) -> tuple[np.ndarray, np.ndarray]:
        """One revolution: float32 (M, 4) ``x, y, z, intensity`` in the lidar frame and (M,)
        int64 track id of the surface hit (-1: ground)."""
        spec, rng = self.spec, self.rng
        pose = self.pose(state)
        dirs_w = self.dirs @ pose.rotation.T
        t, hit = cast(pose.translation, dirs_w, state.centre, state.size, state.yaw, spec.max_range_m)
        noise = rng.standard_normal(len(t)) * spec.range_noise_m
        keep = np.isfinite(t) & (t >= MIN_RANGE_M) & (rng.random(len(t)) >= spec.dropout)
        r = t[keep] + noise[keep]
        hit = hit[keep]
        refl = np.where(hit >= 0, REFLECTIVITY[state.class_id[np.maximum(hit, 0)]] if len(state) else 0.0,
                        GROUND_REFLECTIVITY)
        intensity = np.clip(refl * (1.0 - 0.5 * r / spec.max_range_m) + 0.02 * rng.standard_normal(len(r)),
                            0.0, 1.0)
        xyz = self.dirs[keep] * r[:, None]
        pts = np.concatenate([xyz, intensity[:, None]], axis=1).astype(np.float32)
        ids = np.where(hit >= 0, state.track_id[np.maximum(hit, 0)] if len(state) else -1, -1)
        return pts, ids.astype(np.int64)

