"""Tracks drawn on recorded frames: the drawer (boxes, ids, trails) and ``log export --format mp4``."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest

from fusion.node import Tracker2DNode, Tracker2DNodeConfig
from percept.cli import CommandRegistry
from percept.detections import Detections
from percept.messages import Detections2D, Image, Tracks
from percept.node import LocalRunner
from replay.cli import register
from replay.draw import TrackDrawer, id_colour
from replay.errors import LogError
from replay.log import LogWriter
from replay.video import export_tracks_video, frame_rate

FPS = 20.0


def _frame(k: int) -> tuple[np.ndarray, list[float]]:
    """A grey frame with a white square moving right; its box ``x1, y1, x2, y2``."""
    img = np.full((120, 200, 3), 60, np.uint8)
    x = 20 + 6 * k
    img[40:80, x:x + 30] = 255
    return img, [x, 40, x + 30, 80]


def _record(path: Path, n: int = 12, jpeg: int | None = None) -> list[Tracks]:
    """A log of ``n`` camera frames and the real 2D tracker's tracks of their squares."""
    runner = LocalRunner(Tracker2DNode(Tracker2DNodeConfig()), name="tracker")
    out: list[Tracks] = []
    with LogWriter(path) as w:
        for k in range(n):
            stamp = 1_000_000_000 + round(k * 1e9 / FPS)
            img, box = _frame(k)
            msg = Image.from_bgr(img, stamp_ns=stamp, frame_id="cam", seq=k, jpeg_quality=jpeg)
            w.write("cam/image", msg.to_frames("cam/image"), stamp)
            dets = Detections2D(stamp_ns=stamp, frame_id="cam", seq=k, class_names=("person",),
                                detections=Detections(np.array([box], np.float32), [0.9], [0]))
            for topic, tracks in runner.feed("cam/detections", dets):
                w.write(topic, tracks.to_frames(topic), stamp + 1)
                out.append(tracks)
    return out


def _tracks(stamp: int, ids: list[int], boxes: list[list[float]]) -> Tracks:
    n = len(ids)
    return Tracks(stamp_ns=stamp, frame_id="cam", track_id=np.array(ids), class_id=np.zeros(n, np.int32),
                  confidence=np.full(n, 0.8, np.float32), state=np.array(boxes, np.float32).reshape(n, 4),
                  age=np.ones(n, np.int32), status=np.ones(n, np.uint8), sensors=np.ones(n, np.uint32),
                  state_fields=("x1", "y1", "x2", "y2"), class_names=("person",))


def test_drawer_draws_boxes_ids_and_trails_in_a_stable_colour():
    drawer = TrackDrawer(trail=5)
    tracks = []
    for k in range(4):
        _img, box = _frame(k)
        tracks.append(_tracks(k, [7], [box]))
    for t in tracks:
        img, box = _frame(3)
        drawn = drawer.draw(img, t)
    assert np.array_equal(img, _frame(3)[0])  # the input is left alone
    colour = np.array(id_colour(7), np.uint8)
    x1, y1, x2, y2 = (int(v) for v in box)
    assert np.all(drawn[(y1 + y2) // 2, x2] == colour)  # the box edge
    trail_y = y2  # bottom centres of the last boxes, left of the current one
    assert np.all(drawn[trail_y, (x1 + x2) // 2 - 9] == colour)
    assert id_colour(7) == id_colour(7) != id_colour(8)
    blank = drawer.draw(_frame(0)[0], None)  # no tracks this frame: only the trail
    assert np.all(blank[trail_y, (x1 + x2) // 2 - 9] == colour)
    bad = tracks[0].replace(state_fields=("a", "b", "c", "d"))
    with pytest.raises(LogError, match="needs state fields x1, y1, x2, y2"):
        drawer.draw(img, bad)


def test_export_mp4_draws_tracks_on_the_frames_with_the_same_stamp(tmp_path):
    log = tmp_path / "run.mcap"
    tracks = _record(log)
    assert any(len(t) for t in tracks)  # the tracker confirmed the square
    out = tmp_path / "tracks.mp4"
    assert export_tracks_video(log, "cam/tracks", out) == 12
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 12 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    last = next(t for t in reversed(tracks) if len(t))
    tid = int(last.track_id[0])
    _x1, y1, x2, y2 = (round(float(v)) for v in last.state[0, :4])
    colour = np.array(id_colour(tid), float)
    edge = frames[-1][(y1 + y2) // 2, x2 - 1: x2 + 2].astype(float)
    assert np.abs(edge - colour).sum(axis=1).min() < 90  # the box (mp4v is lossy)
    untouched = frames[0][5:15, 150:190].astype(float)
    assert np.abs(untouched - 60).max() < 12  # nothing drawn far from the object


def _export_args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="percept")
    register(CommandRegistry(commands=p.add_subparsers(dest="command"), bench=None))
    return p.parse_args(["log", "export", *argv])


def test_export_mp4_through_the_cli_and_the_choice_of_image_topic(tmp_path):
    log = tmp_path / "run.mcap"
    _record(log, n=6, jpeg=90)
    out = tmp_path / "cli.mp4"
    args = _export_args(str(log), "--topic", "cam/tracks", "--format", "mp4", "--out", str(out),
                        "--images", "cam/image", "--trail", "3")
    assert args.func(args) == 0
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 6
    cap.release()
    plain = tmp_path / "plain.mp4"  # mp4 of an image topic is the plain video
    args = _export_args(str(log), "--topic", "cam/image", "--format", "mp4", "--out", str(plain))
    assert args.func(args) == 0 and plain.stat().st_size > 0
    two = tmp_path / "two.mcap"  # two cameras: X/tracks belongs to X/image; "trk" to neither
    with LogWriter(two) as w:
        for cam in ("a", "b"):
            img = Image.from_bgr(_frame(0)[0], stamp_ns=5, frame_id=cam)
            w.write(f"{cam}/image", img.to_frames(f"{cam}/image"), 5)
            for topic in (f"{cam}/tracks", "trk"):
                w.write(topic, _tracks(5, [1], [[1, 1, 9, 9]]).to_frames(topic), 6)
    assert export_tracks_video(two, "b/tracks", tmp_path / "b.mp4") == 1
    with pytest.raises(LogError, match=r"cannot tell which image topic trk belongs to .*--images"):
        export_tracks_video(two, "trk", tmp_path / "x.mp4")
    with pytest.raises(LogError, match="no messages on topic cam/nothing"):
        export_tracks_video(log, "cam/nothing", tmp_path / "x.mp4")
    with pytest.raises(LogError, match=r"holds percept.Image, expected percept.Tracks"):
        export_tracks_video(log, "cam/image", tmp_path / "x.mp4")


def test_frame_rate_from_stamps():
    assert frame_rate([0, 50_000_000, 100_000_000, 160_000_000]) == pytest.approx(20.0)
    assert frame_rate([5]) == frame_rate([5, 5]) == 10.0
