"""The simulated radar: one return per object in the field of view plus clutter.

Each actor returns from the point of its box nearest to the radar (in the ground plane). Range
and azimuth are measured in the radar frame (x forward, y left, z up; azimuth positive to the
left), range-rate is the relative velocity along the line of sight (positive moving away), the
RCS is the class's plus Gaussian noise in dB. Clutter returns are stationary world points.
Each target also carries its ego-motion compensated radial velocity (the target's velocity over
ground along the measured line of sight, what automotive radars report as ``v_r_compensated``).
The radar's clock runs ``clock_offset_ms`` ahead of simulation time: ``stamp = t + offset``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calib.transform import Transform
from sensors.sim.camera import mount_transform, sensor_pose
from sensors.sim.classes import CLASSES
from sensors.sim.scenario import RadarSpec
from sensors.sim.world import WorldState

RCS = np.array([c.rcs_dbsm for c in sorted(CLASSES.values(), key=lambda c: c.class_id)])


@dataclass(frozen=True)
class RadarReturns:
    """Targets of one scan, all (N,) float32 except ``track_id`` (int64, -1 for clutter);
    ``v_r_compensated`` is ``range_rate_mps`` plus the radar's own velocity along the measured
    line of sight (m/s, the radial velocity over ground)."""

    range_m: np.ndarray
    azimuth_rad: np.ndarray
    range_rate_mps: np.ndarray
    rcs_dbsm: np.ndarray
    track_id: np.ndarray
    v_r_compensated: np.ndarray | None = None


def nearest_box_points(origin: np.ndarray, centre: np.ndarray, size: np.ndarray,
                       yaw: np.ndarray) -> np.ndarray:
    """(N, 3) points of the boxes (world frame) nearest to ``origin`` (3,) in the ground plane,
    at the height of ``origin`` clamped into each box."""
    c, s = np.cos(yaw), np.sin(yaw)
    rel = origin[None, :] - centre
    lx = np.clip(c * rel[:, 0] + s * rel[:, 1], -size[:, 0] / 2, size[:, 0] / 2)
    ly = np.clip(-s * rel[:, 0] + c * rel[:, 1], -size[:, 1] / 2, size[:, 1] / 2)
    lz = np.clip(rel[:, 2], -size[:, 2] / 2, size[:, 2] / 2)
    return centre + np.stack([c * lx - s * ly, s * lx + c * ly, lz], axis=1)


class SimRadar:
    """A radar of a scenario (``spec``); randomness from ``rng``."""

    def __init__(self, spec: RadarSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.rng = rng
        self.T_parent_from_radar = mount_transform(spec.mount, optical=False)
        self.clock_offset_ns = round(spec.clock_offset_ms * 1e6)

    def pose(self, state: WorldState) -> Transform:
        """``T_world_from_radar`` at the state's time."""
        return sensor_pose(self.T_parent_from_radar, self.spec.mount.mount, state)

    def velocity(self, state: WorldState) -> np.ndarray:
        """(3,) world-frame velocity of the radar (ego motion including yaw rate), m/s."""
        if self.spec.mount.mount == "world" or state.ego is None:
            return np.zeros(3)
        e = state.ego
        pose = self.pose(state)
        r = pose.translation - np.array([e.x, e.y, 0.0])
        return np.array([e.v * math.cos(e.yaw) - e.yaw_rate * r[1],
                         e.v * math.sin(e.yaw) + e.yaw_rate * r[0], 0.0])

    def truth(self, state: WorldState) -> RadarReturns:
        """Noise-free returns of all actors in the field of view (before misses and clutter)."""
        pose = self.pose(state)
        pts_w = nearest_box_points(pose.translation, state.centre, state.size, state.yaw)
        pts = pose.inverse().apply(pts_w.reshape(-1, 3))
        rng_m = np.linalg.norm(pts, axis=1)
        az = np.arctan2(pts[:, 1], pts[:, 0])
        los = (pts_w - pose.translation) / np.maximum(rng_m, 1e-6)[:, None]
        rr = np.sum((state.velocity - self.velocity(state)) * los, axis=1)
        fov = math.radians(self.spec.fov_deg) / 2
        keep = (np.abs(az) <= fov) & (rng_m <= self.spec.max_range_m) & (rng_m > 0.5)
        return RadarReturns(rng_m[keep], az[keep], rr[keep], RCS[state.class_id[keep]], state.track_id[keep])

    def scan(self, state: WorldState) -> RadarReturns:
        """Measured returns: truth with noise and misses, then clutter (track id -1)."""
        s, rng = self.spec, self.rng
        t = self.truth(state)
        n = len(t.range_m)
        keep = rng.random(n) >= s.miss
        r = t.range_m + s.range_noise_m * rng.standard_normal(n)
        az = t.azimuth_rad + math.radians(s.azimuth_noise_deg) * rng.standard_normal(n)
        rr = t.range_rate_mps + s.range_rate_noise_mps * rng.standard_normal(n)
        rcs = t.rcs_dbsm + s.rcs_noise_db * rng.standard_normal(n)
        k = int(rng.poisson(s.clutter_per_scan))
        c_r = rng.uniform(2.0, s.max_range_m, k)
        c_az = rng.uniform(-math.radians(s.fov_deg) / 2, math.radians(s.fov_deg) / 2, k)
        pose = self.pose(state)
        los_w = np.stack([np.cos(c_az), np.sin(c_az), np.zeros(k)], axis=1) @ pose.rotation.T
        c_rr = -(los_w @ self.velocity(state)) + s.range_rate_noise_mps * rng.standard_normal(k)
        c_rcs = rng.uniform(-15.0, 5.0, k)
        f4 = np.float32
        az_all, rr_all = np.concatenate([az[keep], c_az]), np.concatenate([rr[keep], c_rr])
        los_all = np.stack([np.cos(az_all), np.sin(az_all), np.zeros_like(az_all)], axis=1) @ pose.rotation.T
        return RadarReturns(
            np.concatenate([r[keep], c_r]).astype(f4), az_all.astype(f4), rr_all.astype(f4),
            np.concatenate([rcs[keep], c_rcs]).astype(f4),
            np.concatenate([t.track_id[keep], np.full(k, -1, dtype=np.int64)]),
            (rr_all + los_all @ self.velocity(state)).astype(f4),
        )
