"""MOTChallenge reader and source: real MOT15 sequences from the shared data, plus synthetic
sequence folders in tmp_path for the format variants and malformed input."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from percept.codec import decode
from percept.config import build
from percept.errors import ConfigError
from percept.messages import Detections2D
from percept.node import LocalRunner
from sensors.datasets.mot import MotSource, MotSourceConfig
from sensors.datasets.mot_format import MotSequence
from sensors.errors import SensorError


def _rows(path: Path) -> list[list[str]]:
    return [ln.split(",") for ln in path.read_text().splitlines() if ln.strip()]


def test_tud_campus_counts_per_frame_match_files(shared_data):
    root = shared_data("mot15", "TUD-Campus")
    seq = MotSequence(root)
    assert (len(seq), seq.frame_rate, seq.width, seq.height) == (71, 25.0, 640, 480)
    det_rows = _rows(root / "det" / "det.txt")
    gt_rows = _rows(root / "gt" / "gt.txt")
    det_counts = Counter(int(r[0]) for r in det_rows)
    gt_counts = Counter(int(r[0]) for r in gt_rows if float(r[6]) == 1)
    for k in range(1, len(seq) + 1):
        assert len(seq.detections(k)) == det_counts.get(k, 0)
        assert len(seq.ground_truth(k)) == gt_counts.get(k, 0)
    first = det_rows[0]
    x, y, w, h, conf = map(float, first[2:7])
    d = seq.detections(int(first[0]))
    np.testing.assert_allclose(d.xyxy[0], [x, y, x + w, y + h], rtol=1e-6)
    assert d.confidence[0] == pytest.approx(conf) and d.class_id.tolist() == [0] * len(d)
    gt = seq.ground_truth(1)
    assert sorted(gt.track_id.tolist()) == sorted(int(r[1]) for r in gt_rows if r[0] == "1")
    high = MotSequence(root, min_confidence=0.9)
    assert len(high.det) == sum(float(r[6]) >= 0.9 for r in det_rows) < len(det_rows)


def _roundtrip(topic: str, msg: Detections2D) -> Detections2D:
    t, back = decode(msg.to_frames(topic))
    assert t == topic and isinstance(back, Detections2D)
    assert back.detections == msg.detections and back.class_names == ("person",)
    return back


@pytest.mark.parametrize("name", ["TUD-Campus", "ETH-Sunnyday"])
def test_source_publishes_seq_length_frames_at_frame_rate(shared_data, name, caplog):
    root = shared_data("mot15", name)
    src = MotSource(build(MotSourceConfig, {"path": str(root)}))
    runner = LocalRunner(src, name="mot", start_ns=0)
    seq = src.sequence
    runner.advance_to(round(20 * 1e9 / seq.frame_rate))  # real time: 20 frames by then
    assert len(runner.outputs) == 2 * 20
    with caplog.at_level(logging.INFO):
        runner.advance_to(round((len(seq) + 10) * 1e9 / seq.frame_rate))
    assert src.finished and src.errors == 0
    assert len([r for r in caplog.records if "end of sequence" in r.getMessage()]) == 1
    by_topic: dict[str, list[Detections2D]] = {}
    for topic, msg in runner.outputs:
        by_topic.setdefault(topic, []).append(_roundtrip(topic, msg))
    assert set(by_topic) == {"mot/detections", "gt/mot/boxes"}
    t0 = round(1e9 / seq.frame_rate)  # first timer tick
    for msgs in by_topic.values():
        assert len(msgs) == len(seq)
        stamps = np.array([m.stamp_ns for m in msgs])
        expected = t0 + np.round(np.arange(len(seq)) * 1e9 / seq.frame_rate).astype(np.int64)
        np.testing.assert_array_equal(stamps, expected)
        assert np.abs(np.diff(stamps) - 1e9 / seq.frame_rate).max() <= 1
        assert [m.seq for m in msgs] == list(range(len(seq)))
        assert all(m.frame_id == "camera" for m in msgs)
    assert sum(len(m.detections) for m in by_topic["mot/detections"]) == len(seq.det)
    assert all(m.detections.track_id is not None for m in by_topic["gt/mot/boxes"])
    assert all(m.detections.track_id is None for m in by_topic["mot/detections"])


def test_source_as_fast_as_possible(shared_data):
    src = MotSource(MotSourceConfig(path=str(shared_data("mot15", "KITTI-13")), rate=0.0, start_ns=0))
    runner = LocalRunner(src)
    runner.advance_to(1_000_000)  # 1 ms of clock time; 1 µs per frame
    assert src.finished
    topics = {t for t, _m in runner.outputs}
    assert topics == {"mot/detections"}  # KITTI-13 has no gt here
    msgs = [m for _t, m in runner.outputs]
    assert len(msgs) == 340 and msgs[-1].stamp_ns == round(339 * 1e9 / 10)
    assert len(msgs[0].detections) == 0  # the file's first detection is in frame 4: empty messages before


# --- synthetic sequences --------------------------------------------------------------------------

SEQINFO = "[Sequence]\nname=Synth\nimDir=img1\nframeRate={fps}\nseqLength={n}\nimWidth=100\nimHeight=80\n"


def _write(root: Path, det: list[str], gt: list[str] | None = None, fps: int = 10, n: int = 3) -> Path:
    (root / "det").mkdir(parents=True, exist_ok=True)
    (root / "seqinfo.ini").write_text(SEQINFO.format(fps=fps, n=n))
    (root / "det" / "det.txt").write_text("\n".join(det) + "\n")
    if gt is not None:
        (root / "gt").mkdir(exist_ok=True)
        (root / "gt" / "gt.txt").write_text("\n".join(gt) + "\n")
    return root


def test_nine_column_gt_filters_flag_and_class(tmp_path):
    gt = ["1,1,10,10,5,5,1,1,1.0",  # pedestrian, considered
          "1,2,20,20,5,5,0,1,1.0",  # ignored (flag 0)
          "1,3,30,30,5,5,1,7,1.0",  # static person (class 7)
          "3,1,12,10,5,5,1,1,0.5"]
    det = ["1,-1,10,10,5,5,0.9", "1,-1,40,40,5,6,0.2,-1,-1", "3,-1,11,10,5,5,0.8,-1,-1,-1"]
    seq = MotSequence(_write(tmp_path, det, gt))
    assert [len(seq.ground_truth(k)) for k in (1, 2, 3)] == [1, 0, 1]
    assert seq.ground_truth(1).track_id.tolist() == [1]
    assert [len(seq.detections(k)) for k in (1, 2, 3)] == [2, 0, 1]
    np.testing.assert_allclose(seq.detections(1).xyxy[1], [40, 40, 45, 46])
    with pytest.raises(SensorError, match=r"frame 4 outside 1\.\.3"):
        seq.detections(4)


def test_source_without_gt_and_empty_frames(tmp_path):
    root = _write(tmp_path, ["2,-1,10,10,5,5,0.9,-1,-1,-1"])
    runner = LocalRunner(MotSource(MotSourceConfig(path=str(root), start_ns=0, topic_gt="gt/x")))
    runner.advance_to(1_000_000_000)
    assert [(t, len(_roundtrip(t, m).detections), m.stamp_ns) for t, m in runner.outputs] == [
        ("mot/detections", 0, 0), ("mot/detections", 1, 100_000_000), ("mot/detections", 0, 200_000_000)]
    with pytest.raises(SensorError, match="has no ground truth"):
        MotSequence(root).ground_truth(1)


@pytest.mark.parametrize(("bad", "text"), [
    ("2,-1,10,10,5", "expected >= 7 columns, got 5"),
    ("2,-1,10,ten,5,5,0.9,-1,-1,-1", "not a number"),
    ("2.5,-1,10,10,5,5,0.9,-1,-1,-1", "frame 2.5 is not an integer in 1..3"),
    ("9,-1,10,10,5,5,0.9,-1,-1,-1", "frame 9 is not an integer in 1..3"),
    ("2,-1,10,10,-5,5,0.9,-1,-1,-1", "negative box size"),
    ("2,-1,10,10,5,5,nan,-1,-1,-1", "non-finite"),
])
def test_malformed_lines_raise_with_line_number(tmp_path, bad, text):
    root = _write(tmp_path, ["1,-1,10,10,5,5,0.9,-1,-1,-1", "", bad])
    with pytest.raises(SensorError, match=rf"det\.txt:3: {text}"):
        MotSequence(root)


def test_bad_seqinfo_and_config(tmp_path):
    root = _write(tmp_path, ["1,-1,10,10,5,5,0.9"])
    (root / "seqinfo.ini").write_text("[Sequence]\nframeRate=abc\nseqLength=3\nimWidth=1\nimHeight=1\n")
    with pytest.raises(SensorError, match=r"seqinfo\.ini: \[Sequence\] frameRate: expected float"):
        MotSequence(root)
    (root / "seqinfo.ini").write_text("[Sequence]\nframeRate=10\n")
    with pytest.raises(SensorError, match="no key 'seqLength'"):
        MotSequence(root)
    with pytest.raises(SensorError, match="cannot read"):
        MotSequence(tmp_path / "missing")
    with pytest.raises(ConfigError, match="path"):
        build(MotSourceConfig, {"rate": 1.0})
    with pytest.raises(ConfigError, match="rate"):
        build(MotSourceConfig, {"path": str(root), "rate": -2.0})
