"""What every rule shares: the common config keys, the :class:`Rule` base, :class:`Hit`, helpers.

A rule looks at one :class:`~events.history.TrackFrame` per ``Tracks`` update and returns the
:class:`Hit` s whose condition holds *now* (after its own minimum durations); the lifecycle
(:mod:`events.lifecycle`) turns a run of hits of one key into start / update / end events.
Rules never see TENTATIVE or LOST rows (``frame.eligible``), and zone and line rules only use
rows whose position is certain enough (``frame.certain``). Thresholds are in scene units
(metres and m/s in a ``ground`` scene, pixels and pixels/s in an ``image`` scene) and seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import repeat
from typing import Any, ClassVar, NamedTuple

import numpy as np

from events.geometry import Tripwire, Zone
from events.history import SlotState, TrackFrame, TrackHistory
from percept.messages import Severity

Zones = Mapping[str, Zone]
Lines = Mapping[str, Tripwire]
#: ``(key, message)`` of a config problem, or None.
Problem = tuple[str, str] | None

#: Default class lists (both the COCO and the simulator spellings).
PERSON_CLASSES = ("person", "pedestrian")
VEHICLE_CLASSES = ("car", "truck", "bus", "motorcycle", "van", "vehicle")
OBJECT_CLASSES = ("bag", "backpack", "handbag", "suitcase")


@dataclass(frozen=True)
class RuleConfig:
    """Keys every rule accepts.

    Attributes:
        name: unique in the scene; event ids read ``<scene>-<name>-<n>`` (default: the rule type,
            or ``<type>_<zone>`` when the scene has several rules of that type).
        zone: zone the rule watches (required by zone rules, optional for the others).
        classes: class names the rule watches (default: the zone's ``classes``, else the rule's own
            default, else every class).
        severity: ``info``, ``warning`` or ``critical`` (default: per rule type).
        cooldown_s: no new event of the same rule and tracks within this many seconds after one
            ended (default: the scene's ``lifecycle.cooldown_s``).
    """

    name: str = ""
    zone: str = ""
    classes: tuple[str, ...] = ()
    severity: str = ""
    cooldown_s: float | None = None

    def __post_init__(self) -> None:
        if self.severity and self.severity not in [s.value for s in Severity]:
            names = [s.value for s in Severity]
            raise ValueError(f"severity: expected one of {names}, got {self.severity!r}")
        for f in fields(self):  # every threshold of every rule is a duration, speed, distance, count...
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and (
                    not math.isfinite(value) or value < 0):
                raise ValueError(f"{f.name}: expected a finite number >= 0, got {value!r}")


class Hit(NamedTuple):
    """A rule's condition holding now for one key.

    Attributes:
        track_ids: tracks involved (the first is the main one); zone: zone or line name.
        start_ns: when the condition began (the event's onset, ``evidence["start_ns"]``).
        evidence: rule-specific measured values.
        row: frame row of the main track (for position, history and snapshot), -1 if none.
        key: what identifies the event across updates (default: ``track_ids``).
    """

    track_ids: tuple[int, ...]
    zone: str
    start_ns: int
    evidence: dict[str, int | float | str | bool]
    row: int = -1
    key: tuple[int, ...] | None = None


_new_tuple = tuple.__new__


def elapsed(t: float, since: np.ndarray | float) -> np.ndarray:
    """Seconds from ``since`` to ``t``, rounded to the microsecond (so that 2.3 - 1.3 is 1.0 and a
    duration of exactly a threshold passes it)."""
    return (t - np.asarray(since, np.float64)).round(6)  # np.round's own method, without its wrapper


def held_for(since: np.ndarray, slots: np.ndarray, cond: np.ndarray, t: float) -> np.ndarray:
    """Seconds each row's condition has held, NaN where it does not; updates the per-slot onset
    times ``since`` (NaN = not holding) of the rows' ``slots``."""
    s = since[slots]
    s = np.where(cond, np.where(np.isnan(s), t, s), np.nan)
    since[slots] = s
    return elapsed(t, s)


def onset_ns(frame: TrackFrame, since_t: float) -> int:
    """The stamp (ns) of history time ``since_t`` in this frame's clock."""
    return frame.stamp_ns - round((frame.t - since_t) * 1e9)


class Rule:
    """Base of the rules: resolves zone, classes and severity; subclasses implement :meth:`evaluate`.

    Class attributes: ``TYPE`` (the ``type:`` key), ``Config``, ``SEVERITY`` (default severity),
    ``NEEDS`` (``"zone"``, ``"line"`` or ``""``: what the config must name), ``CLASSES`` (default
    classes), ``STATE`` (per-slot state arrays and their fill values).
    """

    TYPE: ClassVar[str] = ""
    Config: ClassVar[type[RuleConfig]] = RuleConfig
    SEVERITY: ClassVar[str] = Severity.WARNING
    NEEDS: ClassVar[str] = ""
    CLASSES: ClassVar[tuple[str, ...]] = ()
    STATE: ClassVar[Mapping[str, float]] = {}

    def __init__(self, config: Any, name: str, zones: Zones, lines: Lines, history: TrackHistory) -> None:
        self.config, self.name = config, name
        self.zone: Zone | None = zones.get(config.zone) if config.zone else None
        self.line: Tripwire | None = lines.get(getattr(config, "line", "")) if self.NEEDS == "line" else None
        zone_classes = self.zone.classes if self.zone is not None else ()
        line_classes = self.line.classes if self.line is not None else ()
        self.classes: tuple[str, ...] = tuple(config.classes or zone_classes or line_classes or self.CLASSES)
        self.severity: str = config.severity or str(self.SEVERITY)
        self.state = SlotState(history, **self.STATE)

    @property
    def place(self) -> str:
        """The zone or line name events of this rule carry."""
        if self.line is not None:
            return self.line.name
        return self.zone.name if self.zone is not None else ""

    @classmethod
    def check(cls, config: Any, zones: Zones, lines: Lines) -> Problem:
        """``(key, problem)`` when ``config`` refers to something the scene lacks, else None."""
        if cls.NEEDS == "zone" and not config.zone:
            return "zone", f"missing required key 'zone' (a {cls.TYPE} rule watches a zone)"
        if config.zone and config.zone not in zones:
            return "zone", f"unknown zone {config.zone!r}; zones: {sorted(zones)}"
        if cls.NEEDS == "line":
            line = getattr(config, "line", "")
            if not line:
                return "line", f"missing required key 'line' (a {cls.TYPE} rule watches a line)"
            if line not in lines:
                return "line", f"unknown line {line!r}; lines: {sorted(lines)}"
        return None

    def candidates(self, f: TrackFrame) -> np.ndarray:
        """Indices of the eligible rows of the rule's classes (state updates happen on these; shared
        by the rules of the update: read-only)."""
        return f.eligible_of(self.classes)

    def in_place(self, f: TrackFrame, rows: np.ndarray) -> np.ndarray:
        """(len(rows),) bool: certain and inside the zone (every certain row when there is none)."""
        return f.placed(self.zone)[rows]

    def evaluate(self, f: TrackFrame) -> list[Hit]:
        """Hits whose condition holds at this update."""
        raise NotImplementedError

    @classmethod
    def evaluate_all(cls, rules: Sequence[Rule], f: TrackFrame) -> list[list[Hit]]:
        """:meth:`evaluate` of each of ``rules`` (all of this class), in order; a rule type may
        override it to share work between its rules (same hits, same state)."""
        return [r.evaluate(f) for r in rules]

    def hit(self, f: TrackFrame, row: int, since_t: float, **evidence: int | float | str | bool) -> Hit:
        """A one-track hit of frame row ``row`` that began at history time ``since_t``."""
        return Hit((int(f.ids[row]),), self.place, onset_ns(f, since_t), evidence, row)

    def hits(self, f: TrackFrame, rows: np.ndarray, held: np.ndarray, ok: np.ndarray,
             **evidence: np.ndarray | int | float | str | bool) -> list[Hit]:
        """One-track hits (as :meth:`hit`) of the frame ``rows`` where ``ok`` (len(rows),), each
        begun ``held`` (len(rows),) seconds before now, in row order; an ``evidence`` value is a
        (len(rows),) array (one value per row, as Python scalars) or one value for every hit."""
        sel = np.nonzero(ok)[0]
        if len(sel) == 0:
            return []
        keys = list(evidence)
        values = [v[sel].tolist() if isinstance(v, np.ndarray) else [v] * len(sel) for v in evidence.values()]
        t, stamp, place, chosen = f.t, f.stamp_ns, self.place, rows[sel]
        ids, dt = f.ids[chosen].tolist(), held[sel].tolist()
        per_hit = zip(*values, strict=False) if values else repeat(())
        # Hit(...) without its Python-level __new__ (all six fields, in order); the start is
        # onset_ns(f, t - d), inlined; every list has len(sel) items
        return [_new_tuple(Hit, ((i,), place, stamp - round((t - (t - d)) * 1e9),
                                 dict(zip(keys, vals, strict=False)), r, None))
                for i, r, d, vals in zip(ids, chosen.tolist(), dt, per_hit, strict=False)]
