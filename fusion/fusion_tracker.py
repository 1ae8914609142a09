"""Multi-sensor Kalman fusion tracker in a fixed (world) frame, ego-motion compensated.

Every measurement is moved into the fixed frame with the ego pose at its own stamp
(:class:`~fusion.ego.EgoPoses`, interpolated) composed with the sensor's extrinsics, so that a
parked car stays put while the ego drives by. Tracks of each class live in a
:class:`~fusion.trackset.TrackSet` with that class's motion model (CV or CTRV, batched EKF,
:mod:`fusion.motion_world`). Per message, in stamp order (the reorder buffer,
:mod:`fusion.reorder`, sorts late data in front of this):

1. motion: predict every track to the stamp (older stamps are counted, ``stats.out_of_order``,
   and dropped);
2. measurement: transform the message into the fixed frame (a frame the tree cannot reach or a
   stamp without ego pose: counted, ``stats.unreachable``, skipped);
3. cost -> gate -> assign, per class for boxes (3D GIoU/IoU or centre distance, optional
   Mahalanobis gate, Hungarian or greedy), over all tracks for radar targets and camera boxes
   (Mahalanobis, chi-square gate, Hungarian);
4. EKF update of the matched tracks with the sensor's measurement model (:mod:`fusion.measurements`);
   every match of any sensor counts a hit (confirmation) and refreshes the track;
5. initiator: unmatched boxes of initiating sensors start tracks, and radar targets and camera
   boxes that no track gates do for sensors that ``starts_tracks`` (:mod:`fusion.births`); ids
   from the tracker's counter;
6. deleter: tracks unmatched by every sensor for longer than ``max_age_s`` go, and duplicates
   (boxes overlapping by ``merge_iou``) are merged into the better-supported track.

Output (:meth:`FusionTracker.report`): ``Tracks`` of the reportable tracks with ``state_fields``
:data:`~fusion.tracker3d.STATE_FIELDS` (centre, size, yaw, velocity; metres, radians, m/s),
covariance (10, 10) in that order, the sensor bitmask over ``sensor_names``, the class (index
into ``class_names``) and the confidence (:attr:`fusion.trackset.TrackSet.confidence`, by default
the mean matched detection score), in the fixed frame or
(:meth:`FusionTracker.in_ego`) in the ego frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import chi2

from calib.camera import CameraModel
from calib.transform import Transform
from fusion.association import assign, assign_greedy
from fusion.births import Births, camera_births, ego_pose, initial_states, not_duplicates, radar_births
from fusion.camera_models import BearingModel, CameraBoxModel
from fusion.ego import EgoPoses, transform_boxes
from fusion.errors import TrackingError
from fusion.fusion_config import FusionTrackerConfig, SensorConfig
from fusion.fusion_inputs import Measured, box_measurements, camera_measurements, radar_measurements
from fusion.geometry3d import box_overlaps, centre_distance
from fusion.lifecycle import IdCounter
from fusion.measurements import (
    POSITION_MODEL,
    BoxModel,
    RadarModel,
    ekf_update,
    likelihood_cost,
    mahalanobis,
)
from fusion.tracker3d import STATE_FIELDS
from fusion.trackset import TrackSet
from percept.messages import Detections2D, Detections3D, RadarScan, Tracks, TrackStatus

log = logging.getLogger(__name__)

#: Row order of the published state: internal index of x, y, z, length, width, height, yaw.
_BOX_ORDER = (0, 1, 2, 4, 5, 6, 3)


@dataclass
class FusionStats:
    """Counters: messages processed per kind, skipped (out of order, unreachable frame / pose),
    invalid boxes or targets dropped, camera boxes cut by the image border dropped, tracks born
    and removed."""

    frames: int = 0
    radar_scans: int = 0
    camera_frames: int = 0
    out_of_order: int = 0
    unreachable: int = 0
    invalid: int = 0
    truncated: int = 0
    born: int = 0
    removed: int = 0


class FusionTracker:
    """Tracks objects of any number of sensors in ``config.fixed_frame``.

    Args:
        config: the settings.
        ego: ego poses and sensor extrinsics (default: an empty history, enough for
            measurements already in the fixed frame).
        ids: the id counter (default: a new one owned by this tracker).
    """

    def __init__(
        self,
        config: FusionTrackerConfig | None = None,
        ego: EgoPoses | None = None,
        ids: IdCounter | None = None,
    ) -> None:
        self.config = cfg = config or FusionTrackerConfig()
        self.ego = ego if ego is not None else EgoPoses(
            cfg.fixed_frame, cfg.ego_frame, max_extrapolation_s=cfg.max_extrapolation_s
        )
        self.ids = ids or IdCounter()
        self.stats = FusionStats()
        self.class_names: list[str] = list(cfg.classes)
        self.sensor_names: list[str] = list(cfg.sensors)
        self.groups: dict[str, TrackSet] = {}
        self.t_ns: int | None = None
        self._cameras: dict[str, CameraModel] = {}

    # -- the steps ---------------------------------------------------------------------------
    def update(self, msg: Detections3D | RadarScan | Detections2D, sensor: str) -> Tracks:
        """Process one message of ``sensor`` (dispatch on its sensor kind); return the report."""
        kind = self.config.for_sensor(sensor).kind
        if isinstance(msg, Detections3D) and kind == "box":
            return self.update_boxes(msg, sensor)
        if isinstance(msg, RadarScan | Detections3D) and kind == "radar":
            return self.update_radar(msg, sensor)
        if isinstance(msg, Detections2D) and kind == "camera":
            return self.update_camera(msg, sensor)
        raise TrackingError(f"sensor {sensor!r} of kind {kind!r} cannot take a {type(msg).__name__}")

    def update_boxes(self, dets: Detections3D, sensor: str = "lidar") -> Tracks:
        """One frame of 3D boxes: associate per class, update, start and remove tracks."""
        scfg = self.config.for_sensor(sensor)
        meas = self._measure(dets, sensor, lambda T: box_measurements(dets, T, scfg.vertical, scfg.class_map))
        if meas is None:
            return self.report(dets.stamp_ns)
        z, score, cls = meas.z, meas.score, meas.cls
        self.stats.frames += 1
        self.stats.invalid += meas.invalid
        model, bit = BoxModel(scfg.box), self._sensor_bit(sensor)
        for name in np.unique(cls).tolist():
            rows = np.flatnonzero(cls == name)
            group = self._group(name)
            left = self._associate_boxes(group, z[rows], score[rows], model, bit, dets.stamp_ns)
            if scfg.starts_tracks:
                self._initiate(group, z[rows][left], score[rows][left], model, bit, dets.stamp_ns)
        self._prune(dets.stamp_ns)
        return self.report(dets.stamp_ns)

    def update_radar(self, scan: RadarScan | Detections3D, sensor: str = "radar") -> Tracks:
        """One radar scan (targets: range, azimuth, range rate) or radar ``Detections3D``:
        corrects the tracks it gates and, for a sensor that starts tracks, starts the rest."""
        scfg, stamp = self.config.for_sensor(sensor), scan.stamp_ns
        meas = self._measure(scan, sensor, lambda T: (T, radar_measurements(scan, scfg.class_map)))
        if meas is not None:
            T, m = meas
            v = np.zeros(3) if scfg.range_rate_compensated else self.ego.velocity(scan.frame_id, stamp)
            self.stats.radar_scans += 1
            self.stats.invalid += m.invalid
            left = self._associate_points(lambda g: RadarModel(scfg.radar, T, v, g.motion, scfg.reflection),
                                          m, scfg, sensor, stamp)
            if scfg.starts_tracks:
                ego = ego_pose(self.ego, stamp)
                self._birth(m, left, sensor, stamp, lambda z, c: radar_births(
                    z, T, v, ego, c.init_size, scfg.radar, scfg.reflection, self.config.ground_z))
        self._prune(stamp)
        return self.report(stamp)

    def update_camera(self, dets: Detections2D, sensor: str = "camera") -> Tracks:
        """One camera frame of 2D boxes (``centre`` bearings or ``box`` edges, see
        :class:`~fusion.fusion_config.SensorConfig`): corrects the tracks they gate and, for a
        ``box`` camera that starts tracks, starts the rest by mono initialisation."""
        scfg = self.config.for_sensor(sensor)
        camera = self._cameras.get(sensor) or self._cameras.setdefault(sensor, scfg.camera_calibration())
        box = scfg.camera_model == "box"
        meas = self._measure(dets, sensor, lambda T: (T, camera_measurements(
            dets, camera, scfg.camera_model, scfg.class_map, bool(scfg.image_size))))
        if meas is not None:
            T, m = meas
            self.stats.camera_frames += 1
            self.stats.invalid += m.invalid
            self.stats.truncated += m.truncated
            model = CameraBoxModel(scfg.camera, T) if box else BearingModel(scfg.camera, T)
            every = [g.X for g in self.groups.values()]
            hidden = model.hidden(np.concatenate(every)) if box and every else None
            left = self._associate_points(lambda _g: model, m, scfg, sensor, dets.stamp_ns, hidden)
            if scfg.starts_tracks and box:
                ego = ego_pose(self.ego, dets.stamp_ns)
                self._birth(m, left, sensor, dets.stamp_ns, lambda z, c: camera_births(
                    z, T, ego, c.init_size, scfg.camera, self.config.ground_z))
        self._prune(dets.stamp_ns)
        return self.report(dets.stamp_ns)

    # -- parts -------------------------------------------------------------------------------
    def _measure(self, msg: Detections3D | RadarScan | Detections2D, sensor: str, convert):
        """Predict to the stamp (motion) and convert ``msg`` with ``T_fixed_from_<frame>`` at its
        stamp; None (counted) when out of order or the frame is unreachable."""
        if self.t_ns is not None and msg.stamp_ns < self.t_ns:
            self.stats.out_of_order += 1
            log.warning(
                "%s: message at %d ns older than the tracks (%d ns): dropped", sensor, msg.stamp_ns, self.t_ns
            )
            return None
        try:
            T = self.ego.fixed_from(msg.frame_id, msg.stamp_ns)
        except TrackingError as exc:
            self.stats.unreachable += 1
            log.warning("%s: %s: skipped", sensor, exc)
            return None
        dt = 0.0 if self.t_ns is None else (msg.stamp_ns - self.t_ns) * 1e-9
        for group in self.groups.values():
            group.predict(dt)
        self.t_ns = msg.stamp_ns
        return convert(T)

    def _box_cost(self, group: TrackSet, z: np.ndarray, model: BoxModel) -> tuple[np.ndarray, np.ndarray]:
        """(T, D) cost and infeasible mask of a class's tracks against its box measurements."""
        c, X = group.config, group.X
        dist = centre_distance(X[:, :3], z[:, :3])
        if c.cost == "centre":
            cost = dist
        else:
            a, b = (X[:, :3], X[:, 4:7], X[:, 3]), (z[:, :3], z[:, 4:7], z[:, 3])
            cost = 1.0 - box_overlaps(a, b, "z", c.cost == "giou3d", c.max_dist_m)
        far = dist > c.max_dist_m
        if c.gate_probability > 0 and c.gate_on == "box":  # the whole box, with the sensor's noise
            far |= mahalanobis(model, X, group.P, z) > chi2.ppf(c.gate_probability, z.shape[1])
        elif c.gate_probability > 0:
            d2 = mahalanobis(POSITION_MODEL, X, group.P, z[:, :3])
            far |= d2 > chi2.ppf(c.gate_probability, 3)
        return cost, far

    def _associate_boxes(
        self, group: TrackSet, z: np.ndarray, score: np.ndarray, model: BoxModel, bit: int, stamp_ns: int
    ) -> np.ndarray:
        """Match a class's boxes to its tracks and update the matched; return unmatched box rows."""
        if len(group) == 0 or len(z) == 0:
            return np.arange(len(z))
        cost, far = self._box_cost(group, z, model)
        assigner = assign if group.config.assignment == "hungarian" else assign_greedy
        result = assigner(cost, group.config.match_thresh, far)
        r, d = result.matches[:, 0], result.matches[:, 1]
        X, P = ekf_update(model, group.X[r], group.P[r], z[d])
        group.matched(r, X, P, stamp_ns, bit, score[d])
        return result.unmatched_cols

    def _associate_points(
        self, make_model, meas: Measured, scfg: SensorConfig, sensor: str, stamp_ns: int,
        hidden: np.ndarray | None = None,
    ) -> np.ndarray:
        """Match point measurements (radar targets, camera boxes) to the tracks of every class
        (Mahalanobis chi-square gate, Hungarian on the likelihood cost), update the matched; return
        the rows of ``meas`` that no track gates (birth candidates). Tracks flagged ``hidden``
        (T_all,) take no measurement."""
        z = meas.z
        bit = self._sensor_bit(sensor)
        groups = [g for g in self.groups.values() if len(g)]
        if not groups or len(z) == 0:
            return np.arange(len(z))
        models = [make_model(g) for g in groups]
        d2, cost = (np.concatenate(c) for c in zip(
            *(likelihood_cost(m, g.X, g.P, z) for m, g in zip(models, groups, strict=True)), strict=True))
        gate = chi2.ppf(scfg.gate_probability, z.shape[1])
        far = d2 > gate
        if hidden is not None:  # every track, groups in order (empty ones add no rows)
            far[hidden] = True
        cost = np.where(far, 0.0, cost - (cost[~far].min() if (~far).any() else 0.0))  # >= 0, finite
        result = assign(cost, float(cost.max()), far)
        starts = np.cumsum([0] + [len(g) for g in groups])
        for k, (g, m) in enumerate(zip(groups, models, strict=True)):
            sel = (result.matches[:, 0] >= starts[k]) & (result.matches[:, 0] < starts[k + 1])
            r, d = result.matches[sel, 0] - starts[k], result.matches[sel, 1]
            if len(r):
                X, P = ekf_update(m, g.X[r], g.P[r], z[d])
                g.matched(r, X, P, stamp_ns, bit, meas.score[d])
        return np.flatnonzero((d2 > gate).all(axis=0))

    def _birth(self, meas: Measured, rows: np.ndarray, sensor: str, stamp_ns: int, make) -> None:
        """Start tracks from the point measurements ``rows`` of ``meas``, per class, scoring at
        least the class's ``init_min_score``; ``make(z, class_config) -> Births``."""
        bit = self._sensor_bit(sensor)
        for name in np.unique(meas.cls[rows]).tolist():
            group = self._group(name)
            sel = rows[(meas.cls[rows] == name) & (meas.score[rows] >= group.config.init_min_score)]
            births: Births = make(meas.z[sel], group.config)
            everyone = list(self.groups.values())
            births = births.select(not_duplicates(births, np.concatenate([g.X for g in everyone]),
                                                  np.concatenate([g.P for g in everyone])))
            if len(births):
                X, P = initial_states(group.motion, births)
                self._add(group, X, P, meas.score[sel][births.rows], bit, stamp_ns)

    def _prune(self, stamp_ns: int) -> None:
        for group in self.groups.values():
            self.stats.removed += group.prune(stamp_ns) + group.merge_duplicates()

    def _initiate(
        self, group: TrackSet, z: np.ndarray, score: np.ndarray, model: BoxModel, bit: int, stamp_ns: int
    ) -> None:
        """Start tracks from unmatched boxes scoring at least the class's ``init_min_score``."""
        keep = score >= group.config.init_min_score
        z, score = z[keep], score[keep]
        if len(z):
            self._add(group, *group.motion.initial(z, model.R), score, bit, stamp_ns)

    def _add(self, group: TrackSet, X: np.ndarray, P: np.ndarray, score: np.ndarray, bit: int,
             stamp_ns: int) -> None:
        group.add(np.array([self.ids.next() for _ in range(len(X))], np.int64), X, P, score, stamp_ns, bit)
        self.stats.born += len(X)

    def _group(self, name: str) -> TrackSet:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = TrackSet(self.config.for_class(name))
            if name not in self.class_names:
                self.class_names.append(name)
        return group

    def _sensor_bit(self, sensor: str) -> int:
        if sensor not in self.sensor_names:
            if len(self.sensor_names) >= 32:
                raise TrackingError(f"sensor {sensor!r}: at most 32 sensors (uint32 mask)")
            self.sensor_names.append(sensor)
        return 1 << self.sensor_names.index(sensor)

    # -- output ------------------------------------------------------------------------------
    def report(self, stamp_ns: int, include_all: bool = False) -> Tracks:
        """The reportable tracks (all live ones with ``include_all``) in the fixed frame at ``stamp_ns``."""
        parts = []
        seen = self.stats.frames + self.stats.radar_scans + self.stats.camera_frames
        for name, g in self.groups.items():
            early = self.config.confirm_early and seen <= g.config.min_hits
            sel = np.ones(len(g), bool) if include_all else g.reportable(stamp_ns, early)
            parts.append((self.class_names.index(name), g, np.flatnonzero(sel)))
        return tracks_message(
            parts, stamp_ns, self.config.fixed_frame, tuple(self.class_names), tuple(self.sensor_names)
        )

    def in_ego(self, tracks: Tracks) -> Tracks:
        """``tracks`` (fixed frame) expressed in the ego frame at their stamp (velocities stay
        relative to the fixed frame, expressed along the ego axes)."""
        return tracks_in_frame(
            tracks, self.ego.fixed_from_ego(tracks.stamp_ns).inverse(), self.config.ego_frame
        )


def tracks_message(
    parts, stamp_ns: int, frame_id: str, class_names: tuple[str, ...], sensor_names: tuple[str, ...]
) -> Tracks:
    """A ``Tracks`` message of ``(class index, TrackSet, rows)`` parts (state: STATE_FIELDS)."""
    states, covs, ids, cls, conf, age, status, sensors = [], [], [], [], [], [], [], []
    for ci, g, rows in parts:
        X, P = g.X[rows], g.P[rows]
        vel, J = g.motion.velocity(X)
        M = np.zeros((len(rows), 10, 10))
        M[:, np.arange(7), list(_BOX_ORDER)] = 1.0
        M[:, 7:] = J
        states.append(np.concatenate([X[:, list(_BOX_ORDER)], vel], axis=1))
        covs.append(M @ P @ M.transpose(0, 2, 1))
        ids.append(g.ids[rows])
        cls.append(np.full(len(rows), ci, np.int32))
        conf.append(g.confidence[rows])
        age.append(g.hits[rows])
        status.append(np.where(g.last_ns[rows] == stamp_ns, TrackStatus.CONFIRMED, TrackStatus.LOST))
        sensors.append(g.sensors[rows])

    def cat(arrs, shape, dtype):
        return np.concatenate(arrs).astype(dtype) if arrs else np.zeros(shape, dtype)

    return Tracks(
        stamp_ns=stamp_ns,
        frame_id=frame_id,
        seq=0,
        track_id=cat(ids, 0, np.int64),
        class_id=cat(cls, 0, np.int32),
        confidence=cat(conf, 0, np.float32),
        state=cat(states, (0, 10), np.float32),
        covariance=cat(covs, (0, 10, 10), np.float32),
        age=cat(age, 0, np.int32),
        status=cat(status, 0, np.uint8),
        sensors=cat(sensors, 0, np.uint32),
        state_fields=STATE_FIELDS,
        class_names=class_names,
        sensor_names=sensor_names,
    )


def tracks_in_frame(tracks: Tracks, T_dst_from_src: Transform, frame_id: str) -> Tracks:
    """Fusion ``tracks`` (STATE_FIELDS, z-up frames) moved into ``frame_id`` by ``T_dst_from_src``."""
    s = tracks.state.astype(np.float64)
    centre, yaw = transform_boxes(T_dst_from_src, s[:, :3], s[:, 6], "z", "z")
    R = T_dst_from_src.rotation
    state = np.concatenate([centre, s[:, 3:6], yaw[:, None], s[:, 7:10] @ R.T], axis=1)
    B = np.eye(10)
    B[:3, :3] = B[7:, 7:] = R
    cov = None if tracks.covariance is None else B @ tracks.covariance.astype(np.float64) @ B.T
    return replace(
        tracks,
        frame_id=frame_id,
        state=state.astype(np.float32),
        covariance=None if cov is None else cov.astype(np.float32),
    )
