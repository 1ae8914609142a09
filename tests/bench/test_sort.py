"""SORT baseline: lifecycle on synthetic boxes and the published MOTA on MOT15 TUD-Campus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.sort import SortConfig, SortTracker
from fusion.errors import TrackingError
from fusion.mot import read_mot_detections, write_mot_results
from fusion.mot_eval import evaluate
from percept.detections import Detections


def dets(*boxes: tuple[float, float, float, float]) -> Detections:
    n = len(boxes)
    return Detections(np.array(boxes, np.float32).reshape(n, 4), np.full(n, 0.9, np.float32),
                      np.zeros(n, np.int32))


def test_moving_box_keeps_its_id_and_follows() -> None:
    t = SortTracker()
    ids = []
    for k in range(10):
        out = t.update(dets((10 + 5 * k, 20, 50 + 5 * k, 100)), k)
        assert len(out) == 1  # first min_hits frames report at once, then the hit streak does
        ids.append(int(out.track_id[0]))
        assert out.xyxy[0, 0] == pytest.approx(10 + 5 * k, abs=2.0)
    assert set(ids) == {1}


def test_min_hits_and_max_age() -> None:
    t = SortTracker(SortConfig(max_age=1, min_hits=3))
    for k in range(3):  # frame_count <= min_hits: reported immediately
        t.update(dets((0, 0, 10, 10)), k)
    out = t.update(dets((0, 0, 10, 10), (200, 200, 240, 260)), 3)
    assert out.track_id.tolist() == [1]  # the new box needs 3 hits before it is reported
    t.update(dets((0, 0, 10, 10)), 4)  # box 2 missed once: kept (max_age 1)
    t.update(dets((0, 0, 10, 10)), 5)  # missed twice: deleted
    out = t.update(dets((0, 0, 10, 10), (200, 200, 240, 260)), 6)
    assert out.track_id.tolist() == [1]
    assert max(tr.id for tr in t._tracks) == 3  # a fresh id for the reappearing box
    t.reset()
    assert t.update(dets((0, 0, 10, 10)), 7).track_id.tolist() == [1]


def test_empty_and_invalid_boxes() -> None:
    t = SortTracker()
    assert len(t.update(Detections.empty(), 0)) == 0
    out = t.update(dets((0, 0, 10, 10), (5, 5, 5, 20), (np.nan, 0, 1, 1)), 1)
    assert out.track_id.tolist() == [1]
    with pytest.raises(TrackingError, match="max_age"):
        SortTracker(SortConfig(max_age=0))


def test_tud_campus_mota_matches_published(shared_data, tmp_path: Path) -> None:
    seq = shared_data("mot15", "TUD-Campus")
    frames = read_mot_detections(seq / "det" / "det.txt")
    t = SortTracker()
    results = {f: t.update(frames.get(f, Detections.empty()), 0) for f in range(1, 72)}
    write_mot_results(tmp_path / "sort.txt", results)
    m = evaluate(seq / "gt" / "gt.txt", tmp_path / "sort.txt")
    assert m["MOTA"] == pytest.approx(0.627, abs=0.02)  # Bewley et al.: 62.7 (measured here: 62.7)
