"""Frame readers behind :mod:`sensors.camera`: video files, image folders, V4L2 devices, streams.

A reader yields :class:`RawFrame` objects (uint8 (H, W, 3) BGR pixels plus, for files and
folders, the frame's stream time) and signals the three ways reading can go wrong with
exceptions, so the caller can count them and decide what to do:

* :class:`EndOfStream` — a file or folder has no more frames (end of playback, or loop);
* :class:`StreamLost` — a live source (device, RTSP/HTTP URL) failed to deliver a frame:
  the camera was unplugged, the server died, or no frame came within the read timeout;
* :class:`BadFrame` — one frame could not be decoded (a corrupt image in a folder); skip it.

Live sources are opened with OpenCV: URLs through the FFmpeg backend (``rtsp://``,
``http(s)://`` MJPEG via FFmpeg's ``mpjpeg`` demuxer, ``rtmp://``, ``udp://``, ``tcp://``),
devices (``/dev/videoN`` or an integer index) through ``cv2.CAP_V4L2``. A connect to a dead
host or a stalled read would otherwise block for FFmpeg's default (tens of seconds), so URLs
are opened with ``CAP_PROP_OPEN_TIMEOUT_MSEC`` and ``CAP_PROP_READ_TIMEOUT_MSEC`` (OpenCV >= 4.6,
FFmpeg backend only); these bound how long one open or read call may block the node.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from percept.imagefiles import IMAGE_SUFFIXES, list_images
from sensors.errors import SensorError

log = logging.getLogger(__name__)

#: URL schemes opened through OpenCV's FFmpeg backend.
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp")

_DEVICE_RE = re.compile(r"^/dev/video(\d+)$")


class EndOfStream(Exception):
    """A file or folder has no more frames."""


class StreamLost(SensorError):
    """A live source stopped delivering frames (read failed or timed out)."""


class BadFrame(SensorError):
    """One frame could not be decoded; the reader has moved past it."""


@dataclass(frozen=True)
class RawFrame:
    """One decoded frame.

    Attributes:
        bgr: uint8 (H, W, 3) BGR pixels.
        stream_ns: the frame's presentation time in the source, ns, relative to the source's
            first frame (files: ``CAP_PROP_POS_MSEC``; folders: ``index / fps``); ``None`` for
            live sources, which have no usable stream clock through OpenCV.
        device_ns: V4L2 devices: the driver's buffer timestamp (``CAP_PROP_POS_MSEC``, the
            driver's clock, usually ``CLOCK_MONOTONIC``), ns; ``None`` when the driver gives none
            and for every other source.
    """

    bgr: np.ndarray
    stream_ns: int | None
    device_ns: int | None = None


class FrameReader(Protocol):
    """What :class:`sensors.camera.CameraSource` needs from a source."""

    kind: str  # "file", "folder", "device" or "stream"
    fps: float | None  # nominal frame rate, None when unknown (live sources)

    def read(self) -> RawFrame:
        """The next frame; raises EndOfStream, StreamLost or BadFrame."""
        ...

    def close(self) -> None:
        """Release the capture (idempotent)."""
        ...


def source_kind(source: str | int) -> str:
    """Classify a source: ``"device"``, ``"stream"``, ``"folder"`` or ``"file"``.

    Raises:
        SensorError: the source is no URL, no device and no existing file or folder.
    """
    if isinstance(source, int) or str(source).isdigit() or _DEVICE_RE.match(str(source)):
        return "device"
    text = str(source)
    scheme, sep, _ = text.partition("://")
    if sep:
        if scheme.lower() in STREAM_SCHEMES:
            return "stream"
        raise SensorError(f"camera source {text!r}: unsupported URL scheme {scheme!r}, "
                          f"expected one of {list(STREAM_SCHEMES)}")
    path = Path(text)
    if path.is_dir():
        return "folder"
    if path.is_file():
        return "file"
    raise SensorError(f"camera source {text!r}: no such file or folder, and not a device "
                      f"(/dev/videoN or an index) or a URL ({'/'.join(STREAM_SCHEMES)})")


def open_reader(source: str | int, *, fps: float, open_timeout_ms: int,
                read_timeout_ms: int) -> FrameReader:
    """Open ``source`` (see :func:`source_kind`).

    Args:
        source: file, folder, ``/dev/videoN``, device index or URL.
        fps: frame rate of image folders, and of videos whose container has none.
        open_timeout_ms, read_timeout_ms: FFmpeg open/read timeouts for URLs.

    Raises:
        SensorError: the source cannot be opened; the message names it.
    """
    kind = source_kind(source)
    if kind == "folder":
        return FolderReader(Path(str(source)), fps)
    if kind == "file":
        return VideoFileReader(Path(str(source)), fps)
    return LiveReader(source, kind, open_timeout_ms, read_timeout_ms)


class FolderReader:
    """Plays the images of a folder in natural name order at ``fps`` (stream time index/fps).

    A file OpenCV cannot decode raises :class:`BadFrame` once and is skipped; the following
    frames keep their index-based stream times, so the skipped frame leaves a gap.
    """

    kind = "folder"

    def __init__(self, folder: Path, fps: float) -> None:
        self.folder = folder
        self.fps: float | None = fps
        self.files = list_images(folder)  # other files are ignored
        if not self.files:
            raise SensorError(f"image folder {folder}: no images with suffix in {list(IMAGE_SUFFIXES)}")
        self._index = 0

    def read(self) -> RawFrame:
        import cv2

        if self._index >= len(self.files):
            raise EndOfStream(str(self.folder))
        index, path = self._index, self.files[self._index]
        self._index += 1
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise BadFrame(f"image {path}: cannot be decoded by OpenCV")
        return RawFrame(img, round(index * 1e9 / float(self.fps or 1.0)))

    def close(self) -> None:
        self._index = len(self.files)


class VideoFileReader:
    """Plays a video file through OpenCV's FFmpeg backend; stream time is ``CAP_PROP_POS_MSEC``
    of each frame relative to the first frame. A failed read is the end of the file."""

    kind = "file"

    def __init__(self, path: Path, fallback_fps: float) -> None:
        import cv2

        self.path = path
        self._cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            raise SensorError(f"video file {path}: OpenCV (FFmpeg backend) cannot open it")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps: float | None = fps if 0.0 < fps < 1e4 else fallback_fps
        self._first_ms: float | None = None
        self._index = 0

    def read(self) -> RawFrame:
        import cv2

        ok, img = self._cap.read()
        if not ok or img is None:
            raise EndOfStream(str(self.path))
        pos_ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
        if pos_ms < 0 or not np.isfinite(pos_ms):  # no timestamps in the container
            pos_ms = self._index * 1000.0 / float(self.fps or 1.0)
        if self._first_ms is None:
            self._first_ms = pos_ms
        self._index += 1
        return RawFrame(img, round((pos_ms - self._first_ms) * 1e6))

    def close(self) -> None:
        self._cap.release()


class LiveReader:
    """A V4L2 device or a network stream; every failed read raises :class:`StreamLost`."""

    fps: float | None = None

    def __init__(self, source: str | int, kind: str, open_timeout_ms: int, read_timeout_ms: int) -> None:
        import cv2

        self.kind = kind
        self.source = source
        if kind == "device":
            text = str(source)
            m = _DEVICE_RE.match(text)
            target: str | int = text if m else int(text)
            self._cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
        else:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_ms),
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_ms)]
            self._cap = cv2.VideoCapture(str(source), cv2.CAP_FFMPEG, params)
        if not self._cap.isOpened():
            self._cap.release()
            raise SensorError(f"camera {kind} {source!r}: OpenCV cannot open it")

    def read(self) -> RawFrame:
        import cv2

        ok, img = self._cap.read()
        if not ok or img is None:
            raise StreamLost(f"camera {self.kind} {self.source!r}: read failed (stream dropped or timed out)")
        if img.ndim == 2:  # some devices deliver grey frames
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        device_ns = None
        if self.kind == "device":  # V4L2: the buffer's driver timestamp; 0 when there is none
            ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
            device_ns = round(ms * 1e6) if np.isfinite(ms) and ms > 0 else None
        return RawFrame(img, None, device_ns)

    def close(self) -> None:
        self._cap.release()
