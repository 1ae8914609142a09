"""The simulated world: the ego, scripted actors and crowds stepped at a fixed period.

Frames: ``world`` is the ground plane (metres, x east/forward, y north/left, z up, ground at
z = 0); ``ego`` is the ego body (x forward, y left, z up, origin on the ground under its box
centre). Time is integer nanoseconds from the start of the simulation, advanced by
``scenario.step_ms``. Every random draw comes from generators seeded by ``(seed, stream, index)``
so the same seed gives the same world, whatever sensors observe it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calib.transform import Transform
from sensors.sim.actors import Actor, CrowdWalker, Motion, PathFollower, Static
from sensors.sim.anomalies import AnomalyMonitor, GtEvent
from sensors.sim.classes import CLASSES
from sensors.sim.geometry import points_in_polygon, rot_z
from sensors.sim.scenario import ActorSpec, CrowdSpec, Scenario

EGO_ID = 0


@dataclass(frozen=True)
class WorldState:
    """A snapshot of the world at ``t_ns`` (world frame; N active actors, the ego excluded).

    Attributes:
        track_id: int64 (N,) stable ids; class_id: int32 (N,) index into ``CLASS_NAMES``.
        centre: float64 (N, 3) box centres (z = h / 2); size: float64 (N, 3) ``l, w, h``.
        yaw: float64 (N,) heading, radians; yaw_rate: float64 (N,) rad/s.
        velocity: float64 (N, 3) m/s.
        ego: the ego's actor record (a copy) or None; T_world_from_ego: its pose or None.
    """

    t_ns: int
    track_id: np.ndarray
    class_id: np.ndarray
    centre: np.ndarray
    size: np.ndarray
    yaw: np.ndarray
    yaw_rate: np.ndarray
    velocity: np.ndarray
    ego: Actor | None
    T_world_from_ego: Transform | None

    def __len__(self) -> int:
        return len(self.track_id)


def _initial_pose(spec: ActorSpec) -> tuple[float, float, float]:
    pts = np.array(spec.path, dtype=np.float64).reshape(-1, 2)
    if len(pts) >= 2:
        d = pts[1] - pts[0]
        return float(pts[0, 0]), float(pts[0, 1]), math.atan2(d[1], d[0])
    return float(pts[0, 0]), float(pts[0, 1]), math.radians(spec.yaw_deg)


class World:
    """Builds the actors of ``scenario`` and steps them; collects ground-truth events."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = int(seed)
        self.step_ns = int(scenario.step_ms) * 1_000_000
        self.t_ns = 0
        self.actors: list[Actor] = []
        self.motions: dict[int, Motion] = {}
        self._specs: dict[int, ActorSpec] = {}
        self._carried: list[tuple[Actor, int, int]] = []  # (bag, owner id, waypoint)
        self._crowds: list[tuple[CrowdSpec, np.random.Generator]] = []
        zones = {n: np.array(p, dtype=np.float64) for n, p in scenario.zones.items()}
        self.monitor = AnomalyMonitor(scenario.rules, zones, scenario.flow_deg)
        self.ego: Actor | None = None
        if scenario.ego is not None:
            self.ego = self._make(scenario.ego, EGO_ID, np.random.default_rng([self.seed, 1, 0]))
        self._next_id = 1
        by_name: dict[str, int] = {}
        for i, spec in enumerate(scenario.actors):
            actor = self._make(spec, self._next_id, np.random.default_rng([self.seed, 2, i]))
            by_name[spec.name] = actor.track_id
            self._next_id += 1
        for actor in list(self.actors):
            spec = self._specs[actor.track_id]
            if spec.carried_by is not None:
                actor.active = False
                self.motions[actor.track_id] = Static()
                self._carried.append((actor, by_name[spec.carried_by], spec.drop_at_waypoint))
            if spec.anomaly is not None:
                partner = by_name[spec.carried_by] if spec.carried_by else None
                self.monitor.watch(actor.track_id, spec.anomaly, spec.zone, partner)
        for j, crowd in enumerate(scenario.crowds):
            rng = np.random.default_rng([self.seed, 3, j])
            self._crowds.append((crowd, rng))
            for _ in range(crowd.count):
                self._spawn_walker(j, upstream=False)
        self._pending: list[GtEvent] = []

    # ------------------------------------------------------------------ construction
    def _make(self, spec: ActorSpec, track_id: int, rng: np.random.Generator) -> Actor:
        kind = CLASSES[spec.cls]
        if spec.size is not None:
            size = np.array(spec.size, dtype=np.float64)
        else:
            size = np.array(kind.size) * np.clip(1.0 + 0.04 * rng.standard_normal(3), 0.9, 1.1)
        x, y, yaw = _initial_pose(spec) if spec.path else (0.0, 0.0, 0.0)
        v0 = next((float(s[1]) for s in spec.speed if s[0] <= 0.0), 0.0)
        actor = Actor(track_id, spec.name, spec.cls, size, x, y, yaw, v=v0,
                      active=spec.spawn_s <= 0.0, anomaly=spec.anomaly)
        motion: Motion = PathFollower(spec, rng) if len(spec.path) >= 2 else Static()
        if track_id != EGO_ID:
            self.actors.append(actor)
        self.motions[track_id] = motion
        self._specs[track_id] = spec
        return actor

    def _spawn_walker(self, crowd_index: int, upstream: bool) -> Actor:
        crowd, rng = self._crowds[crowd_index]
        region = np.array(crowd.region, dtype=np.float64)
        lo, hi = region.min(axis=0), region.max(axis=0)
        flow = None if crowd.flow_deg is None else math.radians(crowd.flow_deg)
        others = np.array([a.xy for a in self.actors if a.active] or np.zeros((0, 2)))
        p = (lo + hi) / 2
        for _ in range(50):
            p = lo + rng.random(2) * (hi - lo)
            if upstream and flow is not None:  # enter on the upstream side of the region
                u = np.array([math.cos(flow), math.sin(flow)])
                proj = (region - region.mean(axis=0)) @ u
                p = p - ((p - region.mean(axis=0)) @ u - proj.min() - 0.3) * u
            if not points_in_polygon(p, region)[0]:
                continue
            if len(others) == 0 or np.min(np.linalg.norm(others - p, axis=1)) > 1.0:
                break
        speed = float(np.clip(rng.normal(*crowd.speed_mps), 0.6, 2.0))
        yaw = flow if flow is not None else float(rng.uniform(-math.pi, math.pi))
        kind = CLASSES[crowd.cls]
        size = np.array(kind.size) * np.clip(1.0 + 0.04 * rng.standard_normal(3), 0.9, 1.1)
        actor = Actor(self._next_id, f"walker{self._next_id}", crowd.cls, size, float(p[0]), float(p[1]),
                      yaw, v=speed)
        self._next_id += 1
        self.actors.append(actor)
        walker = CrowdWalker(region, flow, crowd.heading_noise_deg, speed, rng)
        walker.crowd_index = crowd_index
        self.motions[actor.track_id] = walker
        return actor

    # ------------------------------------------------------------------ stepping
    def _leader_gap(self, me: Actor, movers: list[Actor]) -> tuple[float, float] | None:
        """(gap m, closing speed m/s) to the nearest actor ahead in ``me``'s lane, or None."""
        best: tuple[float, float] | None = None
        c, s = math.cos(me.yaw), math.sin(me.yaw)
        for o in movers:
            if o is me or not o.active:
                continue
            dx, dy = o.x - me.x, o.y - me.y
            ahead, side = c * dx + s * dy, -s * dx + c * dy
            if ahead <= 0 or abs(side) > 0.5 * (me.size[1] + o.size[1]) + 0.3:
                continue
            gap = ahead - 0.5 * (me.size[0] + o.size[0])
            closing = me.v - o.v * math.cos(o.yaw - me.yaw)
            if best is None or gap < best[0]:
                best = (gap, closing)
        return best

    def step(self) -> None:
        """Advance one fixed step of ``step_ms``."""
        dt = self.step_ns / 1e9
        t_s = self.t_ns / 1e9
        movers = [a for a in self.actors if a.active] + ([self.ego] if self.ego is not None else [])
        gaps = {a.track_id: self._leader_gap(a, movers) if self._specs.get(a.track_id, None) is not None
                and self._specs[a.track_id].follow else None for a in movers}
        for a in movers:
            self.motions[a.track_id].step(a, t_s, dt, gaps[a.track_id])
        self.t_ns += self.step_ns
        t_s = self.t_ns / 1e9
        for a in self.actors:
            spec = self._specs.get(a.track_id)
            motion = self.motions[a.track_id]
            if spec is not None and not a.active and spec.carried_by is None and 0 < spec.spawn_s <= t_s \
                    and not getattr(motion, "finished", False):
                a.active = True
            if isinstance(motion, PathFollower) and motion.finished and spec is not None \
                    and spec.at_end == "despawn":
                a.active = False
        self._drop_bags()
        self._respawn_walkers()
        by_id = {a.track_id: a for a in self.actors}
        self._pending.extend(self.monitor.update(self.t_ns, by_id))

    def _drop_bags(self) -> None:
        for bag, owner_id, wp in list(self._carried):
            owner = next(a for a in self.actors if a.track_id == owner_id)
            motion = self.motions[owner_id]
            if isinstance(motion, PathFollower) and any(k == wp for k, _ in motion.wait_started):
                right = np.array([math.sin(owner.yaw), -math.cos(owner.yaw)])
                bag.x, bag.y = (owner.xy + 0.6 * right).tolist()
                bag.yaw, bag.active = owner.yaw, True
                self._carried.remove((bag, owner_id, wp))

    def _respawn_walkers(self) -> None:
        for a in list(self.actors):
            motion = self.motions[a.track_id]
            if isinstance(motion, CrowdWalker) and motion.left:
                self.actors.remove(a)
                del self.motions[a.track_id]
                self._spawn_walker(motion.crowd_index, upstream=True)

    def run_until(self, t_ns: int) -> None:
        """Step until the world time reaches ``t_ns``."""
        while self.t_ns + self.step_ns <= t_ns:
            self.step()

    def pop_events(self) -> list[GtEvent]:
        """Ground-truth events raised since the last call."""
        out, self._pending = self._pending, []
        return out

    # ------------------------------------------------------------------ views
    def ego_pose(self) -> Transform | None:
        """``T_world_from_ego`` now, or None without an ego."""
        if self.ego is None:
            return None
        return Transform(rot_z(self.ego.yaw), np.array([self.ego.x, self.ego.y, 0.0]))

    def state(self) -> WorldState:
        """The active actors now (sorted by track id)."""
        act = sorted((a for a in self.actors if a.active), key=lambda a: a.track_id)
        n = len(act)
        size = np.array([a.size for a in act], dtype=np.float64).reshape(n, 3)
        centre = np.array([[a.x, a.y, a.size[2] / 2] for a in act], dtype=np.float64).reshape(n, 3)
        vel = np.array([[*a.velocity, 0.0] for a in act], dtype=np.float64).reshape(n, 3)
        ego = None
        if self.ego is not None:
            e = self.ego
            ego = Actor(e.track_id, e.name, e.cls, e.size.copy(), e.x, e.y, e.yaw, e.v, e.yaw_rate, e.accel)
        return WorldState(
            t_ns=self.t_ns, track_id=np.array([a.track_id for a in act], dtype=np.int64),
            class_id=np.array([a.kind.class_id for a in act], dtype=np.int32), centre=centre, size=size,
            yaw=np.array([a.yaw for a in act], dtype=np.float64),
            yaw_rate=np.array([a.yaw_rate for a in act], dtype=np.float64), velocity=vel, ego=ego,
            T_world_from_ego=self.ego_pose(),
        )
