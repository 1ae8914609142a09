"""Recorder over real sockets (killed mid-write, rotation) and the ``percept log``/``record`` handlers."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from percept.bus import Publisher
from percept.cli import CommandRegistry
from percept.messages import Image, Tracks
from replay._mcap_scan import Chunk, ChunkContents, Scanner
from replay.cli import register
from replay.errors import LogError
from replay.log import MESSAGE_ENCODING, LogReader, LogWriter
from replay.recorder import Recorder
from replay.recover import recover

REPO = Path(__file__).resolve().parents[2]
RECORD_SCRIPT = """
import sys
from replay.recorder import Recorder
rec = Recorder([sys.argv[1]], [], sys.argv[2], "zstd", chunk_size=int(sys.argv[3]))
rec.run()
"""


def noisy_image(i: int) -> Image:
    data = np.random.default_rng(i).integers(0, 255, (32, 40, 3), np.uint8)  # ~3.8 kB, incompressible
    return Image.from_bgr(data, stamp_ns=1_000_000 + i, frame_id="cam", seq=i)


def complete_chunk_messages(path: Path) -> tuple[int, int, int, int]:
    """(bus messages in intact chunks, most bus messages in one chunk, most records in one chunk,
    Foxglove views in intact chunks) of a possibly truncated file."""
    sc = Scanner(path)
    total = biggest = records = views = 0
    for item in sc.scan():
        if isinstance(item, Chunk):
            contents = sc.load(item)
            if isinstance(contents, ChunkContents):
                kinds = [sc.channels[m.channel_id].message_encoding for m in contents.messages]
                n = kinds.count(MESSAGE_ENCODING)
                total += n
                biggest = max(biggest, n)
                records = max(records, len(kinds))
                views += kinds.count("protobuf")
    sc.close()
    return total, biggest, records, views


def test_killed_recorder_is_recovered(tmp_path: Path) -> None:
    script = tmp_path / "rec.py"
    script.write_text(RECORD_SCRIPT)
    out = tmp_path / "killed.mcap"
    pub = Publisher("tcp://127.0.0.1:*", hwm=1000)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), pub.endpoints[0], str(out), "30000"], env=env)
    try:
        assert pub.wait_for_subscribers(1, timeout=20)
        published = []
        for i in range(60):
            frames = noisy_image(i).to_frames("cam/front")
            assert pub.send_frames(frames)
            published.append([bytes(f) for f in frames])
            time.sleep(0.002)
        stable, last, deadline = 0, -1, time.monotonic() + 10
        while stable < 5 and time.monotonic() < deadline:  # until the recorder has written all it will
            size = out.stat().st_size if out.exists() else 0
            stable = stable + 1 if size == last and size > 0 else 0
            last = size
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        pub.close()
    with pytest.raises(LogError, match=r"killed\.mcap: .*byte offset \d+"):
        LogReader(out)
    in_chunks, per_chunk, records_per_chunk, views = complete_chunk_messages(out)
    assert records_per_chunk >= 5 and in_chunks >= 60 - per_chunk - 1  # only the open chunk was lost
    rep = recover(out, tmp_path / "fixed.mcap")
    assert rep.messages == in_chunks >= 40  # bus messages only (regression: views were counted too)
    assert rep.views == views >= in_chunks - 1 and rep.other == 0
    with LogReader(tmp_path / "fixed.mcap") as r:
        got = [[bytes(f) for f in m.frames] for m in r.messages(["cam/front"])]
    assert got == published[:len(got)]


def run_recorder(rec: Recorder, pub: Publisher, topics: list[str], n: int, expect: int) -> None:
    t = threading.Thread(target=rec.run, kwargs={"duration_s": 20, "max_messages": expect})
    t.start()
    assert pub.wait_for_subscribers(1, timeout=10)
    for i in range(n):
        for topic in topics:
            pub.send_frames(noisy_image(i).to_frames(topic))
    t.join(timeout=30)
    assert not t.is_alive()


def test_rotation_by_size_and_glob_topics(short_tmp: Path) -> None:
    pub = Publisher("tcp://127.0.0.1:*", hwm=1000)
    rec = Recorder(pub.endpoints, ["cam/*/image"], short_tmp / "rot.mcap", "lz4", rotate_bytes=40_000,
                   chunk_size=16_000)
    run_recorder(rec, pub, ["cam/front/image", "cam/front/other", "lidar"], 50, 50)
    pub.close()
    assert rec.stats.messages == 50 and set(rec.stats.per_topic) == {"cam/front/image"}
    files = sorted(short_tmp.glob("rot_*.mcap"))
    assert files == rec.stats.files and len(files) >= 4
    assert files[0].name == "rot_0000.mcap" and files[1].name == "rot_0001.mcap"
    counts = []
    for f in files:
        with LogReader(f) as r:  # strict: each file is complete and valid
            counts.append(r.summary().count)
    assert sum(counts) == 50 and all(c > 0 for c in counts)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    register(CommandRegistry(commands=sub, bench=None))
    return p.parse_args(argv)


def image_tracks(stamp: int, boxes: list[list[float]], ids: list[int]) -> Tracks:
    n = len(ids)
    return Tracks(stamp_ns=stamp, frame_id="cam", track_id=np.array(ids), class_id=np.zeros(n, np.int32),
                  confidence=np.full(n, 0.5, np.float32), state=np.array(boxes, np.float32),
                  age=np.ones(n, np.int32), status=np.ones(n, np.uint8), sensors=np.ones(n, np.uint32),
                  state_fields=("x1", "y1", "x2", "y2"))


BOXES = {300: ([[10, 20, 30, 60]], [4]), 100: ([[0, 0, 10, 10], [5, 5, 7, 9]], [1, 2]),
         200: ([[1, 1, 2, 3]], [1])}


def sample_log(path: Path) -> Path:
    """Tracks ``trk`` (BOXES, logged out of stamp order), Images ``cam`` and JPEG Images ``jpg``."""
    with LogWriter(path) as w:
        for k, stamp in enumerate((100, 300, 200)):  # logged out of stamp order
            w.write("trk", image_tracks(stamp, *BOXES[stamp]).to_frames("trk"), 1_000 + k)
        for i in range(4):
            w.write("cam", noisy_image(i).to_frames("cam"), 2_000 + i)
            w.write("jpg", Image.from_bgr(np.full((16, 16, 3), 40 * i, np.uint8), stamp_ns=i * 100_000_000,
                                          frame_id="cam", jpeg_quality=90).to_frames("jpg"), 2_000 + i)
    return path


def test_log_cat_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = sample_log(tmp_path / "t.mcap")
    args = parse(["log", "cat", str(path), "--topic", "trk", "--values"])
    args.func(args)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["stamp_ns"] for x in lines] == [100, 300, 200]
    for line in lines:  # small arrays in full, as lists
        want = image_tracks(line["stamp_ns"], *BOXES[line["stamp_ns"]])
        assert line["state"] == want.state.tolist() and line["track_id"] == want.track_id.tolist()
        assert line["state_fields"] == ["x1", "y1", "x2", "y2"]
    args = parse(["log", "cat", str(path), "--topic", "cam", "-n", "1", "--values"])
    args.func(args)
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    head = noisy_image(0).data.reshape(-1)[:64].tolist()  # a big array: its first values, marked
    assert line["data"] == {"dtype": "|u1", "shape": [32, 40, 3], "head": head, "truncated": True}


def test_log_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = sample_log(tmp_path / "t.mcap")
    args = parse(["log", "info", str(path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out.splitlines()
    row = next(line for line in out if line.startswith("trk "))
    assert "percept.Tracks" in row and row.split()[2] == "3"
    assert "11 messages, 3 topics" in out[0]

    args = parse(["log", "cat", str(path), "--topic", "cam", "-n", "2"])
    args.func(args)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and lines[1]["schema"] == "percept.Image" and lines[1]["seq"] == 1
    assert lines[0]["data"] == {"dtype": "|u1", "shape": [32, 40, 3]} and lines[0]["log_time_ns"] == 2_000

    mot = tmp_path / "mot.txt"
    args = parse(["log", "export", str(path), "--topic", "trk", "--format", "mot", "--out", str(mot)])
    assert args.func(args) == 0
    assert mot.read_text().splitlines() == [
        "1,1,0.00,0.00,10.00,10.00,0.5000,-1,-1,-1", "1,2,5.00,5.00,2.00,4.00,0.5000,-1,-1,-1",
        "2,1,1.00,1.00,1.00,2.00,0.5000,-1,-1,-1", "3,4,10.00,20.00,20.00,40.00,0.5000,-1,-1,-1"]
    args = parse(["log", "export", str(path), "--topic", "trk", "--format", "kitti", "--out",
                  str(tmp_path / "k")])
    with pytest.raises(LogError, match="KITTI export needs state fields x, y, z"):
        args.func(args)

    args = parse(["log", "export", str(path), "--topic", "cam", "--format", "images", "--out",
                  str(tmp_path / "imgs")])
    args.func(args)
    pngs = sorted((tmp_path / "imgs").glob("*.png"))
    assert pngs[0].name == "000000_1000000.png" and len(pngs) == 4
    assert np.array_equal(cv2.imread(str(pngs[2])), noisy_image(2).data)
    video = tmp_path / "v.mp4"
    args = parse(["log", "export", str(path), "--topic", "jpg", "--format", "video", "--out", str(video)])
    args.func(args)
    cap = cv2.VideoCapture(str(video))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 4 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10)
    cap.release()

    cut = tmp_path / "cut.mcap"
    cut.write_bytes(path.read_bytes()[:-30])
    args = parse(["log", "recover", str(cut), "--out", str(tmp_path / "fixed.mcap")])
    args.func(args)
    # bus messages only, their views apart (regression: "recovered 22 messages", 11 + their 11 views)
    assert "recovered 11 messages (and 11 Foxglove views) from 1 chunks" in capsys.readouterr().out
    with LogReader(tmp_path / "fixed.mcap") as r:
        assert r.summary().count == 11


def test_kitti_export_of_3d_tracks(tmp_path: Path) -> None:
    fields = ("x", "y", "z", "yaw", "l", "w", "h")
    state = np.array([[10, 2, -1, 0.5, 4, 1.8, 1.5]], np.float32)
    msgs = [Tracks(stamp_ns=s, frame_id="base", track_id=np.array([3]), class_id=np.array([0], np.int32),
                   confidence=np.array([0.8], np.float32), state=state + k, age=np.ones(1, np.int32),
                   status=np.ones(1, np.uint8), sensors=np.ones(1, np.uint32), state_fields=fields,
                   class_names=("Car",)) for k, s in enumerate((50, 70))]
    with LogWriter(tmp_path / "k.mcap") as w:
        for m in reversed(msgs):
            w.write("fused", m.to_frames("fused"), m.stamp_ns)
    args = parse(["log", "export", str(tmp_path / "k.mcap"), "--topic", "fused", "--format", "kitti",
                  "--out", str(tmp_path / "k.txt")])
    args.func(args)
    assert (tmp_path / "k.txt").read_text().splitlines() == [
        "0 3 Car 0 0 -10 -1 -1 -1 -1 1.500 1.800 4.000 10.000 2.000 -1.000 0.5000 0.8000",
        "1 3 Car 0 0 -10 -1 -1 -1 -1 2.500 2.800 5.000 11.000 3.000 0.000 1.5000 0.8000"]


def test_record_command_with_endpoint(short_tmp: Path) -> None:
    pub = Publisher("tcp://127.0.0.1:*", hwm=1000)
    out = short_tmp / "cli.mcap"
    args = parse(["record", "--endpoint", pub.endpoints[0], "--out", str(out), "--duration", "1.5",
                  "--compression", "none"])
    t = threading.Thread(target=args.func, args=(args,))
    t.start()
    assert pub.wait_for_subscribers(1, timeout=10)
    for i in range(5):
        pub.send_frames(noisy_image(i).to_frames("cam"))
    t.join(timeout=20)
    pub.close()
    with LogReader(out) as r:
        assert [Image.from_frames(m.frames).seq for m in r.messages()] == [0, 1, 2, 3, 4]
