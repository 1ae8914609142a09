"""Event lifecycle: rule hits -> ``start`` / ``update`` / ``end`` :class:`~percept.messages.Event` s.

An event is identified by ``(rule, key, zone)`` (the key is the hit's tracks, or nothing for
per-zone rules such as crowding) and gets an ``event_id`` ``"<scene>-<rule>-<n>"`` when it starts.

* **start**: the first hit of a key (the rule has already applied its minimum durations, and only
  CONFIRMED, certain tracks reach zone rules). The snapshot is taken now, if an image is given.
* **update**: while hits keep coming, at most one every ``update_every_s`` (0: none).
* **end**: once no hit came for ``end_after_s`` seconds, or a track of the key was forgotten.
* **cooldown**: after an end, the same key starts no new event for ``cooldown_s`` (the rule's
  ``cooldown_s`` or this config's); such hits are counted in ``suppressed``.
* **track id switches**: a start within ``dedup_radius`` (scene units) of a live or cooling-down
  event of the same rule and zone whose tracks are all absent from this update is the same event
  continuing (live: re-keyed, counted in ``merged``; ended: suppressed).

Evidence: the rule's values plus ``start_ns`` (the onset of the condition that started the
event, the same in every phase), ``rule``, the main track's ``x``, ``y`` (scene frame: ground
metres or image pixels, whatever the message's ``frame_id``), ``sigma``, ``speed`` and
``history`` (its last ``history_samples`` ground points as ``"dt:x:y"``, dt in seconds relative
to now), and ``duration_s`` on updates and ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from events.history import TrackFrame
from events.rules_base import Hit, Rule
from percept.counters import Counters
from percept.messages import Event, EventPhase

Place = tuple[str, str]  # (rule name, zone)
Ids = tuple[int, ...]  # the key tracks of an event (empty for per-zone rules)


@dataclass(frozen=True)
class LifecycleConfig:
    """Settings of :class:`Lifecycle` (the ``lifecycle:`` section of a scene config)."""

    end_after_s: float = 1.0
    update_every_s: float = 1.0
    cooldown_s: float = 10.0
    dedup_radius: float = 1.0
    snapshot: bool = True
    snapshot_quality: int = 85
    snapshot_max_px: int = 320
    history_samples: int = 8

    def __post_init__(self) -> None:
        for name in ("end_after_s", "update_every_s", "cooldown_s", "dedup_radius"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}: expected >= 0, got {getattr(self, name)}")
        if not 1 <= self.snapshot_quality <= 100:
            raise ValueError(f"snapshot_quality: expected 1..100, got {self.snapshot_quality}")
        if self.snapshot_max_px < 16 or self.history_samples < 0:
            raise ValueError("snapshot_max_px: expected >= 16; history_samples: expected >= 0")


def snapshot_jpeg(image: np.ndarray, box: np.ndarray | None, quality: int, max_px: int) -> np.ndarray:
    """uint8 (nbytes,) JPEG of ``box`` (x1, y1, x2, y2 pixels, grown by 20 %) cut from BGR ``image``
    (the whole image when ``box`` is None), scaled so its longer side is at most ``max_px``."""
    h, w = image.shape[:2]
    crop = image
    if box is not None and np.all(np.isfinite(box)):
        x1, y1, x2, y2 = (float(v) for v in box)
        mx, my = 0.2 * (x2 - x1), 0.2 * (y2 - y1)
        c = [int(np.clip(x1 - mx, 0, w)), int(np.clip(y1 - my, 0, h)), int(np.clip(x2 + mx, 0, w)),
             int(np.clip(y2 + my, 0, h))]
        if c[2] > c[0] and c[3] > c[1]:
            crop = image[c[1]:c[3], c[0]:c[2]]
    scale = max_px / max(crop.shape[:2])
    if scale < 1.0:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(crop), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return buf.reshape(-1) if ok else np.zeros(0, np.uint8)


@dataclass
class _Live:
    event_id: str
    rule: Rule
    hit: Hit
    onset_ns: int
    last_hit_ns: int
    last_sent_ns: int
    evidence: dict[str, int | float | str | bool] = field(default_factory=dict)
    xy: tuple[float, float] | None = None


class LifecycleStats(Counters, ints="started updated ended suppressed merged"):
    """Counters: events by phase, hits suppressed by the cooldown, live events re-keyed (id switch)."""


class Lifecycle:
    """Turns the hits of each update into events (see the module docstring).

    Live and recently ended events are kept per place ``(rule, zone)``, then by key tracks.
    """

    def __init__(self, scene: str, camera: str, config: LifecycleConfig | None = None) -> None:
        self.scene, self.camera = scene, camera
        self.config = config or LifecycleConfig()
        self.live: dict[Place, dict[Ids, _Live]] = {}
        #: per place and key: (end stamp, last position, cooldown) of events that ended recently
        self.ended: dict[Place, dict[Ids, tuple[int, tuple[float, float] | None, int]]] = {}
        self.stats = LifecycleStats()
        self._n = 0
        self._pruned_ns = 0

    def _cooldown_ns(self, rule: Rule) -> int:
        c = rule.config.cooldown_s
        return round((self.config.cooldown_s if c is None else c) * 1e9)

    def begin(self, f: TrackFrame, frame_id: str, image: np.ndarray | None = None,
              seq: int | None = None) -> LifecycleUpdate:
        """The lifecycle's work on one update (see :class:`LifecycleUpdate`): its events are numbered
        ``seq``, ``seq + 1``, ... in order (None: all 0)."""
        return LifecycleUpdate(self, f, frame_id, image, seq)

    def step(self, f: TrackFrame, frame_id: str, hits: list[tuple[Rule, Hit]], gone: set[int],
             image: np.ndarray | None = None, seq: int | None = None) -> list[Event]:
        """Events of one update: ``hits`` of every rule, ``gone`` the track ids forgotten now; the
        events are numbered ``seq``, ``seq + 1``, ... in order (None: all 0)."""
        update = self.begin(f, frame_id, image, seq)
        for rule, hit in hits:
            update.add(rule, (hit,))
        return update.finish(gone)

    def _end_stale(self, u: LifecycleUpdate, gone: set[int]) -> None:
        now = u.f.stamp_ns
        end_after = round(self.config.end_after_s * 1e9)
        for place, events in self.live.items():
            for ids, live in list(events.items()):
                if (place, ids) in u.seen:
                    continue
                if now - live.last_hit_ns >= end_after or any(t in gone for t in ids):
                    del events[ids]
                    self.ended.setdefault(place, {})[ids] = (now, live.xy, self._cooldown_ns(live.rule))
                    u.out(live, EventPhase.END)
                    self.stats.ended += 1
        if now - self._pruned_ns >= 1_000_000_000:  # forget ends whose cooldown is over
            self._pruned_ns = now
            for place, ended in self.ended.items():
                self.ended[place] = {k: v for k, v in ended.items() if now - v[0] < v[2]}

    def _near(self, xy: tuple[float, float] | None, other: tuple[float, float] | None) -> bool:
        return xy is not None and other is not None and \
            float(np.hypot(xy[0] - other[0], xy[1] - other[1])) <= self.config.dedup_radius

    def _adopt(self, place: Place, ids: Ids, xy: tuple[float, float] | None,
               present: set[int]) -> _Live | None:
        """A live event of the same place, near ``xy``, whose tracks all vanished: re-keyed to ``ids``."""
        if not ids or self.config.dedup_radius <= 0:
            return None
        events = self.live.get(place, {})
        for old, live in events.items():
            if old and not (set(old) & present) and self._near(xy, live.xy):
                del events[old]
                events[ids] = live
                self.stats.merged += 1
                return live
        return None

    def _cooling(self, rule: Rule, place: Place, ids: Ids, xy: tuple[float, float] | None, now: int,
                 present: set[int]) -> bool:
        cooldown = self._cooldown_ns(rule)
        ended = self.ended.get(place, {})
        last = ended.get(ids)
        if last is not None and now - last[0] < cooldown:
            return True
        if not ids or self.config.dedup_radius <= 0:
            return False
        return any(old and now - t_end < cooldown and not (set(old) & present) and self._near(xy, where)
                   for old, (t_end, where, _) in ended.items())

    def _event(self, live: _Live, f: TrackFrame, frame_id: str, phase: EventPhase, seq: int,
               snapshot: np.ndarray | None = None) -> Event:
        hit, rule = live.hit, live.rule
        ev: dict[str, int | float | str | bool] = {**hit.evidence, "start_ns": live.onset_ns,
                                                   "rule": rule.name}
        if phase != EventPhase.START:
            ev["duration_s"] = (live.last_hit_ns - live.onset_ns) / 1e9
        row = hit.row if phase != EventPhase.END else -1  # an end has no hit in this update
        if row >= 0:
            ev.update(x=float(f.xy[row, 0]), y=float(f.xy[row, 1]), sigma=float(f.sigma[row]),
                      speed=float(f.speed[row]), history=self._history(f, row))
        elif live.xy is not None:
            ev.update(x=live.xy[0], y=live.xy[1])
        where = f" in {hit.zone}" if hit.zone else ""
        detail = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                           for k, v in hit.evidence.items())
        text = f"{rule.TYPE} {phase.value}: track(s) {list(hit.track_ids)}{where}"
        text += f" ({detail})" if detail else ""
        return Event(stamp_ns=f.stamp_ns, frame_id=frame_id, seq=seq, event_type=rule.TYPE,
                     severity=rule.severity, track_ids=hit.track_ids, zone=hit.zone, evidence=ev, text=text,
                     event_id=live.event_id, phase=phase, camera=self.camera, snapshot=snapshot)

    def _history(self, f: TrackFrame, row: int) -> str:
        n = self.config.history_samples
        path = f.history.path(int(f.slots[row]), n) if n else []
        return " ".join(f"{t - f.t:.2f}:{x:.2f}:{y:.2f}" for t, x, y in path)


class LifecycleUpdate:
    """One update's lifecycle, rule by rule (from :meth:`Lifecycle.begin`): :meth:`add` each hit of
    each rule, in rule order, as soon as the rule has run (its start and update events are built
    at once), then :meth:`finish` with the tracks forgotten in this update (the end events).

    The events are the same, in the same order, as :meth:`Lifecycle.step` on all the hits at once
    gives: a hit only touches the events of its own rule, and building an event only reads the
    frame. ``events`` holds them in order, as they are built.
    """

    def __init__(self, lifecycle: Lifecycle, f: TrackFrame, frame_id: str, image: np.ndarray | None,
                 seq: int | None) -> None:
        self.lifecycle, self.f, self.frame_id, self.image = lifecycle, f, frame_id, image
        self.seq = seq
        self.events: list[Event] = []
        self.seen: set[tuple[Place, Ids]] = set()
        self.present = set(f.ids.tolist())
        self.period = round(lifecycle.config.update_every_s * 1e9)
        self._points: list[list[float]] | None = None  # f.xy as Python floats, on the first hit

    def out(self, live: _Live, phase: EventPhase, snapshot: np.ndarray | None = None) -> None:
        """Build the next event of ``live`` and hand it on."""
        seq = 0 if self.seq is None else self.seq + len(self.events)
        self.events.append(self.lifecycle._event(live, self.f, self.frame_id, phase, seq, snapshot))

    def add(self, rule: Rule, hits: Iterable[Hit]) -> None:
        """Hits of ``rule`` in this update, in order: each starts, updates (when due) or continues its
        event."""
        lc, now, period, seen = self.lifecycle, self.f.stamp_ns, self.period, self.seen
        for hit in hits:
            place: Place = (rule.name, hit.zone)
            ids: Ids = hit.track_ids if hit.key is None else hit.key
            seen.add((place, ids))
            if hit.row >= 0:
                if self._points is None:
                    self._points = self.f.xy.tolist()
                point = self._points[hit.row]
                xy: tuple[float, float] | None = (point[0], point[1])
            else:
                xy = None
            live = lc.live.get(place, {}).get(ids) or lc._adopt(place, ids, xy, self.present)
            if live is None:
                self._new(rule, hit, place, ids, xy)
                continue
            live.hit, live.last_hit_ns, live.xy = hit, now, xy
            if period > 0 and now - live.last_sent_ns >= period:
                live.last_sent_ns = now
                self.out(live, EventPhase.UPDATE)
                lc.stats.updated += 1

    def _new(self, rule: Rule, hit: Hit, place: Place, ids: Ids, xy: tuple[float, float] | None) -> None:
        """A hit of no live event: a start, unless the key is cooling down."""
        lc, f, now = self.lifecycle, self.f, self.f.stamp_ns
        if lc._cooling(rule, place, ids, xy, now, self.present):
            lc.stats.suppressed += 1
            return
        lc._n += 1
        live = _Live(f"{lc.scene}-{rule.name}-{lc._n}", rule, hit, hit.start_ns, now, now, xy=xy)
        lc.live.setdefault(place, {})[ids] = live
        snap = None
        if self.image is not None and lc.config.snapshot:
            box = f.box[hit.row] if f.box is not None and hit.row >= 0 else None
            snap = snapshot_jpeg(self.image, box, lc.config.snapshot_quality, lc.config.snapshot_max_px)
        self.out(live, EventPhase.START, snap)
        lc.stats.started += 1

    def finish(self, gone: set[int]) -> list[Event]:
        """End the events whose hits stopped (or whose tracks are in ``gone``); every event of the
        update, in order."""
        self.lifecycle._end_stale(self, gone)
        return self.events
