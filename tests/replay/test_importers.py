"""Dataset importers: message and row counts match the source files; the formats are read through
sensors.datasets, so imported KITTI boxes are the KITTI source's."""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest

from calib.kitti import KITTI_CAMERA_FRAME
from percept.codec import decode
from percept.messages import Detections2D, Detections3D, Image, Tracks
from replay.errors import LogError
from replay.importers import KITTI_STATE_FIELDS, import_frames, import_kitti_tracking, import_mot
from replay.log import LogReader
from replay.player_cli import register
from replay.report import objects_of
from sensors.datasets.kitti_tracking import KittiTrackingSequence


def _lines(path) -> list[str]:
    return [x for x in path.read_text().splitlines() if x.strip()]


def _decoded(path, topic):
    return [(m.log_time_ns, decode(m.frames).msg) for m in LogReader(path).messages([topic])]


def test_import_mot_tud_campus(shared_data, tmp_path):
    seq = shared_data("mot15", "TUD-Campus")
    out = tmp_path / "tud.mcap"
    report = import_mot(seq, out)
    det_rows = _lines(seq / "det" / "det.txt")
    gt_rows = _lines(seq / "gt" / "gt.txt")
    summary = LogReader(out).summary().topics
    assert summary["mot/detections"].count == 71 == summary["gt/mot/boxes"].count  # seqLength
    dets = _decoded(out, "mot/detections")
    gts = _decoded(out, "gt/mot/boxes")
    assert sum(len(m.detections) for _, m in dets) == len(det_rows) == report.rows["mot/detections"]
    assert sum(len(m.detections) for _, m in gts) == len(gt_rows)
    assert all(isinstance(m, Detections2D) and m.frame_id == "camera" for _, m in dets)
    assert [t for t, _ in dets] == [round(k * 1e9 / 25) for k in range(71)]  # 25 fps, frame 1 at 0
    assert all(t == m.stamp_ns for t, m in dets)
    # first det row: 1,-1,281.931,187.466,79.93,209.537,0.997784 -> xyxy
    first = det_rows[0].split(",")
    x, y, w, h, conf = (float(v) for v in first[2:7])
    np.testing.assert_allclose(dets[0][1].detections.xyxy[0], [x, y, x + w, y + h], rtol=1e-6)
    assert dets[0][1].detections.confidence[0] == pytest.approx(conf)
    ids = {int(r.split(",")[1]) for r in gt_rows}
    assert set(np.concatenate([m.detections.track_id for _, m in gts]).tolist()) == ids


def test_import_kitti_tracking_0000(shared_data, tmp_path):
    root = shared_data("kitti_tracking")
    out = tmp_path / "k.mcap"
    import_kitti_tracking(root, 0, out)
    n_frames = len(_lines(root / "oxts" / "0000.txt"))
    det_files = [root / "det_pointrcnn" / c / "0000.txt" for c in ("Car", "Pedestrian", "Cyclist")]
    det_rows = sum(len(_lines(p)) for p in det_files if p.exists())
    labels = [x.split() for x in _lines(root / "label_02" / "0000.txt")]
    dets = _decoded(out, "kitti/det_pointrcnn")
    gts = _decoded(out, "gt/kitti/tracks")
    assert len(dets) == len(gts) == n_frames
    assert sum(len(m) for _, m in dets) == det_rows
    assert sum(len(m) for _, m in gts) == sum(1 for r in labels if r[2] != "DontCare")
    assert [t for t, _ in dets] == [k * 100_000_000 for k in range(n_frames)]
    assert all(isinstance(m, Detections3D) and m.frame_id == KITTI_CAMERA_FRAME for _, m in dets)
    assert all(isinstance(m, Tracks) for _, m in gts)
    # first labelled object of frame 0 (a Van): centre = bottom centre raised by h/2
    van = next(r for r in labels if r[0] == "0" and r[2] != "DontCare")
    h, x, y, z = float(van[10]), float(van[13]), float(van[14]), float(van[15])
    row = gts[0][1].state[0]
    np.testing.assert_allclose(row[:3], [x, y - h / 2, z], rtol=1e-5)
    assert gts[0][1].class_names[gts[0][1].class_id[0]] == van[2]


def test_import_frames_ucsd_ped2(shared_data, tmp_path):
    folder = shared_data("ucsd_ped2", "frames", "Test001")
    files = sorted(folder.glob("*.jpg"))
    out = tmp_path / "ped2.mcap"
    import_frames(folder, out, fps=10)
    imgs = _decoded(out, "camera/image")
    assert len(imgs) == len(files)
    first = imgs[0][1]
    assert isinstance(first, Image) and first.encoding == "jpeg"
    assert (first.width, first.height) == (360, 240)
    assert first.data.tobytes() == files[0].read_bytes()  # JPEG passed through unchanged
    assert imgs[-1][0] == round((len(files) - 1) * 1e8)


def test_import_errors_name_the_file(tmp_path):
    with pytest.raises(LogError, match=r"det\.txt"):
        import_mot(tmp_path, tmp_path / "x.mcap")
    (tmp_path / "det").mkdir()
    (tmp_path / "det" / "det.txt").write_text("1,-1,1,2,3\n")
    with pytest.raises(LogError, match=r"det\.txt:1: expected >= 7 columns, got 5"):
        import_mot(tmp_path, tmp_path / "x.mcap")
    with pytest.raises(LogError, match=r"no \.jpg"):
        import_frames(tmp_path, tmp_path / "y.mcap", fps=5)


def test_import_frames_dir_must_be_a_folder(tmp_path, capsys):
    """Regression: `import frames --dir` on a file or a missing folder ended in a traceback."""
    from percept.cli import main

    (tmp_path / "one.jpg").write_bytes(b"x")
    for path, why in ((tmp_path / "one.jpg", "not a folder"), (tmp_path / "nope", "no such folder")):
        with pytest.raises(LogError, match=rf"{path.name}: {why} \(expected a folder of \.jpg"):
            import_frames(path, tmp_path / "x.mcap", fps=5)
        argv = ["import", "frames", "--dir", str(path), "--fps", "5", "--out", str(tmp_path / "y.mcap")]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"percept: error: {path}: {why} (expected a folder of .jpg/.jpeg/.png frames)"]
    assert not (tmp_path / "x.mcap").exists() and not (tmp_path / "y.mcap").exists()


def test_import_cli(shared_data, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    register(argparse.Namespace(commands=parser.add_subparsers(dest="command"), bench=None))
    out = tmp_path / "cli.mcap"
    args = parser.parse_args(["import", "mot", "--seq", str(shared_data("mot15", "TUD-Campus")),
                              "--out", str(out)])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["messages"] == {"mot/detections": 71, "gt/mot/boxes": 71}


def test_import_mot_without_seqinfo_assumes_30_fps(tmp_path):
    (tmp_path / "det").mkdir()
    (tmp_path / "det" / "det.txt").write_text("1,-1,0,0,5,5,0.9\n\n3,-1,1,1,5,5,0.8,-1,-1,-1\n")
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "gt.txt").write_text("4,2,0,0,5,5,1,7,1.0\n4,3,0,0,5,5,0,1,1.0\n")
    out = tmp_path / "x.mcap"
    report = import_mot(tmp_path, out)
    assert report.messages == {"mot/detections": 4, "gt/mot/boxes": 4}
    dets, gts = _decoded(out, "mot/detections"), _decoded(out, "gt/mot/boxes")
    assert [t for t, _ in dets] == [t for t, _ in gts] == [round(k * 1e9 / 30) for k in range(4)]
    assert [len(m.detections) for _, m in dets] == [1, 0, 1, 0]
    assert gts[3][1].detections.track_id.tolist() == [2]  # flag 0 skipped; class 7 kept on import
    assert dets[0][1].class_names == ("pedestrian",)


def test_imported_kitti_boxes_are_the_kitti_sources(shared_data, tmp_path):
    """The importer reads through KittiTrackingSequence: its detections are the source's messages,
    its ground truth the source's objects (in the importer's class table and state names)."""
    root = shared_data("kitti_tracking")
    out = tmp_path / "k.mcap"
    import_kitti_tracking(root, 1, out)
    seq = KittiTrackingSequence(root, 1)
    dets, gts = _decoded(out, "kitti/det_pointrcnn"), _decoded(out, "gt/kitti/tracks")
    for f in range(0, len(seq), 9):
        mine = seq.detections3d(f, dets[f][0], f)
        assert dets[f][1].frame_id == mine.frame_id == KITTI_CAMERA_FRAME
        for name in ("centre", "size", "yaw", "class_id", "confidence"):
            np.testing.assert_array_equal(getattr(dets[f][1], name), getattr(mine, name))
        g, src = gts[f][1], seq.gt_tracks(f, gts[f][0], f)
        assert g.state_fields == KITTI_STATE_FIELDS and g.frame_id == src.frame_id
        assert [g.class_names[c] for c in g.class_id] == [src.class_names[c] for c in src.class_id]
        np.testing.assert_array_equal(g.track_id, src.track_id)
        np.testing.assert_array_equal(g.state, src.state[:, :7])
        assert g.age.tolist() == [0] * len(g)


def test_logs_with_the_old_kitti_frame_name_read_the_same(shared_data, tmp_path):
    """Logs imported earlier say ``camera_left``: the report's objects do not depend on the name."""
    out = tmp_path / "k.mcap"
    import_kitti_tracking(shared_data("kitti_tracking"), 1, out)
    new = _decoded(out, "gt/kitti/tracks")[10][1]
    old = dataclasses.replace(new, frame_id="camera_left")
    a, b = objects_of(new), objects_of(old)
    assert a is not None and b is not None and a.classes == b.classes
    np.testing.assert_array_equal(a.geom, b.geom)
    np.testing.assert_array_equal(a.geom, new.state[:, [0, 2]])  # ground plane x, z of a camera frame


def test_kitti_errors_name_file_and_line(tmp_path):
    (tmp_path / "label_02").mkdir()
    label = "0 1 Car 0 1 -1.5 100 150 200 250 1.5 1.6 4.0 2.0 1.7 10.0 0.1"
    (tmp_path / "label_02" / "0000.txt").write_text(f"{label}\n{label.replace('Car', 'Boat')}\n")
    with pytest.raises(LogError, match=r"label_02/0000\.txt:2: unknown object type 'Boat'"):
        import_kitti_tracking(tmp_path, 0, tmp_path / "k.mcap")
    dontcare = "0 -1 DontCare -1 -1 -10 1 2 3 4 -1 -1 -1 -1000 -1000 -1000 -10"
    (tmp_path / "label_02" / "0000.txt").write_text(dontcare + "\n")
    with pytest.raises(LogError, match=r"no det_pointrcnn/\*/0000\.txt nor label_02/0000\.txt"):
        import_kitti_tracking(tmp_path, 0, tmp_path / "k.mcap")
