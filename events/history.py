"""Per-track history (the one place it is kept) and the per-update view the rules read.

:class:`TrackHistory` keeps, for every live track, its last ``length`` samples (time, ground
point, smoothed speed, box aspect) in fixed-size ring buffers indexed by a *slot* per track.
Velocities are least-squares slopes of the ground points over the last ``window_s`` seconds, so
one jittery position moves them little; a velocity is trusted (``speed_ok``) once the samples
span ``min_span_s``. A track reported ``REMOVED``, or absent from the updates for
``forget_after_s``, is forgotten and its slot reused. Rules keep their own per-track state in
arrays indexed by the same slots (:class:`SlotState`) and reset a slot when
:attr:`TrackFrame.fresh` says it changed hands.

Times are float seconds since the first stamp the history saw (``t0_ns``), scene units for
positions (metres or pixels) and scene units per second for speeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from events.geometry import Frame, Zone, ZoneIndex, heading_deg


class TrackHistory:
    """Bounded ring buffers of the live tracks' recent samples (see the module docstring)."""

    def __init__(self, length: int = 48, window_s: float = 1.0, min_span_s: float = 0.3,
                 forget_after_s: float = 2.0, capacity: int = 64) -> None:
        self.length, self.window_s, self.min_span_s = length, window_s, min_span_s
        self.forget_after_s = forget_after_s
        self.t0_ns: int | None = None
        self.slot_of: dict[int, int] = {}
        self.id_of: dict[int, int] = {}
        self._free: list[int] = []
        self._last_slots: tuple[np.ndarray, np.ndarray] | None = None  # ids and slots of the last call
        self._tables: dict[int, np.ndarray] = {}
        self.capacity = 0
        self.t = self.xy = self.speed = self.aspect = self.last_t = np.zeros(0)
        self.head = np.zeros(0, np.int64)
        self._grow(capacity)

    def _grow(self, capacity: int) -> None:
        old = self.capacity
        L = self.length

        def extend(a: np.ndarray, shape: tuple[int, ...], fill: float) -> np.ndarray:
            out = np.full((capacity, *shape), fill)
            if old:
                out[:old] = a[:old]
            return out

        self.t = extend(self.t, (L,), np.nan)
        self.xy = extend(self.xy, (L, 2), np.nan)
        self.speed = extend(self.speed, (L,), np.nan)
        self.aspect = extend(self.aspect, (L,), np.nan)
        self.last_t = extend(self.last_t, (), -np.inf)
        head = np.zeros(capacity, np.int64)
        head[:old] = self.head[:old]
        self.head = head
        self._free.extend(range(capacity - 1, old - 1, -1))
        self.capacity = capacity

    def seconds(self, stamp_ns: int) -> float:
        """``stamp_ns`` as history time (seconds since the first stamp seen)."""
        if self.t0_ns is None:
            self.t0_ns = stamp_ns
        return (stamp_ns - self.t0_ns) / 1e9

    def slots(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(slots, fresh)`` of track ``ids`` (N,): new ids get a slot (``fresh`` True)."""
        cached = self._last_slots
        if cached is not None and np.array_equal(ids, cached[0]):  # the same tracks as last time
            return cached[1], np.zeros(len(ids), bool)
        slots = np.empty(len(ids), np.int64)
        fresh = np.zeros(len(ids), bool)
        for i, tid in enumerate(ids.tolist()):
            s = self.slot_of.get(tid)
            if s is None:
                if not self._free:
                    self._grow(self.capacity * 2)
                s = self._free.pop()
                self.slot_of[tid], self.id_of[s] = s, tid
                self._clear(s)
                fresh[i] = True
            slots[i] = s
        self._last_slots = (ids.copy(), slots)
        return slots, fresh

    def _clear(self, s: int) -> None:
        self.t[s] = self.speed[s] = self.aspect[s] = np.nan
        self.xy[s] = np.nan
        self.head[s], self.last_t[s] = 0, -np.inf

    def touch(self, t: float, slots: np.ndarray) -> None:
        """Mark ``slots`` as seen at ``t`` (any status: a TENTATIVE or LOST track is not stale)."""
        self.last_t[slots] = t

    def record(self, t: float, slots: np.ndarray, xy: np.ndarray, aspect: np.ndarray) -> None:
        """Append one sample per row (rows of ``slots``; each slot at most once)."""
        if len(slots) == 0:
            return
        h = self.head[slots]
        self.t[slots, h] = t
        self.xy[slots, h] = xy
        self.aspect[slots, h] = aspect
        self.speed[slots, h] = np.nan
        self.last_t[slots] = t
        self.head[slots] = (h + 1) % self.length

    def _columns(self, k: int) -> np.ndarray:
        """(length, k) int64: for each ``head`` value, the ring columns of the ``k`` newest samples,
        newest first (a table per ``k``, built once)."""
        table = self._tables.get(k)
        if table is None:
            table = self._tables[k] = (np.arange(self.length)[:, None] - 1 - np.arange(k)) % self.length
        return table

    def _newest(self, slots: np.ndarray, since: float) -> tuple[np.ndarray, np.ndarray]:
        """``(flat (N, K), T (N, K))``: flat indices (into ``t``, ``xy`` as (capacity * length, ...))
        and times of each slot's newest ``K`` samples, newest first, with ``K`` (<= ``length``)
        the fewest that hold every sample from time ``since`` on. A slot's samples are in time
        order, so past a column older than ``since`` (or never written: NaN) every column is too."""
        k, base = min(self.length, 16), slots * self.length
        while True:
            flat = self._columns(k)[self.head[slots]] + base[:, None]
            T = self.t.reshape(-1).take(flat)
            if k == self.length or not np.any(since <= T[:, -1]):
                return flat, T
            k = min(self.length, 2 * k)

    def velocity(self, t: float, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(velocity (N, 2), ok (N,))``: windowed least-squares slope of each slot's ground points;
        also stores the speed in the slot's newest sample.

        Only the newest columns that can hold samples of the window are read (about ``window_s``
        times the update rate, not ``length``): the same sums, without the zeros of the others."""
        since = t - self.window_s
        with np.errstate(invalid="ignore", divide="ignore"):
            flat, T = self._newest(slots, since)
            m = since <= T
            n = np.maximum(m.sum(axis=1), 1)
            tm = np.where(m, T, 0.0).sum(axis=1) / n
            dt = np.where(m, T - tm[:, None], 0.0)
            P = np.where(m[:, :, None], self.xy.reshape(-1, 2).take(flat, axis=0), 0.0)
            den = (dt * dt).sum(axis=1)
            num = (dt[:, None, :] @ P)[:, 0, :]  # sum(dt) = 0 over the window: the mean drops out
            vel = np.where(den[:, None] > 0, num / den[:, None], 0.0)
            span = T[:, 0] - np.where(m, T, np.inf).min(axis=1)  # the newest sample is the latest
        ok = (span >= self.min_span_s) & np.all(np.isfinite(vel), axis=1)
        vel = np.where(ok[:, None], vel, 0.0)
        self.speed.reshape(-1)[flat[:, 0]] = np.where(ok, np.hypot(vel[:, 0], vel[:, 1]), np.nan)
        return vel, ok

    def recent(self, name: str, slots: np.ndarray, t: float, span_s: float) -> np.ndarray:
        """(N, length) values of ``name`` (``speed``, ``aspect``, ``t``) of samples from the last
        ``span_s`` seconds, NaN elsewhere."""
        T = self.t[slots]
        with np.errstate(invalid="ignore"):
            keep = t - span_s <= T
        return np.where(keep, getattr(self, name)[slots], np.nan)

    def path(self, slot: int, n: int) -> list[tuple[float, float, float]]:
        """The slot's last ``n`` samples ``(t, x, y)``, oldest first."""
        order = self._columns(min(n, self.length))[self.head[slot]][::-1]
        ts, xy = self.t[slot, order].tolist(), self.xy[slot, order]
        return [(t, x, y) for t, x, y in zip(ts, xy[:, 0].tolist(), xy[:, 1].tolist(), strict=True)
                if math.isfinite(t)]

    def forget(self, t: float, removed: list[int]) -> list[int]:
        """Forget tracks in ``removed`` and those not updated for ``forget_after_s``; their ids."""
        stale = np.nonzero(self.last_t < t - self.forget_after_s)[0]
        gone = [tid for tid in removed if tid in self.slot_of]
        gone += [self.id_of[int(s)] for s in stale if int(s) in self.id_of and self.id_of[int(s)] not in gone]
        if gone:
            self._last_slots = None
        for tid in gone:
            s = self.slot_of.pop(tid)
            del self.id_of[s]
            self._clear(s)
            self._free.append(s)
        return gone


class SlotState:
    """Per-track rule state in arrays indexed by history slot, reset when a slot changes hands.

    ``SlotState(history, since=np.nan, side=0.0)`` gives ``state.since`` and ``state.side``
    float64 arrays of the history's capacity (grown on :meth:`sync`), filled with the given values.
    """

    def __init__(self, history: TrackHistory, **fills: float) -> None:
        clash = sorted(k for k in fills if hasattr(SlotState, k) or k.startswith("_"))
        if clash:
            raise ValueError(f"SlotState: state names {clash} clash with its own attributes")
        self._history, self._fills, self._capacity = history, fills, history.capacity
        self._arrays: dict[str, np.ndarray] = {}
        for k, v in fills.items():
            self._set(k, np.full(history.capacity, v))

    def _set(self, name: str, a: np.ndarray) -> None:
        self._arrays[name] = a
        self.__dict__[name] = a  # a plain attribute too: ``state.since`` needs no __getattr__

    def sync(self, frame: TrackFrame) -> None:
        """Grow to the history's capacity and reset the slots of ``frame.fresh`` rows."""
        cap = self._history.capacity
        if cap != self._capacity:
            self._capacity = cap
            for k, a in list(self._arrays.items()):
                if len(a) < cap:
                    self._set(k, np.concatenate([a, np.full(cap - len(a), self._fills[k])]))
        fresh = frame.fresh_slots
        if len(fresh):
            for k, a in self._arrays.items():
                a[fresh] = self._fills[k]

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["_arrays"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class TrackFrame:
    """One ``Tracks`` update as the rules see it (N rows, in message order).

    Attributes:
        stamp_ns: the message stamp; t: history seconds; frame: the scene geometry frame.
        ids, slots: (N,) track ids and history slots; fresh: (N,) bool, slot new this update.
        class_id: (N,) int class ids; names: the message's ``class_names`` (class_id indexes them;
            a class without a name is called ``str(class_id)``).
        eligible: (N,) bool, rows rules may use (CONFIRMED, old enough, with a ground point).
        certain: (N,) bool, eligible rows whose ``sigma`` is within the limit (zone/line rules).
        xy, sigma, aspect, box: see :class:`events.geometry.Located`.
        velocity: (N, 2) scene units/s; speed (N,); speed_ok: (N,) bool; heading: (N,) degrees.
        zones: the scene's zones, to test every zone at once on the first :meth:`inside` (optional).
        fresh_slots: the slots of the ``fresh`` rows.
    """

    stamp_ns: int
    t: float
    frame: Frame
    ids: np.ndarray
    slots: np.ndarray
    fresh: np.ndarray
    class_id: np.ndarray
    names: tuple[str, ...]
    eligible: np.ndarray
    certain: np.ndarray
    xy: np.ndarray
    sigma: np.ndarray
    aspect: np.ndarray
    box: np.ndarray | None
    velocity: np.ndarray
    speed_ok: np.ndarray
    history: TrackHistory
    zones: ZoneIndex | None = None
    speed: np.ndarray = field(init=False)
    heading: np.ndarray = field(init=False)
    fresh_slots: np.ndarray = field(init=False, repr=False)
    _inside: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _classes: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _rows: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _placed: dict[str | None, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.speed = np.hypot(self.velocity[:, 0], self.velocity[:, 1])
        self.heading = heading_deg(self.velocity, self.frame)
        self.fresh_slots = self.slots[self.fresh]

    def __len__(self) -> int:
        return len(self.ids)

    def inside(self, zone: Zone) -> np.ndarray:
        """(N,) bool: rows whose ground point is in ``zone`` (computed once per update)."""
        got = self._inside.get(zone.name)
        if got is None:
            if self.zones is not None and zone in self.zones:
                self._inside.update(self.zones.contains(self.xy))
                got = self._inside[zone.name]
            else:
                got = self._inside[zone.name] = zone.contains(self.xy)
        return got

    def placed(self, zone: Zone | None) -> np.ndarray:
        """(N,) bool: certain rows inside ``zone`` (every certain row for None; computed once per
        update: callers must not modify the array)."""
        key = zone.name if zone is not None else None
        got = self._placed.get(key)
        if got is None:
            got = self._placed[key] = self.certain & self.inside(zone) if zone is not None else self.certain
        return got

    def eligible_of(self, classes: tuple[str, ...]) -> np.ndarray:
        """Indices of the eligible rows of ``classes`` (every class when empty; computed once per
        update: callers must not modify the array)."""
        got = self._rows.get(classes)
        if got is None:
            got = self._rows[classes] = np.nonzero(self.eligible & self.of_class(classes))[0]
            got.flags.writeable = False
        return got

    def of_class(self, classes: tuple[str, ...]) -> np.ndarray:
        """(N,) bool: rows whose class is one of ``classes`` (every row when empty)."""
        got = self._classes.get(classes)
        if got is None:
            if not classes:
                got = np.ones(len(self), bool)
            else:
                wanted = {i for i, n in enumerate(self.names) if n in classes}
                wanted |= {int(c) for c in classes if c.isdigit() and not 0 <= int(c) < len(self.names)}
                got = np.zeros(len(self), bool)
                for c in wanted:  # a few ids: cheaper than np.isin, and the same
                    got |= self.class_id == c
            self._classes[classes] = got
        return got
