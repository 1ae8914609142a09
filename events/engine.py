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

from collections.abc import Sequence

import numpy as np

from events.errors import EventsError
from events.geometry import Located, Locator
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
        self.lifecycle = Lifecycle(scene.name, scene.camera, scene.lifecycle)
        self.stats = EngineStats()
        self._last_ns: int | None = None

    def update(self, tracks: Tracks, image: np.ndarray | None = None) -> list[Event]:
        """Events raised, updated or ended by this ``Tracks`` update (``image``: BGR (H, W, 3) frame of
        the same instant for snapshots, optional)."""
        if self._last_ns is not None and tracks.stamp_ns < self._last_ns:
            raise EventsError(f"tracks at {tracks.stamp_ns} ns are older than the previous update "
                              f"({self._last_ns} ns); updates must come in stamp order")
        if len(np.unique(tracks.track_id)) != len(tracks):
            raise EventsError(f"tracks at {tracks.stamp_ns} ns repeat a track_id in one update")
        located = self.locator.locate(tracks)
        frame = self._frame(tracks, located)
        self._last_ns = tracks.stamp_ns
        hits: list[tuple[Rule, Hit]] = [(rule, h) for rule in self.rules for h in rule.evaluate(frame)]
        removed = tracks.track_id[tracks.status == TrackStatus.REMOVED].tolist()
        gone = set(self.history.forget(frame.t, removed))
        events = self.lifecycle.step(frame, tracks.frame_id, hits, gone, image)
        s = self.stats
        s.updates += 1
        s.rows += len(frame)
        s.eligible += int(frame.eligible.sum())
        s.uncertain += int((frame.eligible & ~frame.certain).sum())
        s.hits += len(hits)
        s.events += len(events)
        return events

    def _frame(self, tracks: Tracks, loc: Located) -> TrackFrame:
        """The rules' view of the rows that are not REMOVED."""
        keep = tracks.status != TrackStatus.REMOVED
        h, ts = self.history, self.scene.tracks
        t = h.seconds(tracks.stamp_ns)
        ids = tracks.track_id[keep]
        slots, fresh = h.slots(ids)
        xy, sigma, aspect = loc.xy[keep], loc.sigma[keep], loc.aspect[keep]
        box = None if loc.box is None else loc.box[keep]
        eligible = (tracks.status[keep] == TrackStatus.CONFIRMED) & (tracks.age[keep] >= ts.min_age) & \
            np.all(np.isfinite(xy), axis=1)
        rows = np.nonzero(eligible)[0]
        h.touch(t, slots)
        h.record(t, slots[rows], xy[rows], aspect[rows])
        velocity = np.zeros((len(ids), 2))
        speed_ok = np.zeros(len(ids), bool)
        velocity[rows], speed_ok[rows] = h.velocity(t, slots[rows])
        return TrackFrame(stamp_ns=tracks.stamp_ns, t=t, frame=self.scene.frame, ids=ids, slots=slots,
                          fresh=fresh, class_id=tracks.class_id[keep], names=tracks.class_names,
                          eligible=eligible,
                          certain=eligible & (sigma <= self.scene.max_sigma), xy=xy, sigma=sigma,
                          aspect=aspect, box=box, velocity=velocity, speed_ok=speed_ok, history=h)
