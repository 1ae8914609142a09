"""Tracker3D: ids through motion and short gaps, lifecycle, input policy, KITTI PointRCNN logs."""

from __future__ import annotations

import numpy as np
import pytest

from calib.kitti import KITTI_CAMERA_FRAME
from fusion.errors import TrackingError
from fusion.lifecycle import TrackState
from fusion.tracker3d import STATE_FIELDS, Tracker3D, Tracker3DConfig
from percept.messages import Detections3D, TrackStatus

DT_NS = 100_000_000
NAMES = ("Pedestrian", "Car", "Cyclist")


def dets(k: int, objects: list[tuple[float, float, float, int]], frame_id: str = "camera",
         score: float = 5.0) -> Detections3D:
    """Frame ``k``: objects ``(x, z, yaw, class_id)`` in a KITTI camera frame, cars 4x1.8x1.5 m."""
    n = len(objects)
    centre = np.array([[x, 1.0, z] for x, z, _, _ in objects], np.float32).reshape(n, 3)
    size = np.tile(np.array([[4.0, 1.8, 1.5]], np.float32), (n, 1))
    return Detections3D(stamp_ns=k * DT_NS, frame_id=frame_id, seq=k, centre=centre, size=size,
                        yaw=np.array([o[2] for o in objects], np.float32),
                        class_id=np.array([o[3] for o in objects], np.int32),
                        confidence=np.full(n, score, np.float32), class_names=NAMES)


def test_two_moving_cars_keep_their_ids() -> None:
    tr = Tracker3D()
    ids = []
    for k in range(20):  # one car drives forward at 10 m/s, one crosses at 3 m/s
        out = tr.update(dets(k, [(2.0, 10 + 1.0 * k, -1.57, 1), (-8 + 0.3 * k, 25.0, 0.0, 1)]))
        ids.append(out.track_id.tolist())
    assert all(i == ids[0] for i in ids) and len(ids[0]) == 2
    last = tr.update(dets(20, [(2.0, 30.0, -1.57, 1), (-2.0, 25.0, 0.0, 1)]))
    assert last.state_fields == STATE_FIELDS and last.class_names == NAMES
    vz = last.state[:, STATE_FIELDS.index("vz")]
    vx = last.state[:, STATE_FIELDS.index("vx")]
    np.testing.assert_allclose(sorted(vz), [0.0, 10.0], atol=0.5)
    np.testing.assert_allclose(sorted(vx), [0.0, 3.0], atol=0.5)
    assert last.status.tolist() == [TrackStatus.CONFIRMED] * 2


def test_lifecycle_confirmation_gap_and_removal() -> None:
    tr = Tracker3D()  # n_init 3, max_age 0.25 s
    assert len(tr.update(dets(0, [(0, 10, 0, 1)]))) == 1  # first frame: confirmed at once
    out = [tr.update(dets(1, [(0, 10, 0, 1), (5, 20, 0, 1)]))]
    out.append(tr.update(dets(2, [(0, 10, 0, 1), (5, 20, 0, 1)])))
    out.append(tr.update(dets(3, [(0, 10, 0, 1), (5, 20, 0, 1)])))
    assert [len(o) for o in out] == [1, 1, 2]  # the late car is tentative for two frames
    first_id = out[-1].track_id[0]
    assert len(tr.update(dets(4, [(5, 20, 0, 1)]))) == 1  # car 1 missed once: LOST, kept
    assert TrackState.LOST in {t.state for t in tr.tracks}
    back = tr.update(dets(5, [(0, 10, 0, 1), (5, 20, 0, 1)]))
    assert first_id in back.track_id.tolist()
    for k in range(6, 10):  # car 1 gone for 0.4 s > max_age: removed, a new id when it returns
        tr.update(dets(k, [(5, 20, 0, 1)]))
    tr.update(dets(10, [(0, 10, 0, 1), (5, 20, 0, 1)]))
    new = tr.update(dets(11, [(0, 10, 0, 1), (5, 20, 0, 1)]))
    assert first_id not in [t.id for t in tr.tracks]
    assert len(new) == 1  # the returning car is tentative again


def test_classes_do_not_mix_unless_agnostic() -> None:
    tr = Tracker3D()
    tr.update(dets(0, [(0, 10, 0, 1)]))
    tr.update(dets(1, [(0, 10, 0, 0)]))  # a pedestrian where the car was: a new track
    assert sorted(t.class_id for t in tr.tracks) == [0, 1]
    ag = Tracker3D(Tracker3DConfig(class_agnostic=True))
    ag.update(dets(0, [(0, 10, 0, 1)]))
    ag.update(dets(1, [(0, 10, 0, 0)]))
    assert [t.class_id for t in ag.tracks] == [1]


def test_input_policy() -> None:
    tr = Tracker3D(Tracker3DConfig(score_thresh=1.0))
    d = dets(0, [(0, 10, 0, 1), (5, 10, 0, 1), (9, 10, 0, 1)])
    size = d.size.copy()
    size[1, 0] = 0.0
    centre = d.centre.copy()
    centre[2, 0] = np.nan
    bad = Detections3D(stamp_ns=0, frame_id="camera", seq=0, centre=centre, size=size, yaw=d.yaw,
                       class_id=d.class_id, confidence=np.array([5.0, 5.0, 5.0], np.float32),
                       class_names=NAMES)
    assert len(tr.update(bad)) == 1 and tr.stats.dropped_invalid == 2
    assert len(tr.update(dets(1, [(0, 10, 0, 1)], score=0.5))) == 0 and tr.stats.dropped_low == 1
    assert len(tr.update(dets(0, [(0, 10, 0, 1)]))) == 0 and tr.stats.out_of_order == 1
    with pytest.raises(TrackingError, match="frame 'lidar'"):
        tr.update(dets(2, [(0, 10, 0, 1)], frame_id="lidar"))
    for bad_cfg, key in (({"cost": "mahal"}, "cost"), ({"match_thresh": -1.0}, "match_thresh"),
                         ({"max_dist_m": 0.0}, "max_dist_m")):
        with pytest.raises(TrackingError, match=key):
            Tracker3DConfig(**bad_cfg)


@pytest.mark.parametrize("cost,thresh", [("iou3d", 0.9), ("centre", 2.0)])
def test_other_costs_track_too(cost: str, thresh: float) -> None:
    tr = Tracker3D(Tracker3DConfig(cost=cost, match_thresh=thresh))
    ids = [tr.update(dets(k, [(2.0, 10 + 0.5 * k, 0.0, 1)])).track_id.tolist() for k in range(10)]
    assert all(i == ids[0] for i in ids) and len(ids[0]) == 1


def test_kitti_ground_truth_as_detections_keeps_identities(shared_data) -> None:
    """Sequence 0001's labels fed back as perfect detections: one track id per labelled object."""
    from sensors.datasets.kitti_tracking import KittiTrackingSequence

    seq = KittiTrackingSequence(shared_data("kitti_tracking"), 1)
    tr = Tracker3D(Tracker3DConfig(class_agnostic=True))
    pairs: dict[int, set[int]] = {}
    for f in range(len(seq)):
        g = seq.frame_labels(f)
        msg = Detections3D(stamp_ns=seq.stamp_ns(f), frame_id=KITTI_CAMERA_FRAME, seq=f, centre=g.centre,
                           size=g.size_lwh, yaw=g.rot_y, class_id=g.class_id,
                           confidence=np.ones(len(g), np.float32))
        out = tr.update(msg)
        # an output row is a matched track: its box is the label's (same centre within 0.5 m)
        for tid, c in zip(out.track_id.tolist(), out.state[:, :3], strict=True):
            k = int(np.argmin(np.linalg.norm(g.centre - c, axis=1)))
            assert np.linalg.norm(g.centre[k] - c) < 1.0
            pairs.setdefault(int(g.track_id[k]), set()).add(tid)
    switched = {gt: ids for gt, ids in pairs.items() if len(ids) > 1}
    assert len(pairs) >= 0.9 * len(set(seq.labels.track_id.tolist()))
    assert len(switched) <= 0.05 * len(pairs), switched
