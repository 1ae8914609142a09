"""MOT file I/O round trip (through sensors.datasets.mot_format) and running the tracker on a
real MOT15 sequence; detections beyond seqLength are dropped and counted."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from fusion.cli import register
from fusion.errors import TrackingError
from fusion.mot import (
    read_mot_detections,
    run_tracker_on_sequence,
    track_mot_file,
    write_mot_results,
)
from fusion.mot_eval import load_mot
from percept.detections import Detections
from sensors.datasets.mot_format import MotSequence, read_mot_rows, read_seqinfo
from sensors.errors import SensorError
from tests.cli_parser import percept_parser
from tests.rejects import assert_rejects


def test_results_round_trip(tmp_path) -> None:
    results = {
        1: Detections(xyxy=np.array([[10, 20, 50, 120], [0.5, 1.5, 10.5, 21.5]], np.float32),
                      confidence=np.array([0.9, 0.8], np.float32), class_id=np.zeros(2, np.int32),
                      track_id=np.array([1, 2], np.int64)),
        2: Detections.empty(with_track_id=True),
        3: Detections(xyxy=np.array([[12, 20, 52, 120]], np.float32), confidence=np.array([0.7], np.float32),
                      class_id=np.zeros(1, np.int32), track_id=np.array([1], np.int64)),
    }
    path = tmp_path / "res.txt"
    write_mot_results(path, results)
    rows = np.loadtxt(path, delimiter=",")
    assert rows.shape == (3, 10)
    np.testing.assert_array_equal(rows[:, 0], [1, 1, 3])
    np.testing.assert_array_equal(rows[:, 7:], -1)
    back = read_mot_detections(path)
    assert sorted(back) == [1, 3]
    np.testing.assert_allclose(back[1].xyxy, results[1].xyxy, atol=0.01)
    np.testing.assert_allclose(back[3].confidence, [0.7], atol=1e-4)
    assert len(read_mot_detections(path, min_conf=0.85)[1]) == 1


def test_write_without_track_ids_raises(tmp_path) -> None:
    d = Detections(xyxy=np.array([[0, 0, 1, 1]], np.float32), confidence=[1.0], class_id=[0])
    with pytest.raises(TrackingError, match="track_id"):
        write_mot_results(tmp_path / "r.txt", {1: d})


def test_bad_files_name_the_path(tmp_path) -> None:
    with pytest.raises(TrackingError, match="no such"):
        read_mot_detections(tmp_path / "missing.txt")
    assert_rejects(read_mot_detections, tmp_path / "short.txt", "1,2,3\n", TrackingError,
                   r"short\.txt.*columns")
    assert_rejects(read_seqinfo, tmp_path / "seqinfo.ini", "[Sequence]\nname=x\nframeRate=25\n", SensorError,
                   "seqLength")


def test_tud_campus_sequence(shared_data) -> None:
    seq = shared_data("mot15", "TUD-Campus")
    info = read_seqinfo(seq / "seqinfo.ini")
    assert (info.frame_rate, info.seq_length, info.im_width, info.im_height) == (25, 71, 640, 480)
    dets = read_mot_detections(seq / "det" / "det.txt")
    assert len(dets) == 71 and dets[1].xyxy.shape[1] == 4
    results = run_tracker_on_sequence(seq / "det" / "det.txt", seq / "seqinfo.ini")
    assert sorted(results) == list(range(1, 72))
    n_boxes = sum(len(d) for d in results.values())
    n_dets = sum(len(d) for d in dets.values())
    ids = {int(i) for d in results.values() for i in d.track_id}
    assert 0.6 * n_dets < n_boxes <= n_dets  # most detections are tracked, none invented
    assert 4 <= len(ids) <= 30  # TUD-Campus shows about 8 people
    for d in results.values():
        assert len(set(d.track_id.tolist())) == len(d)  # one box per id per frame


def test_detections_beyond_seq_length_are_dropped_and_counted(tmp_path, caplog) -> None:
    """Regression: frames after seqLength used to be tracked silently (the sequence grew)."""
    det = tmp_path / "det.txt"
    det.write_text("".join(f"{f},-1,{10 + f},20,30,60,0.9,-1,-1,-1\n" for f in range(1, 8)))
    ini = tmp_path / "seqinfo.ini"
    ini.write_text("[Sequence]\nname=s\nframeRate=10\nseqLength=5\nimWidth=100\nimHeight=100\n")
    with caplog.at_level(logging.WARNING):
        run = track_mot_file(det, ini)
    assert (run.frames, run.frame_rate, run.dropped) == (5, 10.0, 2)
    assert sorted(run.results) == [1, 2, 3, 4, 5] == sorted(run_tracker_on_sequence(det, ini))
    assert "2 detections in frames 6..7 beyond seqLength 5" in caplog.text
    free = track_mot_file(det)  # no seqinfo: every detection frame, 25 Hz
    assert (free.frames, free.frame_rate, free.dropped) == (7, 25.0, 0)
    parser = percept_parser(register)
    args = parser.parse_args(["track2d", "--mot-det", str(det), "--seqinfo", str(ini),
                              "--out", str(tmp_path / "res.txt")])
    with caplog.at_level(logging.INFO):
        assert args.func(args) == 0
    assert "5 frames at 10 fps" in caplog.text and "2 detections beyond seqLength dropped" in caplog.text
    assert np.loadtxt(tmp_path / "res.txt", delimiter=",", ndmin=2)[:, 0].max() <= 5


def test_fusion_readers_agree_with_the_sequence_reader(shared_data) -> None:
    root = shared_data("mot15", "TUD-Stadtmitte")
    seq = MotSequence(root)
    dets = read_mot_detections(root / "det" / "det.txt")
    for k in range(1, len(seq) + 1):
        assert dets.get(k, Detections.empty()) == seq.detections(k)
    table = load_mot(root / "gt" / "gt.txt", is_gt=True)
    gt = read_mot_rows(root / "gt" / "gt.txt", "gt")
    np.testing.assert_array_equal(table.xywh, gt.xywh)
    np.testing.assert_array_equal(table.ids, gt.track_id)
    assert read_seqinfo(root / "seqinfo.ini").seq_length == seq.info.seq_length == len(seq)


def _detect_jsonl(path, n_frames: int, source: str = "clip.mp4", fps: float = 10.0) -> None:
    """A JSONL as ``percept detect`` writes it (its own record function): a person walking right
    and a bus, per frame of one video."""
    import json
    from pathlib import Path

    from perception.cli import Frame, detection_record

    names = ("person", "bicycle", "car", "motorcycle", "airplane", "bus")
    with open(path, "w", encoding="utf-8") as fh:
        for k in range(1, n_frames + 1):
            boxes = np.array([[10 + 5 * k, 20, 40 + 5 * k, 100], [200, 50, 300, 120]], np.float32)
            dets = Detections(xyxy=boxes, confidence=np.array([0.9, 0.8], np.float32),
                              class_id=np.array([0, 5], np.int32))
            frame = Frame(Path(source), k, round((k - 1) * 1e9 / fps), None)
            fh.write(json.dumps(detection_record(frame, dets, names)) + "\n")


def test_detect_jsonl_is_read_by_format_and_tracked(tmp_path) -> None:
    from fusion.mot import detection_format, read_detections

    path = tmp_path / "dets.jsonl"
    _detect_jsonl(path, 6)
    odd = tmp_path / "dets.out"  # no telling suffix: the content decides
    odd.write_text(path.read_text())
    mot = tmp_path / "det.dat"
    mot.write_text("1,-1,10,20,30,60,0.9,-1,-1,-1\n")
    assert (detection_format(path), detection_format(odd), detection_format(mot)) == ("jsonl", "jsonl", "mot")
    found = read_detections(odd)
    assert sorted(found.frames) == list(range(1, 7)) and found.last_frame == 6
    assert found.frame_rate == pytest.approx(10.0)  # from the video's stamps
    people = read_detections(path, classes={"person"})
    assert all(len(d) == 1 and d.class_id.tolist() == [0] for d in people.frames.values())
    run = track_mot_file(path, det_format="jsonl", classes={"person", "5"})
    assert (run.frames, run.frame_rate, run.dropped) == (6, pytest.approx(10.0), 0)
    assert len({int(i) for d in run.results.values() for i in d.track_id}) == 2


def test_track2d_cli_reads_detect_jsonl(tmp_path, caplog) -> None:
    path = tmp_path / "dets.jsonl"
    _detect_jsonl(path, 8)
    parser = percept_parser(register)
    out = tmp_path / "res.txt"
    args = parser.parse_args(["track2d", "--det", str(path), "--classes", "person", "--out", str(out)])
    with caplog.at_level(logging.INFO):
        assert args.func(args) == 0
    rows = np.loadtxt(out, delimiter=",", ndmin=2)
    assert "8 frames at 10 fps" in caplog.text and set(rows[:, 1].tolist()) == {1.0}
    assert rows[:, 0].max() == 8


def test_bad_jsonl_names_file_and_line(tmp_path) -> None:
    from fusion.mot import read_detections

    path = tmp_path / "dets.jsonl"
    _detect_jsonl(path, 2)
    path.write_text(path.read_text() + '{"frame": 3, "detections": [{"xyxy": [1, 2]}]}\n')
    with pytest.raises(TrackingError, match=r"dets\.jsonl:3: not a percept detect record"):
        read_detections(path)
    path.write_text('{"frame": 1, "detections": []}\n{"frame": 1, "detections": []}\n')
    with pytest.raises(TrackingError, match=r"dets\.jsonl:2: frame 1: expected a new frame number"):
        read_detections(path)
    with pytest.raises(TrackingError, match="detection format: expected one of"):
        read_detections(path, "csv")
