"""Anomaly score per track and per frame from a scene's normal-motion model and class cues.

Per track (:class:`TrackScore`), two cues in [0, 1], combined as independent evidence (noisy-OR,
``1 - (1 - class) (1 - motion)``):

* **class**: the scene's anomaly prior of the track's class (``class_weights``: 1 for objects
  that do not belong in the scene, e.g. vehicles on a footpath; unlisted classes 0) times the
  track's mean detector confidence over its last ``class_window`` measured frames. Averaging on
  the track, not the frame, keeps one flickering false detection from scoring like a persistent
  object;
* **motion**: how unusually fast the track moves at its place under the learned
  :class:`~events.normal.NormalMotionModel`: the median over its last ``motion_window`` speed
  z-scores, through a logistic ``sigmoid((z - motion_z0) / motion_scale)`` centred at a 3-sigma
  excess. The median asks for a sustained excess, so one jump of a box (an occlusion, an id
  switch in a crowd) is not taken for a cyclist.

A LOST track (the detector missed it, the tracker still predicts it) keeps its last score, decayed
by ``exp(-t / coast_tau_s)`` while its predicted box still overlaps the image: an object half
hidden at the image border or behind a crowd is still there. TENTATIVE rows are ignored.

Per frame (:class:`FrameScore`): the maximum over its tracks (0 without tracks); the offline
pipeline smooths the series with :func:`smooth_scores` (a centred Gaussian of ``smooth_s``), a
live consumer with :class:`CausalSmoother` (an exponential moving average).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from events.errors import EventsError
from events.normal import NormalMotionModel, Observation, TrackFeatures
from percept.messages import Tracks, TrackStatus


@dataclass(frozen=True)
class AnomalyScoreConfig:
    """Settings of :class:`AnomalyScorer` (see the module docstring for each cue).

    Attributes:
        class_weights: class name -> anomaly prior in [0, 1]; unlisted classes weigh 0.
        class_window: measured frames of a track's confidence averaged.
        motion_window: a track's speed z: median over its last this many observations.
        motion_z0, motion_scale: logistic centre and width on the speed z.
        motion_weight: scale of the motion cue in [0, 1] (0 turns it off).
        coast_tau_s: decay time of a LOST track's score, seconds.
        smooth_s: temporal smoothing of the frame score, seconds (Gaussian sigma offline, EMA time
            constant online); 0 turns it off.
        learn_online: every measured normal-class observation also updates the model.
    """

    class_weights: dict[str, float] = field(default_factory=dict)
    class_window: int = 5
    motion_window: int = 10
    motion_z0: float = 3.0
    motion_scale: float = 1.0
    motion_weight: float = 1.0
    coast_tau_s: float = 2.0
    smooth_s: float = 0.3
    learn_online: bool = False

    def __post_init__(self) -> None:
        for name, w in self.class_weights.items():
            if not 0.0 <= float(w) <= 1.0:
                raise EventsError(f"score.class_weights.{name}: expected a weight in [0, 1], got {w}")
        for name in ("class_window", "motion_window"):
            if int(getattr(self, name)) < 1:
                raise EventsError(f"score.{name}: expected >= 1, got {getattr(self, name)}")
        if not self.motion_scale > 0 or not self.coast_tau_s > 0:
            raise EventsError("score.motion_scale and score.coast_tau_s: expected > 0")
        if not 0.0 <= self.motion_weight <= 1.0:
            raise EventsError(f"score.motion_weight: expected a value in [0, 1], got {self.motion_weight}")
        if self.smooth_s < 0:
            raise EventsError(f"score.smooth_s: expected >= 0, got {self.smooth_s}")


@dataclass(frozen=True)
class TrackScore:
    """Anomaly score of one track in one frame.

    Attributes:
        track_id, class_name: the track. score: combined score in [0, 1].
        class_score, motion_score: the two cues in [0, 1]. speed: h/s (``nan`` while unknown).
        speed_z: the track's median speed z (``nan`` while unknown). cx, cy: normalised centre.
        measured: matched in this frame (else a coasting LOST track).
    """

    track_id: int
    class_name: str
    score: float
    class_score: float
    motion_score: float
    speed: float
    speed_z: float
    cx: float
    cy: float
    measured: bool


@dataclass(frozen=True)
class FrameScore:
    """Anomaly score of one frame: ``score`` (max over ``tracks``, 0 when empty) at ``stamp_ns``."""

    stamp_ns: int
    score: float
    tracks: tuple[TrackScore, ...] = ()

    @property
    def top(self) -> TrackScore | None:
        """The highest-scoring track, ``None`` without tracks."""
        return max(self.tracks, key=lambda t: t.score, default=None)


@dataclass
class _TrackState:
    confidences: deque[float]
    speed_z: deque[float]
    score: float = 0.0


class AnomalyScorer:
    """Scores the ``Tracks`` messages of one image stream (``image_wh`` pixels) under ``model``."""

    def __init__(self, config: AnomalyScoreConfig, model: NormalMotionModel,
                 image_wh: tuple[int, int]) -> None:
        self.config = config
        self.model = model
        self.features = TrackFeatures(model.config, image_wh)
        self._tracks: dict[int, _TrackState] = {}

    def update(self, tracks: Tracks) -> FrameScore:
        """Score one frame's tracks (CONFIRMED and LOST rows; TENTATIVE ones are skipped)."""
        keep = np.flatnonzero(np.asarray(tracks.status) != TrackStatus.TENTATIVE)
        obs = self.features.update(_rows(tracks, keep))
        if self.config.learn_online:
            self.model.add_observations(obs)
        z = self.model.speed_z(np.array([o.cx for o in obs]), np.array([o.cy for o in obs]),
                               np.array([o.speed for o in obs])) if obs else np.zeros(0)
        scored = tuple(self._score(o, float(zi)) for o, zi in zip(obs, z, strict=True))
        live = {o.track_id for o in obs}
        self._tracks = {k: v for k, v in self._tracks.items() if k in live}
        best = max((t.score for t in scored), default=0.0)
        return FrameScore(int(tracks.stamp_ns), best, scored)

    def _score(self, o: Observation, z: float) -> TrackScore:
        c = self.config
        st = self._tracks.get(o.track_id)
        if st is None:
            st = _TrackState(deque(maxlen=c.class_window), deque(maxlen=c.motion_window))
            self._tracks[o.track_id] = st
        if o.measured:
            st.confidences.append(o.confidence)
            if math.isfinite(z):
                st.speed_z.append(z)
        weight = float(c.class_weights.get(o.class_name, 0.0))
        class_score = weight * float(np.mean(st.confidences)) if st.confidences else 0.0
        med_z = float(np.median(st.speed_z)) if st.speed_z else math.nan
        motion = 0.0
        if not math.isnan(med_z):
            motion = c.motion_weight * _sigmoid((med_z - c.motion_z0) / c.motion_scale)
        if o.measured:
            st.score = 1.0 - (1.0 - class_score) * (1.0 - motion)
            score = st.score
        else:
            score = st.score * math.exp(-o.since_measured_s / c.coast_tau_s) if o.inside else 0.0
        return TrackScore(o.track_id, o.class_name, score, class_score, motion, o.speed, med_z, o.cx, o.cy,
                          o.measured)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def _rows(tracks: Tracks, index: np.ndarray) -> Tracks:
    """``tracks`` restricted to rows ``index`` (the message itself when it keeps every row)."""
    if len(index) == len(tracks.track_id):
        return tracks
    cov = None if tracks.covariance is None else tracks.covariance[index]
    return tracks.replace(track_id=tracks.track_id[index], class_id=tracks.class_id[index],
                          confidence=tracks.confidence[index], state=tracks.state[index],
                          age=tracks.age[index], status=tracks.status[index], sensors=tracks.sensors[index],
                          covariance=cov)


def smooth_scores(scores: np.ndarray, fps: float, smooth_s: float) -> np.ndarray:
    """Centred Gaussian smoothing of a per-frame score series (sigma ``smooth_s`` seconds at ``fps``
    frames per second; edges repeat the end values). Returns float64 (N,)."""
    scores = np.asarray(scores, np.float64)
    sigma = smooth_s * fps
    if sigma <= 0 or len(scores) < 2:
        return scores.copy()
    return gaussian_filter1d(scores, sigma, mode="nearest")


class CausalSmoother:
    """Exponential moving average of a frame score with time constant ``tau_s`` seconds."""

    def __init__(self, tau_s: float) -> None:
        self.tau_s = tau_s
        self.value: float | None = None
        self._last_ns: int | None = None

    def update(self, stamp_ns: int, score: float) -> float:
        """The smoothed score after ``score`` at ``stamp_ns``."""
        if self.value is None or self._last_ns is None or self.tau_s <= 0:
            self.value = score
        else:
            a = 1.0 - math.exp(-max(0, stamp_ns - self._last_ns) * 1e-9 / self.tau_s)
            self.value += a * (score - self.value)
        self._last_ns = stamp_ns
        return self.value
