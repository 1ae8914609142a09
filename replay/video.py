"""MP4 videos from logs: the frames of an image topic with the tracks of a tracks topic drawn on them.

``percept log export LOG --format mp4 --topic TRACKS [--images IMAGES]`` calls
:func:`export_tracks_video`: every Image of the image topic, in log order, becomes one frame; the
Tracks message with the same ``stamp_ns`` (the capture time both carry) is drawn on it by a
:class:`replay.draw.TrackDrawer` (boxes, ids, trails); a frame without one is written without
boxes. The frame rate is that of the image stamps (their median interval). Videos are written by
OpenCV's ``VideoWriter`` with the ``mp4v`` codec.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from percept.codec import decode
from percept.errors import DecodeError
from percept.messages import Image, Tracks
from replay.draw import TrackDrawer
from replay.errors import LogError
from replay.log import LogReader

#: Frame rate of a video whose stamps give none (one frame, or stamps that do not increase).
DEFAULT_FPS = 10.0
IMAGE_SCHEMA = Image.SCHEMA


def frame_rate(stamps_ns: Sequence[int]) -> float:
    """Frames per second from the median interval of ``stamps_ns`` (:data:`DEFAULT_FPS` if none)."""
    dt = float(np.median(np.diff(np.asarray(stamps_ns, np.int64)))) if len(stamps_ns) > 1 else 0.0
    return 1e9 / dt if dt > 0 else DEFAULT_FPS


def open_writer(out: Path, fps: float, size: tuple[int, int]) -> Any:
    """An opened ``cv2.VideoWriter`` (``mp4v``) for ``size = (width, height)`` frames at ``fps``."""
    import cv2

    out.parent.mkdir(parents=True, exist_ok=True)
    vw = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not vw.isOpened():
        raise LogError(f"{out}: cannot open a video writer")
    return vw


def image_topic_for(reader: LogReader, tracks_topic: str) -> str:
    """The image topic whose frames ``tracks_topic`` was tracked on: the only Image topic of the
    log, or the one named like it (``X/tracks`` -> ``X/image`` or ``X``)."""
    images = sorted(t.topic for t in reader.summary().topics.values() if t.schema == IMAGE_SCHEMA)
    if len(images) == 1:
        return images[0]
    head = tracks_topic.rsplit("/", 1)[0] if tracks_topic.endswith("/tracks") else tracks_topic
    for candidate in (f"{head}/image", head):
        if candidate in images:
            return candidate
    raise LogError(f"{reader.path}: cannot tell which image topic {tracks_topic} belongs to "
                   f"(image topics: {images or 'none'}); name it with --images")


def _messages(reader: LogReader, topic: str) -> Iterator[Any]:
    for m in reader.messages([topic]):
        if m.topic == topic:
            try:
                yield decode(m.frames).msg
            except DecodeError as exc:
                raise LogError(f"{reader.path}: undecodable message on {topic}: {exc}") from exc


def export_tracks_video(path: str | Path, tracks_topic: str, out: str | Path, image_topic: str | None = None,
                        trail: int = 20) -> int:
    """Write the MP4 described in the module docstring; returns the number of frames written."""
    out = Path(out)
    with LogReader(path) as reader:
        tracks: dict[int, Tracks] = {}
        for msg in _messages(reader, tracks_topic):
            if not isinstance(msg, Tracks):
                raise LogError(f"{path}: topic {tracks_topic} holds {msg.SCHEMA}, expected percept.Tracks")
            tracks[msg.stamp_ns] = msg
        if not tracks:
            raise LogError(f"{path}: no messages on topic {tracks_topic}")
        images = image_topic or image_topic_for(reader, tracks_topic)
        stamps = [m.stamp_ns for m in _messages(reader, images)]  # headers only: no pixels decoded
        if not stamps:
            raise LogError(f"{path}: no percept.Image messages on topic {images}")
        drawer, vw, n = TrackDrawer(trail), None, 0
        try:
            for msg in _messages(reader, images):
                if not isinstance(msg, Image):
                    raise LogError(f"{path}: topic {images} holds {msg.SCHEMA}, expected {IMAGE_SCHEMA}")
                bgr = drawer.draw(msg.to_bgr(), tracks.get(msg.stamp_ns))
                if vw is None:
                    size = (bgr.shape[1], bgr.shape[0])
                    vw = open_writer(out, frame_rate(stamps), size)
                vw.write(bgr if (bgr.shape[1], bgr.shape[0]) == size else _resize(bgr, size))
                n += 1
        finally:
            if vw is not None:
                vw.release()
    return n


def _resize(bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(bgr, size)
