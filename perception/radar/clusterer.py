"""Radar objects: clutter rejection, DBSCAN in position and Doppler, per-cluster velocity and box.

:class:`RadarObjectClusterer` turns one :class:`percept.messages.RadarScan` into
:class:`percept.messages.Detections3D` (with ``velocity``) in the scan's frame (x forward, y left,
z up, metres, the radar at the origin):

1. clutter rejection: targets beyond ``max_range`` or ``max_azimuth_deg``, or weaker than
   ``min_rcs``, are dropped; a target is *moving* when ``|v_r|`` (ego-motion compensated, see
   ``velocity_field``) is at least ``moving_speed``; static targets are dropped unless ``keep_static``;
2. DBSCAN (:func:`perception.lidar.cluster.dbscan_labels`) on ``(x, y, velocity_weight * v_r)``,
   moving and static targets separately; clusters of fewer than ``min_points`` targets are dropped;
3. per cluster the velocity over ground, in the radar frame's axes: with targets spanning at
   least ``min_azimuth_spread_deg`` of azimuth the least-squares ``(vx, vy)`` of
   ``v_r,i = vx cos(az_i) cos(el_i) + vy sin(az_i) cos(el_i)`` (the full-motion estimate of Kellner
   et al. 2013 for a rigid object without rotation); otherwise the mean radial velocity along the
   cluster's mean direction (the tangential part is unobservable); ``vz = 0``;
4. a box: centre at the targets' mean, axes along the velocity (or the line of sight when the
   speed is under ``moving_speed``), extent of the targets plus ``margin`` on every side, at least
   ``min_size``, at most ``max_height`` tall. ``confidence = 1 - exp(-targets / support_points)``.

Class ids index :data:`perception.radar.config.CLASS_NAMES` (``moving``, ``static``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from percept.messages import Detections3D, RadarScan
from perception.errors import DetectorError
from perception.lidar.cluster import dbscan_labels, group_indices
from perception.radar.config import CLASS_NAMES, RadarObjectsConfig

__all__ = ["RadarObjectClusterer", "RadarTargets", "cluster_velocity", "radar_targets"]


@dataclass(frozen=True)
class RadarTargets:
    """Target columns of one scan: ``xyz`` float64 (N, 3) metres, ``v_r`` float64 (N,) m/s
    (compensated when available), ``rcs`` float64 (N,) dBsm."""

    xyz: np.ndarray
    v_r: np.ndarray
    rcs: np.ndarray


def radar_targets(scan: RadarScan, velocity_field: str = "v_r_compensated") -> RadarTargets:
    """The cartesian targets of ``scan`` (from ``xyz``, or from its polar columns).

    Raises :class:`DetectorError` when a target has a non-finite position, velocity or RCS.
    """
    if scan.xyz is not None:
        xyz = scan.xyz.astype(np.float64)
    else:
        r = scan.range_m.astype(np.float64)  # type: ignore[union-attr]  # RadarScan guarantees polar then
        az = scan.azimuth_rad.astype(np.float64)  # type: ignore[union-attr]
        el = np.zeros_like(r) if scan.elevation_rad is None else scan.elevation_rad.astype(np.float64)
        xyz = np.stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)], axis=1)
    if velocity_field in scan.extra_fields:
        v_r = scan.extra[:, scan.extra_fields.index(velocity_field)].astype(np.float64)  # type: ignore[index]
    else:
        v_r = scan.range_rate_mps.astype(np.float64)
    rcs = scan.rcs_dbsm.astype(np.float64)
    bad = ~(np.isfinite(xyz).all(axis=1) & np.isfinite(v_r) & np.isfinite(rcs))
    if bad.any():
        raise DetectorError(f"radar scan: {int(bad.sum())} of {len(xyz)} targets have non-finite values")
    return RadarTargets(xyz, v_r, rcs)


def cluster_velocity(xyz: np.ndarray, v_r: np.ndarray, min_spread: float) -> tuple[np.ndarray, bool]:
    """``(velocity (3,) m/s, full)`` of one rigid cluster from its targets' radial velocities.

    ``xyz`` float (n, 3) target positions (sensor at the origin), ``v_r`` (n,) radial velocities
    (positive away), ``min_spread`` radians. ``full`` tells whether the least-squares 2D fit was
    used (n >= 2 and an azimuth span >= ``min_spread``) rather than the radial-only estimate.
    """
    rng = np.linalg.norm(xyz, axis=1)
    u = xyz / np.maximum(rng, 1e-9)[:, None]  # line-of-sight unit vectors
    az = np.arctan2(u[:, 1], u[:, 0])
    centre_az = math.atan2(float(u[:, 1].sum()), float(u[:, 0].sum()))
    spread = float(np.ptp(np.angle(np.exp(1j * (az - centre_az))))) if len(az) else 0.0  # no +-pi wrap
    if len(xyz) >= 2 and spread >= min_spread:
        sol, *_ = np.linalg.lstsq(u[:, :2], v_r, rcond=None)
        return np.array([sol[0], sol[1], 0.0]), True
    mean_dir = u.mean(axis=0)
    mean_dir[2] = 0.0
    norm = np.linalg.norm(mean_dir)
    mean_dir = mean_dir / norm if norm > 0 else np.array([1.0, 0.0, 0.0])
    return mean_dir * float(np.mean(v_r)), False


class RadarObjectClusterer:
    """Clusters radar targets into :class:`Detections3D` with velocities (see the module docstring)."""

    def __init__(self, config: RadarObjectsConfig | None = None) -> None:
        self.config = config if config is not None else RadarObjectsConfig()

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES

    def describe(self) -> str:
        """The moving-speed threshold, DBSCAN radius and static handling, for logs."""
        c = self.config
        return f"moving >= {c.moving_speed:.2f} m/s, eps {c.eps:.2f} m, keep_static {c.keep_static}"

    def extract(self, scan: RadarScan, stamp_ns: int | None = None, frame_id: str | None = None,
                seq: int | None = None) -> Detections3D:
        """Objects of one scan; the header defaults to the scan's own."""
        t = radar_targets(scan, self.config.velocity_field)
        rows = self.objects(t)
        header = {"stamp_ns": scan.stamp_ns if stamp_ns is None else stamp_ns,
                  "frame_id": scan.frame_id if frame_id is None else frame_id,
                  "seq": scan.seq if seq is None else seq}
        if rows:
            cols = [np.array(c) for c in zip(*rows, strict=True)]
        else:
            cols = [np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)), np.zeros(0),
                    np.zeros(0)]
        return Detections3D(centre=cols[0], size=cols[1], yaw=cols[2], velocity=cols[3],
                            class_id=cols[4].astype(np.int32), confidence=cols[5], class_names=CLASS_NAMES,
                            **header)

    def keep(self, t: RadarTargets) -> tuple[np.ndarray, np.ndarray]:
        """Step 1: ``(kept bool (N,), moving bool (N,))`` masks of the targets."""
        cfg = self.config
        moving = np.abs(t.v_r) >= cfg.moving_speed
        azimuth = np.degrees(np.abs(np.arctan2(t.xyz[:, 1], t.xyz[:, 0])))
        kept = ((np.hypot(t.xyz[:, 0], t.xyz[:, 1]) <= cfg.max_range) & (azimuth <= cfg.max_azimuth_deg)
                & (t.rcs >= cfg.min_rcs))
        if not cfg.keep_static:
            kept &= moving
        return kept, moving

    def clusters(self, t: RadarTargets) -> list[tuple[np.ndarray, int]]:
        """Steps 1-2: ``(target indices, class id)`` of every cluster."""
        cfg = self.config
        kept, moving = self.keep(t)
        out = []
        for class_id, sel in enumerate((kept & moving, kept & ~moving)):
            idx = np.flatnonzero(sel)
            if len(idx) < cfg.min_points:
                continue
            feats = np.column_stack([t.xyz[idx, :2], cfg.velocity_weight * t.v_r[idx]])
            labels = dbscan_labels(feats, cfg.eps, cfg.min_neighbours)
            out += [(idx[g], class_id) for g in group_indices(labels) if len(g) >= cfg.min_points]
        return out

    def objects(self, t: RadarTargets) -> list[tuple]:
        """Steps 1-4: ``(centre, size, yaw, velocity, class_id, confidence)`` per cluster."""
        cfg = self.config
        rows = []
        for idx, class_id in self.clusters(t):
            xyz = t.xyz[idx]
            velocity, _ = cluster_velocity(xyz, t.v_r[idx], math.radians(cfg.min_azimuth_spread_deg))
            centre = xyz.mean(axis=0)
            speed = float(np.hypot(velocity[0], velocity[1]))
            axis = velocity[:2] if speed >= cfg.moving_speed else centre[:2]
            yaw = math.atan2(axis[1], axis[0])
            c, s = math.cos(yaw), math.sin(yaw)
            d = xyz - centre
            along, across = d[:, 0] * c + d[:, 1] * s, -d[:, 0] * s + d[:, 1] * c
            extent = np.array([np.ptp(along), np.ptp(across), np.ptp(d[:, 2])]) + 2 * cfg.margin
            size = np.maximum(extent, cfg.min_size)
            size[2] = min(size[2], cfg.max_height)
            confidence = 1.0 - math.exp(-len(idx) / cfg.support_points)
            rows.append((centre, size, yaw, velocity, class_id, confidence))
        return rows
