"""Drawing on camera frames: tracks (boxes, ids, short trails), scene zones and event banners.

:class:`TrackDrawer` draws the successive :class:`~percept.messages.Tracks` of one camera (image
tracks, ``state_fields`` with ``x1, y1, x2, y2`` in pixels) on its frames: each track's box and a
label ``#id class confidence`` in a colour that is the same for an id in every frame, and its
trail, the bottom centres of its last ``trail`` boxes (where the object stands). Frames are
uint8 (H, W, 3) BGR; drawing never changes the input array.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from percept.messages import Tracks
from replay.errors import LogError
from replay.foxglove import track_columns

if TYPE_CHECKING:
    from events.scene import Scene

#: State columns of an image track's box, each under its accepted names.
BOX_FIELDS = (("x1",), ("y1",), ("x2",), ("y2",))


def id_colour(track_id: int) -> tuple[int, int, int]:
    """A bright BGR colour for ``track_id``, the same in every frame and every run."""
    hue = (int(track_id) * 47) % 180  # OpenCV hue range, far apart for consecutive ids
    import cv2

    pixel = np.array([[[hue, 220, 255]]], np.uint8)
    b, g, r = (int(v) for v in cv2.cvtColor(pixel, cv2.COLOR_HSV2BGR)[0, 0])
    return b, g, r


def put_label(image: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
    """Write ``text`` in black on a ``colour`` band whose bottom-left corner is ``(x, y)`` pixels
    (moved down to stay inside the image); draws in place."""
    import cv2

    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.5
    (w, h), base = cv2.getTextSize(text, font, scale, 1)
    y = max(y, h + base)
    cv2.rectangle(image, (x, y - h - base), (x + w, y), colour, cv2.FILLED)
    cv2.putText(image, text, (x, y - base), font, scale, (0, 0, 0), 1, cv2.LINE_AA)


class TrackDrawer:
    """Draws the tracks of one camera frame by frame, remembering each id's trail.

    Args:
        trail: box bottom centres kept per track (0: no trails); a track unseen for that many
            frames is forgotten.
    """

    def __init__(self, trail: int = 20) -> None:
        if trail < 0:
            raise ValueError(f"trail: expected >= 0 frames, got {trail}")
        self.trail = trail
        self._trails: dict[int, deque[tuple[int, int]]] = {}
        self._last_seen: dict[int, int] = {}
        self._frame = 0

    def draw(self, image: np.ndarray, tracks: Tracks | None) -> np.ndarray:
        """A copy of ``image`` with ``tracks`` (None: no tracks for this frame) and the trails drawn.

        Raises:
            LogError: ``tracks`` has no ``x1, y1, x2, y2`` state columns (not image tracks).
        """
        import cv2

        out = np.ascontiguousarray(image).copy()
        self._frame += 1
        rows = self._rows(tracks)
        for tid, box, _label in rows:
            self._remember(tid, box)
        self._forget()
        for tid, points in self._trails.items():
            if len(points) > 1:
                pts = np.array(points, np.int32).reshape(-1, 1, 2)
                cv2.polylines(out, [pts], False, id_colour(tid), 2, cv2.LINE_AA)
        for tid, (x1, y1, x2, y2), label in rows:
            colour = id_colour(tid)
            cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
            put_label(out, label, x1, y1, colour)
        return out

    def _rows(self, tracks: Tracks | None) -> list[tuple[int, tuple[int, int, int, int], str]]:
        """``(id, integer box, label)`` per track."""
        if tracks is None or len(tracks) == 0:
            return []
        boxes = track_columns(tracks, BOX_FIELDS)
        if boxes is None:
            raise LogError(f"drawing tracks needs state fields x1, y1, x2, y2, "
                           f"got {list(tracks.state_fields)}")
        names = tracks.class_names
        rows = []
        for tid, cid, conf, box in zip(tracks.track_id.tolist(), tracks.class_id.tolist(),
                                       tracks.confidence.tolist(), np.round(boxes).astype(int).tolist(),
                                       strict=True):
            name = names[cid] if 0 <= cid < len(names) else str(cid)
            rows.append((tid, (box[0], box[1], box[2], box[3]), f"#{tid} {name} {conf:.2f}"))
        return rows

    def _remember(self, tid: int, box: tuple[int, int, int, int]) -> None:
        self._last_seen[tid] = self._frame
        if self.trail:
            points = self._trails.setdefault(tid, deque(maxlen=self.trail))
            points.append(((box[0] + box[2]) // 2, box[3]))

    def _forget(self) -> None:
        gone = [t for t, seen in self._last_seen.items() if self._frame - seen >= max(self.trail, 1)]
        for tid in gone:
            del self._last_seen[tid]
            self._trails.pop(tid, None)


def draw_zones(image: np.ndarray, zones: dict[str, np.ndarray], colour: tuple[int, int, int] = (255, 200, 0)
               ) -> None:
    """Outline each zone, ``name -> (K, 2)`` polygon in image pixels, and write its name; in place."""
    import cv2

    for name, polygon in zones.items():
        pts = np.round(np.asarray(polygon, np.float64)).astype(np.int32).reshape(-1, 1, 2)
        if len(pts) < 2:
            continue
        cv2.polylines(image, [pts], True, colour, 1, cv2.LINE_AA)
        x, y = (int(v) for v in pts[:, 0].min(axis=0))
        put_label(image, name, max(x, 0), max(y, 0) + 14, colour)


def draw_banners(image: np.ndarray, texts: list[str], colour: tuple[int, int, int] = (0, 0, 255)) -> None:
    """Write one event banner per text, stacked along the image's top edge, white on ``colour``; in place."""
    import cv2

    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.5
    y = 0
    for text in texts:
        (w, h), base = cv2.getTextSize(text, font, scale, 1)
        cv2.rectangle(image, (0, y), (min(w + 8, image.shape[1]), y + h + base + 6), colour, cv2.FILLED)
        cv2.putText(image, text, (4, y + h + 3), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
        y += h + base + 8


def scene_zones_in_image(scene: Scene) -> dict[str, np.ndarray]:
    """The zones of an :class:`events.scene.Scene` as image polygons (pixels): as they are in an
    ``image``-frame scene, mapped through the inverse homography in a ``ground`` one; none when a
    ground scene has no homography."""
    zones = scene.zones
    if scene.frame == "image":
        return {name: np.asarray(z.polygon, np.float64) for name, z in zones.items()}
    h = scene.homography
    if h is None:
        return {}
    inv = np.linalg.inv(np.asarray(h, np.float64))
    out = {}
    for name, z in zones.items():
        pts = np.c_[np.asarray(z.polygon, np.float64), np.ones(len(z.polygon))] @ inv.T
        out[name] = pts[:, :2] / pts[:, 2:3]
    return out
