"""Motion rules: line crossing, speed, running, sudden stop, fall, abandoned object.

``zone:`` is optional for all but ``line_crossing`` (which names a ``line:`` instead); with a
zone, only certain rows inside it count. See :mod:`events.rules_base` for the shared keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from events.history import TrackFrame
from events.rules_base import (
    OBJECT_CLASSES,
    PERSON_CLASSES,
    Hit,
    Lines,
    Problem,
    Rule,
    RuleConfig,
    Zones,
    held_for,
)
from percept.messages import Severity


@dataclass(frozen=True)
class LineCrossingConfig(RuleConfig):
    """``line_crossing``: a track crossing ``line`` in the line's ``direction`` (with its hysteresis
    ``margin``: it must get more than ``margin`` beyond the line on the other side)."""

    line: str = ""


class LineCrossing(Rule):
    TYPE, Config, SEVERITY, NEEDS = "line_crossing", LineCrossingConfig, Severity.INFO, "line"
    STATE = {"side": 0.0}

    def evaluate(self, f: TrackFrame) -> list[Hit]:
        line = self.line
        if line is None:  # not reached: check() refuses a scene whose rule names no existing line
            return []
        self.state.sync(f)
        rows = self.candidates(f)
        rows = rows[f.certain[rows]]  # an uncertain position neither sets nor flips a side
        d, within = line.offsets(f.xy[rows])
        new = np.where(within & (np.abs(d) > line.margin), np.sign(d), 0.0)
        slots = f.slots[rows]
        old = self.state.side[slots]
        # a side is kept while the track is on the line (|d| <= margin), lost when it leaves the segment
        self.state.side[slots] = np.where(within, np.where(new != 0, new, old), 0.0)
        out = []
        flipped = np.nonzero((old != 0) & (new != 0) & (old != new))[0]
        for r, a, b in zip(rows[flipped].tolist(), old[flipped].tolist(), new[flipped].tolist(), strict=True):
            if line.counts(int(a), int(b)):
                sides = {1: "left", -1: "right"}
                out.append(self.hit(f, r, f.t, crossing=f"{sides[int(a)]}_to_{sides[int(b)]}"))
        return out


@dataclass(frozen=True)
class SpeedConfig(RuleConfig):
    """``speed``: faster than ``limit`` (default: the zone's ``speed_limit``) for ``min_duration_s``."""

    limit: float | None = None
    min_duration_s: float = 0.5


class _FasterThan(Rule):
    """Faster than :meth:`threshold` for ``min_duration_s`` (``speed`` and ``running``)."""

    STATE = {"since": np.nan}

    def threshold(self) -> float:
        raise NotImplementedError

    def evaluate(self, f: TrackFrame) -> list[Hit]:
        limit = self.threshold()
        self.state.sync(f)
        rows = self.candidates(f)
        cond = self.in_place(f, rows) & f.speed_ok[rows] & (f.speed[rows] > limit)
        held = held_for(self.state.since, f.slots[rows], cond, f.t)
        return self.hits(f, rows, held, held >= self.config.min_duration_s, speed=f.speed[rows], limit=limit)


class Speed(_FasterThan):
    TYPE, Config, SEVERITY = "speed", SpeedConfig, Severity.WARNING

    @classmethod
    def check(cls, config: Any, zones: Zones, lines: Lines) -> Problem:
        problem = super().check(config, zones, lines)
        zone_limit = zones[config.zone].speed_limit if config.zone else None
        if problem is None and config.limit is None and zone_limit is None:
            return "limit", "missing required key 'limit' (and no zone with a speed_limit)"
        return problem

    def threshold(self) -> float:
        limit = self.config.limit
        return float(limit if limit is not None else self.zone.speed_limit)  # type: ignore[union-attr, arg-type]


@dataclass(frozen=True)
class RunningConfig(RuleConfig):
    """``running``: a person faster than ``speed`` for ``min_duration_s`` seconds."""

    speed: float = 2.8
    min_duration_s: float = 1.0


class Running(_FasterThan):
    TYPE, Config, SEVERITY, CLASSES = "running", RunningConfig, Severity.WARNING, PERSON_CLASSES

    def threshold(self) -> float:
        return float(self.config.speed)


@dataclass(frozen=True)
class SuddenStopConfig(RuleConfig):
    """``sudden_stop``: from ``min_speed`` or faster to ``stop_speed`` or slower within ``within_s``."""

    min_speed: float = 1.5
    stop_speed: float = 0.3
    within_s: float = 1.0


class SuddenStop(Rule):
    TYPE, Config, SEVERITY = "sudden_stop", SuddenStopConfig, Severity.WARNING

    def evaluate(self, f: TrackFrame) -> list[Hit]:
        cfg = self.config
        rows = self.candidates(f)
        rows = rows[self.in_place(f, rows) if self.zone is not None else np.ones(len(rows), bool)]
        stopped = rows[f.speed_ok[rows] & (f.speed[rows] <= cfg.stop_speed)]
        if len(stopped) == 0:
            return []
        slots = f.slots[stopped]
        speeds = f.history.recent("speed", slots, f.t, cfg.within_s)
        fast = np.nan_to_num(speeds, nan=-1.0) >= cfg.min_speed
        when = np.where(fast, f.history.t[slots], -np.inf)
        out = []
        for i, r in enumerate(stopped.tolist()):
            if fast[i].any():
                k = int(np.argmax(when[i]))  # the last time it was still fast
                t_fast = float(when[i, k])
                decel = (speeds[i, k] - f.speed[r]) / max(f.t - t_fast, 1e-3)
                out.append(self.hit(f, r, t_fast, speed_before=float(speeds[i, k]), speed=float(f.speed[r]),
                                    decel=float(decel)))
        return out


@dataclass(frozen=True)
class FallConfig(RuleConfig):
    """``fall``: a person's box aspect (height / width) dropping to ``ratio`` times what it was
    within ``within_s`` seconds, from a standing aspect of at least ``min_aspect``."""

    ratio: float = 0.6
    min_aspect: float = 1.2
    within_s: float = 1.5


class Fall(Rule):
    TYPE, Config, SEVERITY, CLASSES = "fall", FallConfig, Severity.CRITICAL, PERSON_CLASSES

    def evaluate(self, f: TrackFrame) -> list[Hit]:
        cfg = self.config
        rows = self.candidates(f)
        rows = rows[self.in_place(f, rows) if self.zone is not None else np.ones(len(rows), bool)]
        rows = rows[np.isfinite(f.aspect[rows])]
        if len(rows) == 0:
            return []
        before = np.nanmax(np.nan_to_num(f.history.recent("aspect", f.slots[rows], f.t, cfg.within_s),
                                         nan=-np.inf), axis=1)
        fell = (before >= cfg.min_aspect) & (f.aspect[rows] <= cfg.ratio * before)
        return [self.hit(f, r, f.t, aspect_before=float(b), aspect=float(f.aspect[r]))
                for r, b in zip(rows[fell].tolist(), before[fell].tolist(), strict=True)]


@dataclass(frozen=True)
class AbandonedObjectConfig(RuleConfig):
    """``abandoned_object``: a static object -- within ``static_radius`` of where it appeared
    (position, not speed, so a jittery box still counts as static) -- whose owner, the nearest
    ``owner_classes`` track within ``owner_radius`` when it appeared, has been farther than
    ``distance`` (or gone) for ``duration_s`` seconds. Without an owner, the object alone staying
    ``duration_s`` counts. An object moved beyond ``static_radius`` appears anew where it is."""

    owner_classes: tuple[str, ...] = PERSON_CLASSES
    owner_radius: float = 3.0
    static_radius: float = 1.0
    distance: float = 4.0
    duration_s: float = 5.0


class AbandonedObject(Rule):
    TYPE, Config, SEVERITY = "abandoned_object", AbandonedObjectConfig, Severity.CRITICAL
    CLASSES = OBJECT_CLASSES
    #: owner: track id, -1 for none, NaN not looked for yet; ax, ay: where the object appeared
    STATE = {"owner": np.nan, "since": np.nan, "ax": np.nan, "ay": np.nan}

    def _nearest_owner(self, f: TrackFrame, row: int, people: np.ndarray) -> float:
        """Track id of the nearest person within ``owner_radius`` of frame row ``row``, or -1."""
        if len(people) == 0:
            return -1.0
        d = np.hypot(*(f.xy[people] - f.xy[row]).T)
        near = int(np.argmin(d))
        return float(f.ids[people[near]]) if d[near] <= self.config.owner_radius else -1.0

    def _owner_xy(self, f: TrackFrame, owner: int) -> np.ndarray | None:
        """The owner's position now, or its last one while the history still has it."""
        hit = np.nonzero(f.ids == owner)[0]
        if len(hit):
            return f.xy[hit[0]]
        slot = f.history.slot_of.get(owner)
        return None if slot is None else f.history.xy[slot, (f.history.head[slot] - 1) % f.history.length]

    def evaluate(self, f: TrackFrame) -> list[Hit]:
        cfg, st = self.config, self.state
        st.sync(f)
        rows = self.candidates(f)
        rows = rows[self.in_place(f, rows)]
        people = f.eligible_of(cfg.owner_classes)
        out = []
        for r in rows.tolist():
            s = int(f.slots[r])
            x, y = float(f.xy[r, 0]), float(f.xy[r, 1])
            if not math.hypot(x - st.ax[s], y - st.ay[s]) <= cfg.static_radius:  # new, or moved
                st.ax[s], st.ay[s], st.since[s] = x, y, np.nan
                st.owner[s] = self._nearest_owner(f, r, people)
            owner = int(st.owner[s])
            where = self._owner_xy(f, owner) if owner >= 0 else None
            dist = math.inf if where is None else float(np.hypot(*(where - f.xy[r])))
            away = np.array([dist > cfg.distance])
            held = float(held_for(st.since, f.slots[r:r + 1], away, f.t)[0])
            if held >= cfg.duration_s:
                ids = (int(f.ids[r]), owner) if owner >= 0 else (int(f.ids[r]),)
                evidence = {"owner_distance": dist if math.isfinite(dist) else -1.0, "static_s": held}
                out.append(Hit(ids, self.place, self.hit(f, r, f.t - held).start_ns, evidence, r))
        return out
