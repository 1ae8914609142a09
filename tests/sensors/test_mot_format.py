"""The one MOTChallenge reader/writer: det/gt/res rows, seqinfo.ini, result files, sequence folders
without seqinfo; synthetic files in tmp_path plus the shared MOT15 sequences."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from percept.detections import Detections
from sensors.datasets.mot_format import MotSequence, SeqInfo, read_mot_rows, read_seqinfo, write_mot_results
from sensors.errors import SensorError


def _text(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_rows_are_sorted_by_frame_and_keep_file_values(tmp_path):
    path = _text(tmp_path / "det.txt", ["3,-1,1.5,2.25,10,20,0.5", "1,-1,0,0,4,8,0.9,-1,-1,-1",
                                        "3,-1,7,7,1,1,0.25"])
    rows = read_mot_rows(path, "det")
    assert rows.frame.tolist() == [1, 3, 3] and rows.track_id.tolist() == [-1, -1, -1]
    assert rows.xywh.dtype == np.float64 and rows.confidence.tolist() == [0.9, 0.5, 0.25]
    np.testing.assert_array_equal(rows.xyxy, [[0, 0, 4, 8], [1.5, 2.25, 11.5, 22.25], [7, 7, 8, 8]])
    frames = rows.by_frame(with_ids=False)
    assert sorted(frames) == [1, 3] and len(frames[3]) == 2 and frames[3].track_id is None
    assert [(f, len(r)) for f, r in rows.per_frame()] == [(1, 1), (3, 2)]


def test_result_rows_need_no_score_and_gt_drops_rows_not_considered(tmp_path):
    res = read_mot_rows(_text(tmp_path / "res.txt", ["1,4,0,0,10,10", "2,4,1,0,10,10,0.7"]), "res")
    assert res.confidence.tolist() == [1.0, 0.7] and res.track_id.tolist() == [4, 4]
    with pytest.raises(SensorError, match=r"res\.txt:1: expected >= 7 columns, got 6"):
        read_mot_rows(tmp_path / "res.txt", "det")
    gt = _text(tmp_path / "gt.txt", ["1,1,0,0,5,5,1,1,1.0", "1,2,9,9,5,5,0,1,1.0", "1,3,20,20,5,5,1,7,0.4"])
    assert read_mot_rows(gt, "gt").track_id.tolist() == [1, 3]  # flag 0 dropped, every class kept
    assert read_mot_rows(gt, "gt", pedestrians_only=True).track_id.tolist() == [1]
    assert len(read_mot_rows(gt, "det")) == 3  # a detection file has no flag column


def test_errors_name_file_and_one_based_line(tmp_path):
    path = _text(tmp_path / "det.txt",
                 ["", "1,-1,0,0,5,5,0.9", "", "", "2,-1,0,0,5,5,0.9", "4,-1,0,0,5,5,0.9"])
    with pytest.raises(SensorError, match=r"det\.txt:6: frame 4 is not an integer in 1\.\.3"):
        read_mot_rows(path, "det", num_frames=3)
    assert len(read_mot_rows(path, "det")) == 3
    with pytest.raises(SensorError, match=r"missing\.txt: not found"):
        read_mot_rows(tmp_path / "missing.txt")


def test_write_then_read_results_round_trip(tmp_path):
    results = {
        2: Detections(xyxy=np.array([[10.25, 20.5, 50.75, 120.0]], np.float32), confidence=[0.8765],
                      class_id=[0], track_id=np.array([7], np.int64)),
        1: Detections(xyxy=np.array([[0, 0, 1, 2], [3, 4, 8, 9]], np.float32), confidence=[0.5, 1.0],
                      class_id=[0, 0], track_id=np.array([1, 2], np.int64)),
        3: Detections.empty(with_track_id=True),
    }
    path = tmp_path / "res.txt"
    write_mot_results(path, results)
    assert path.read_text().splitlines()[0] == "1,1,0.00,0.00,1.00,2.00,0.5000,-1,-1,-1"
    back = read_mot_rows(path, "res")
    assert back.frame.tolist() == [1, 1, 2] and back.track_id.tolist() == [1, 2, 7]
    np.testing.assert_allclose(back.xyxy, np.concatenate([results[1].xyxy, results[2].xyxy]), atol=0.005)
    assert back.confidence[2] == pytest.approx(0.8765)
    with pytest.raises(SensorError, match="no track_id"):
        write_mot_results(path, {1: Detections(xyxy=[[0, 0, 1, 1]], confidence=[1.0], class_id=[0])})


SEQINFO = ("[Sequence]\nname=Synth\nimDir=img1\nframeRate=29.97\nseqLength=4\nimWidth=640\nimHeight=480\n"
           "imExt=.jpg\n")


def test_seqinfo_is_typed(tmp_path):
    ini = tmp_path / "Synth" / "seqinfo.ini"
    ini.parent.mkdir()
    ini.write_text(SEQINFO)
    assert read_seqinfo(ini) == SeqInfo(name="Synth", frame_rate=29.97, seq_length=4, im_width=640,
                                        im_height=480)
    ini.write_text(SEQINFO.replace("name=Synth\n", "").replace("imExt=.jpg", "imExt=%d.jpg"))
    assert read_seqinfo(ini).name == "Synth"  # the folder's name; no % interpolation
    ini.write_text(SEQINFO.replace("seqLength=4", "seqLength=0"))
    with pytest.raises(SensorError, match=r"seqLength: expected > 0, got 0"):
        read_seqinfo(ini)
    ini.write_text("no section\n")
    with pytest.raises(SensorError, match="invalid ini"):
        read_seqinfo(ini)


def test_sequence_without_seqinfo_uses_the_default_rate(tmp_path, caplog):
    _text(tmp_path / "det" / "det.txt", ["2,-1,0,0,5,5,0.9"])
    _text(tmp_path / "gt" / "gt.txt", ["5,3,0,0,5,5,1,-1,-1,-1"])
    with pytest.raises(SensorError, match=r"seqinfo\.ini: cannot read"):
        MotSequence(tmp_path)
    with caplog.at_level(logging.WARNING):
        seq = MotSequence(tmp_path, default_frame_rate=30.0)
    assert "assuming 30 fps" in caplog.text
    assert (len(seq), seq.frame_rate, seq.name, seq.width) == (5, 30.0, tmp_path.name, 0)
    assert [len(seq.detections(k)) for k in range(1, 6)] == [0, 1, 0, 0, 0]
    assert seq.ground_truth(5).track_id.tolist() == [3] and seq.stamp_ns(5) == round(4e9 / 30)


def test_gt_beyond_seq_length_is_an_error(tmp_path):
    (tmp_path / "seqinfo.ini").write_text(SEQINFO)
    _text(tmp_path / "det" / "det.txt", ["1,-1,0,0,5,5,0.9"])
    _text(tmp_path / "gt" / "gt.txt", ["1,3,0,0,5,5,1,-1,-1,-1", "5,3,0,0,5,5,1,-1,-1,-1"])
    with pytest.raises(SensorError, match=r"gt\.txt:2: frame 5 is not an integer in 1\.\.4"):
        MotSequence(tmp_path)


@pytest.mark.parametrize("name", ["TUD-Campus", "TUD-Stadtmitte", "ETH-Sunnyday"])
def test_shared_gt_files_parse_every_line(shared_data, name):
    root = shared_data("mot15", name)
    lines = [ln for ln in (root / "gt" / "gt.txt").read_text().splitlines() if ln.strip()]
    rows = read_mot_rows(root / "gt" / "gt.txt", "gt")
    assert len(rows) == sum(float(ln.split(",")[6]) != 0 for ln in lines)
    seq = MotSequence(root)
    assert sum(len(seq.ground_truth(k)) for k in range(1, len(seq) + 1)) == len(rows)
    assert seq.info == read_seqinfo(root / "seqinfo.ini") and seq.info.seq_length == len(seq)
