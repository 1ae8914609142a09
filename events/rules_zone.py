"""Zone rules: intrusion, loitering, wrong way, stopped vehicle, crowding.

Each watches one zone (``zone:`` is required) and only rows whose position is certain enough
(:attr:`~events.history.TrackFrame.certain`); see :mod:`events.rules_base` for the shared keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from events.geometry import angle_between_deg
from events.history import TrackFrame
from events.rules_base import (
    PERSON_CLASSES,
    VEHICLE_CLASSES,
    Hit,
    Lines,
    Problem,
    Rule,
    RuleConfig,
    Zones,
    elapsed,
    held_for,
    onset_ns,
)
from percept.messages import Severity


@dataclass(frozen=True)
class IntrusionConfig(RuleConfig):
    """``intrusion``: an object of the watched classes inside the zone for ``min_dwell_s`` seconds."""

    min_dwell_s: float = 0.5


class Intrusion(Rule):
    TYPE, Config, SEVERITY, NEEDS = "intrusion", IntrusionConfig, Severity.WARNING, "zone"
    STATE = {"since": np.nan}

    def evaluate(self, f: TrackFrame) -> list[Hit]:
        self.state.sync(f)
        rows = self.candidates(f)
        dwell = held_for(self.state.since, f.slots[rows], self.in_place(f, rows), f.t)
        return self.hits(f, rows, dwell, dwell >= self.config.min_dwell_s, dwell_s=dwell)

    @classmethod
    def evaluate_all(cls, rules: Sequence[Rule], f: TrackFrame) -> list[list[Hit]]:
        """The :meth:`evaluate` of each rule, with the rules that watch the same classes done in one
        pass over (rules, rows) arrays (a scene often has an intrusion rule per zone)."""
        if cls.evaluate is not Intrusion.evaluate or len(rules) < 2:
            return super().evaluate_all(rules, f)
        out: dict[int, list[Hit]] = {}
        groups: dict[tuple[str, ...], list[Intrusion]] = {}
        for r in rules:
            groups.setdefault(r.classes, []).append(r)  # type: ignore[arg-type]  # all of this class
        for classes, group in groups.items():
            for r in group:
                r.state.sync(f)
            rows = f.eligible_of(classes)
            slots = f.slots[rows]
            inside = np.stack([f.placed(r.zone) for r in group])[:, rows]
            since = np.stack([r.state.since for r in group])[:, slots]
            since = np.where(inside, np.where(np.isnan(since), f.t, since), np.nan)  # as held_for
            dwell = elapsed(f.t, since)
            ok = dwell >= np.array([[r.config.min_dwell_s] for r in group], np.float64)
            for r, s, d, o in zip(group, since, dwell, ok, strict=True):
                r.state.since[slots] = s
                out[id(r)] = r.hits(f, rows, d, o, dwell_s=d)
        return [out[id(r)] for r in rules]


@dataclass(frozen=True)
class LoiteringConfig(RuleConfig):
    """``loitering``: staying within ``radius`` of one spot of the zone for ``dwell_s`` seconds
    (the spot moves to the track whenever it strays farther)."""

    dwell_s: float = 10.0
    radius: float = 3.0


class Loitering(Rule):
    TYPE, Config, SEVERITY, NEEDS = "loitering", LoiteringConfig, Severity.INFO, "zone"
    CLASSES, STATE = PERSON_CLASSES, {"ax": np.nan, "ay": np.nan, "since": np.nan}

    def evaluate(self, f: TrackFrame) -> list[Hit]:
        st, cfg = self.state, self.config
        st.sync(f)
        rows = self.candidates(f)
        slots, xy, cond = f.slots[rows], f.xy[rows], self.in_place(f, rows)
        moved = np.hypot(xy[:, 0] - st.ax[slots], xy[:, 1] - st.ay[slots])
        reset = cond & ~(moved <= cfg.radius)  # also where there is no anchor yet (NaN)
        st.ax[slots] = np.where(reset, xy[:, 0], np.where(cond, st.ax[slots], np.nan))
        st.ay[slots] = np.where(reset, xy[:, 1], np.where(cond, st.ay[slots], np.nan))
        st.since[slots] = np.where(reset, f.t, np.where(cond, st.since[slots], np.nan))
        dwell = elapsed(f.t, st.since[slots])
        return self.hits(f, rows, dwell, dwell >= cfg.dwell_s, dwell_s=dwell, radius=cfg.radius)


@dataclass(frozen=True)
class WrongWayConfig(RuleConfig):
    """``wrong_way``: moving at ``min_speed`` or faster at least ``min_angle_deg`` away from the
    zone's ``direction_deg`` for ``min_duration_s`` seconds."""

    min_angle_deg: float = 120.0
    min_speed: float = 0.5
    min_duration_s: float = 1.0


class WrongWay(Rule):
    TYPE, Config, SEVERITY, NEEDS = "wrong_way", WrongWayConfig, Severity.INFO, "zone"
    STATE = {"since": np.nan}

    @classmethod
    def check(cls, config: Any, zones: Zones, lines: Lines) -> Problem:
        problem = super().check(config, zones, lines)
        if problem is None and zones[config.zone].direction_deg is None:
            return "zone", f"zone {config.zone!r} has no direction_deg (the allowed direction of motion)"
        return problem

    def evaluate(self, f: TrackFrame) -> list[Hit]:
        cfg = self.config
        self.state.sync(f)
        rows = self.candidates(f)
        allowed = float(self.zone.direction_deg)  # type: ignore[union-attr, arg-type]  # check() ensured it
        off = angle_between_deg(f.heading[rows], allowed)
        cond = self.in_place(f, rows) & f.speed_ok[rows] & (f.speed[rows] >= cfg.min_speed) & (
            off >= cfg.min_angle_deg)
        held = held_for(self.state.since, f.slots[rows], cond, f.t)
        return self.hits(f, rows, held, held >= cfg.min_duration_s, heading_deg=f.heading[rows],
                         allowed_deg=allowed, off_deg=off, speed=f.speed[rows])


@dataclass(frozen=True)
class StoppedVehicleConfig(RuleConfig):
    """``stopped_vehicle``: a vehicle at ``max_speed`` or slower in the (no-stopping) zone for
    ``min_duration_s`` seconds."""

    max_speed: float = 0.3
    min_duration_s: float = 5.0


class StoppedVehicle(Rule):
    TYPE, Config, SEVERITY, NEEDS = "stopped_vehicle", StoppedVehicleConfig, Severity.WARNING, "zone"
    CLASSES, STATE = VEHICLE_CLASSES, {"since": np.nan}

    def evaluate(self, f: TrackFrame) -> list[Hit]:
        cfg = self.config
        self.state.sync(f)
        rows = self.candidates(f)
        cond = self.in_place(f, rows) & f.speed_ok[rows] & (f.speed[rows] <= cfg.max_speed)
        held = held_for(self.state.since, f.slots[rows], cond, f.t)
        return self.hits(f, rows, held, held >= cfg.min_duration_s, stopped_s=held, speed=f.speed[rows])


@dataclass(frozen=True)
class CrowdingConfig(RuleConfig):
    """``crowding``: more than ``max_count`` objects (default: the zone's ``max_count``) in the zone
    for ``min_duration_s`` seconds. One event per zone; its tracks are the ones inside."""

    max_count: int | None = None
    min_duration_s: float = 1.0


class Crowding(Rule):
    TYPE, Config, SEVERITY, NEEDS = "crowding", CrowdingConfig, Severity.WARNING, "zone"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        limit = self.config.max_count if self.config.max_count is not None else self.zone.max_count  # type: ignore[union-attr]
        self.max_count: int = int(limit)  # type: ignore[arg-type]  # check() ensured one is set
        self.since: float | None = None

    @classmethod
    def check(cls, config: Any, zones: Zones, lines: Lines) -> Problem:
        problem = super().check(config, zones, lines)
        if problem is None and config.max_count is None and zones[config.zone].max_count is None:
            return "max_count", f"missing required key 'max_count' (zone {config.zone!r} sets none either)"
        return problem

    def evaluate(self, f: TrackFrame) -> list[Hit]:
        rows = self.candidates(f)
        inside = rows[self.in_place(f, rows)]
        if len(inside) <= self.max_count:
            self.since = None
            return []
        if self.since is None:
            self.since = f.t
        if elapsed(f.t, self.since) < self.config.min_duration_s:
            return []
        ids = tuple(f.ids[inside].tolist())
        return [Hit(ids, self.place, onset_ns(f, self.since),
                    {"count": len(inside), "max_count": self.max_count}, -1, key=())]
