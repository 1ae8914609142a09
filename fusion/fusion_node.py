"""The ``fusion`` node: any set of box, radar and camera topics plus ego poses -> one track list.

Inputs: ``inputs`` maps each subscribed topic to a sensor name of ``tracker.sensors``
(``Detections3D`` for box sensors, ``RadarScan`` or radar ``Detections3D`` for radar sensors,
``Detections2D`` for cameras); ``pose_topic`` carries ``Pose`` messages ``T_<fixed>_from_<ego>``.
The node subscribes to all of them (``extra_subscriptions``: a graph file need not list them).
The tracker's settings are ``tracker`` or, when ``tracker_file`` names a tracker YAML
(:func:`~fusion.fusion_config.load_fusion_config`, e.g. ``configs/trackers/sim-fusion.yaml``; relative to the
working directory), that file's.
Sensor extrinsics come from ``frames`` (``child: {parent, translation, rotation, time_offset_s}``,
rotation a quaternion ``x, y, z, w``), rooted at the tracker's ``ego_frame``; a frame's
``time_offset_s`` moves the stamps of its measurements onto the node's clock (``sensor clock +
offset = node clock``, e.g. a radar whose clock runs ahead).

Measurements go through a :class:`~fusion.reorder.ReorderBuffer` (each sensor's ``latency_s``) and
are fused in stamp order when due on the node clock (on arrival and on a timer). After each
fused measurement the node publishes ``Tracks`` in the fixed frame on ``output_world`` and in the
ego frame on ``output_ego`` (see :class:`~fusion.fusion_tracker.FusionTracker`).

Bad input never stops the node; each case is counted in :attr:`FusionNode.counts` and logged:
``late`` (older than what was fused: a clock jump backwards beyond the window, or data later than
its latency), ``clock_jump`` (a measurement or pose stamped more than ``max_future_s`` ahead of the
node clock: fusing it would move every track into the future and make all later data late),
``bad_pose`` (a pose in other frames, or with non-finite values: the ``Pose`` message refuses NaN
when it is decoded, the node checks again), ``unknown_topic``, ``wrong_type``, ``skipped`` (the
tracker could not place the measurement: unreachable frame, no ego pose), ``invalid``
(non-finite or zero-size boxes and targets, dropped row by row) and ``truncated`` (camera boxes
cut by the image border, dropped).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from calib.errors import CalibrationError
from calib.transform import FrameTree, Transform
from fusion.ego import EgoPoses
from fusion.errors import TrackingError
from fusion.fusion_config import FusionTrackerConfig, load_fusion_config
from fusion.fusion_tracker import FusionTracker
from fusion.reorder import ReorderBuffer
from percept.config import require_positive
from percept.message import Message
from percept.messages import Detections2D, Detections3D, Pose, RadarScan
from percept.node import NodeContext, Processor


@dataclass(frozen=True)
class FrameConfig:
    """A static sensor frame: ``T_<parent>_from_<frame>`` (metres, quaternion ``x, y, z, w``) and
    the offset (seconds) of its sensor's clock: ``stamp + time_offset_s`` is on the node's clock."""

    parent: str
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    time_offset_s: float = 0.0


@dataclass(frozen=True)
class FusionNodeConfig:
    """Options of :class:`FusionNode` (see the module docstring)."""

    tracker: FusionTrackerConfig = field(default_factory=FusionTrackerConfig)
    tracker_file: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    pose_topic: str = "ego/pose"
    frames: dict[str, FrameConfig] = field(default_factory=dict)
    output_world: str = "fusion/tracks/world"
    output_ego: str = "fusion/tracks/ego"
    release_period_s: float = 0.01
    buffer_capacity: int = 10_000
    max_future_s: float = 1.0

    def __post_init__(self) -> None:
        require_positive(self, ("release_period_s", "buffer_capacity", "max_future_s"), "FusionNodeConfig",
                         error=TrackingError)
        if not self.inputs:
            raise TrackingError("FusionNodeConfig.inputs: expected at least one topic -> sensor entry")
        if self.tracker_file is not None:
            object.__setattr__(self, "tracker", load_fusion_config(self.tracker_file))
        self.frame_tree()  # validates the extrinsics at configuration

    def frame_tree(self) -> FrameTree:
        """The static tree of ``frames`` (errors name the frame)."""
        tree = FrameTree()
        tree.add_frame(self.tracker.ego_frame)
        for child, f in self.frames.items():
            try:
                if not np.isfinite(f.time_offset_s):
                    raise CalibrationError(f"time_offset_s: expected a finite number, got {f.time_offset_s}")
                tree.add(f.parent, child, Transform.from_quaternion(f.rotation, f.translation))
            except CalibrationError as exc:
                raise TrackingError(f"FusionNodeConfig.frames.{child}: {exc}") from exc
        return tree

    def offsets_ns(self) -> dict[str, int]:
        """Clock offsets of the frames that have one, nanoseconds."""
        return {k: round(f.time_offset_s * 1e9) for k, f in self.frames.items() if f.time_offset_s}


class FusionNode(Processor):
    """Fuses every configured input into one world-frame track list (module docstring)."""

    Config = FusionNodeConfig

    @classmethod
    def extra_subscriptions(cls, config: FusionNodeConfig) -> tuple[str, ...]:
        """The input topics and the pose topic (see :mod:`percept.graph`)."""
        return (*config.inputs, config.pose_topic)

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        cfg: FusionNodeConfig = self.config
        t = cfg.tracker
        self.ego = EgoPoses(t.fixed_frame, t.ego_frame, cfg.frame_tree(), t.max_extrapolation_s)
        self.tracker = FusionTracker(t, self.ego)
        latencies = {s: t.for_sensor(s).latency_s for s in cfg.inputs.values()}
        self.buffer: ReorderBuffer[tuple[str, Message]] = ReorderBuffer(
            latencies, capacity=cfg.buffer_capacity
        )
        self.counts: Counter[str] = Counter()
        self.seq: Counter[str] = Counter()
        self._offsets = cfg.offsets_ns()
        ctx.add_timer(cfg.release_period_s, self._release)

    def on_message(self, topic: str, msg: Message) -> None:
        cfg: FusionNodeConfig = self.config
        now = self.context.clock.now_ns()
        offset = self._offsets.get(msg.frame_id, 0)
        if offset and isinstance(msg, Detections3D | RadarScan | Detections2D):
            msg = msg.replace(stamp_ns=msg.stamp_ns + offset)
        if msg.stamp_ns > now + cfg.max_future_s * 1e9:
            self._count("clock_jump", "%s: stamp %d ns is %.3f s ahead of the node clock: dropped", topic,
                        msg.stamp_ns, (msg.stamp_ns - now) / 1e9)
        elif topic == cfg.pose_topic and isinstance(msg, Pose):
            self._pose(msg)
        elif topic not in cfg.inputs:
            self._count("unknown_topic", "%s: not an input topic", topic)
        elif not isinstance(msg, Detections3D | RadarScan | Detections2D):
            self._count("wrong_type", "%s: %s is not a detection message", topic, type(msg).__name__)
        elif not self.buffer.push(msg.stamp_ns, cfg.inputs[topic], (topic, msg)):
            self._count(
                "late",
                "%s: stamp %d ns older than the fused %d ns: dropped",
                topic,
                msg.stamp_ns,
                self.buffer.released_ns,
            )
        self._release(now)

    def stop(self) -> None:
        for _stamp, sensor, (_topic, msg) in self.buffer.flush():
            self._fuse(sensor, msg)

    def _count(self, what: str, text: str, *args: object) -> None:
        self.counts[what] += 1
        self.context.log.warning(text + " (%s: %d)", *args, what, self.counts[what])

    def _pose(self, pose: Pose) -> None:
        if not (np.isfinite(pose.translation).all() and np.isfinite(pose.rotation).all()):
            self._count("bad_pose", "pose at %d ns: non-finite values: skipped", pose.stamp_ns)
            return
        try:
            self.ego.add_pose(pose)
        except (TrackingError, CalibrationError) as exc:
            self._count("bad_pose", "pose: %s", exc)

    def _release(self, now_ns: int) -> None:
        for _stamp, sensor, (_topic, msg) in self.buffer.pop_due(now_ns):
            self._fuse(sensor, msg)

    def _fuse(self, sensor: str, msg: Message) -> None:
        stats = self.tracker.stats
        before = (stats.unreachable, stats.out_of_order, stats.invalid, stats.truncated)
        try:
            world = self.tracker.update(msg, sensor)
        except TrackingError as exc:
            self._count("skipped", "%s: %s", sensor, exc)
            return
        if (stats.unreachable, stats.out_of_order) != before[:2]:
            self._count("skipped", "%s: message at %d ns could not be placed", sensor, msg.stamp_ns)
            return
        self.counts["invalid"] += stats.invalid - before[2]
        self.counts["truncated"] += stats.truncated - before[3]
        self._publish(self.config.output_world, world)
        try:
            ego = self.tracker.in_ego(world)
        except TrackingError as exc:
            self._count("no_ego_output", "ego-frame tracks: %s", exc)
            return
        self._publish(self.config.output_ego, ego)

    def _publish(self, topic: str, tracks: Message) -> None:
        self.context.publish(topic, replace(tracks, seq=self.seq[topic]))
        self.seq[topic] += 1
