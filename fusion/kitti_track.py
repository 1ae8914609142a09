"""The fusion tracker on KITTI tracking sequences: PointRCNN boxes in, KITTI result rows out.

Per sequence (:func:`track_sequence`): the oxts ego poses (``T_world_from_imu``, world = the IMU
frame of frame 0) and the calibration's frame tree feed :class:`~fusion.ego.EgoPoses`; every frame
``k`` (stamp ``k * 100 ms``) its detections (``Detections3D`` in the rectified camera frame
:data:`~calib.kitti.KITTI_CAMERA_FRAME`) go to :meth:`FusionTracker.update_boxes` as sensor
:data:`SENSOR`, and the reported tracks (world frame, z up) are moved back into the camera frame
of that frame (:func:`tracks_in_camera`: geometric centre, KITTI ``ry``) and written as KITTI
result rows (:func:`fusion.kitti_results.tracks_to_results`: 2D box = the projected 3D box clipped
to the image, score = the track confidence). ``percept track3d`` (:mod:`fusion.cli`) and
``percept bench track3d`` (:mod:`bench.track3d_fusion`) run this.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from calib.kitti import KITTI_CAMERA_FRAME
from calib.transform import Transform
from fusion.ego import EgoPoses, transform_boxes
from fusion.errors import TrackingError
from fusion.fusion_config import FusionTrackerConfig
from fusion.fusion_tracker import FusionTracker
from fusion.kitti_results import (
    concat_boxes,
    sequence_image_size,
    track_mean_scores,
    tracks_to_results,
    write_results,
)
from percept.messages import Tracks
from sensors.datasets.kitti_tracking import DET_CLASSES, KittiBoxes, KittiTrackingSequence
from sensors.errors import SensorError

#: Sensor name of the KITTI detections in the tracker's configuration (``sensors.kitti``).
SENSOR = "kitti"
#: Per-frame callback: ``(frame, tracks in the world frame)``.
FrameHook = Callable[[int, Tracks], None]


@dataclass(frozen=True)
class SequenceRun:
    """One tracked sequence: its name (``NNNN``), frames, the tracker's own time (seconds,
    ``update_boxes`` only) and the result rows (float64, camera frame)."""

    sequence: str
    frames: int
    seconds: float
    results: KittiBoxes

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def ego_poses(config: FusionTrackerConfig, seq: KittiTrackingSequence) -> EgoPoses:
    """The sequence's oxts poses (one per frame, at ``k * 100 ms``) with its calibration tree; the
    configuration must name ``imu`` its ego frame and have a box sensor :data:`SENSOR` (vertical y)."""
    if not len(seq.poses):
        raise TrackingError(f"sequence {seq.sequence:04d}: no oxts poses (ego motion needs them)")
    if config.ego_frame != "imu":
        raise TrackingError(f"KITTI poses locate the frame 'imu'; the configuration's ego_frame is "
                            f"{config.ego_frame!r}")
    scfg = config.for_sensor(SENSOR)
    if scfg.kind != "box" or scfg.vertical != "y":
        raise TrackingError(f"sensors.{SENSOR}: KITTI boxes need kind 'box' and vertical 'y' (camera frame), "
                            f"got {scfg.kind!r} and {scfg.vertical!r}")
    ego = EgoPoses(config.fixed_frame, config.ego_frame, seq.frame_tree(), config.max_extrapolation_s)
    for k in range(len(seq)):
        ego.add(seq.stamp_ns(k), seq.pose(k))
    return ego


def tracks_in_camera(tracks: Tracks, T_cam_from_world: Transform,
                     frame_id: str = KITTI_CAMERA_FRAME) -> Tracks:
    """Fusion ``tracks`` (STATE_FIELDS in a z-up frame) as boxes of the KITTI camera frame: geometric
    centre (metres, y down), ``yaw`` = KITTI ``ry``, velocity along the camera axes (no covariance)."""
    s = tracks.state.astype(np.float64)
    centre, ry = transform_boxes(T_cam_from_world, s[:, :3], s[:, 6], "z", "y")
    vel = s[:, 7:10] @ T_cam_from_world.rotation.T
    state = np.concatenate([centre, s[:, 3:6], ry[:, None], vel], axis=1)
    return replace(tracks, frame_id=frame_id, state=state.astype(np.float32), covariance=None)


def track_sequence(config: FusionTrackerConfig, seq: KittiTrackingSequence,
                   on_frame: FrameHook | None = None) -> SequenceRun:
    """Track every frame of ``seq`` with a fresh tracker; result rows of every reported track."""
    ego = ego_poses(config, seq)
    tracker = FusionTracker(config, ego)
    calib = seq.calibration()
    size = sequence_image_size(seq.root, f"{seq.sequence:04d}")
    rows, secs = [], 0.0
    for k in range(len(seq)):
        stamp = seq.stamp_ns(k)
        dets = seq.detections3d(k, stamp, k)
        t0 = time.perf_counter()
        tracks = tracker.update_boxes(dets, SENSOR)
        secs += time.perf_counter() - t0
        if on_frame is not None:
            on_frame(k, tracks)
        cam = tracks_in_camera(tracks, ego.fixed_from(KITTI_CAMERA_FRAME, stamp).inverse())
        rows.append(tracks_to_results(cam, k, calib, size))
    return SequenceRun(f"{seq.sequence:04d}", len(seq), secs, concat_boxes(rows))


def parse_sequences(text: str) -> list[int]:
    """``"0001,6, 8"`` -> ``[1, 6, 8]``; a clear error for anything else."""
    out = []
    for part in text.split(","):
        if not part.strip():
            continue
        if not part.strip().isdigit():
            raise TrackingError(f"--seqs: expected comma-separated sequence numbers, got {part.strip()!r}")
        out.append(int(part))
    if not out:
        raise TrackingError("--seqs: no sequence given")
    return out


def open_sequence(det_dir: Path, calib_dir: Path, oxts_dir: Path, s: int) -> KittiTrackingSequence:
    """Sequence ``s`` from the three folders (no labels); missing files are a :class:`TrackingError`."""
    name = f"{s:04d}.txt"
    for what, path in (("calibration", calib_dir / name), ("oxts", oxts_dir / name)):
        if not path.is_file():
            raise TrackingError(f"sequence {s:04d}: no {what} file {path}")
    if not any((det_dir / c / name).is_file() for c in DET_CLASSES):
        raise TrackingError(f"sequence {s:04d}: no detections {det_dir}/{{{','.join(DET_CLASSES)}}}/{name}")
    try:
        return KittiTrackingSequence(det_dir.parent, s, det_dir=det_dir, calib_dir=calib_dir,
                                     oxts_dir=oxts_dir, with_labels=False)
    except SensorError as exc:
        raise TrackingError(str(exc)) from exc


def track_folders(config: FusionTrackerConfig, det_dir: str | Path, calib_dir: str | Path,
                  oxts_dir: str | Path, seqs: Iterable[int], out: str | Path | None = None,
                  progress: Callable[[SequenceRun], None] | None = None,
                  track_scores: bool = True) -> list[SequenceRun]:
    """Track sequences ``seqs`` of the folders; with ``out``, write ``OUT/<Class>/<seq>.txt`` for
    every detector class (empty files included). With ``track_scores`` every written row carries
    its track's mean confidence (:func:`~fusion.kitti_results.track_mean_scores`), else the
    confidence of its frame."""
    det, cal, ox = Path(det_dir), Path(calib_dir), Path(oxts_dir)
    if not det.is_dir():
        raise TrackingError(f"--kitti-det {det}: not a folder")
    runs = []
    for s in seqs:
        run = track_sequence(config, open_sequence(det, cal, ox, s))
        if out is not None:
            rows = track_mean_scores(run.results) if track_scores else run.results
            write_results(out, run.sequence, rows, DET_CLASSES)
        runs.append(run)
        if progress is not None:
            progress(run)
    return runs
