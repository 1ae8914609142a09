"""KITTI tracking reader and source: real sequence 0001 from the shared data, plus small
synthetic sequences written to tmp_path for exact checks and malformed input."""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path

import numpy as np
import pytest

from calib.kitti import KITTI_CAMERA_FRAME
from percept.codec import decode
from percept.config import build
from percept.errors import ConfigError
from percept.messages import Detections2D, Detections3D, Tracks, TrackStatus
from percept.node import LocalRunner
from sensors.datasets.kitti_tracking import (
    DET_CLASSES,
    FRAME_PERIOD_NS,
    GT_CLASSES,
    KittiTrackingSequence,
    KittiTrackingSource,
    KittiTrackingSourceConfig,
    read_labels,
)
from sensors.errors import SensorError

SEQ = 1


@functools.cache
def _load(root: Path) -> KittiTrackingSequence:
    return KittiTrackingSequence(root, SEQ)


@pytest.fixture
def kitti_root(shared_data) -> Path:
    return shared_data("kitti_tracking")


@pytest.fixture
def seq(kitti_root) -> KittiTrackingSequence:
    return _load(kitti_root)


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.strip()]


def test_frame_count_matches_labels_and_oxts(seq, kitti_root):
    oxts_lines = _lines(kitti_root / "oxts" / "0001.txt")
    label_frames = [int(ln.split()[0]) for ln in _lines(kitti_root / "label_02" / "0001.txt")]
    assert len(seq) == len(oxts_lines) == max(label_frames) + 1
    assert seq.oxts.shape == (len(oxts_lines), 30)
    assert seq.stamp_ns(0, 5) == 5 and seq.stamp_ns(10, 5) == 5 + 10 * FRAME_PERIOD_NS
    # labels per frame (DontCare included) add up to the file's lines
    total = sum(len(seq.frame_labels(f, include_dontcare=True)) for f in range(len(seq)))
    assert total == len(label_frames)


def test_pointrcnn_detections_parse(seq, kitti_root):
    for cls_id, name in enumerate(DET_CLASSES):
        n_lines = len(_lines(kitti_root / "det_pointrcnn" / name / "0001.txt"))
        assert int(np.sum(seq.detections.class_id == cls_id)) == n_lines
    first = _lines(kitti_root / "det_pointrcnn" / "Car" / "0001.txt")[0].split(",")
    d = seq.frame_detections(int(first[0]))
    row = int(np.argmin(np.abs(d.score - float(first[6]))))
    h, w, length, x, y, z, ry = map(float, first[7:14])
    np.testing.assert_allclose(d.centre[row], [x, y - h / 2, z], atol=1e-4)
    msg = seq.detections3d(int(first[0]), stamp_ns=123, seq=0)
    np.testing.assert_allclose(msg.size[row], [length, w, h], atol=1e-4)
    assert msg.yaw[row] == pytest.approx(ry, abs=1e-4)
    assert msg.frame_id == KITTI_CAMERA_FRAME and msg.class_names == DET_CLASSES
    assert len(seq.frame_detections(0, min_score=1e9)) == 0 < len(seq.frame_detections(0))


def test_detections_overlap_labelled_cars(seq):
    hits = total = 0
    for f in range(len(seq)):
        gt, det = seq.frame_labels(f), seq.frame_detections(f)
        det_cars = det.centre[det.class_id == DET_CLASSES.index("Car")]
        for c in seq.frame_labels(f).centre[gt.class_id == 1]:
            total += 1
            hits += bool(len(det_cars)) and float(np.min(np.linalg.norm(det_cars - c, axis=1))) < 2.0
    assert total > 1000
    assert hits / total >= 0.7


def test_detection_centres_project_into_their_2d_boxes(seq):
    cal = seq.calibration()
    inside = total = 0
    for f in range(0, len(seq), 7):
        d = seq.frame_detections(f)
        uv, depth = cal.project_rect(d.centre.astype(np.float64), 2)
        b = d.box2d
        ok = (uv[:, 0] >= b[:, 0] - 3) & (uv[:, 0] <= b[:, 2] + 3) & (uv[:, 1] >= b[:, 1] - 3) & (
            uv[:, 1] <= b[:, 3] + 3) & (depth > 0)
        inside += int(ok.sum())
        total += len(d)
    assert inside / total > 0.9


def test_boxes_live_in_the_calibration_trees_rect_camera(seq):
    tree = seq.frame_tree()
    assert KITTI_CAMERA_FRAME in tree.frames() and "camera_0_rect" not in tree.frames()
    assert KittiTrackingSourceConfig(root="r", sequence=0).frame_3d == KITTI_CAMERA_FRAME
    cal = seq.calibration()
    centres = seq.frame_detections(0).centre.astype(np.float64)
    cam2 = cal.rig(1242, 375).cameras["camera_2"]
    uv = cam2.project(tree.lookup("camera_2", KITTI_CAMERA_FRAME).apply(centres))
    np.testing.assert_allclose(uv, cal.project_rect(centres, 2)[0], atol=1e-6)


def test_poses_start_at_identity_and_move_forward(seq):
    np.testing.assert_allclose(seq.pose(0).as_matrix(), np.eye(4), atol=1e-9)
    t = seq.poses[:, :3, 3]
    path = float(np.linalg.norm(np.diff(t, axis=0), axis=1).sum())
    speed = np.hypot(seq.oxts[:, 8], seq.oxts[:, 9])  # forward, leftward m/s
    expected = float(((speed[:-1] + speed[1:]) / 2).sum() * FRAME_PERIOD_NS / 1e9)
    assert expected > 100  # the car drives in this sequence
    assert path == pytest.approx(expected, rel=0.1)
    # each step, seen from the previous IMU frame, points forward (+x)
    steps = np.einsum("kji,kj->ki", seq.poses[:-1, :3, :3], np.diff(t, axis=0))
    moving = np.linalg.norm(steps, axis=1) > 0.2
    cos_fwd = steps[moving, 0] / np.linalg.norm(steps[moving], axis=1)
    assert float(np.median(cos_fwd)) > 0.95


def test_parked_cars_stay_put_in_world(seq):
    tree = seq.frame_tree()
    world: dict[int, list[np.ndarray]] = {}
    cam: dict[int, list[np.ndarray]] = {}
    for f in range(len(seq)):
        g = seq.frame_labels(f)
        w = seq.world_from(KITTI_CAMERA_FRAME, f, tree).apply(g.centre.astype(np.float64))
        for tid, cid, pw, pc in zip(g.track_id.tolist(), g.class_id, w, g.centre, strict=True):
            if cid == 1:
                world.setdefault(tid, []).append(pw)
                cam.setdefault(tid, []).append(pc)

    def median_spread(d: dict[int, list[np.ndarray]]) -> float:
        spreads = [np.linalg.norm(np.ptp(np.array(v), axis=0)) for v in d.values() if len(v) >= 10]
        return float(np.median(spreads))

    assert median_spread(world) < 1.0  # most labelled cars are parked
    assert median_spread(cam) > 5.0  # ... and move in the camera frame as the ego car passes


def _roundtrip(topic: str, msg):
    _t, back = decode(msg.to_frames(topic))
    assert _t == topic and type(back) is type(msg)
    assert (back.stamp_ns, back.seq, back.frame_id) == (msg.stamp_ns, msg.seq, msg.frame_id)
    return back


def test_source_publishes_every_frame_at_10hz(kitti_root, caplog):
    cfg = build(KittiTrackingSourceConfig, {"root": str(kitti_root), "sequence": SEQ})
    src = KittiTrackingSource(cfg)
    runner = LocalRunner(src, name="kitti", start_ns=1_000_000_000)
    runner.advance_to(1_000_000_000 + 50 * FRAME_PERIOD_NS)  # real time: 50 frames by then
    assert len(runner.outputs) == 3 * 50 and runner.outputs[-1][1].stamp_ns == runner.clock.now_ns()
    with caplog.at_level(logging.INFO):
        runner.advance_to(1_000_000_000 + (len(src.sequence) + 20) * FRAME_PERIOD_NS)
    n = len(src.sequence)
    by_topic: dict[str, list] = {}
    for topic, msg in runner.outputs:
        by_topic.setdefault(topic, []).append(_roundtrip(topic, msg))
    kinds = {"kitti/det_pointrcnn": Detections3D, "gt/kitti/tracks": Tracks, "gt/kitti/boxes2d": Detections2D}
    assert set(by_topic) == set(kinds)
    for topic, msgs in by_topic.items():
        assert len(msgs) == n and all(isinstance(m, kinds[topic]) for m in msgs)
        stamps = np.array([m.stamp_ns for m in msgs])
        assert stamps[0] == 1_000_000_000 + FRAME_PERIOD_NS  # first tick
        assert np.all(np.diff(stamps) == FRAME_PERIOD_NS)
        assert [m.seq for m in msgs] == list(range(n))
    tracks = by_topic["gt/kitti/tracks"]
    assert sum(len(m) for m in tracks) == len(src.sequence.labels.select(src.sequence.labels.class_id >= 0))
    assert all(np.all(m.status == TrackStatus.CONFIRMED) for m in tracks)
    assert tracks[5].state_fields[:7] == ("x", "y", "z", "l", "w", "h", "yaw")
    boxes = by_topic["gt/kitti/boxes2d"][5]
    np.testing.assert_array_equal(boxes.detections.track_id, tracks[5].track_id)
    assert src.finished and src.errors == 0
    ends = [r for r in caplog.records if "end of sequence" in r.getMessage()]
    assert len(ends) == 1


def test_source_as_fast_as_possible_keeps_data_stamps(kitti_root):
    src = KittiTrackingSource(KittiTrackingSourceConfig(root=str(kitti_root), sequence=SEQ, rate=0.0,
                                                        start_ns=0, topic_tracks="", topic_boxes2d=""))
    runner = LocalRunner(src)
    runner.advance_to(10_000_000)  # 10 ms of clock time is plenty at 1 µs per frame
    assert src.finished
    stamps = [m.stamp_ns for _t, m in runner.outputs]
    assert {t for t, _m in runner.outputs} == {"kitti/det_pointrcnn"}
    assert stamps == [k * FRAME_PERIOD_NS for k in range(len(src.sequence))]


# --- synthetic sequences --------------------------------------------------------------------------

def _oxts_line(lat: float, lon: float, yaw: float, vf: float = 0.0) -> str:
    v = [lat, lon, 100.0, 0.0, 0.0, yaw] + [0.0] * 24
    v[8] = vf
    return " ".join(f"{x:.12f}" for x in v)


def _write_seq(root: Path, oxts: list[str], labels: list[str], cars: list[str]) -> Path:
    for sub, name, lines in (("oxts", "0000.txt", oxts), ("label_02", "0000.txt", labels),
                             ("det_pointrcnn/Car", "0000.txt", cars)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / name).write_text("\n".join(lines) + "\n")
    return root


LABEL = "{f} {t} Car 0 1 -1.5 100 150 200 250 1.5 1.6 4.0 2.0 1.7 10.0 0.1"
DET = "{f},2,100,150,200,250,7.5,1.5,1.6,4.0,2.0,1.7,10.0,0.1,-1.5"


def test_synthetic_oxts_pose_is_mercator_metres(tmp_path):
    lat0 = 49.0
    d_lat = 1e-5  # degrees; ~1.111 m north
    north_m = 6378137.0 * math.radians(d_lat)  # Mercator y at scale cos(lat0), differentiated at lat0
    oxts = [_oxts_line(lat0, 8.0, 0.0), _oxts_line(lat0 + d_lat, 8.0, 0.0),
            _oxts_line(lat0 + d_lat, 8.0, math.pi / 2)]
    seq = KittiTrackingSequence(_write_seq(tmp_path, oxts, [], []), 0)
    # facing east (yaw 0): north is the IMU's +y (left)
    np.testing.assert_allclose(seq.pose(1).translation, [0.0, north_m, 0.0], atol=1e-3)
    np.testing.assert_allclose(seq.pose(2).rotation[:, 0], [0.0, 1.0, 0.0], atol=1e-9)  # now facing north
    oxts[0] = _oxts_line(lat0, 8.0, math.pi / 2)  # starting north-facing: north is forward
    seq = KittiTrackingSequence(_write_seq(tmp_path, oxts, [], []), 0)
    np.testing.assert_allclose(seq.pose(1).translation, [north_m, 0.0, 0.0], atol=1e-3)


def test_empty_frames_give_empty_messages(tmp_path):
    oxts = [_oxts_line(49.0, 8.0, 0.0)] * 3
    labels = [LABEL.format(f=0, t=4), "0 -1 DontCare -1 -1 -10 1 2 3 4 -1 -1 -1 -1000 -1000 -1000 -10",
              LABEL.format(f=2, t=4)]
    root = _write_seq(tmp_path, oxts, labels, [DET.format(f=0)])
    cfg = KittiTrackingSourceConfig(root=str(root), sequence=0, start_ns=0)
    runner = LocalRunner(KittiTrackingSource(cfg))
    runner.advance_to(10 * FRAME_PERIOD_NS)
    sizes: dict[str, list[int]] = {}
    for topic, msg in runner.outputs:
        back = _roundtrip(topic, msg)
        sizes.setdefault(topic, []).append(len(back.detections if isinstance(back, Detections2D) else back))
    assert sizes == {"kitti/det_pointrcnn": [1, 0, 0], "gt/kitti/tracks": [1, 0, 1],
                     "gt/kitti/boxes2d": [1, 0, 1]}
    tracks = [m for t, m in runner.outputs if t == "gt/kitti/tracks"]
    assert tracks[2].age.tolist() == [2] and tracks[2].track_id.tolist() == [4]
    np.testing.assert_allclose(tracks[0].state[0, :3], [2.0, 1.7 - 0.75, 10.0], atol=1e-6)


@pytest.mark.parametrize(("sub", "lines", "lineno", "text"), [
    ("label_02", [LABEL.format(f=0, t=1), "0 1 Car 0 1"], 2, "expected 17 columns"),
    ("label_02", [LABEL.format(f=0, t=1), LABEL.format(f=1, t=1).replace("Car", "Boat")], 2, "Boat"),
    ("label_02", [LABEL.format(f=0, t=1).replace("1.5 1.6", "1.5 x")], 1, "not a number"),
    ("det_pointrcnn/Car", [DET.format(f=0), DET.format(f=0) + ",9"], 2, "expected 15 columns"),
    ("det_pointrcnn/Car", [DET.format(f=1).replace(",2,", ",7,", 1)], 1, "type must be 1, 2 or 3"),
    ("oxts", ["1 2 3"], 1, "expected 30 columns"),
])
def test_malformed_lines_name_file_and_line(tmp_path, sub, lines, lineno, text):
    root = _write_seq(tmp_path, [_oxts_line(49.0, 8.0, 0.0)] * 2, [LABEL.format(f=0, t=1)], [DET.format(f=0)])
    (root / sub / "0000.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(SensorError, match=rf"0000\.txt:{lineno}: .*{text}"):
        KittiTrackingSequence(root, 0)


KITTI_TYPES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Person", "Cyclist", "Tram", "Misc")


def test_read_labels_reads_every_type_of_kitti_label_files(tmp_path):
    """Regression: real label files also use the type ``Person``, which used to be rejected."""
    lines = [LABEL.format(f=0, t=i).replace("Car", kind) for i, kind in enumerate(KITTI_TYPES)]
    lines += ["0 -1 DontCare -1 -1 -10 1 2 3 4 -1 -1 -1 -1000 -1000 -1000 -10",
              LABEL.format(f=1, t=20).replace("Car", "car")]  # any case (the devkit lower-cases types)
    path = tmp_path / "0000.txt"
    path.write_text("\n".join(lines) + "\n")
    boxes = read_labels(path)
    names = [GT_CLASSES[c] if c >= 0 else "DontCare" for c in boxes.class_id]
    assert names == [*KITTI_TYPES, "DontCare", "Car"]
    assert boxes.track_id.tolist() == [*range(len(KITTI_TYPES)), -1, 20]  # DontCare regions have no track
    assert set(KITTI_TYPES) == set(GT_CLASSES) and GT_CLASSES[:3] == DET_CLASSES
    root = _write_seq(tmp_path / "seq", [_oxts_line(49.0, 8.0, 0.0)] * 2, lines, [])
    tracks = KittiTrackingSequence(root, 0).gt_tracks(0, 0, 0)  # every object but DontCare is published
    assert [tracks.class_names[c] for c in tracks.class_id] == list(KITTI_TYPES)


def test_read_labels_result_files_with_scores(tmp_path):
    path = tmp_path / "0000.txt"
    path.write_text(LABEL.format(f=2, t=5) + " 0.1234567891\n" + LABEL.format(f=1, t=6) + "\n")
    boxes = read_labels(path, np.float64, default_score=-1.0)
    assert boxes.frame.tolist() == [1, 2]  # sorted by frame
    assert boxes.score.tolist() == [-1.0, 0.1234567891]  # float64 keeps the written digits
    assert boxes.hwl.dtype == boxes.bottom.dtype == np.float64
    default = read_labels(path)
    assert default.score.dtype == np.float32 and default.score[0] == 1.0


def test_frames_beyond_oxts_and_bad_config(tmp_path):
    root = _write_seq(tmp_path, [_oxts_line(49.0, 8.0, 0.0)] * 2, [LABEL.format(f=5, t=1)], [])
    with pytest.raises(SensorError, match="outside the sequence's 2 frames"):
        KittiTrackingSequence(root, 0)
    with pytest.raises(SensorError, match="not a folder"):
        KittiTrackingSequence(tmp_path / "nope", 0)
    with pytest.raises(ConfigError, match="root"):
        build(KittiTrackingSourceConfig, {"sequence": 1})
    with pytest.raises(ConfigError, match="rate"):
        build(KittiTrackingSourceConfig, {"root": str(root), "sequence": 0, "rate": -1.0})


def test_folders_given_one_by_one_and_no_labels(tmp_path):
    root = _write_seq(tmp_path / "a", [_oxts_line(49.0, 8.0, 0.0)] * 3, [LABEL.format(f=0, t=1)],
                      [DET.format(f=1)])
    (tmp_path / "calib").mkdir()
    other = tmp_path / "b"
    (other / "Car").mkdir(parents=True)
    (other / "Car" / "0000.txt").write_text(DET.format(f=2) + "\n" + DET.format(f=2) + "\n")
    seq = KittiTrackingSequence(tmp_path, 0, det_dir=other, oxts_dir=root / "oxts",
                                label_dir=root / "label_02", calib_dir=tmp_path / "calib")
    assert len(seq) == 3 and seq.frame_detections(2).frame.tolist() == [2, 2] and len(seq.labels) == 1
    assert seq.calib_dir == tmp_path / "calib"
    assert len(KittiTrackingSequence(root, 0, with_labels=False).labels) == 0
    assert len(KittiTrackingSequence(root, 0).labels) == 1  # the default folders under root
