"""``SimSource``: the simulator as a source node, publishing sensor and ground-truth topics.

Topics (``<cam>``, ``<lidar>``, ``<radar>`` are sensor names of the scenario):

* ``camera/<cam>/image`` (Image, bgr8 or jpeg) and ``camera/<cam>/detections`` (Detections2D,
  stamped with the frame's capture time, published ``latency_ns`` later in simulation time);
* ``lidar/<lidar>/points`` (PointCloud ``x, y, z, intensity`` in the lidar frame);
* ``radar/<radar>/scan`` (RadarScan in the radar frame, stamped on the radar's own clock; the
  ``extra`` column ``v_r_compensated`` holds the ego-motion compensated radial velocity);
* ``ego/pose`` (Pose ``T_world_from_ego``: frame ``world``, child ``ego``; the exact, noise-free
  odometry of the ego, stamped on the simulation clock at ``pose_rate_hz``, by default the rate
  of the fastest sensor, so that every sensor's capture time has a pose sample; published before
  the sensor messages of the same step; scenarios without an ego publish none);
* ``gt/tracks/world`` and ``gt/tracks/ego`` (Tracks of all actors, state ``x, y, z, vx, vy,
  yaw, l, w, h``; velocities are over ground, expressed in the message frame's axes),
  ``gt/ego`` (the ego's own state in ``world``), ``gt/camera/<cam>/boxes`` (Detections2D with
  ``track_id``, ``confidence`` = visible fraction) and ``gt/events`` (Event).

Simulation time 0 is the clock time at :meth:`SimSource.start`; every stamp is that start plus
simulation time, on the world's step grid, so under a virtual clock (``LocalRunner``) the same
seed gives byte-identical messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from calib.camera import CameraModel
from calib.transform import FrameTree
from percept.errors import ConfigError
from percept.message import Message
from percept.messages import Detections2D, Event, Image, PointCloud, Pose, RadarScan, Tracks, TrackStatus
from percept.node import NodeContext, Processor
from sensors.sim.camera import SimCamera
from sensors.sim.classes import CLASS_NAMES
from sensors.sim.detector import SimDetector, gt_boxes
from sensors.sim.lidar import SimLidar
from sensors.sim.radar import SimRadar
from sensors.sim.scenario import Scenario, load_scenario
from sensors.sim.world import World, WorldState

STATE_FIELDS = ("x", "y", "z", "vx", "vy", "yaw", "l", "w", "h")


@dataclass(frozen=True)
class SimSourceConfig:
    """Options of :class:`SimSource`.

    Attributes:
        scenario: built-in scenario name or path of a scenario YAML.
        seed: seed of every random draw.
        duration_s: simulated seconds (None: the scenario's ``duration_s``).
        camera_rate_hz, lidar_rate_hz, radar_rate_hz: override the scenario's sensor rates.
        gt_rate_hz: rate of the ``gt/tracks/*`` and ``gt/ego`` topics.
        pose_rate_hz: rate of ``ego/pose`` (None: the fastest sensor's rate, 10 Hz without sensors).
        images: publish rendered images (detections and GT boxes are published regardless).
        jpeg_quality: JPEG-compress images at this quality (None: raw bgr8).
    """

    scenario: str = "highway"
    seed: int = 0
    duration_s: float | None = None
    camera_rate_hz: float | None = None
    lidar_rate_hz: float | None = None
    radar_rate_hz: float | None = None
    gt_rate_hz: float = 10.0
    pose_rate_hz: float | None = None
    images: bool = True
    jpeg_quality: int | None = None


class SimSource(Processor):
    """Steps a simulated world on a timer and publishes its sensors and ground truth."""

    Config = SimSourceConfig

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        cfg: SimSourceConfig = self.config
        self.scenario: Scenario = load_scenario(cfg.scenario)
        sc, seed = self.scenario, cfg.seed
        self.world = World(sc, seed)
        self.cameras = [(SimCamera(c), SimDetector(c.detector, c.width, c.height,
                                                   np.random.default_rng([seed, 10, i])))
                        for i, c in enumerate(sc.sensors.cameras)]
        self.lidars = [SimLidar(s, np.random.default_rng([seed, 11, i]))
                       for i, s in enumerate(sc.sensors.lidars)]
        self.radars = [SimRadar(s, np.random.default_rng([seed, 12, i]))
                       for i, s in enumerate(sc.sensors.radars)]
        step = self.world.step_ns
        dur = cfg.duration_s if cfg.duration_s is not None else sc.duration_s
        self.end_ns = round(dur * 1e9) // step * step
        sensor_rates = [cfg.camera_rate_hz or c.spec.rate_hz for c, _ in self.cameras] + [
            cfg.lidar_rate_hz or s.spec.rate_hz for s in self.lidars] + [
            cfg.radar_rate_hz or s.spec.rate_hz for s in self.radars]
        pose_rate = cfg.pose_rate_hz if cfg.pose_rate_hz is not None else max(sensor_rates, default=10.0)
        self._periods = {
            "gt": self._period(cfg.gt_rate_hz, "gt_rate_hz"),
            "pose": self._period(pose_rate, "pose_rate_hz"),
            **{f"camera/{c.spec.name}": self._period(cfg.camera_rate_hz or c.spec.rate_hz, "camera rate")
               for c, _ in self.cameras},
            **{f"lidar/{s.spec.name}": self._period(cfg.lidar_rate_hz or s.spec.rate_hz, "lidar rate")
               for s in self.lidars},
            **{f"radar/{s.spec.name}": self._period(cfg.radar_rate_hz or s.spec.rate_hz, "radar rate")
               for s in self.radars},
        }
        self._seq: dict[str, int] = {}
        self._age: dict[int, int] = {}
        self._pending: list[tuple[int, str, Message]] = []  # (release time, topic, msg)
        self.t0_ns = 0

    def _period(self, rate_hz: float, what: str) -> int:
        """Sensor period in ns, a whole number of world steps."""
        if rate_hz <= 0:
            raise ConfigError(f"{what}: expected > 0 Hz, got {rate_hz}")
        step = self.world.step_ns
        return max(1, round(1e9 / rate_hz / step)) * step

    # ------------------------------------------------------------------ calibration
    def camera_models(self) -> dict[str, CameraModel]:
        """Intrinsics of the cameras, keyed by frame id."""
        return {c.spec.frame_id: c.model for c, _ in self.cameras}

    def frame_tree(self) -> FrameTree:
        """Static extrinsics: ``ego`` or ``world`` parents of each sensor frame, radar clock offsets
        (``sensor clock + offset = simulation clock``)."""
        tree = FrameTree()
        for c, _ in self.cameras:
            tree.add(c.spec.mount.mount, c.spec.frame_id, c.T_parent_from_cam)
        for s in self.lidars:
            tree.add(s.spec.mount.mount, s.spec.frame_id, s.T_parent_from_lidar)
        for r in self.radars:
            tree.add(r.spec.mount.mount, r.spec.frame_id, r.T_parent_from_radar)
            tree.set_time_offset(r.spec.frame_id, -r.clock_offset_ns)
        return tree

    # ------------------------------------------------------------------ running
    @property
    def finished(self) -> bool:
        """True once the simulated duration is over and every delayed message went out."""
        return self.world.t_ns >= self.end_ns and not self._pending

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        self.t0_ns = ctx.clock.now_ns()
        ctx.add_timer(self.world.step_ns / 1e9, self._tick)

    def _tick(self, now_ns: int) -> None:
        """Step the world up to ``now_ns`` and publish what falls due on the way."""
        w = self.world
        while w.t_ns < self.end_ns and w.t_ns + w.step_ns <= now_ns - self.t0_ns:
            w.step()
            self._publish_due(w.t_ns)
        if w.t_ns >= self.end_ns and self._pending:  # late detections after the end
            self._release(now_ns - self.t0_ns)
        if self.finished:
            self.context.end_stream()  # the simulated duration is over (idempotent)

    def _publish(self, topic: str, msg: Message) -> None:
        seq = self._seq.get(topic, 0)
        self._seq[topic] = seq + 1
        self.context.publish(topic, msg.replace(seq=seq))

    def _due(self, key: str, t: int) -> bool:
        return t % self._periods[key] == 0

    def _release(self, t: int) -> None:
        due = [p for p in self._pending if p[0] <= t]
        self._pending = [p for p in self._pending if p[0] > t]
        for _, topic, msg in due:
            self._publish(topic, msg)

    def _publish_due(self, t: int) -> None:
        stamp = self.t0_ns + t
        for ev in self.world.pop_events():
            evidence: dict[str, int | float | str | bool] = {"start_ns": self.t0_ns + ev.start_ns,
                                                             **ev.evidence}
            self._publish("gt/events", Event(
                stamp_ns=self.t0_ns + ev.stamp_ns, frame_id="world", event_type=ev.event_type,
                severity=ev.severity, track_ids=ev.track_ids, zone=ev.zone, evidence=evidence,
                text=f"scripted {ev.event_type} of track(s) {list(ev.track_ids)}"))
        self._release(t)
        state = self.world.state()
        if self._due("pose", t) and state.T_world_from_ego is not None:
            T = state.T_world_from_ego
            self._publish("ego/pose", Pose(stamp_ns=stamp, frame_id="world", child_frame_id="ego",
                                           translation=T.translation, rotation=T.as_quaternion()))
        if self._due("gt", t):
            self._publish_gt(state, stamp)
        for cam, det in self.cameras:
            if self._due(f"camera/{cam.spec.name}", t):
                self._publish_camera(cam, det, state, stamp, t)
        for lidar in self.lidars:
            if self._due(f"lidar/{lidar.spec.name}", t):
                pts, _ = lidar.scan(state)
                self._publish(f"lidar/{lidar.spec.name}/points",
                              PointCloud(stamp_ns=stamp, frame_id=lidar.spec.frame_id, points=pts))
        for radar in self.radars:
            if self._due(f"radar/{radar.spec.name}", t):
                ret = radar.scan(state)
                xyz = np.stack([ret.range_m * np.cos(ret.azimuth_rad),
                                ret.range_m * np.sin(ret.azimuth_rad), np.zeros_like(ret.range_m)],
                               axis=1).astype(np.float32)
                self._publish(f"radar/{radar.spec.name}/scan", RadarScan(
                    stamp_ns=max(0, stamp + radar.clock_offset_ns), frame_id=radar.spec.frame_id,
                    range_m=ret.range_m, azimuth_rad=ret.azimuth_rad, xyz=xyz,
                    range_rate_mps=ret.range_rate_mps, rcs_dbsm=ret.rcs_dbsm,
                    extra=ret.v_r_compensated[:, None], extra_fields=("v_r_compensated",)))

    def _publish_camera(self, cam: SimCamera, det: SimDetector, state: WorldState, stamp: int,
                        t: int) -> None:
        name, frame = cam.spec.name, cam.spec.frame_id
        view = cam.view(state)
        if self.config.images:
            img = cam.render(state, view)
            self._publish(f"camera/{name}/image", Image.from_bgr(
                img, stamp_ns=stamp, frame_id=frame, jpeg_quality=self.config.jpeg_quality))
        self._publish(f"gt/camera/{name}/boxes", Detections2D(
            stamp_ns=stamp, frame_id=frame, detections=gt_boxes(state, view), class_names=CLASS_NAMES))
        if cam.spec.detector.enabled:
            dets, latency = det.detect(state, view)
            step = self.world.step_ns
            release = t + -(-latency // step) * step  # first world step at or after the latency
            msg = Detections2D(stamp_ns=stamp, frame_id=frame, detections=dets, class_names=CLASS_NAMES,
                               latency_ns=release - t)
            self._pending.append((release, f"camera/{name}/detections", msg))

    def _publish_gt(self, state: WorldState, stamp: int) -> None:
        for tid in state.track_id.tolist():
            self._age[tid] = self._age.get(tid, 0) + 1
        self._publish("gt/tracks/world", self._tracks(state, stamp, "world", None))
        pose = state.T_world_from_ego
        if pose is not None and state.ego is not None:
            self._publish("gt/tracks/ego", self._tracks(state, stamp, "ego", pose))
            e = state.ego
            row = np.array([[e.x, e.y, e.size[2] / 2, *e.velocity, e.yaw, *e.size]], dtype=np.float32)
            self._publish("gt/ego", Tracks(
                stamp_ns=stamp, frame_id="world", track_id=np.array([e.track_id], np.int64),
                class_id=np.array([0], np.int32), confidence=np.ones(1, np.float32), state=row,
                age=np.array([1 + state.t_ns // self.world.step_ns], np.int32),
                status=np.full(1, TrackStatus.CONFIRMED, np.uint8), sensors=np.zeros(1, np.uint32),
                state_fields=STATE_FIELDS, class_names=CLASS_NAMES))

    def _tracks(self, state: WorldState, stamp: int, frame: str, T_world_from_ego: Any) -> Tracks:
        n = len(state)
        centre, vel, yaw = state.centre, state.velocity, state.yaw
        if T_world_from_ego is not None:
            inv = T_world_from_ego.inverse()
            centre = inv.apply(centre.reshape(-1, 3))
            vel = vel.reshape(-1, 3) @ inv.rotation.T
            rel = yaw - (state.ego.yaw if state.ego is not None else 0.0)
            yaw = np.arctan2(np.sin(rel), np.cos(rel))
        st = np.concatenate([centre.reshape(n, 3), vel.reshape(n, 3)[:, :2], yaw.reshape(n, 1),
                             state.size.reshape(n, 3)], axis=1).astype(np.float32)
        return Tracks(
            stamp_ns=stamp, frame_id=frame, track_id=state.track_id, class_id=state.class_id,
            confidence=np.ones(n, np.float32), state=st,
            age=np.array([self._age[t] for t in state.track_id.tolist()], dtype=np.int32).reshape(n),
            status=np.full(n, TrackStatus.CONFIRMED, np.uint8), sensors=np.zeros(n, np.uint32),
            state_fields=STATE_FIELDS, class_names=CLASS_NAMES)
