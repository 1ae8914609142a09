"""Track objects and their lifecycle: birth, confirmation, loss and removal.

A track is born TENTATIVE from an unmatched high-score detection (or CONFIRMED at once when it is
born in the first frame of a stream, as ByteTrack does), becomes CONFIRMED after ``n_init`` hits,
LOST when a frame passes without a match, and REMOVED when it stays unmatched longer than
``max_age_s`` seconds (or ``max_age_frames`` frames, whichever comes first). A TENTATIVE track
that misses once is REMOVED. Track ids come from a counter owned by the tracker and are never
reused; a track keeps the class it was born with.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from percept.messages import Tracks, TrackStatus


class MotionModel(Protocol):
    """What a track needs of its motion model (e.g. :class:`fusion.motion.BoxMotion`,
    :class:`fusion.motion3d.BoxMotion3D`): prediction over seconds, correction with a measurement,
    and the current box and velocity in the model's own layout and units."""

    def predict(self, dt_s: float) -> None: ...

    def update(self, z: np.ndarray) -> None: ...

    @property
    def box(self) -> np.ndarray: ...

    @property
    def velocity(self) -> np.ndarray: ...


class TrackState(enum.Enum):
    """Lifecycle state of a track."""

    TENTATIVE = 0
    CONFIRMED = 1
    LOST = 2
    REMOVED = 3


@dataclass(frozen=True)
class LifecycleConfig:
    """When tracks are confirmed and removed.

    Attributes:
        n_init: matched frames needed to confirm a track (its birth frame counts).
        confirm_first_frame: tracks born in a stream's first frame are confirmed at once.
        max_age_s: a LOST track unmatched for longer than this (seconds) is removed.
        max_age_frames: ... or for more than this many frames (0 disables the frame limit).
    """

    n_init: int = 2
    confirm_first_frame: bool = True
    max_age_s: float = 1.0
    max_age_frames: int = 0


class IdCounter:
    """Monotonic track ids (1, 2, ...), never reused; one per tracker (or shared by streams)."""

    def __init__(self) -> None:
        self._it: Iterator[int] = itertools.count(1)

    def next(self) -> int:
        return next(self._it)


class Track:
    """One tracked object.

    Attributes:
        id: unique positive id. class_id: class it was born with. confidence: last matched score.
        state: :class:`TrackState`. hits: matched frames. age: frames since birth.
        misses: consecutive unmatched frames. last_update_ns: stamp of the last match.
    """

    def __init__(self, track_id: int, motion: MotionModel, confidence: float, class_id: int,
                 stamp_ns: int) -> None:
        self.id = track_id
        self.class_id = int(class_id)
        self.confidence = float(confidence)
        self.motion = motion
        self.state = TrackState.TENTATIVE
        self.hits = 1
        self.age = 1
        self.misses = 0
        self.birth_ns = stamp_ns
        self.last_update_ns = stamp_ns
        self.updated = True  # matched in the current frame

    @property
    def box(self) -> np.ndarray:
        """The current box in the motion model's layout (``x1, y1, x2, y2`` pixels for an image box)."""
        return self.motion.box

    @property
    def velocity(self) -> np.ndarray:
        """The current velocity in the motion model's units (pixels/s or m/s)."""
        return self.motion.velocity

    def predict(self, dt_s: float) -> None:
        """Advance the motion model by ``dt_s`` seconds and start a new frame (unmatched)."""
        self.motion.predict(dt_s)
        self.age += 1
        self.updated = False

    def update(self, z: np.ndarray, confidence: float, stamp_ns: int, config: LifecycleConfig) -> None:
        """Correct with a matched detection ``z`` (the motion model's measurement); confirm or revive."""
        self.motion.update(z)
        self.confidence = float(confidence)
        self.hits += 1
        self.misses = 0
        self.last_update_ns = stamp_ns
        self.updated = True
        confirm = self.state == TrackState.TENTATIVE and self.hits >= config.n_init
        if self.state == TrackState.LOST or confirm:
            self.state = TrackState.CONFIRMED

    def __repr__(self) -> str:
        return f"Track(id={self.id}, {self.state.name}, class={self.class_id}, hits={self.hits})"


def initiate(ids: IdCounter, motion: MotionModel, confidence: float, class_id: int, stamp_ns: int,
             first_frame: bool, config: LifecycleConfig) -> Track:
    """A new track from an unmatched detection, its motion model already started on it (CONFIRMED
    at once in a stream's first frame when ``config.confirm_first_frame``, or when ``n_init <= 1``)."""
    track = Track(ids.next(), motion, confidence, class_id, stamp_ns)
    if (first_frame and config.confirm_first_frame) or config.n_init <= 1:
        track.state = TrackState.CONFIRMED
    return track


def mark_missed(track: Track, stamp_ns: int, config: LifecycleConfig) -> None:
    """Apply one unmatched frame: TENTATIVE -> REMOVED, CONFIRMED -> LOST, LOST -> REMOVED when
    older than ``max_age_s`` seconds (or ``max_age_frames`` frames) since its last match."""
    track.misses += 1
    if track.state == TrackState.TENTATIVE:
        track.state = TrackState.REMOVED
        return
    if track.state == TrackState.CONFIRMED:
        track.state = TrackState.LOST
    too_old_s = (stamp_ns - track.last_update_ns) * 1e-9 > config.max_age_s
    too_old_frames = config.max_age_frames > 0 and track.misses > config.max_age_frames
    if too_old_s or too_old_frames:
        track.state = TrackState.REMOVED


def reported(tracks: list[Track], include_all: bool = False) -> list[Track]:
    """The tracks a tracker reports for the current frame: CONFIRMED ones matched in it, or with
    ``include_all`` every track not REMOVED (TENTATIVE and LOST too)."""
    if include_all:
        return [t for t in tracks if t.state != TrackState.REMOVED]
    return [t for t in tracks if t.state == TrackState.CONFIRMED and t.updated]


def tracks_message(tracks: list[Track], state: np.ndarray, state_fields: tuple[str, ...], *, stamp_ns: int,
                   frame_id: str, seq: int, class_names: tuple[str, ...] = ()) -> Tracks:
    """``tracks`` as a ``Tracks`` message: ``state`` float (len(tracks), D) named by ``state_fields``;
    one sensor, ``frame_id`` (the frame the tracks live in); ``status`` from each :class:`TrackState`."""
    return Tracks(stamp_ns=stamp_ns, frame_id=frame_id, seq=seq,
                  track_id=np.array([t.id for t in tracks], np.int64),
                  class_id=np.array([t.class_id for t in tracks], np.int32),
                  confidence=np.array([t.confidence for t in tracks], np.float32),
                  state=np.asarray(state, np.float32).reshape(len(tracks), len(state_fields)),
                  state_fields=state_fields,
                  age=np.array([t.age for t in tracks], np.int32),
                  status=np.array([TrackStatus[t.state.name] for t in tracks], np.uint8),
                  sensors=np.ones(len(tracks), np.uint32), sensor_names=(frame_id,), class_names=class_names)
