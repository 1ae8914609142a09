"""Continental ARS408-21 radar on CAN: DBC decoding (cantools), cycle assembly and a python-can source.

The radar sends one list per measurement cycle: a status message announcing the count
(``Obj_0_Status`` 0x60A with ``Obj_NofObjects``, or ``Cluster_0_Status`` 0x600 with near + far
clusters), then one general message per target (``Obj_1_General`` 0x60B / ``Cluster_1_General``
0x701). A radar with sensor id k sends the same ids plus ``0x10 * k``. The signal layout is in
``ars408.dbc`` beside this module.

Targets are given in the radar frame: x forward (``DistLong``), y left (``DistLat``), z = 0
(the ARS408 measures no elevation), metres; relative velocities in m/s in the same axes.
``range_rate_mps`` is the radial projection ``(x vx + y vy) / r`` (positive moving away).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import numpy as np

from percept.messages import RadarScan
from percept.node import NodeContext, Processor
from sensors.errors import SensorError
from sensors.polling import require_polling, warn_bad

log = logging.getLogger(__name__)

__all__ = ["EXTRA_FIELDS", "Ars408Assembler", "Ars408Cycle", "Ars408Source", "Ars408SourceConfig", "load_dbc"]

#: Per-target columns of ``RadarScan.extra``.
EXTRA_FIELDS: tuple[str, ...] = ("id", "vrel_long_mps", "vrel_lat_mps", "dyn_prop")
_LISTS = {  # mode → (status message, general message, signal prefix)
    "objects": ("Obj_0_Status", "Obj_1_General", "Obj_"),
    "clusters": ("Cluster_0_Status", "Cluster_1_General", "Cluster_"),
}


@cache
def load_dbc() -> Any:
    """The ARS408 ``cantools`` database shipped with this package."""
    import cantools

    text = resources.files("sensors").joinpath("ars408.dbc").read_text(encoding="utf-8")
    return cantools.database.load_string(text, database_format="dbc")


@dataclass(frozen=True)
class Ars408Cycle:
    """One measurement cycle's targets (N rows).

    Attributes:
        stamp_ns: time the cycle's status message was received.
        meas_counter: the radar's measurement cycle counter.
        xyz: float32 (N, 3) position (m, x forward, y left, z = 0).
        velocity: float32 (N, 2) relative velocity ``vx, vy`` (m/s).
        rcs_dbsm: float32 (N,); ids, dyn_prop: float32 (N,) target id and dynamic property code.
        complete: False when the cycle ended before all announced targets arrived.
    """

    stamp_ns: int
    meas_counter: int
    xyz: np.ndarray
    velocity: np.ndarray
    rcs_dbsm: np.ndarray
    ids: np.ndarray
    dyn_prop: np.ndarray
    complete: bool

    def to_scan(self, *, frame_id: str, seq: int) -> RadarScan:
        """This cycle as a :class:`RadarScan` (polar columns derived; no elevation)."""
        x, y = self.xyz[:, 0], self.xyz[:, 1]
        r = np.hypot(x, y)
        radial = x * self.velocity[:, 0] + y * self.velocity[:, 1]
        vr = np.divide(radial, r, out=np.zeros_like(r), where=r > 0)
        extra = np.stack([self.ids, self.velocity[:, 0], self.velocity[:, 1], self.dyn_prop], axis=1)
        return RadarScan(stamp_ns=self.stamp_ns, frame_id=frame_id, seq=seq, xyz=self.xyz,
                         range_m=r.astype(np.float32), azimuth_rad=np.arctan2(y, x).astype(np.float32),
                         range_rate_mps=vr.astype(np.float32), rcs_dbsm=self.rcs_dbsm,
                         extra=extra.astype(np.float32), extra_fields=EXTRA_FIELDS)


class Ars408Assembler:
    """Turns a stream of CAN frames into :class:`Ars408Cycle` s.

    Args:
        mode: ``objects`` (0x60A/0x60B) or ``clusters`` (0x600/0x701).
        sensor_id: 0..7; frame ids are offset by ``0x10 * sensor_id``.

    Counters: ``bad_frames`` (known id that does not decode), ``ignored_frames`` (other ids),
    ``orphan_frames`` (targets with no open cycle or beyond the announced count),
    ``incomplete_cycles`` (a new status arrived before all announced targets).
    """

    def __init__(self, mode: Literal["objects", "clusters"] = "objects", sensor_id: int = 0) -> None:
        if mode not in _LISTS:
            raise SensorError(f"ARS408 mode: expected one of {list(_LISTS)}, got {mode!r}")
        if not 0 <= sensor_id <= 7:
            raise SensorError(f"ARS408 sensor_id: expected 0..7, got {sensor_id}")
        db = load_dbc()
        status, general, self._prefix = _LISTS[mode]
        self._mode = mode
        self._status = db.get_message_by_name(status)
        self._general = db.get_message_by_name(general)
        self.status_id = self._status.frame_id + 0x10 * sensor_id
        self.general_id = self._general.frame_id + 0x10 * sensor_id
        self.bad_frames = self.ignored_frames = self.orphan_frames = self.incomplete_cycles = 0
        self._open: tuple[int, int, int] | None = None  # (stamp_ns, expected, meas_counter)
        self._rows: list[tuple[float, ...]] = []

    def feed(self, arbitration_id: int, data: bytes, stamp_ns: int) -> list[Ars408Cycle]:
        """Process one frame received at ``stamp_ns``; return the cycles it completed (0, 1 or 2)."""
        if arbitration_id not in (self.status_id, self.general_id):
            self.ignored_frames += 1
            return []
        msg = self._status if arbitration_id == self.status_id else self._general
        try:
            sig = msg.decode(bytes(data), decode_choices=False, scaling=True)
        except Exception as exc:  # cantools raises several types for short/garbled data
            self.bad_frames += 1
            raise SensorError(f"ARS408 frame 0x{arbitration_id:03X} ({msg.name}): cannot decode "
                              f"{bytes(data).hex()}: {exc}") from None
        p = self._prefix
        out: list[Ars408Cycle] = []
        if msg is self._status:
            if self._open is not None:
                self.incomplete_cycles += 1
                out.append(self._close(complete=False))
            expected = (int(sig["Obj_NofObjects"]) if self._mode == "objects"
                        else int(sig["Cluster_NofClustersNear"]) + int(sig["Cluster_NofClustersFar"]))
            self._open = (stamp_ns, expected, int(sig[f"{p}MeasCounter"]))
        elif self._open is None or len(self._rows) >= self._open[1]:
            self.orphan_frames += 1
            return out
        else:
            self._rows.append((sig[f"{p}DistLong"], sig[f"{p}DistLat"], sig[f"{p}VrelLong"],
                               sig[f"{p}VrelLat"], sig[f"{p}RCS"], sig[f"{p}ID"], sig[f"{p}DynProp"]))
        if self._open is not None and len(self._rows) == self._open[1]:
            out.append(self._close(complete=True))
        return out

    def _close(self, complete: bool) -> Ars408Cycle:
        if self._open is None:
            raise RuntimeError("no open cycle")
        stamp_ns, _, counter = self._open
        a = np.array(self._rows, dtype=np.float64).reshape(-1, 7)
        self._open, self._rows = None, []
        xyz = np.zeros((len(a), 3), np.float32)
        xyz[:, :2] = a[:, 0:2]
        return Ars408Cycle(stamp_ns=stamp_ns, meas_counter=counter, xyz=xyz,
                           velocity=a[:, 2:4].astype(np.float32), rcs_dbsm=a[:, 4].astype(np.float32),
                           ids=a[:, 5].astype(np.float32), dyn_prop=a[:, 6].astype(np.float32),
                           complete=complete)


@dataclass(frozen=True)
class Ars408SourceConfig:
    """Options of :class:`Ars408Source`.

    Attributes:
        interface, channel: python-can bus (e.g. ``socketcan``/``can0``; tests use ``virtual``).
        bitrate: bus bitrate in bit/s where the interface needs one (None: leave as configured).
        mode: ``objects`` or ``clusters`` (the radar's configured output type).
        sensor_id: radar sensor id 0..7 (frame id offset ``0x10 * sensor_id``).
        topic, frame_id: output topic and radar frame of the :class:`RadarScan` s.
        poll_period_s: how often the bus is drained; max_frames_per_poll bounds one drain.
        publish_incomplete: also publish cycles cut short by the next status message.
    """

    interface: str = "socketcan"
    channel: str = "can0"
    bitrate: int | None = None
    mode: Literal["objects", "clusters"] = "objects"
    sensor_id: int = 0
    topic: str = "radar/ars408"
    frame_id: str = "radar_front"
    poll_period_s: float = 0.005
    max_frames_per_poll: int = 2000
    publish_incomplete: bool = True

    def __post_init__(self) -> None:
        require_polling(self, "poll_period_s", "max_frames_per_poll", within=("sensor_id", 0, 7))


class Ars408Source(Processor):
    """Reads ARS408 frames from a python-can bus and publishes one RadarScan per measurement cycle.

    Scans are stamped with the clock time at which their status message was read. Undecodable
    frames of the list's ids, error frames and remote frames are counted in :attr:`bad_frames`
    and logged; other ids are ignored (counted in ``assembler.ignored_frames``).
    """

    Config = Ars408SourceConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        import can

        cfg: Ars408SourceConfig = self.config
        self.assembler = Ars408Assembler(cfg.mode, cfg.sensor_id)
        self.bad_frames = 0
        self.seq = 0
        kwargs: dict[str, Any] = {"interface": cfg.interface, "channel": cfg.channel}
        if cfg.bitrate is not None:
            kwargs["bitrate"] = cfg.bitrate
        try:
            self._bus = can.Bus(**kwargs)
        except (can.CanError, OSError, ValueError, ImportError) as exc:
            raise SensorError(f"ARS408: cannot open CAN bus {cfg.interface}:{cfg.channel}: {exc}") from exc
        ctx.add_timer(cfg.poll_period_s, self._poll)

    def _poll(self, now_ns: int) -> None:
        import can

        for _ in range(self.config.max_frames_per_poll):
            try:
                frame = self._bus.recv(timeout=0)
            except can.CanError as exc:
                self._bad(f"receive failed: {exc}")
                return
            if frame is None:
                return
            if frame.is_error_frame or frame.is_remote_frame:
                self._bad(f"{'error' if frame.is_error_frame else 'remote'} frame 0x{frame.arbitration_id:X}")
                continue
            try:
                cycles = self.assembler.feed(frame.arbitration_id, frame.data, now_ns)
            except SensorError as exc:
                self._bad(str(exc))
                continue
            for cycle in cycles:
                if cycle.complete or self.config.publish_incomplete:
                    self.context.publish(self.config.topic, cycle.to_scan(frame_id=self.config.frame_id,
                                                                          seq=self.seq))
                    self.seq += 1

    def _bad(self, text: str) -> None:
        self.bad_frames += 1
        warn_bad(self.context.log, self.bad_frames, "ARS408: skipping bad frame", text)

    def stop(self) -> None:
        bus = getattr(self, "_bus", None)
        if bus is not None:
            bus.shutdown()
