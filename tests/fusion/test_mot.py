"""MOT file I/O round trip and running the tracker on a real MOT15 sequence."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.errors import TrackingError
from fusion.mot import read_mot_detections, read_seqinfo, run_tracker_on_sequence, write_mot_results
from percept.detections import Detections


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
    short = tmp_path / "short.txt"
    short.write_text("1,2,3\n")
    with pytest.raises(TrackingError, match=r"short\.txt.*columns"):
        read_mot_detections(short)
    ini = tmp_path / "seqinfo.ini"
    ini.write_text("[Sequence]\nname=x\nframeRate=25\n")
    with pytest.raises(TrackingError, match="seqLength"):
        read_seqinfo(ini)


def test_tud_campus_sequence(shared_data) -> None:
    seq = shared_data("mot15", "TUD-Campus")
    info = read_seqinfo(seq / "seqinfo.ini")
    assert (info["frameRate"], info["seqLength"], info["imWidth"], info["imHeight"]) == (25, 71, 640, 480)
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
