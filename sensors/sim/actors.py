"""Actors of the simulated world and their motion models.

Vehicles (cars, trucks, cyclists, the ego) follow their path with a pure-pursuit steering law
on a kinematic bicycle model referenced at the box centre (slip neglected): speed changes with
bounded acceleration/deceleration, the steering angle and the yaw rate are bounded.
Pedestrians walk with constant speed and a heading that follows the path plus Ornstein-Uhlenbeck
heading noise, with bounded yaw rate and acceleration. All randomness comes from the world's
seeded ``numpy.random.Generator``. Positions are in the ``world`` frame (metres), yaw in
radians counter-clockwise from +x, speeds in m/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sensors.sim.classes import CLASSES, ActorClass
from sensors.sim.geometry import Polyline, inside_polygon, wrap_angle
from sensors.sim.scenario import ActorSpec


def clamp(v: float, lo: float, hi: float) -> float:
    """``v`` limited to ``[lo, hi]`` (scalar, cheaper than ``np.clip``)."""
    return lo if v < lo else hi if v > hi else v


COMFORT_DECEL = 3.0  # m/s^2, used to stop at a waypoint
IDM_GAP_M, IDM_HEADWAY_S = 4.0, 1.2


@dataclass
class Actor:
    """One object in the world; ``x, y`` is the box centre on the ground, ``z = h / 2``."""

    track_id: int
    name: str
    cls: str
    size: np.ndarray  # (3,) l, w, h metres
    x: float
    y: float
    yaw: float
    v: float = 0.0
    yaw_rate: float = 0.0
    accel: float = 0.0
    active: bool = True
    anomaly: str | None = None

    @property
    def kind(self) -> ActorClass:
        return CLASSES[self.cls]

    @property
    def velocity(self) -> np.ndarray:
        """(2,) world-frame velocity, m/s."""
        return np.array([self.v * math.cos(self.yaw), self.v * math.sin(self.yaw)])

    @property
    def xy(self) -> np.ndarray:
        return np.array([self.x, self.y])


class Motion:
    """Base of motion models: ``step(actor, t_s, dt_s, world)`` advances one fixed step."""

    def step(self, actor: Actor, t_s: float, dt_s: float, leader_gap: tuple[float, float] | None) -> None:
        raise NotImplementedError


class Static(Motion):
    """Does not move (parked cars, dropped bags)."""

    def step(self, actor: Actor, t_s: float, dt_s: float, leader_gap: tuple[float, float] | None) -> None:
        actor.v = actor.yaw_rate = actor.accel = 0.0


class PathFollower(Motion):
    """Follows a waypoint path with a speed profile, waits, lane changes and optional IDM.

    Args:
        spec: the actor's scenario entry.
        rng: generator for heading noise (pedestrians).
    """

    def __init__(self, spec: ActorSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.path = Polyline(np.array(spec.path, dtype=np.float64), math.radians(spec.yaw_deg))
        self.rng = rng
        self.s = 0.0
        self.noise = 0.0
        self.waits = sorted((int(k), float(d)) for k, d in spec.waits)
        self.wait_until: float | None = None
        self.wait_started: list[tuple[int, float]] = []  # (waypoint, start time) log
        self.stopped = False
        self.finished = False

    def _speed_target(self, t_s: float, kind: ActorClass) -> tuple[float, float, float]:
        """(target speed, accel limit, decel limit) at ``t_s``."""
        target, acc, dec = 0.0, kind.max_accel, kind.max_decel
        for item in self.spec.speed:
            if item[0] <= t_s + 1e-9:
                target = float(item[1])
                if len(item) > 2:
                    acc = min(kind.max_accel, float(item[2])) if kind.max_accel else 0.0
                    dec = min(kind.max_decel, float(item[2]))
        return target, acc, dec

    def _lateral_offset(self, t_s: float) -> float:
        off = 0.0
        for lc in self.spec.lane_changes:
            if t_s >= lc.at_s + lc.duration_s:
                off += lc.offset_m
            elif t_s > lc.at_s:
                u = (t_s - lc.at_s) / lc.duration_s
                off += lc.offset_m * 0.5 * (1.0 - math.cos(math.pi * u))
        return off

    def step(self, actor: Actor, t_s: float, dt_s: float, leader_gap: tuple[float, float] | None) -> None:
        kind = actor.kind
        target, acc_max, dec_max = self._speed_target(t_s, kind)
        self.s = self.path.project(actor.xy, self.s)
        # waits at waypoints: brake to the waypoint, stand still, go on
        if self.wait_until is not None:
            target = 0.0
            if t_s >= self.wait_until:
                self.wait_until = None
                self.waits.pop(0)
        if self.wait_until is None and self.waits:
            k, dur = self.waits[0]
            d = self.path.cum[k] - self.s
            target = min(target, math.sqrt(2.0 * COMFORT_DECEL * max(d - 0.2, 0.0)))
            if d < 0.5 and actor.v < 0.2:
                self.wait_until = t_s + dur
                self.wait_started.append((k, t_s))
                target = 0.0
        if self.s >= self.path.length and self.spec.at_end != "continue":
            self.finished = True
            target = 0.0
        accel = clamp(3.0 * (target - actor.v), -dec_max, acc_max)
        if leader_gap is not None and self.spec.follow:
            accel = min(accel, _idm(actor.v, max(target, 0.1), *leader_gap, acc_max or 1.0, dec_max))
        accel = max(accel, -kind.max_decel)
        v_new = max(actor.v + accel * dt_s, 0.0)
        if abs(v_new - target) < 0.02 and abs(target - actor.v) <= max(acc_max, dec_max) * dt_s + 0.02:
            v_new = target  # settle exactly (a stopped actor has speed 0, not 1e-11)
        actor.accel = (v_new - actor.v) / dt_s
        actor.v = v_new
        if kind.vehicle:
            self._steer_vehicle(actor, t_s, dt_s)
        else:
            self._steer_walker(actor, t_s, dt_s)
        actor.x += actor.v * math.cos(actor.yaw) * dt_s
        actor.y += actor.v * math.sin(actor.yaw) * dt_s

    def _target_point(self, lookahead: float, t_s: float) -> np.ndarray:
        s = self.s + lookahead
        tan = self.path.tangent(s)
        return self.path.point(s) + self._lateral_offset(t_s) * np.array([-tan[1], tan[0]])

    def _steer_vehicle(self, actor: Actor, t_s: float, dt_s: float) -> None:
        kind = actor.kind
        wheelbase = 0.6 * float(actor.size[0])
        look = clamp(0.8 * actor.v, 4.0, 30.0)
        tgt = self._target_point(look, t_s)
        alpha = wrap_angle(math.atan2(tgt[1] - actor.y, tgt[0] - actor.x) - actor.yaw)
        dist = max(math.hypot(tgt[0] - actor.x, tgt[1] - actor.y), 1e-3)
        steer = clamp(math.atan2(2.0 * wheelbase * math.sin(alpha), dist), -kind.max_steer, kind.max_steer)
        rate = actor.v / wheelbase * math.tan(steer)
        actor.yaw_rate = clamp(rate, -kind.max_yaw_rate, kind.max_yaw_rate)
        actor.yaw = wrap_angle(actor.yaw + actor.yaw_rate * dt_s)

    def _steer_walker(self, actor: Actor, t_s: float, dt_s: float) -> None:
        tau, sigma = 2.0, math.radians(self.spec.heading_noise_deg)
        self.noise += (-self.noise / tau * dt_s
                       + sigma * math.sqrt(2.0 * dt_s / tau) * self.rng.standard_normal())
        tgt = self._target_point(1.0, t_s)
        if actor.v < 0.05:
            actor.yaw_rate = 0.0
            return
        want = math.atan2(tgt[1] - actor.y, tgt[0] - actor.x) + self.noise
        err = wrap_angle(want - actor.yaw)
        actor.yaw_rate = clamp(err / 0.3, -actor.kind.max_yaw_rate, actor.kind.max_yaw_rate)
        actor.yaw = wrap_angle(actor.yaw + actor.yaw_rate * dt_s)


def _idm(v: float, v0: float, gap: float, dv: float, a: float, b: float) -> float:
    """Intelligent-driver-model acceleration for gap (m) and closing speed ``dv`` (m/s)."""
    s_star = IDM_GAP_M + v * IDM_HEADWAY_S + v * dv / (2.0 * math.sqrt(a * max(b, 0.1)))
    return a * (1.0 - (v / v0) ** 4 - (max(s_star, 0.0) / max(gap, 0.1)) ** 2)


class CrowdWalker(Motion):
    """A random walker inside a region polygon, with a dominant flow direction or wandering.

    Sets :attr:`left` when a flow walker leaves the region downstream (the world respawns it).
    """

    def __init__(self, region: np.ndarray, flow: float | None, noise_deg: float, speed: float,
                 rng: np.random.Generator) -> None:
        poly = [(float(x), float(y)) for x, y in region]
        self._inside = lambda p: inside_polygon(float(p[0]), float(p[1]), poly)
        self.region = region
        self.centre = region.mean(axis=0)
        self.flow = flow
        self.sigma = math.radians(noise_deg)
        self.speed = speed
        self.rng = rng
        self.noise = 0.0
        self.left = False
        self.crowd_index = 0

    def step(self, actor: Actor, t_s: float, dt_s: float, leader_gap: tuple[float, float] | None) -> None:
        tau = 3.0
        self.noise += (-self.noise / tau * dt_s
                       + self.sigma * math.sqrt(2.0 * dt_s / tau) * self.rng.standard_normal())
        want = actor.yaw + self.noise * dt_s * 4.0 if self.flow is None else self.flow + self.noise
        ahead = actor.xy + 1.5 * np.array([math.cos(actor.yaw), math.sin(actor.yaw)])
        if not self._inside(ahead):
            if self.flow is not None and self._downstream(ahead):
                self.left = not self._inside(actor.xy)
            elif self.flow is not None:  # drifting out sideways: turn back towards the band
                dx, dy = actor.x - self.centre[0], actor.y - self.centre[1]
                side = -math.sin(self.flow) * dx + math.cos(self.flow) * dy
                want = self.flow - math.copysign(math.radians(40.0), side)
            else:
                want = math.atan2(self.centre[1] - actor.y, self.centre[0] - actor.x)
        err = wrap_angle(want - actor.yaw)
        actor.yaw_rate = clamp(err / 0.5, -actor.kind.max_yaw_rate, actor.kind.max_yaw_rate)
        actor.yaw = wrap_angle(actor.yaw + actor.yaw_rate * dt_s)
        accel = clamp(2.0 * (self.speed - actor.v), -actor.kind.max_decel, actor.kind.max_accel)
        actor.accel = accel
        actor.v = max(actor.v + accel * dt_s, 0.0)
        actor.x += actor.v * math.cos(actor.yaw) * dt_s
        actor.y += actor.v * math.sin(actor.yaw) * dt_s

    def _downstream(self, p: np.ndarray) -> bool:
        """True when ``p`` lies beyond the downstream side of the region (flow mode)."""
        u = np.array([math.cos(self.flow or 0.0), math.sin(self.flow or 0.0)])
        proj = (self.region - self.centre) @ u
        return float((p - self.centre) @ u) > 0.8 * float(proj.max())
