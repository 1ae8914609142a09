"""Velodyne VLP-16 (Puck) UDP data packets: decoder, revolution assembler and a UDP source node.

Packet layout (VLP-16 user manual): a 1206-byte UDP payload of 12 data blocks of 100 bytes
(flag bytes ``FF EE``, azimuth uint16 LE in 0.01 degree, then 32 channel records of distance
uint16 LE in 2 mm units and calibrated reflectivity uint8: two firing sequences of the 16
lasers), then a uint32 LE timestamp (microseconds past the top of the hour, time of the first
firing of the packet) and two factory bytes (return mode ``0x37`` strongest, ``0x38`` last,
``0x39`` dual; product id ``0x22`` for the VLP-16).

Coordinates: the manual's sensor frame has y towards azimuth 0 (the front, opposite the cable),
x towards azimuth 90 degrees (right) and z up: ``x_v = d cos(w) sin(a)``, ``y_v = d cos(w) cos(a)``,
``z_v = d sin(w)`` for vertical angle w and azimuth a (clockwise seen from above). Points here are
given in the right-handed x-forward, y-left, z-up frame: ``x = y_v``, ``y = -x_v``, ``z = z_v``
(metres). Azimuths of individual firings are interpolated between block azimuths from the
firing timing (2.304 us between lasers, 55.296 us between firing sequences).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

import numpy as np

from percept.messages import PointCloud
from percept.node import NodeContext, Processor
from sensors.errors import SensorError
from sensors.polling import require_polling, warn_bad

log = logging.getLogger(__name__)

__all__ = ["FIELDS", "PACKET_SIZE", "VERTICAL_ANGLES_DEG", "Revolution", "RevolutionAssembler",
           "VelodynePacket", "VelodyneSource", "VelodyneSourceConfig", "decode_packet", "resolve_hour_time"]

PACKET_SIZE = 1206
BLOCKS = 12
LASERS = 16
VERTICAL_ANGLES_DEG = np.array([-15, 1, -13, 3, -11, 5, -9, 7, -7, 9, -5, 11, -3, 13, -1, 15], np.float64)
#: ring number of each laser id: rank by elevation, 0 = lowest beam (-15 deg), 15 = highest.
RINGS = np.argsort(np.argsort(VERTICAL_ANGLES_DEG)).astype(np.float32)
DISTANCE_UNIT_M = 0.002
FIRING_US = 2.304
SEQUENCE_US = 55.296
RETURN_MODES = {0x37: "strongest", 0x38: "last", 0x39: "dual"}
PRODUCT_VLP16 = 0x22
FIELDS: tuple[str, ...] = ("x", "y", "z", "intensity", "ring", "time_offset_s")
HOUR_NS = 3_600_000_000_000

_BLOCK = np.dtype([("flag", ">u2"), ("azimuth", "<u2"), ("rec", [("d", "<u2"), ("r", "u1")], (2 * LASERS,))])
_CH = np.arange(2 * LASERS)
_SEQ, _LASER = _CH // LASERS, _CH % LASERS
_COS_W = np.cos(np.radians(VERTICAL_ANGLES_DEG))[_LASER]
_SIN_W = np.sin(np.radians(VERTICAL_ANGLES_DEG))[_LASER]


@dataclass(frozen=True)
class VelodynePacket:
    """Returns of one data packet (firings with zero distance, i.e. no return, are dropped).

    Attributes:
        points: float32 (M, 5) ``x, y, z`` (m, x-forward/y-left/z-up), ``intensity`` (0..255), ``ring``.
        azimuth_deg: float64 (M,) interpolated firing azimuth, [0, 360), clockwise from the front.
        time_offset_us: float64 (M,) firing time after ``timestamp_us``.
        timestamp_us: microseconds past the top of the hour of the packet's first firing.
        return_mode: ``strongest``, ``last`` or ``dual``.
    """

    points: np.ndarray
    azimuth_deg: np.ndarray
    time_offset_us: np.ndarray
    timestamp_us: int
    return_mode: str


def decode_packet(data: bytes, *, check_product: bool = True) -> VelodynePacket:
    """Decode one 1206-byte VLP-16 data packet; a malformed one raises :class:`SensorError`."""
    if len(data) != PACKET_SIZE:
        raise SensorError(f"VLP-16 packet: expected {PACKET_SIZE} bytes, got {len(data)}")
    blocks = np.frombuffer(data, _BLOCK, count=BLOCKS)
    bad = np.flatnonzero(blocks["flag"] != 0xFFEE)
    if bad.size:
        raise SensorError(f"VLP-16 packet: block {bad[0]}: flag 0x{int(blocks['flag'][bad[0]]):04X}, "
                          "expected 0xFFEE")
    az100 = blocks["azimuth"].astype(np.int64)
    if (az100 >= 36000).any():
        raise SensorError(f"VLP-16 packet: azimuth {int(az100.max())} out of range 0..35999 (0.01 deg)")
    timestamp_us = int.from_bytes(data[1200:1204], "little")
    mode, product = data[1204], data[1205]
    if mode not in RETURN_MODES:
        raise SensorError(f"VLP-16 packet: return mode byte 0x{mode:02X}, expected one of "
                          f"{[f'0x{m:02X}' for m in RETURN_MODES]}")
    if check_product and product != PRODUCT_VLP16:
        raise SensorError(f"VLP-16 packet: product id 0x{product:02X}, "
                          f"expected 0x{PRODUCT_VLP16:02X} (VLP-16)")
    step = 2 if RETURN_MODES[mode] == "dual" else 1  # dual: block pairs share one azimuth
    az = az100 / 100.0
    gap = np.empty(BLOCKS)
    gap[:BLOCKS - step] = (az[step:] - az[:-step]) % 360.0
    gap[BLOCKS - step:] = gap[BLOCKS - 2 * step:BLOCKS - step]
    within_us = _SEQ * SEQUENCE_US + _LASER * FIRING_US  # (32,) after the block's first firing
    azimuth = (az[:, None] + gap[:, None] * within_us[None, :] / (2 * SEQUENCE_US)) % 360.0
    t_us = (np.arange(BLOCKS) // step)[:, None] * (2 * SEQUENCE_US) + within_us[None, :]
    dist = blocks["rec"]["d"].astype(np.float64) * DISTANCE_UNIT_M
    keep = dist > 0
    d, a = dist[keep], np.radians(azimuth[keep])
    cw = np.broadcast_to(_COS_W, dist.shape)[keep]
    sw = np.broadcast_to(_SIN_W, dist.shape)[keep]
    pts = np.empty((d.size, 5), np.float32)
    pts[:, 0] = d * cw * np.cos(a)
    pts[:, 1] = -d * cw * np.sin(a)
    pts[:, 2] = d * sw
    pts[:, 3] = blocks["rec"]["r"][keep]
    pts[:, 4] = np.broadcast_to(RINGS[_LASER], dist.shape)[keep]
    return VelodynePacket(points=pts, azimuth_deg=azimuth[keep], time_offset_us=t_us[keep],
                          timestamp_us=timestamp_us, return_mode=RETURN_MODES[mode])


def resolve_hour_time(now_ns: int, us_past_hour: int) -> int:
    """Absolute time (ns) of a stamp given in microseconds past the hour, nearest to ``now_ns``."""
    t = now_ns - now_ns % HOUR_NS + us_past_hour * 1000
    if t - now_ns > HOUR_NS // 2:
        t -= HOUR_NS
    elif now_ns - t > HOUR_NS // 2:
        t += HOUR_NS
    return max(t, 0)


@dataclass(frozen=True)
class Revolution:
    """One assembled rotation: float32 (N, 6) ``points`` with :data:`FIELDS`, stamped at its first return.

    ``complete`` is False for a revolution that did not start at an azimuth wrap (the first one
    after start-up, or one flushed because it grew past the size limit).
    """

    stamp_ns: int
    points: np.ndarray
    complete: bool


class RevolutionAssembler:
    """Collects packets into revolutions, split where the azimuth wraps from ~360 to ~0 degrees.

    Args:
        max_points: flush a revolution that grows past this many points (sensor not spinning).
    """

    def __init__(self, max_points: int = 300_000) -> None:
        self.max_points = max_points
        self._pts: list[np.ndarray] = []
        self._times: list[np.ndarray] = []
        self._count = 0
        self._last_az: float | None = None
        self._complete = False

    def add(self, packet: VelodynePacket, stamp_ns: int) -> list[Revolution]:
        """Add a packet whose first firing happened at ``stamp_ns``; return finished revolutions."""
        out: list[Revolution] = []
        az = packet.azimuth_deg
        if az.size == 0:
            return out
        times = stamp_ns + np.round(packet.time_offset_us * 1000).astype(np.int64)
        prev = np.concatenate([[az[0] if self._last_az is None else self._last_az], az])
        cuts = np.flatnonzero(np.diff(prev) < -180.0)
        start = 0
        for cut in [*cuts.tolist(), az.size]:
            if cut > start:
                self._pts.append(packet.points[start:cut])
                self._times.append(times[start:cut])
                self._count += cut - start
            if cut < az.size:
                rev = self._finish()
                if rev is not None:
                    out.append(rev)
                self._complete = True
            start = cut
        self._last_az = float(az[-1])
        if self._count > self.max_points:
            log.warning("no azimuth wrap within %d points: flushing an incomplete revolution",
                        self.max_points)
            rev = self._finish()
            self._complete = False
            if rev is not None:
                out.append(rev)
        return out

    def _finish(self) -> Revolution | None:
        if not self._pts:
            return None
        pts, times = np.concatenate(self._pts), np.concatenate(self._times)
        self._pts, self._times, self._count = [], [], 0
        stamp = int(times.min())
        cloud = np.empty((len(pts), len(FIELDS)), np.float32)
        cloud[:, :5] = pts
        cloud[:, 5] = (times - stamp) / 1e9
        return Revolution(stamp_ns=stamp, points=cloud, complete=self._complete)


@dataclass(frozen=True)
class VelodyneSourceConfig:
    """Options of :class:`VelodyneSource`.

    Attributes:
        host, port: local UDP address to listen on (port 0: any free port, see ``address``).
        check_product: refuse packets whose product id is not the VLP-16's.
        use_packet_time: stamp with the packets' hour-relative time resolved against the clock
            (needs a sensor synchronised by GPS/PPS); False stamps with the receive time.
        topic: output topic of :class:`~percept.messages.PointCloud` revolutions.
        frame_id: sensor frame (x forward, y left, z up).
        publish_partial: also publish the incomplete first revolution after start-up.
        poll_period_s: how often the socket is drained.
        max_packets_per_poll: packets read per poll at most (bounded work per timer call).

    The packets (where they arrive, which are taken, how they are stamped) come first, then the
    output, then the polling.
    """

    host: str = "127.0.0.1"
    port: int = 2368
    check_product: bool = True
    use_packet_time: bool = True
    topic: str = "lidar/velodyne"
    frame_id: str = "velodyne"
    publish_partial: bool = False
    poll_period_s: float = 0.002
    max_packets_per_poll: int = 1000

    def __post_init__(self) -> None:
        require_polling(self, "poll_period_s", "max_packets_per_poll", within=("port", 0, 65535))


class VelodyneSource(Processor):
    """Listens for VLP-16 data packets on UDP and publishes one PointCloud per revolution.

    Malformed packets are counted in :attr:`bad_packets`, logged and skipped.
    """

    Config = VelodyneSourceConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        cfg: VelodyneSourceConfig = self.config
        self.bad_packets = 0
        self.packets = 0
        self.seq = 0
        self._assembler = RevolutionAssembler()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self._sock.bind((cfg.host, cfg.port))
        except OSError as exc:
            self._sock.close()
            raise SensorError(f"velodyne: cannot listen on udp {cfg.host}:{cfg.port}: {exc}") from exc
        self._sock.setblocking(False)
        self.address: tuple[str, int] = self._sock.getsockname()
        ctx.add_timer(cfg.poll_period_s, self._poll)

    def _poll(self, now_ns: int) -> None:
        cfg: VelodyneSourceConfig = self.config
        for _ in range(cfg.max_packets_per_poll):
            try:
                data = self._sock.recv(2048)
            except BlockingIOError:
                return
            except OSError as exc:
                self.context.log.warning("velodyne: receive failed: %s", exc)
                return
            self._handle(data, now_ns)

    def _handle(self, data: bytes, now_ns: int) -> None:
        cfg: VelodyneSourceConfig = self.config
        try:
            packet = decode_packet(data, check_product=cfg.check_product)
        except SensorError as exc:
            self.bad_packets += 1
            warn_bad(self.context.log, self.bad_packets, "velodyne: skipping bad packet", exc)
            return
        self.packets += 1
        stamp = resolve_hour_time(now_ns, packet.timestamp_us) if cfg.use_packet_time else now_ns
        for rev in self._assembler.add(packet, stamp):
            if not (rev.complete or cfg.publish_partial):
                continue
            self.context.publish(cfg.topic, PointCloud(stamp_ns=rev.stamp_ns, frame_id=cfg.frame_id,
                                                       seq=self.seq, points=rev.points, fields=FIELDS))
            self.seq += 1

    def stop(self) -> None:
        sock = getattr(self, "_sock", None)
        if sock is not None:
            sock.close()
