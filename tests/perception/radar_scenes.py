"""Synthetic radar scans for the radar object tests (targets of moving objects, static world, clutter)."""

from __future__ import annotations

import numpy as np

from percept.messages import RadarScan
from sensors.radar import scan_from_xyz

EGO_SPEED = 10.0  # m/s forward: the raw range rates of static targets are -10 cos(azimuth)
CAR_V = np.array([5.0, 3.0, 0.0])
PED_V = np.array([0.8, -1.0, 0.0])


def targets_on(centre, size, n, rng) -> np.ndarray:
    """float (n, 3) targets uniform in an axis-aligned box ``centre`` +- ``size / 2``."""
    lo, hi = np.asarray(centre) - np.asarray(size) / 2, np.asarray(centre) + np.asarray(size) / 2
    return rng.uniform(lo, hi, (n, 3))


def radial(xyz: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Radial velocities (positive away) of targets ``xyz`` moving with ``v``, sensor at the origin."""
    return (xyz / np.linalg.norm(xyz, axis=1, keepdims=True)) @ v


def scene(seed: int = 0, compensated: bool = True) -> tuple[RadarScan, dict[str, np.ndarray]]:
    """A scan from a car driving at ``EGO_SPEED``: a moving car (10 targets, one too weak), a walking
    pedestrian (3), 60 static targets, a static rail and one lone moving target; plus the targets of
    the car (without the weak one) and of the pedestrian."""
    rng = np.random.default_rng(seed)
    car = targets_on((8.0, 3.0, 0.0), (4.5, 1.8, 0.8), 10, rng)
    ped = targets_on((12.0, -4.0, 0.0), (0.4, 0.4, 1.0), 3, rng)
    static = np.column_stack([rng.uniform(3, 60, 60), rng.uniform(-20, 20, 60), rng.uniform(-1, 2, 60)])
    rail = np.column_stack([np.arange(20.0, 30.0), np.full(10, -8.0), np.zeros(10)])  # a static guard rail
    lonely = np.array([[30.0, 15.0, 0.0]])  # one moving target alone: noise
    xyz = np.concatenate([car, ped, static, rail, lonely])
    v_comp = np.concatenate([radial(car, CAR_V), radial(ped, PED_V), np.zeros(70), [1.5]])
    ego = radial(xyz, np.array([-EGO_SPEED, 0.0, 0.0]))  # static world seen from the moving car
    rcs = rng.uniform(-20, 10, len(xyz))
    rcs[0] = -60.0  # one car target too weak: clutter
    extra = (v_comp[:, None], ("v_r_compensated",)) if compensated else (None, ())
    scan = scan_from_xyz(xyz, v_comp + ego, rcs, stamp_ns=9, frame_id="radar", seq=2,
                         extra=extra[0], extra_fields=extra[1])
    return scan, {"car": car[1:], "ped": ped}
