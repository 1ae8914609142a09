"""``EventEngine``: a scene's rules over ``Tracks`` updates, giving lifecycle ``Event`` s.

Per update (:meth:`EventEngine.update`): locate every row in the scene frame
(:class:`~events.geometry.Locator`), append the eligible rows -- CONFIRMED, at least ``min_age``
updates old, with a ground point -- to the :class:`~events.history.TrackHistory` and estimate
their velocities, mark the rows whose position uncertainty is within ``max_sigma`` as certain,
run every rule, forget tracks that were REMOVED or went stale, and let the
:class:`~events.lifecycle.Lifecycle` turn the hits into start / update / end events stamped with
the update's ``stamp_ns``. TENTATIVE and LOST rows neither trigger nor reset anything.

Updates must come in stamp order: an update older than the previous one raises
:class:`~events.errors.EventsError` (and changes nothing), as do tracks that do not fit the scene.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from events.errors import EventsError
from events.geometry import Located, Locator, ZoneIndex
from events.history import TrackFrame, TrackHistory
from events.lifecycle import Lifecycle
from events.rules import RULE_TYPES, Hit, Rule
from events.scene import Scene, SceneRule
from percept.counters import Counters
from percept.messages import Event, Tracks, TrackStatus


def build_rules(specs: Sequence[SceneRule], scene: Scene, history: TrackHistory) -> list[Rule]:
    """One rule object per spec (on ``scene``'s zones and lines), sharing ``history``'s slots."""
    out = []
    for spec in specs:
        cls = RULE_TYPES.get(spec.type)
        if cls is None:
            raise EventsError(f"rule {spec.name!r}: unknown rule type {spec.type!r}; "
                              f"known: {sorted(RULE_TYPES)}")
        if not isinstance(spec.config, cls.Config):
            raise EventsError(f"rule {spec.name!r}: expected a {cls.Config.__name__}, "
                              f"got {type(spec.config).__name__}")
        problem = cls.check(spec.config, scene.zones, scene.lines)
        if problem is not None:
            raise EventsError(f"rule {spec.name!r}: {problem[0]}: {problem[1]}")
        out.append(cls(spec.config, spec.name, scene.zones, scene.lines, history))
    return out


class EngineStats(Counters, ints="updates rows eligible uncertain hits events"):
    """Counters: updates processed, rows seen, rows used by the rules (eligible), rows left out of
    zone and line rules for their uncertainty, hits and events emitted."""


class EventEngine:
    """Runs ``rules`` (default: the scene's ``rules``) over ``Tracks`` of one camera or scene."""

    def __init__(self, scene: Scene, rules: Sequence[SceneRule] | None = None) -> None:
        ts = scene.tracks
        self.scene = scene
        self.history = TrackHistory(length=ts.history_len, window_s=ts.velocity_window_s,
                                    min_span_s=ts.min_velocity_span_s, forget_after_s=ts.forget_after_s)
        self.locator = Locator(scene.frame, scene.homography, ts.box_sigma_frac, ts.young_age)
        self.rules = build_rules(scene.rules if rules is None else rules, scene, self.history)
        watched = {id(r.zone): r.zone for r in self.rules if r.zone is not None}
        self.zones = ZoneIndex(list(watched.values()))  # the rules' zones, tested all at once
        self._of_type: dict[type[Rule], list[int]] = {}  # rule indices by class, for evaluate_all
        for i, r in enumerate(self.rules):
            self._of_type.setdefault(type(r), []).append(i)
        self.lifecycle = Lifecycle(scene.name, scene.camera, scene.lifecycle)
        self.stats = EngineStats()
        self._last_ns: int | None = None

    def update(self, tracks: Tracks, image: np.ndarray | None = None, seq: int | None = None) -> list[Event]:
        """Events raised, updated or ended by this ``Tracks`` update (``image``: BGR (H, W, 3) frame of
        the same instant for snapshots, optional), numbered ``seq``, ``seq + 1``, ... in order (a
        node passes its output topic's next ``seq``; None: every event has ``seq`` 0)."""
        if self._last_ns is not None and tracks.stamp_ns < self._last_ns:
            raise EventsError(f"tracks at {tracks.stamp_ns} ns are older than the previous update "
                              f"({self._last_ns} ns); updates must come in stamp order")
        ids = np.sort(tracks.track_id)
        if np.any(ids[1:] == ids[:-1]):
            raise EventsError(f"tracks at {tracks.stamp_ns} ns repeat a track_id in one update")
        located = self.locator.locate(tracks)
        frame = self._frame(tracks, located)
        self._last_ns = tracks.stamp_ns
        run = self.lifecycle.begin(frame, tracks.frame_id, image, seq)
        hits = 0
        for rule, found in zip(self.rules, self._evaluate(frame), strict=True):
            run.add(rule, found)
            hits += len(found)
        removed = tracks.track_id[tracks.status == TrackStatus.REMOVED].tolist()
        events = run.finish(set(self.history.forget(frame.t, removed)))
        s = self.stats
        s.updates += 1
        s.rows += len(frame)
        s.eligible += int(frame.eligible.sum())
        s.uncertain += int((frame.eligible & ~frame.certain).sum())
        s.hits += hits
        s.events += len(events)
        return events

    def _evaluate(self, frame: TrackFrame) -> Iterator[list[Hit]]:
        """Each rule's hits, in rule order, as soon as they are known: the first rule of a type
        runs every rule of that type at once (:meth:`~events.rules_base.Rule.evaluate_all`). Rules
        read only the frame and their own state, so the order they run in changes nothing."""
        done: dict[int, list[Hit]] = {}
        for i, rule in enumerate(self.rules):
            if i not in done:
                idx = self._of_type[type(rule)]
                found = type(rule).evaluate_all([self.rules[j] for j in idx], frame)
                done.update(zip(idx, found, strict=True))
            yield done.pop(i)

    def _frame(self, tracks: Tracks, loc: Located) -> TrackFrame:
        """The rules' view of the rows that are not REMOVED."""
        status = tracks.status
        keep: slice | np.ndarray = status != TrackStatus.REMOVED
        if keep.all():
            keep = slice(None)  # the usual case: every row, without copying them
        h, ts = self.history, self.scene.tracks
        t = h.seconds(tracks.stamp_ns)
        ids = tracks.track_id[keep]
        slots, fresh = h.slots(ids)
        xy, sigma, aspect = loc.xy[keep], loc.sigma[keep], loc.aspect[keep]
        box = None if loc.box is None else loc.box[keep]
        eligible = (status[keep] == TrackStatus.CONFIRMED) & (tracks.age[keep] >= ts.min_age) & \
            np.all(np.isfinite(xy), axis=1)
        h.touch(t, slots)
        if eligible.all():  # the usual case again
            h.record(t, slots, xy, aspect)
            velocity, speed_ok = h.velocity(t, slots)
        else:
            rows = np.nonzero(eligible)[0]
            h.record(t, slots[rows], xy[rows], aspect[rows])
            velocity = np.zeros((len(ids), 2))
            speed_ok = np.zeros(len(ids), bool)
            velocity[rows], speed_ok[rows] = h.velocity(t, slots[rows])
        return TrackFrame(stamp_ns=tracks.stamp_ns, t=t, frame=self.scene.frame, ids=ids, slots=slots,
                          fresh=fresh, class_id=tracks.class_id[keep], names=tracks.class_names,
                          eligible=eligible,
                          certain=eligible & (sigma <= self.scene.max_sigma), xy=xy, sigma=sigma,
                          aspect=aspect, box=box, velocity=velocity, speed_ok=speed_ok, history=h,
                          zones=self.zones)
