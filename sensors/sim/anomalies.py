"""Ground truth of the scripted anomalies, measured on the simulated trajectories.

Only actors whose scenario entry names an ``anomaly`` are watched, so a scenario without
scripted anomalies produces no events. Each watched actor yields its event once, stamped with
the first time the rule's definition holds (e.g. loitering: ``loiter_s`` after the actor
started lingering) and carrying the onset time as ``evidence["start_ns"]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sensors.sim.actors import Actor
from sensors.sim.geometry import inside_polygon, wrap_angle
from sensors.sim.scenario import RuleSpec

SEVERITY = {"intrusion": "warning", "loitering": "info", "wrong_way": "info",
            "abandoned_object": "critical", "running": "warning"}


@dataclass(frozen=True)
class GtEvent:
    """One scripted anomaly as it happened: times in ns of simulation time."""

    event_type: str
    track_ids: tuple[int, ...]
    zone: str
    stamp_ns: int
    start_ns: int
    evidence: dict[str, float] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return SEVERITY[self.event_type]


@dataclass
class _Watch:
    track_id: int
    anomaly: str
    zone: str = ""
    partner: int | None = None  # the owner of an abandoned object
    onset_ns: int | None = None
    anchor: np.ndarray | None = None
    done: bool = False


class AnomalyMonitor:
    """Checks each watched actor every step and emits :class:`GtEvent` when its rule holds.

    Args:
        rules: thresholds of the rules.
        zones: named polygons (K, 2) in the world frame.
        flow_deg: dominant walking direction (for ``wrong_way``), degrees; None if none.
    """

    def __init__(self, rules: RuleSpec, zones: dict[str, np.ndarray], flow_deg: float | None) -> None:
        self.rules = rules
        self.zones = {n: [(float(x), float(y)) for x, y in p] for n, p in zones.items()}
        self.flow = None if flow_deg is None else math.radians(flow_deg)
        self.watches: list[_Watch] = []

    def watch(self, track_id: int, anomaly: str, zone: str | None = None, partner: int | None = None) -> None:
        """Watch actor ``track_id`` for its scripted ``anomaly``."""
        self.watches.append(_Watch(track_id, anomaly, zone or "", partner))

    def update(self, t_ns: int, actors: dict[int, Actor]) -> list[GtEvent]:
        """Events that became true at ``t_ns``, given the active actors by track id."""
        out: list[GtEvent] = []
        for w in self.watches:
            a = actors.get(w.track_id)
            if w.done or a is None or not a.active:
                continue
            ev = getattr(self, f"_{w.anomaly}")(w, a, t_ns, actors)
            if ev is not None:
                w.done = True
                out.append(ev)
        return out

    def _held(self, w: _Watch, cond: bool, t_ns: int, need_s: float) -> bool:
        """Track how long ``cond`` has held continuously; True once it held ``need_s``."""
        if not cond:
            w.onset_ns = None
            return False
        if w.onset_ns is None:
            w.onset_ns = t_ns
        return t_ns - w.onset_ns >= round(need_s * 1e9)

    def _intrusion(self, w: _Watch, a: Actor, t_ns: int, _: dict[int, Actor]) -> GtEvent | None:
        if inside_polygon(a.x, a.y, self.zones[w.zone]):
            return GtEvent("intrusion", (a.track_id,), w.zone, t_ns, t_ns)
        return None

    def _zone_of(self, p: np.ndarray) -> str:
        x, y = float(p[0]), float(p[1])
        return next((n for n, poly in self.zones.items() if inside_polygon(x, y, poly)), "")

    def _loitering(self, w: _Watch, a: Actor, t_ns: int, _: dict[int, Actor]) -> GtEvent | None:
        r = self.rules
        if w.anchor is None or np.linalg.norm(a.xy - w.anchor) > r.loiter_radius_m:
            w.anchor, w.onset_ns = a.xy, t_ns
            return None
        assert w.onset_ns is not None  # set together with the anchor
        dwell = (t_ns - w.onset_ns) / 1e9
        if dwell >= r.loiter_s:
            return GtEvent("loitering", (a.track_id,), self._zone_of(w.anchor), t_ns, w.onset_ns,
                           {"dwell_s": dwell, "radius_m": r.loiter_radius_m})
        return None

    def _wrong_way(self, w: _Watch, a: Actor, t_ns: int, _: dict[int, Actor]) -> GtEvent | None:
        against = a.v > 0.5 and math.cos(wrap_angle(a.yaw - (self.flow or 0.0))) < -0.5
        if self._held(w, against, t_ns, self.rules.wrong_way_s):
            assert w.onset_ns is not None
            return GtEvent("wrong_way", (a.track_id,), self._zone_of(a.xy), t_ns, w.onset_ns,
                           {"heading_deg": math.degrees(a.yaw), "flow_deg": math.degrees(self.flow or 0.0)})
        return None

    def _running(self, w: _Watch, a: Actor, t_ns: int, _: dict[int, Actor]) -> GtEvent | None:
        if self._held(w, a.v > self.rules.run_speed_mps, t_ns, self.rules.run_s):
            assert w.onset_ns is not None
            return GtEvent("running", (a.track_id,), self._zone_of(a.xy), t_ns, w.onset_ns,
                           {"speed_mps": a.v})
        return None

    def _abandoned_object(self, w: _Watch, a: Actor, t_ns: int, actors: dict[int, Actor]) -> GtEvent | None:
        owner = actors.get(w.partner) if w.partner is not None else None
        dist = math.inf if owner is None or not owner.active else float(np.linalg.norm(owner.xy - a.xy))
        if self._held(w, dist > self.rules.abandon_distance_m, t_ns, self.rules.abandon_s):
            assert w.onset_ns is not None
            ids = (a.track_id,) if w.partner is None else (a.track_id, w.partner)
            return GtEvent("abandoned_object", ids, self._zone_of(a.xy), t_ns, w.onset_ns,
                           {"owner_distance_m": dist if math.isfinite(dist) else -1.0})
        return None
