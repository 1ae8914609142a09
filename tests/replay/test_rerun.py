"""Deterministic re-runs in virtual time: tracker2d on TUD-Campus, relays and timer sources."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import msgpack
import pytest

from calib.kitti import KITTI_CAMERA_FRAME
from percept.codec import decode
from percept.errors import ConfigError
from percept.messages import Image, Tracks
from replay.importers import import_mot
from replay.log import LogReader
from replay.player_cli import register
from replay.rerun import rerun

GRAPH = Path(__file__).resolve().parents[2] / "configs" / "mot-track2d.yaml"


@pytest.fixture
def tud_log(shared_data, tmp_path) -> Path:
    path = tmp_path / "tud.mcap"
    import_mot(shared_data("mot15", "TUD-Campus"), path)
    return path


def _messages(path: Path, topics=None) -> list[tuple[str, int, bytes]]:
    return [(m.topic, m.log_time_ns, b"".join(bytes(f) for f in m.frames))
            for m in LogReader(path).messages(topics)]


def test_tracker2d_rerun_is_byte_identical(tud_log, tmp_path):
    a = rerun(tud_log, GRAPH, tmp_path / "a.mcap")
    b = rerun(tud_log, GRAPH, tmp_path / "b.mcap")
    print(f"tracker2d rerun of TUD-Campus: {a.span_s:.2f} s of log in {a.wall_s * 1e3:.1f} ms "
          f"({a.speed_x:.0f}x real time)")
    out_a, out_b = _messages(tmp_path / "a.mcap"), _messages(tmp_path / "b.mcap")
    assert out_a == out_b
    assert a.per_topic == b.per_topic == {"mot/tracks": 71} and a.inputs == 71
    assert a.speed_x > 1.0
    stamps = [m.log_time_ns for m in LogReader(tud_log).messages(["mot/detections"])]
    tracks = [(m.log_time_ns, decode(m.frames).msg) for m in LogReader(tmp_path / "a.mcap").messages()]
    assert [t for t, _ in tracks] == stamps  # published at the virtual time of its input
    assert all(isinstance(msg, Tracks) and msg.stamp_ns == t for t, msg in tracks)
    assert [msg.seq for _, msg in tracks] == list(range(71))
    assert sum(len(msg) for _, msg in tracks) > 200  # it really tracks the 321 detections


def test_relay_chain_and_timer_source_in_virtual_time(tud_log, tmp_path):
    graph = tmp_path / "g.yaml"
    graph.write_text("""
name: chain
nodes:
  - {name: cam, type: test_pattern, publishes: [camera/],
     config: {topic: camera/test, rate_hz: 10, width: 32, height: 24}}
  - {name: r1, type: relay, subscribe: [mot/, camera/], publishes: [relayed/],
     config: {rename: {"mot/": "relayed/mot/", "camera/": "relayed/camera/"}}}
  - {name: r2, type: relay, subscribe: [relayed/camera/], publishes: [again/],
     config: {rename: {"relayed/": "again/"}}}
""")
    s1 = rerun(tud_log, graph, tmp_path / "1.mcap", with_inputs=True)
    s2 = rerun(tud_log, graph, tmp_path / "2.mcap", with_inputs=True)
    assert _messages(tmp_path / "1.mcap") == _messages(tmp_path / "2.mcap")
    # 2.8 s of log at 10 Hz of virtual time: ticks at 0.1 .. 2.8 s
    assert s1.per_topic == {"camera/test": 28, "relayed/camera/test": 28, "again/camera/test": 28,
                            "relayed/mot/detections": 71}
    assert s2.outputs == s1.outputs
    counts = LogReader(tmp_path / "1.mcap").summary().topics
    assert counts["gt/mot/boxes"].count == 71 and counts["mot/detections"].count == 71  # copied inputs
    orig = [decode(m.frames).msg for m in LogReader(tud_log).messages(["mot/detections"])]
    relayed = [decode(m.frames).msg for m in LogReader(tmp_path / "1.mcap").messages(["relayed/mot/"])]
    assert relayed == orig
    cams = [(m.log_time_ns, decode(m.frames).msg)
            for m in LogReader(tmp_path / "1.mcap").messages(["again/"])]
    assert all(isinstance(msg, Image) and t == msg.stamp_ns for t, msg in cams)
    assert [t for t, _ in cams] == [k * 100_000_000 for k in range(1, 29)]


def test_bad_graph_names_the_key(tud_log, tmp_path):
    graph = tmp_path / "bad.yaml"
    graph.write_text("name: bad\nnodes:\n  - {name: t, type: tracker2d, subscribe: [mot/], "
                     "config: {no_such_option: 1}}\n")
    with pytest.raises(ConfigError, match="no_such_option"):
        rerun(tud_log, graph, tmp_path / "o.mcap")


def test_rerun_cli(tud_log, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    register(argparse.Namespace(commands=parser.add_subparsers(dest="command"), bench=None))
    out = tmp_path / "cli.mcap"
    args = parser.parse_args(["rerun", str(tud_log), "--graph", str(GRAPH), "--out", str(out)])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["per_topic"] == {"mot/tracks": 71} and result["speed_x"] > 1


def test_tracker3d_rerun_of_a_kitti_log(shared_data, tmp_path):
    """The 3D tracker over imported KITTI PointRCNN detections: byte-identical re-runs, one Tracks
    message per detection message at its stamp, a Foxglove SceneUpdate view of the tracks."""
    from mcap.reader import make_reader

    from replay.importers import import_kitti_tracking

    graph = GRAPH.parent / "kitti-track3d.yaml"
    log = tmp_path / "kitti6.mcap"
    import_kitti_tracking(shared_data("kitti_tracking"), 6, log)
    a = rerun(log, graph, tmp_path / "a.mcap")
    rerun(log, graph, tmp_path / "b.mcap")
    print(f"tracker3d rerun of KITTI 0006: {a.span_s:.1f} s of log in {a.wall_s:.2f} s ({a.speed_x:.0f}x)")
    assert _messages(tmp_path / "a.mcap") == _messages(tmp_path / "b.mcap")
    assert a.inputs == 270 and a.per_topic == {"kitti/det_pointrcnn/tracks": 270}
    out = LogReader(tmp_path / "a.mcap").messages(["kitti/det_pointrcnn/tracks"])
    tracks = [decode(m.frames).msg for m in out]
    assert [t.stamp_ns for t in tracks] == [k * 100_000_000 for k in range(270)]
    assert tracks[-1].state_fields[:3] == ("x", "y", "z") and tracks[-1].frame_id == KITTI_CAMERA_FRAME
    assert sum(len(t) for t in tracks) > 500  # it really tracks (PointRCNN: about 1500 car boxes)
    with open(tmp_path / "a.mcap", "rb") as fh:
        summary = make_reader(fh).get_summary()
    views = {c.topic: summary.schemas[c.schema_id].name for c in summary.channels.values()}
    assert views["kitti/det_pointrcnn/tracks/foxglove"] == "foxglove.SceneUpdate"


def test_report_on_3d_tracks_of_a_kitti_rerun(shared_data, tmp_path):
    """``percept report`` matches 3D tracks to KITTI labels on the ground plane, per class."""
    from replay.importers import import_kitti_tracking
    from replay.report import write_report

    log = tmp_path / "kitti6.mcap"
    import_kitti_tracking(shared_data("kitti_tracking"), 6, log)
    rerun(log, GRAPH.parent / "kitti-track3d.yaml", tmp_path / "t.mcap", with_inputs=True)
    rows = write_report(tmp_path / "t.mcap", "gt/kitti/tracks", tmp_path / "r.html")
    by_class = {r[0]: r for r in rows["kitti/det_pointrcnn/tracks"]}
    _cls, mota, idf1, _motp, idsw, fp, fn, num_gt, num_hyp = by_class["Car"]
    print(f"KITTI 0006 Car: MOTA {mota:.1f} IDF1 {idf1:.1f} IDSW {idsw} FP {fp} FN {fn} of {num_gt}")
    assert num_gt == 550 and num_hyp == fp + (num_gt - fn)  # every hypothesis is a match or an FP
    assert mota > 40 and idf1 > 50  # PointRCNN + tracker3d; far from the all-missed 0 or negative
    assert (tmp_path / "r.html").stat().st_size > 10_000


GOLDEN_V1 = Path(__file__).parent / "data" / "golden_v1_detections3d.mcap"


def test_golden_v1_log_decodes_and_replays(tmp_path):
    """A log recorded with Detections3D v1 (``score``; see data/make_golden_v1.py) still decodes as
    the current version (``confidence``) and re-runs through the 3D tracker graph."""
    from percept.messages import Detections3D

    first = next(iter(LogReader(GOLDEN_V1).messages(["kitti/det_pointrcnn"])))
    assert msgpack.unpackb(bytes(first.frames[1]))["v"] == 1  # really an old-version record
    dets = [decode(m.frames).msg for m in LogReader(GOLDEN_V1).messages(["kitti/det_pointrcnn"])]
    assert len(dets) == 20 and all(isinstance(d, Detections3D) for d in dets)
    assert dets[0].confidence.tolist() == [7.5, 5.25] and dets[3].centre[0].tolist() == [-3.0, 1.5, 13.0]
    result = rerun(GOLDEN_V1, GRAPH.parent / "kitti-track3d.yaml", tmp_path / "out.mcap")
    assert result.inputs == 20 and result.per_topic == {"kitti/det_pointrcnn/tracks": 20}
    tracks = [decode(m.frames).msg for m in LogReader(tmp_path / "out.mcap").messages()]
    ids = [sorted(t.track_id.tolist()) for t in tracks]
    assert len(ids[-1]) == 2 and ids[-1] == ids[5]
    vz = tracks[-1].state[:, tracks[-1].state_fields.index("vz")]
    assert sorted(vz.round(1).tolist()) == [-5.0, 10.0]  # 1 m and -0.5 m per 100 ms


GOLDEN_V1_IMAGES = Path(__file__).parent / "data" / "golden_v1_images.mcap"


def test_golden_v1_images_decode_as_full_frames():
    """Images recorded with schema v1 (no full_width/full_height; data/make_golden_v1_images.py)
    decode as the current version, as full frames."""
    msgs = list(LogReader(GOLDEN_V1_IMAGES).messages(["camera/front/image"]))
    assert msgpack.unpackb(bytes(msgs[0].frames[1]))["v"] == 1  # really an old-version record
    images = [decode(m.frames).msg for m in msgs]
    assert [int(i.data[0, 0, 0]) for i in images] == [0, 1, 2, 3]
    assert all((i.width, i.height, i.full_width, i.full_height) == (32, 24, 0, 0) for i in images)
    assert images[2].full_frame_scale() == (1.0, 1.0)
