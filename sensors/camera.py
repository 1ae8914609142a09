"""Camera driver: video files, image folders, V4L2 devices and RTSP/HTTP streams as a source node.

:class:`CameraSource` is a :class:`~percept.node.Processor` that owns one capture (see
:mod:`sensors.camera_sources`), reads one frame per timer tick and publishes it as a
:class:`~percept.messages.Image` (``bgr8``, or ``jpeg`` when ``jpeg_quality`` is set) with the
configured ``frame_id`` and a per-topic ``seq`` that keeps increasing across loops and reconnects.
:func:`iter_frames` runs the same processor without the node runtime.

Timestamps (``stamp_ns``, integer ns, capture time), never later than the frame's publication
(see :mod:`sensors.stamping`). A live frame is stamped no later than the read that returned it
(its arrival, ``ctx.clock.now_ns()`` after decoding). A file or folder plays like a camera that
delivers each frame complete at its capture time: the next frame is decoded right after the
previous one is published, and released -- stamped and published -- on its own tick, so decoding
(about 10 ms for a 1080p H.264 frame here) is not part of any frame's latency:

* ``stamp_source="stream"`` (default), files and folders: the frame's stream time
  (``CAP_PROP_POS_MSEC``, or ``index / fps`` for folders) mapped once onto the clock at the first
  frame of the playback (or of the current loop), so stamps keep the stream's spacing. On a wall
  clock a frame read before its mapped time (the first read was late, or ``rate`` plays faster
  than real time) lowers the mapping to its read time (counted in ``stamps_lowered``). On a
  virtual clock (offline runs) the first frame's mapping is kept: with real-time pacing the
  stamps equal the tick times and are spaced by exactly 1/fps.
* ``stamp_source="stream"``, V4L2 devices: the driver's buffer timestamp (``CAP_PROP_POS_MSEC``)
  plus the offset measured between it and the arrival times (their minimum over the last
  :data:`LIVE_OFFSET_WINDOW` frames); a device that gives none is stamped with its arrival time.
* URLs carry no usable stream clock through OpenCV (FFmpeg invents 25 fps positions for MJPEG),
  so they are stamped with the arrival time; ``stamp_source="capture"`` does the same for every
  source.

Pacing (``rate``): ``"auto"`` plays files at their own fps and folders at ``fps`` (real time);
live sources are read as fast as frames arrive (the read blocks until the next frame, at most
``read_timeout_ms``). ``"max"``/``None`` reads as fast as possible; a number is a fixed rate in Hz.
"As fast as possible" is a timer of :data:`MAX_RATE_PERIOD_S` rather than period 0: a node
context cannot cancel a timer, and a period-0 timer keeps the shell's loop spinning at 100 % CPU
once the file has ended or while a stream waits for its next reconnect attempt.

Failures never stop the node: an undecodable frame is counted (``bad_frames``), logged and
skipped; a live read failure is counted (``read_failures``), the capture is closed and the
source goes to ``"reconnecting"``; reconnect attempts run in the timer callback once the backoff
(``reconnect_initial_s``, doubling up to ``reconnect_max_s``) has elapsed on ``ctx.clock`` — no
sleeping. A file or folder that runs out goes to ``"ended"`` (or starts over with ``loop``) and ends the
node's stream (``ctx.end_stream()``: in a graph the end-of-stream marker follows its last frame).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, cast

import cv2
import numpy as np

from percept.clock import Clock, WallClock
from percept.message import Message
from percept.messages import Image
from percept.node import NodeContext, Processor
from sensors.camera_sources import (
    BadFrame,
    EndOfStream,
    FrameReader,
    RawFrame,
    StreamLost,
    open_reader,
    source_kind,
)
from sensors.errors import SensorError
from sensors.stamping import SourceClock

log = logging.getLogger(__name__)

#: Timer period used for "as fast as possible" (see module docstring), seconds.
MAX_RATE_PERIOD_S = 1e-3
#: Growth factor of the reconnect delay after each failed attempt.
BACKOFF_FACTOR = 2.0
#: Frames over which a live device's driver-to-clock offset is measured (its minimum).
LIVE_OFFSET_WINDOW = 300

#: A decoded frame and its analytics copy (None without an analytics stream).
_Frame = tuple[RawFrame, np.ndarray | None]


@dataclass(frozen=True)
class CameraConfig:
    """Options of :class:`CameraSource`.

    Attributes:
        source: video file, image folder, ``/dev/videoN``, device index (int or digits) or a
            ``rtsp://``/``http://``/... stream URL.
        topic: output topic.
        frame_id: camera frame of the images.
        rate: ``"auto"`` (files: their fps, folders: ``fps``, live: as frames arrive),
            ``"max"``/``None`` (as fast as possible) or frames per second of clock time.
        fps: frame rate of image folders (stream time ``index / fps``) and of videos whose
            container states none.
        loop: start files/folders over at the end instead of ending.
        analytics_topic: also publish every frame here, downscaled to ``analytics_width`` pixels
            wide (aspect kept, ``INTER_AREA``) when it is wider, as it is otherwise -- a detector's
            stream, like an IP camera's sub-stream, so the full frame need not cross to the
            detector's process (``""``: none). A downscaled copy carries the full frame's size
            (``Image.full_width``/``full_height``) and detections on it come back in full-frame
            pixels.
        analytics_width: width of the analytics stream, pixels (>= 16 with ``analytics_topic``).
        max_frames: end the stream after publishing this many frames (any source; None: no limit).
        jpeg_quality: publish JPEG-compressed images at this quality (1-100); None: bgr8.
        reconnect_initial_s: first delay before reconnecting a dropped live source, seconds.
        reconnect_max_s: cap of the delay, which doubles after each failed attempt, seconds.
        stamp_source: ``"stream"`` (files and folders: stream time mapped onto the clock; V4L2
            devices: driver time plus the measured offset; URLs: arrival time) or ``"capture"``
            (arrival time of each read, every source).
        open_timeout_ms: longest a URL open may block (FFmpeg backend), milliseconds.
        read_timeout_ms: longest a URL read may block before it counts as a failure, ms.
    """

    source: str | int = ""
    topic: str = "camera/front"
    frame_id: str = "camera_front"
    rate: float | Literal["auto", "max"] | None = "auto"
    fps: float = 10.0
    loop: bool = False
    max_frames: int | None = None
    analytics_topic: str = ""
    analytics_width: int = 0
    jpeg_quality: int | None = None
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 10.0
    stamp_source: Literal["stream", "capture"] = "stream"
    open_timeout_ms: int = 2000
    read_timeout_ms: int = 2000

    def __post_init__(self) -> None:
        if isinstance(self.source, bool) or self.source == "":
            raise ValueError(f"source: expected a file, folder, device or URL, got {self.source!r}")
        if isinstance(self.rate, str):
            if self.rate not in ("auto", "max"):
                raise ValueError(f"rate: expected a number, 'auto', 'max' or None, got {self.rate!r}")
        elif self.rate is not None and not self.rate > 0:
            raise ValueError(f"rate: expected > 0 Hz, got {self.rate}")
        if not self.fps > 0:
            raise ValueError(f"fps: expected > 0, got {self.fps}")
        if self.analytics_topic and self.analytics_width < 16:
            raise ValueError(f"analytics_width: expected >= 16 with analytics_topic, "
                             f"got {self.analytics_width}")
        if self.analytics_topic == self.topic:
            raise ValueError(f"analytics_topic: expected a topic other than topic {self.topic!r}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames: expected >= 1 or None, got {self.max_frames}")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality: expected 1..100 or None, got {self.jpeg_quality}")
        if not 0 < self.reconnect_initial_s <= self.reconnect_max_s:
            raise ValueError("reconnect_initial_s, reconnect_max_s: expected 0 < initial <= max, got "
                             f"{self.reconnect_initial_s}, {self.reconnect_max_s}")
        if self.stamp_source not in ("stream", "capture"):
            raise ValueError(f"stamp_source: expected 'stream' or 'capture', got {self.stamp_source!r}")
        if self.open_timeout_ms <= 0 or self.read_timeout_ms <= 0:
            raise ValueError(f"open_timeout_ms, read_timeout_ms: expected > 0, got "
                             f"{self.open_timeout_ms}, {self.read_timeout_ms}")
        if not self.topic or not self.frame_id:
            raise ValueError(f"topic, frame_id: expected non-empty, got {self.topic!r}, {self.frame_id!r}")


@dataclass
class CameraStatus:
    """Health of a :class:`CameraSource` (a snapshot from :attr:`CameraSource.status`).

    Attributes:
        state: ``"streaming"``, ``"reconnecting"`` or ``"ended"``.
        frames: images published.
        bad_frames: undecodable frames skipped.
        read_failures: failed reads of a live source (each starts a reconnect cycle).
        reconnect_attempts: opens tried while reconnecting (failed and successful).
        reconnects: successful reconnects.
        loops: times a file/folder started over (``loop``).
        stamps_lowered: frames read before their mapped stream/driver time, which lowered the
            mapping to their read time (see the module docstring).
        retry_delay_s: current reconnect delay (grows by :data:`BACKOFF_FACTOR` per failure).
        next_attempt_ns: clock time of the next reconnect attempt (0 when streaming).
        last_error: text of the last failure ("" if none).
    """

    state: str = "streaming"
    frames: int = 0
    bad_frames: int = 0
    read_failures: int = 0
    reconnect_attempts: int = 0
    reconnects: int = 0
    loops: int = 0
    stamps_lowered: int = 0
    retry_delay_s: float = 0.0
    next_attempt_ns: int = 0
    last_error: str = ""


class CameraSource(Processor):
    """Publishes the frames of one camera source (see the module docstring)."""

    Config = CameraConfig

    def __init__(self, config: CameraConfig | None = None) -> None:
        super().__init__(config)
        self._reader: FrameReader | None = None
        self._status = CameraStatus()
        self._seq = 0
        self._last_stamp = -1
        self._clock = SourceClock()
        self._ahead: list[_Frame | None] = []  # files: the frame decoded for the next tick

    @property
    def status(self) -> CameraStatus:
        """A copy of the current counters and state."""
        return dataclasses.replace(self._status, stamps_lowered=self._clock.lowered)

    def counters(self) -> dict[str, int]:
        """Frames published, skipped as undecodable, and the rest of :class:`CameraStatus`'s counts."""
        st = self.status
        return {"frames": st.frames, "bad_frames": st.bad_frames, "read_failures": st.read_failures,
                "reconnects": st.reconnects, "loops": st.loops, "stamps_lowered": st.stamps_lowered}

    def start(self, ctx: NodeContext) -> None:
        """Open the source and start the frame timer.

        Raises:
            SensorError: a file or folder source is missing or cannot be opened (live sources
                that cannot be opened yet go to ``"reconnecting"`` instead).
        """
        super().start(ctx)
        cfg: CameraConfig = self.config
        self._kind = source_kind(cfg.source)
        self._live = self._kind in ("device", "stream")
        self._clock = SourceClock(LIVE_OFFSET_WINDOW if self._live else None, lower=not ctx.clock.is_virtual)
        if self._live:
            self._reconnect(ctx.clock.now_ns(), first=True)
        else:
            self._reader = self._open()
            self._ahead = [self._prepare(self._read_next(ctx.clock.now_ns()))]
        ctx.add_timer(self._period_s(), self._tick)

    def _open(self) -> FrameReader:
        cfg: CameraConfig = self.config
        return open_reader(cfg.source, fps=cfg.fps, open_timeout_ms=cfg.open_timeout_ms,
                           read_timeout_ms=cfg.read_timeout_ms)

    def _period_s(self) -> float:
        rate = self.config.rate
        if rate == "auto":
            fps = self._reader.fps if self._reader is not None else None
            return 1.0 / fps if fps else MAX_RATE_PERIOD_S
        if rate is None or rate == "max":
            return MAX_RATE_PERIOD_S
        return 1.0 / float(rate)

    def _tick(self, now_ns: int) -> None:
        st = self._status
        if st.state == "ended":
            return
        if self._live:  # live frames arrive when the read returns: stamped after it
            if st.state == "reconnecting" and (now_ns < st.next_attempt_ns or not self._reconnect(now_ns)):
                return
            frame = self._prepare(self._read_next(now_ns))
            if frame is not None:
                self._publish(frame, self.context.clock.now_ns())
            return
        # files and folders: the frame decoded after the previous tick is released on this tick's
        # schedule (its stamp is mapped onto the tick time), then the next one is decoded ahead
        frame = self._ahead.pop() if self._ahead else self._prepare(self._read_next(now_ns))
        if frame is not None:
            self._publish(frame, now_ns)
        if st.state != "ended":
            self._ahead = [self._prepare(self._read_next(now_ns))]

    def _prepare(self, raw: RawFrame | None) -> _Frame | None:
        """``raw`` with its analytics copy (downscaled to ``analytics_width`` when wider; the frame
        itself when not, or None without an ``analytics_topic``)."""
        cfg: CameraConfig = self.config
        if raw is None or not cfg.analytics_topic:
            return None if raw is None else (raw, None)
        h, w = raw.bgr.shape[:2]
        if w <= cfg.analytics_width:
            return raw, raw.bgr
        size = (cfg.analytics_width, max(1, round(h * cfg.analytics_width / w)))
        return raw, cv2.resize(raw.bgr, size, interpolation=cv2.INTER_AREA)

    def _read_next(self, now_ns: int) -> RawFrame | None:
        """The next frame of the reader; None when there is none this tick (a bad frame, a lost
        stream, the end of a file: each counted and handled here)."""
        st = self._status
        reader = self._reader
        if reader is None:
            return None
        try:
            return reader.read()
        except BadFrame as exc:
            st.bad_frames += 1
            st.last_error = str(exc)
            self.context.log.warning("skipped bad frame (%d so far): %s", st.bad_frames, exc)
            return None
        except StreamLost as exc:
            self._lost(now_ns, str(exc))
            return None
        except EndOfStream:
            if self.config.loop:
                return self._restart(reader)
            self._end("at its end")
            return None

    def _restart(self, reader: FrameReader) -> RawFrame | None:
        """Reopen a file/folder for the next loop and read its first frame."""
        st = self._status
        reader.close()
        st.loops += 1
        self._clock.reset()  # the new loop is mapped onto the clock at its own first frame
        try:
            self._reader = self._open()
            return self._reader.read()
        except BadFrame as exc:  # first image of the folder is corrupt: skip it, go on next tick
            st.bad_frames += 1
            st.last_error = str(exc)
            self.context.log.warning("skipped bad frame (%d so far): %s", st.bad_frames, exc)
            return None
        except (SensorError, EndOfStream) as exc:
            st.state = "ended"
            st.last_error = str(exc)
            self.context.log.error("cannot restart %s for loop %d: %s", self.config.source, st.loops, exc)
            self.context.end_stream()
            return None

    def _stamp(self, raw: RawFrame, arrival_ns: int) -> int:
        """Capture stamp of ``raw`` read at ``arrival_ns`` (see the module docstring)."""
        source = raw.device_ns if self._live else raw.stream_ns
        if source is None or self.config.stamp_source == "capture":
            stamp = arrival_ns
        else:
            stamp = self._clock.stamp(source, max(arrival_ns, self._last_stamp + 1))
        return max(stamp, self._last_stamp + 1)  # strictly increasing whatever the source does

    def _publish(self, frame: _Frame, arrival_ns: int) -> None:
        """Stamp and publish a frame: the analytics copy first (a detector waits for it), then the
        full frame."""
        cfg: CameraConfig = self.config
        raw, small = frame
        stamp = self._last_stamp = self._stamp(raw, arrival_ns)
        msg = Image.from_bgr(raw.bgr, stamp_ns=stamp, frame_id=cfg.frame_id, seq=self._seq,
                             jpeg_quality=cfg.jpeg_quality)
        if small is not None:  # a frame no wider than the analytics stream goes there as it is
            h, w = raw.bgr.shape[:2]
            self.context.publish(cfg.analytics_topic, msg if small is raw.bgr else Image.from_bgr(
                small, stamp_ns=stamp, frame_id=cfg.frame_id, seq=self._seq, jpeg_quality=cfg.jpeg_quality,
                full_size=(w, h)))
        self._seq += 1
        self._status.frames += 1
        self.context.publish(cfg.topic, msg)
        if cfg.max_frames is not None and self._status.frames >= cfg.max_frames:
            self._end(f"after max_frames {cfg.max_frames}")

    def _end(self, why: str) -> None:
        """Close the source and end the node's stream (``why``: for the log line)."""
        st = self._status
        st.state = "ended"
        if self._reader is not None:
            self._reader.close()
        self.context.log.info("source %s ended %s (%d frames)", self.config.source, why, st.frames)
        self.context.end_stream()

    def _lost(self, now_ns: int, error: str) -> None:
        """A live read failed: close the capture and schedule the first reconnect attempt."""
        st = self._status
        st.read_failures += 1
        st.last_error = error
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        st.state = "reconnecting"
        st.retry_delay_s = self.config.reconnect_initial_s
        st.next_attempt_ns = now_ns + round(st.retry_delay_s * 1e9)
        self.context.log.warning("%s (failure %d); reconnecting in %.2f s", error, st.read_failures,
                                 st.retry_delay_s)

    def _reconnect(self, now_ns: int, first: bool = False) -> bool:
        """Try to (re)open a live source; on failure back off. True when streaming again."""
        cfg: CameraConfig = self.config
        st = self._status
        if not first:
            st.reconnect_attempts += 1
        try:
            self._reader = self._open()
        except SensorError as exc:
            st.last_error = str(exc)
            if first:
                st.retry_delay_s = cfg.reconnect_initial_s
            else:
                st.retry_delay_s = min(st.retry_delay_s * BACKOFF_FACTOR, cfg.reconnect_max_s)
            st.state = "reconnecting"
            st.next_attempt_ns = self.context.clock.now_ns() + round(st.retry_delay_s * 1e9)
            self.context.log.warning("%s (attempt %d); next attempt in %.2f s", exc,
                                     st.reconnect_attempts, st.retry_delay_s)
            return False
        if not first:
            st.reconnects += 1
            self.context.log.info("camera %r reconnected (reconnect %d, after %d attempts)",
                                  cfg.source, st.reconnects, st.reconnect_attempts)
        st.state = "streaming"
        st.retry_delay_s = 0.0
        st.next_attempt_ns = 0
        return True

    def stop(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class CameraFrames(Iterator[Image]):
    """Iterator over the images of a :class:`CameraSource` run outside the node runtime.

    It drives the source's timer itself: on a :class:`~percept.clock.WallClock` it sleeps
    until the next tick (real-time pacing as configured); on a virtual clock it jumps to it, so a
    file plays instantly with the stamps it would have live. It ends when a file/folder ends and
    runs for ever (reconnecting) on live sources; :meth:`close` releases the capture.
    """

    def __init__(self, config: CameraConfig, clock: Clock | None = None) -> None:
        self.clock = clock if clock is not None else WallClock()
        self.source = CameraSource(config)
        self._out: deque[Image] = deque()
        self.ctx = NodeContext("camera", self.clock, self._collect)
        self.source.start(self.ctx)
        self._closed = False

    def _collect(self, _topic: str, msg: Message) -> bool:
        self._out.append(cast(Image, msg))  # only the CameraSource publishes here
        return True

    def __next__(self) -> Image:
        while not self._out:
            if self._closed or self.source.status.state == "ended":
                self.close()
                raise StopIteration
            deadline = self.ctx.timers.next_deadline()
            if deadline is None:
                raise StopIteration
            if self.clock.is_virtual:
                self.clock.advance_to(max(deadline, self.clock.now_ns()))  # type: ignore[attr-defined]
            else:
                wait_s = (deadline - self.clock.now_ns()) / 1e9
                if wait_s > 0:
                    time.sleep(wait_s)
            self.ctx.timers.run_due(self.clock.now_ns(), self.ctx.handler_error)
        return self._out.popleft()

    def close(self) -> None:
        """Stop the source and release its capture (idempotent)."""
        if not self._closed:
            self._closed = True
            self.source.stop()


def iter_frames(config: CameraConfig, clock: Clock | None = None) -> CameraFrames:
    """Images of ``config.source`` without the node runtime (see :class:`CameraFrames`).

    Opens the source at once, so a bad path raises :class:`SensorError` here, not on the first
    ``next()``. Use ``rate="max"`` to read a file as fast as it decodes.
    """
    return CameraFrames(config, clock)
