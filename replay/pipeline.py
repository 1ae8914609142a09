"""The offline anomaly pipeline: camera frames -> detector -> 2D trackers -> anomaly score (+ rules).

:class:`AnomalyPipeline` composes the layers below it: ``sensors`` reads the frames of a folder or
video, ``perception.Detector`` finds objects, one ``fusion.Tracker2D`` per class group tracks them
(people and vehicles apart, so a bicycle is not merged into its rider's track; ids unique across
groups), and :mod:`events.normal_score` scores every frame under the scene's learned
:class:`~events.normal.NormalMotionModel`. Where that model comes from is the scene's
``normal_model``:

* ``"scene"``: fitted on the source itself, a robust statistic over the whole video that is
  mostly normal (two passes: track every frame, fit, then score);
* ``"online"``: learned while running, from an empty model (the motion cue starts once the first
  normal tracks have been measured);
* a path: a model file written by ``percept anomaly fit`` on normal footage.

A rules engine plugs in through ``event_engine`` (any object with ``update(tracks) -> list[Event]``,
fed every frame's ``Tracks``: ``percept anomaly`` passes an :class:`events.engine.EventEngine` of the
scene's rules, the one implementation ``percept watch``'s events node runs too); besides its events
the pipeline raises ``event_type: "anomaly"`` events itself where the causally smoothed frame score
crosses ``events.threshold`` (:class:`ScoreEvents`).

A scene file (``configs/scenes/*.yaml``) is read by the one scene loader,
:func:`events.scene.load_scene` (:func:`load_anomaly_scene`): its zones, lines and rules for the
engine, its ``anomaly`` section as :class:`AnomalySceneConfig` (``Scene.anomaly``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from events.normal import NormalModelConfig, NormalMotionModel, TrackFeatures
from events.normal_score import AnomalyScoreConfig, AnomalyScorer, CausalSmoother, FrameScore, smooth_scores
from events.scene import Scene, load_scene
from fusion.lifecycle import IdCounter, reported, tracks_message
from fusion.tracker2d import Tracker2D, Tracker2DConfig
from percept.data import DataNotFound, model_path
from percept.detections import Detections
from percept.errors import ConfigError
from percept.messages import Event, EventPhase, Severity, Tracks
from perception.detector import Detector, DetectorConfig
from sensors.camera_sources import BadFrame, EndOfStream, open_reader

log = logging.getLogger(__name__)

STATE_FIELDS = ("x1", "y1", "x2", "y2", "vx", "vy")


@dataclass(frozen=True)
class TrackGroup:
    """Classes tracked together by one :class:`Tracker2D` (``classes`` empty: every class no
    other group names)."""

    name: str
    classes: tuple[str, ...] = ()
    tracker: Tracker2DConfig = field(default_factory=Tracker2DConfig)


@dataclass(frozen=True)
class ScoreEventsConfig:
    """When the frame score raises an ``anomaly`` event.

    Attributes:
        threshold: an event starts when the causally smoothed frame score reaches this (> 1: never).
        release: ... and ends when it falls below this (hysteresis, <= threshold).
        severity: of the events raised.
    """

    threshold: float = 0.5
    release: float = 0.35
    severity: str = "warning"

    def __post_init__(self) -> None:
        # ValueError: percept.config.build prefixes the file and key path
        if not 0.0 <= self.release <= self.threshold:
            raise ValueError(f"need 0 <= release <= threshold, got {self.release}, {self.threshold}")
        if self.severity not in {s.value for s in Severity}:
            raise ValueError(f"severity: expected one of {[s.value for s in Severity]}, "
                             f"got {self.severity!r}")


@dataclass(frozen=True)
class AnomalySceneConfig:
    """The ``anomaly`` section of a scene file (defaults in code; see ``configs/scenes``).

    Attributes:
        camera: camera or scene name (events' ``camera``, their ids' prefix).
        fps: frame rate of image folders (videos use their container's).
        detector: the detector; a bare ``model`` file name is looked up in the shared models folder.
        min_confidence: detections scoring below this are dropped before tracking.
        groups: the class groups, each tracked apart.
        normal: the normal-motion model's grid and features.
        normal_model: ``"scene"``, ``"online"`` or a model file (see the module docstring).
        score: the score's cues; events: the score-threshold events.
    """

    camera: str = "camera"
    fps: float = 10.0
    detector: DetectorConfig = field(default_factory=lambda: DetectorConfig(model="yolox_nano_coco_416.onnx"))
    min_confidence: float = 0.05
    groups: tuple[TrackGroup, ...] = (TrackGroup("all"),)
    normal: NormalModelConfig = field(default_factory=NormalModelConfig)
    normal_model: str = "scene"
    score: AnomalyScoreConfig = field(default_factory=AnomalyScoreConfig)
    events: ScoreEventsConfig = field(default_factory=ScoreEventsConfig)

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"fps: expected > 0, got {self.fps}")
        if not self.groups:
            raise ValueError("groups: expected at least one class group")
        if sum(1 for g in self.groups if not g.classes) > 1:
            raise ValueError("groups: at most one group may leave 'classes' empty (the rest)")


def load_anomaly_scene(path: str | Path) -> Scene:
    """Scene file ``path`` read by the one scene loader (:func:`events.scene.load_scene`), its
    ``anomaly`` section validated as :class:`AnomalySceneConfig` (``scene.anomaly``; defaults when
    absent); :class:`~events.errors.EventsError` names the file, line and key."""
    return load_scene(path, anomaly=AnomalySceneConfig)


def resolve_model(detector: DetectorConfig) -> DetectorConfig:
    """``detector`` with a bare model name that is no file here looked up in the shared models."""
    p = Path(detector.model)
    if p.exists() or p.parent != Path("."):
        return detector
    try:
        return dataclasses.replace(detector, model=str(model_path(detector.model)))
    except DataNotFound as exc:
        raise ConfigError(f"detector.model: {detector.model!r} is no file here and {exc}") from exc


class EventEngine(Protocol):
    """A rules engine: one frame's tracks in, the events they raise out."""

    def update(self, tracks: Tracks) -> list[Event]: ...


class ScoreEvents:
    """``anomaly`` events from a frame-score series: start at ``threshold``, end below ``release``
    (scores smoothed causally with ``smooth_s``); ids ``<camera>-anomaly-<n>``."""

    def __init__(self, config: ScoreEventsConfig, camera: str, smooth_s: float) -> None:
        self.config = config
        self.camera = camera
        self.smoother = CausalSmoother(smooth_s)
        self.count = 0
        self.active: Event | None = None

    def update(self, frame: FrameScore) -> list[Event]:
        """The events (start or end) this frame raises."""
        value = self.smoother.update(frame.stamp_ns, frame.score)
        if self.active is None and value >= self.config.threshold:
            self.count += 1
            self.active = self._event(frame, value, EventPhase.START, f"{self.camera}-anomaly-{self.count}")
            return [self.active]
        if self.active is not None and value < self.config.release:
            ended = self._event(frame, value, EventPhase.END, self.active.event_id, self.active.track_ids)
            self.active = None
            return [ended]
        return []

    def finish(self, frame: FrameScore) -> list[Event]:
        """The ``end`` of the event still active when the source ends at ``frame`` (if any)."""
        if self.active is None:
            return []
        value = self.smoother.value if self.smoother.value is not None else frame.score
        ended = self._event(frame, value, EventPhase.END, self.active.event_id, self.active.track_ids)
        self.active = None
        return [ended]

    def _event(self, frame: FrameScore, value: float, phase: EventPhase, event_id: str,
               track_ids: tuple[int, ...] | None = None) -> Event:
        top = frame.top
        evidence: dict[str, int | float | str | bool] = {"score": round(value, 4)}
        if top is not None:
            evidence.update(track_class=top.class_name, class_score=round(top.class_score, 4),
                            motion_score=round(top.motion_score, 4))
            if np.isfinite(top.speed):
                evidence["speed_h_per_s"] = round(top.speed, 3)
            if np.isfinite(top.speed_z):
                evidence["speed_z"] = round(top.speed_z, 3)
        ids = track_ids if track_ids is not None else ((top.track_id,) if top is not None else ())
        what = f"{top.class_name} track {top.track_id}" if top is not None else "scene"
        text = f"anomaly {phase.value}: {what}, score {value:.2f}"
        return Event(stamp_ns=frame.stamp_ns, frame_id=self.camera, event_type="anomaly",
                     severity=self.config.severity, track_ids=ids, evidence=evidence, text=text,
                     event_id=event_id, phase=phase, camera=self.camera)


@dataclass
class AnomalyResult:
    """What a run produced: ``scores`` float64 (N,) smoothed per-frame scores (frame n is
    ``scores[n-1]``), ``raw`` the unsmoothed ones, ``events`` in order, ``frames`` FrameScores."""

    scores: np.ndarray
    raw: np.ndarray
    events: list[Event]
    frames: list[FrameScore]
    unreadable: int = 0


class AnomalyPipeline:
    """Runs one scene's pipeline over frames (see the module docstring)."""

    def __init__(self, scene: AnomalySceneConfig, detector: Detector | None = None,
                 event_engine: EventEngine | None = None,
                 normal_model: NormalMotionModel | None = None) -> None:
        self.scene = scene
        self._detector = detector
        self.event_engine = event_engine
        self.normal_model = normal_model
        if normal_model is None and scene.normal_model not in ("scene", "online"):
            self.normal_model = NormalMotionModel.load(scene.normal_model)
        ids = IdCounter()
        self.trackers = [(g, Tracker2D(g.tracker, ids)) for g in scene.groups]
        self.class_names: tuple[str, ...] = ()
        self._seq = 0

    @property
    def detector(self) -> Detector:
        """The detector (built from the scene on first use)."""
        if self._detector is None:
            self._detector = Detector(resolve_model(self.scene.detector))
        return self._detector

    def close(self) -> None:
        """Release the detector."""
        if self._detector is not None:
            self._detector.close()

    def track(self, detections: Detections, stamp_ns: int, class_names: tuple[str, ...]) -> Tracks:
        """One frame's detections (source pixels) -> ``Tracks`` of every group: CONFIRMED and LOST
        rows, state ``x1, y1, x2, y2`` (pixels) and ``vx, vy`` (pixels/s)."""
        self.class_names = class_names
        dets = detections[np.flatnonzero(detections.confidence >= self.scene.min_confidence)]
        names = np.array([class_names[c] if 0 <= c < len(class_names) else str(c) for c in dets.class_id])
        named = {n for g in self.scene.groups for n in g.classes}
        rows = []
        for group, tracker in self.trackers:
            mine = np.isin(names, group.classes) if group.classes else ~np.isin(names, list(named))
            tracker.update(dets[np.flatnonzero(mine)], stamp_ns)
            rows += [t for t in reported(tracker.tracks, include_all=True)]
        state = np.array([[*t.box, *t.velocity] for t in rows], np.float32).reshape(-1, len(STATE_FIELDS))
        self._seq += 1
        return tracks_message(rows, state, STATE_FIELDS, stamp_ns=stamp_ns, frame_id=self.scene.camera,
                              seq=self._seq, class_names=class_names)

    def frames(self, source: str | Path) -> Iterator[tuple[int, int, np.ndarray | None]]:
        """``(frame number from 1, stamp_ns, BGR image or None if unreadable)`` of a folder or video."""
        reader = open_reader(str(source), fps=self.scene.fps, open_timeout_ms=5000, read_timeout_ms=5000)
        n = 0
        try:
            while True:
                n += 1
                try:
                    raw = reader.read()
                except EndOfStream:
                    return
                except BadFrame as exc:
                    log.warning("frame %d: %s", n, exc)
                    yield n, round((n - 1) * 1e9 / self.scene.fps), None
                    continue
                stamp = raw.stream_ns if raw.stream_ns is not None else round((n - 1) * 1e9 / self.scene.fps)
                yield n, int(stamp), raw.bgr
        finally:
            reader.close()

    def run(self, source: str | Path, progress: Callable[[int], None] | None = None) -> AnomalyResult:
        """Detect, track and score every frame of ``source``; ``progress(n)`` after each frame."""
        tracked: list[tuple[Tracks, list[Event]]] = []
        image_wh: tuple[int, int] | None = None
        unreadable = 0
        empty = Detections.empty()
        for _n, stamp, image in self.frames(source):
            if image is None:
                unreadable += 1
                dets = empty
            else:
                image_wh = image_wh or (image.shape[1], image.shape[0])
                dets = self.detector.detect([image])[0]
            tracks = self.track(dets, stamp, self.detector.class_names)
            rules = self.event_engine.update(tracks) if self.event_engine is not None else []
            tracked.append((tracks, rules))
            if progress is not None:
                progress(len(tracked))
        if image_wh is None:
            raise ConfigError(f"--source {source}: no frame could be read")
        return self.score([t for t, _ in tracked], image_wh, [r for _, r in tracked], unreadable)

    def fit(self, tracks: Iterable[Tracks], image_wh: tuple[int, int]) -> NormalMotionModel:
        """A normal-motion model fitted on ``tracks`` (the scene's ``normal`` settings)."""
        model = NormalMotionModel(self.scene.normal)
        features = TrackFeatures(self.scene.normal, image_wh)
        for t in tracks:
            model.add_observations(features.update(t))
        return model

    def score(self, tracks: list[Tracks], image_wh: tuple[int, int],
              rule_events: list[list[Event]] | None = None, unreadable: int = 0) -> AnomalyResult:
        """Score a tracked sequence (one ``Tracks`` per frame) and raise its events."""
        scene = self.scene
        model = self.normal_model
        score_cfg = scene.score
        if model is None and scene.normal_model == "scene":
            model = self.fit(tracks, image_wh)
            log.info("normal-motion model fitted on the source: %d observations", model.n_observations)
        elif model is None:
            model = NormalMotionModel(scene.normal)
            score_cfg = dataclasses.replace(score_cfg, learn_online=True)
        scorer = AnomalyScorer(score_cfg, model, image_wh)
        raiser = ScoreEvents(scene.events, scene.camera, score_cfg.smooth_s)
        frames, events = [], []
        for i, t in enumerate(tracks):
            frame = scorer.update(t)
            frames.append(frame)
            events += rule_events[i] if rule_events else []
            events += raiser.update(frame)
        if frames:
            events += raiser.finish(frames[-1])
        raw = np.array([f.score for f in frames], np.float64)
        smoothed = smooth_scores(raw, scene.fps, score_cfg.smooth_s)
        return AnomalyResult(smoothed, raw, events, frames, unreadable)


def write_scores(path: str | Path, scores: np.ndarray) -> None:
    """``scores.txt``: one ``frame,score`` line per frame, frames from 1."""
    Path(path).write_text("".join(f"{i},{s:.6f}\n" for i, s in enumerate(scores, start=1)), encoding="utf-8")


def read_scores(path: str | Path) -> np.ndarray:
    """The scores of a ``scores.txt`` (frame n at index n - 1); errors name the file and line."""
    rows = []
    for k, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            frame, score = line.split(",")
            rows.append((int(frame), float(score)))
        except ValueError:
            raise ConfigError(f"{path}:{k}: expected 'frame,score', got {line!r}") from None
    rows.sort()
    return np.array([s for _, s in rows], np.float64)
