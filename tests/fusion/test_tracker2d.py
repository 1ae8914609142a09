"""Tracker2D lifecycle with scripted detections: occlusion gaps, ids, classes, bad input, stamps."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.errors import TrackingError
from fusion.lifecycle import LifecycleConfig, TrackState
from fusion.tracker2d import MultiStreamTracker, Tracker2D, Tracker2DConfig
from percept.detections import Detections

DT_NS = 40_000_000  # 25 Hz


def dets(*boxes: tuple[float, float, float, float], conf: float = 0.9,
         cls: int | list[int] = 0) -> Detections:
    n = len(boxes)
    classes = cls if isinstance(cls, list) else [cls] * n
    return Detections(xyxy=np.array(boxes, np.float32).reshape(n, 4), confidence=np.full(n, conf, np.float32),
                      class_id=np.array(classes, np.int32))


def box(x: float, y: float = 100.0) -> tuple[float, float, float, float]:
    return (x, y, x + 40.0, y + 100.0)


def test_first_frame_confirms_and_later_births_need_hits() -> None:
    t = Tracker2D()
    out = t.update(dets(box(0)), 0)
    assert len(out) == 1 and out.track_id is not None
    assert t.tracks[0].state == TrackState.CONFIRMED
    out = t.update(dets(box(2), box(300)), DT_NS)
    assert len(out) == 1  # the newcomer is TENTATIVE
    assert {tr.state for tr in t.tracks} == {TrackState.CONFIRMED, TrackState.TENTATIVE}
    out = t.update(dets(box(4), box(302)), 2 * DT_NS)
    assert len(out) == 2  # confirmed after n_init = 2 hits
    assert sorted(out.track_id.tolist()) == [1, 2]


def test_reassociation_across_occlusion_gap_keeps_id() -> None:
    t = Tracker2D()
    speed = 50.0  # px/s
    ids = []
    for k in range(10):
        ids += t.update(dets(box(speed * k * DT_NS * 1e-9)), k * DT_NS).track_id.tolist()
    for k in range(10, 20):  # 0.4 s occlusion, below max_age 1 s
        assert len(t.update(Detections.empty(), k * DT_NS)) == 0
    assert t.tracks[0].state == TrackState.LOST
    out = t.update(dets(box(speed * 20 * DT_NS * 1e-9)), 20 * DT_NS)
    assert out.track_id.tolist() == [1] and set(ids) == {1}
    assert t.tracks[0].state == TrackState.CONFIRMED


def test_lost_track_removed_after_max_age_and_ids_never_reused() -> None:
    t = Tracker2D(Tracker2DConfig(lifecycle=LifecycleConfig(max_age_s=0.2)))
    t.update(dets(box(0)), 0)
    for k in range(1, 8):
        t.update(Detections.empty(), k * DT_NS)
    assert t.tracks == []  # 0.28 s > 0.2 s
    t.update(dets(box(0)), 8 * DT_NS)
    t.update(dets(box(0)), 9 * DT_NS)
    assert [tr.id for tr in t.tracks] == [2]
    t.reset()
    t.update(dets(box(0)), 0)
    assert [tr.id for tr in t.tracks] == [3]


def test_removal_is_time_based_not_frame_based() -> None:
    t = Tracker2D(Tracker2DConfig(lifecycle=LifecycleConfig(max_age_s=1.0)))
    t.update(dets(box(0)), 0)
    t.update(Detections.empty(), 900_000_000)  # one frame, 0.9 s later: LOST, kept
    assert t.tracks[0].state == TrackState.LOST
    t.update(Detections.empty(), 1_100_000_000)  # 1.1 s since last match: removed
    assert t.tracks == []
    f = Tracker2D(Tracker2DConfig(lifecycle=LifecycleConfig(max_age_s=100.0, max_age_frames=2)))
    f.update(dets(box(0)), 0)
    for k in range(1, 4):
        f.update(Detections.empty(), k * DT_NS)
    assert f.tracks == []


def test_class_consistency_and_class_agnostic_option() -> None:
    t = Tracker2D()
    t.update(dets(box(0), cls=1), 0)
    out = t.update(dets(box(1), cls=2), DT_NS)  # same place, other class: no match
    assert len(out) == 0
    assert [(tr.id, tr.class_id) for tr in t.tracks] == [(1, 1), (2, 2)]
    a = Tracker2D(Tracker2DConfig(class_agnostic=True))
    a.update(dets(box(0), cls=1), 0)
    out = a.update(dets(box(1), cls=2), DT_NS)
    assert out.track_id.tolist() == [1] and out.class_id.tolist() == [1]  # keeps its birth class


def test_low_score_detection_keeps_track_alive_but_does_not_start_one() -> None:
    t = Tracker2D()
    t.update(dets(box(0)), 0)
    out = t.update(dets(box(1), conf=0.3), DT_NS)  # second stage match
    assert out.track_id.tolist() == [1]
    out = t.update(dets(box(2), box(400), conf=0.3), 2 * DT_NS)
    assert out.track_id.tolist() == [1] and len(t.tracks) == 1


def test_bad_boxes_dropped_and_counted() -> None:
    t = Tracker2D()
    bad = Detections(xyxy=np.array([[0, 0, np.nan, 10], [0, 0, np.inf, 10], [10, 10, 5, 50],
                                    [0, 0, 40, 100], [0, 0, 2, 2]], np.float32),
                     confidence=np.array([0.9, 0.9, 0.9, np.nan, 0.9], np.float32),
                     class_id=np.zeros(5, np.int32))
    out = t.update(bad, 0)
    assert len(out) == 0 and t.tracks == []
    assert t.stats.dropped_invalid == 4
    assert t.stats.dropped_small == 1  # 4 px² < min_box_area


def test_out_of_order_policy() -> None:
    t = Tracker2D()
    t.update(dets(box(0)), 10 * DT_NS)
    t.update(dets(box(2)), 11 * DT_NS)
    before = (t.tracks[0].hits, t.tracks[0].box.copy())
    out = t.update(dets(box(50)), 5 * DT_NS)  # older frame: dropped, nothing changes
    assert len(out) == 0 and t.stats.out_of_order == 1
    assert t.tracks[0].hits == before[0]
    np.testing.assert_array_equal(t.tracks[0].box, before[1])
    out = t.update(dets(box(2)), 11 * DT_NS)  # equal stamp: processed with dt = 0
    assert out.track_id.tolist() == [1] and t.stats.out_of_order == 1
    assert t.stats.frames == 3


def test_multistream_isolation_and_unique_ids() -> None:
    m = MultiStreamTracker()
    a = m.update("cam_a", dets(box(0)), 0)
    b = m.update("cam_b", dets(box(0)), 0)  # same box, other camera: separate track
    assert a.track_id.tolist() == [1] and b.track_id.tolist() == [2]
    m.update("cam_a", Detections.empty(), DT_NS)
    assert m.tracker("cam_a").tracks[0].state == TrackState.LOST
    assert m.tracker("cam_b").tracks[0].state == TrackState.CONFIRMED
    m.update("cam_b", dets(box(0)), 0)  # cam_b's clock is its own: equal stamp, not out of order
    assert m.tracker("cam_b").stats.out_of_order == 0


def test_config_validation() -> None:
    with pytest.raises(TrackingError, match="track_low"):
        Tracker2DConfig(track_low=0.9, track_high=0.5)
    with pytest.raises(TrackingError, match="cmc"):
        Tracker2DConfig(cmc="orb")


def test_sparse_cmc_shifts_tracks_with_the_image() -> None:
    rng = np.random.default_rng(0)
    base = (rng.random((240, 320)) * 255).astype(np.uint8)
    import cv2

    base = cv2.GaussianBlur(base, (5, 5), 0)
    shifted = np.roll(base, 12, axis=1)  # camera pans: scene moves 12 px right
    t = Tracker2D(Tracker2DConfig(cmc="sparse"))
    t.update(dets(box(100, 50)), 0, image=base)
    x_before = t.tracks[0].box[0]
    t.update(Detections.empty(), DT_NS, image=shifted)
    assert t.tracks[0].box[0] - x_before == pytest.approx(12.0, abs=1.0)
