"""KITTI tracking result files: writing and reading them, projecting 3D tracks to 2D boxes, finding files."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from calib.kitti import box3d_corners, load_kitti_calib
from fusion.errors import TrackingError
from fusion.kitti_results import (
    KITTI_IMAGE_SIZE,
    SCORE_STEP,
    concat_boxes,
    find_result_file,
    labels_as_results,
    project_boxes,
    read_ground_truth,
    read_results,
    sequence_image_size,
    track_mean_scores,
    tracks_to_results,
    write_results,
)
from percept.boxes import box_iou
from percept.messages import Tracks, TrackStatus
from sensors.datasets.kitti_tracking import DET_CLASSES, GT_CLASSES, KittiBoxes

CALIB = """P0: 7.215377e+02 0 6.095593e+02 0 0 7.215377e+02 1.728540e+02 0 0 0 1 0
P1: 7.215377e+02 0 6.095593e+02 -3.875744e+02 0 7.215377e+02 1.728540e+02 0 0 0 1 0
P2: 7.215377e+02 0 6.095593e+02 4.485728e+01 0 7.215377e+02 1.728540e+02 2.163791e-01 0 0 1 2.745884e-03
P3: 7.215377e+02 0 6.095593e+02 -3.395242e+02 0 7.215377e+02 1.728540e+02 2.199936e+00 0 0 1 2.729905e-03
R_rect 1 0 0 0 1 0 0 0 1
Tr_velo_cam 0 -1 0 0 0 0 -1 0 1 0 0 0
Tr_imu_velo 1 0 0 0 0 1 0 0 0 0 1 0
"""
FIELDS = ("x", "y", "z", "length", "width", "height", "yaw", "vx", "vy", "vz")


@pytest.fixture
def calib(tmp_path):
    path = tmp_path / "calib.txt"
    path.write_text(CALIB)
    return load_kitti_calib(path)


def tracks(state: list[list[float]], class_id: list[int], fields: tuple[str, ...] = FIELDS,
           frame_id: str = "camera_0_rect", names: tuple[str, ...] = DET_CLASSES) -> Tracks:
    n = len(state)
    return Tracks(stamp_ns=0, frame_id=frame_id, seq=3, track_id=np.arange(10, 10 + n, dtype=np.int64),
                  class_id=np.array(class_id, np.int32),
                  confidence=np.linspace(1.5, 2.5, n).astype(np.float32),
                  state=np.array(state, np.float32).reshape(n, len(fields)), age=np.zeros(n, np.int32),
                  status=np.full(n, TrackStatus.CONFIRMED, np.uint8), sensors=np.zeros(n, np.uint32),
                  state_fields=fields, class_names=names)


def _expected_box(calib, hwl, bottom, ry) -> np.ndarray:
    uv, depth = calib.project_rect(box3d_corners(*hwl, *bottom, ry))
    assert (depth > 0).all()
    return np.array([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()])


def test_projected_box_inside_and_clipped(calib) -> None:
    hwl = np.array([[1.5, 1.6, 4.0], [1.5, 1.6, 4.0]])
    bottom = np.array([[1.0, 1.7, 20.0], [5.0, 1.7, 6.0]])  # the second runs out of the image
    ry = np.array([0.3, -0.2])
    box, visible = project_boxes(calib, hwl, bottom, ry)
    assert visible.tolist() == [True, True]
    np.testing.assert_allclose(box[0], _expected_box(calib, hwl[0], bottom[0], ry[0]), atol=1e-6)
    want = _expected_box(calib, hwl[1], bottom[1], ry[1])
    w, h = KITTI_IMAGE_SIZE
    assert want[2] > w - 1 and want[3] > h - 1  # beyond the right and bottom edges: clipped as KITTI's labels
    assert 0 < want[0] < w - 1 and 0 < want[1] < h - 1
    np.testing.assert_allclose(box[1], [want[0], want[1], w - 1, h - 1], atol=1e-6)


def test_boxes_behind_beside_and_across_the_camera(calib) -> None:
    hwl = np.array([[1.5, 2.0, 4.0]] * 3)
    bottom = np.array([[0.0, 1.65, -10.0], [-40.0, 1.65, 5.0], [0.0, 1.65, 0.0]])
    ry = np.array([0.0, 0.0, math.pi / 2])  # the third is 4 m long along z, centred on the camera plane
    box, visible = project_boxes(calib, hwl, bottom, ry, image_size=(1242, 375))
    assert visible.tolist() == [False, False, True]  # behind the camera, left of the image, across it
    # its part in front of the near plane fills the image but for the far top edge
    far_top = box3d_corners(*hwl[2], *bottom[2], ry[2])[4:]
    uv, _ = calib.project_rect(far_top[far_top[:, 2] > 1.0])
    np.testing.assert_allclose(box[2], [0, uv[:, 1].min(), 1241, 374], atol=1e-6)


def test_tracks_to_results_converts_frames_and_columns(calib) -> None:
    t = tracks([[1.0, 0.9, 20.0, 4.0, 1.6, 1.5, 0.3, 0, 0, 0], [-60.0, 0.9, 5.0, 4.0, 1.6, 1.5, 0.0, 0, 0, 0],
                [2.0, 0.8, 15.0, 0.8, 0.6, 1.7, -1.0, 0, 0, 0]], [1, 1, 0])
    rows = tracks_to_results(t, 42, calib)
    assert rows.track_id.tolist() == [10, 12]  # the track left of the image is dropped
    assert rows.frame.tolist() == [42, 42]
    assert [GT_CLASSES[c] for c in rows.class_id] == ["Car", "Pedestrian"]
    np.testing.assert_allclose(rows.hwl, [[1.5, 1.6, 4.0], [1.7, 0.6, 0.8]], atol=1e-6)
    np.testing.assert_allclose(rows.bottom, [[1.0, 0.9 + 0.75, 20.0], [2.0, 0.8 + 0.85, 15.0]], atol=1e-6)
    alpha = [0.3 - math.atan2(1.0, 20.0), -1.0 - math.atan2(2.0, 15.0)]
    np.testing.assert_allclose(rows.alpha, alpha, atol=1e-6)
    np.testing.assert_allclose(rows.score, t.confidence[[0, 2]])
    want = _expected_box(calib, rows.hwl[0], rows.bottom[0], 0.3)
    np.testing.assert_allclose(rows.box2d[0], want, atol=1e-4)
    assert len(tracks_to_results(t, 42, calib, keep_outside=True)) == 3
    short = tracks([[1.0, 0.9, 20.0, 4.0, 1.6, 1.5, 0.3]], [1], fields=("x", "y", "z", "l", "w", "h", "yaw"))
    assert len(tracks_to_results(short, 0, calib)) == 1  # short column names work too


def test_tracks_to_results_rejects_bad_tracks(calib) -> None:
    row = [[1.0, 0.9, 20.0, 4.0, 1.6, 1.5, 0.3, 0, 0, 0]]
    with pytest.raises(TrackingError, match="lidar_top"):
        tracks_to_results(tracks(row, [1], frame_id="lidar_top"), 0, calib)
    with pytest.raises(TrackingError, match=r"lack .*yaw"):
        no_yaw = tracks([[1, 0.9, 20, 4, 1.6, 1.5]], [1], fields=("x", "y", "z", "l", "w", "h"))
        tracks_to_results(no_yaw, 0, calib)
    with pytest.raises(TrackingError, match=r"class id 0 .*bus.* is not a KITTI class"):
        tracks_to_results(tracks(row, [0], names=("bus",)), 0, calib)


def _boxes(rows: list[tuple[float, ...]]) -> KittiBoxes:
    return KittiBoxes.from_rows(rows, np.float64)


def test_write_then_read_round_trip(tmp_path) -> None:
    car, ped = GT_CLASSES.index("Car"), GT_CLASSES.index("Pedestrian")
    boxes = _boxes([(3, car, 7, 0.123456, 0, 0, -1.5, 10, 20, 110, 220, 1.5, 1.6, 4.0, 1.0, 1.7, 20.0, 0.1),
                    (1, ped, 8, 2.5, 0, 0, 0.5, 5, 6, 7, 8, 1.7, 0.6, 0.8, -2.0, 1.6, 9.0, -0.2),
                    (1, car, 9, -3.25, 0, 0, 0.0, 50, 60, 70, 80, 1.4, 1.5, 3.5, 3.0, 1.7, 30.0, 1.2)])
    paths = write_results(tmp_path, "0004", boxes, ["Car", "Pedestrian", "Cyclist"])
    assert paths == [tmp_path / c / "0004.txt" for c in ("Car", "Pedestrian", "Cyclist")]
    assert paths[2].read_text() == ""  # no Cyclist output is an empty file
    heads = [ln.split()[:3] for ln in paths[0].read_text().splitlines()]
    assert heads == [["1", "9", "Car"], ["3", "7", "Car"]]
    back = concat_boxes([read_results(paths[0]), read_results(paths[1])])
    order = [1, 2, 0]  # rows sorted by frame: ped 8 (frame 1), car 9 (frame 1), car 7 (frame 3)
    for name in ("frame", "class_id", "track_id", "occluded"):
        np.testing.assert_array_equal(getattr(back, name), getattr(boxes, name)[order])
    for name in ("score", "alpha", "box2d", "hwl", "bottom", "rot_y"):
        np.testing.assert_allclose(getattr(back, name), getattr(boxes, name)[order], atol=5e-7)
    assert back.score.dtype == np.float64
    with pytest.raises(TrackingError, match="not a KITTI class"):
        write_results(tmp_path, "0004", boxes, ["Bus"])


def test_track_mean_scores_are_exact_and_stable(tmp_path) -> None:
    car, ped = GT_CLASSES.index("Car"), GT_CLASSES.index("Pedestrian")
    row = (0, 0, 0, 1.0, 0, 0, 0.0, 10, 20, 110, 220, 1.5, 1.6, 4.0, 1.0, 1.7, 20.0, 0.1)
    rows = [(f, c, t, s, *row[4:]) for f, c, t, s in [(0, car, 7, 0.1), (1, car, 7, 0.2), (2, car, 7, 0.4),
                                                      (0, ped, 7, 3.0), (1, car, 9, -0.3)]]
    out = track_mean_scores(_boxes(rows))
    # rows by frame; car 7: mean 0.2333 -> 15/64; pedestrian 7 is another track (same id, other class)
    np.testing.assert_array_equal(out.score, [15 / 64, 3.0, 15 / 64, -19 / 64, 15 / 64])
    assert SCORE_STEP == 1 / 64
    write_results(tmp_path, "0001", out, ["Car"])
    back = read_results(tmp_path / "Car" / "0001.txt").score
    np.testing.assert_array_equal(back, [15 / 64, 15 / 64, -19 / 64, 15 / 64])  # exact in six decimals
    again = np.cumsum(np.full(1000, back[0]))[-1] / 1000  # re-averaging many copies keeps the value
    assert again == back[0]
    assert len(track_mean_scores(_boxes([]))) == 0


def test_result_without_score_and_labels_as_results(tmp_path) -> None:
    path = tmp_path / "0000.txt"
    path.write_text("0 1 Car 0 0 0 1 2 3 4 1.5 2 4 0 1 20 0\n"
                    "0 -1 DontCare -1 -1 -10 1 2 3 4 -1 -1 -1 -1000 -1000 -1000 -10\n")
    rows = read_results(path)
    assert rows.score.tolist() == [-1.0, -1.0]  # the devkit's score of a row without one
    as_res = labels_as_results(rows)
    assert as_res.class_id.tolist() == [GT_CLASSES.index("Car")] and as_res.score.tolist() == [1.0]


def test_find_result_file_layouts(tmp_path) -> None:
    assert find_result_file(tmp_path, "Car", "0001") is None
    (tmp_path / "0001.txt").write_text("")
    assert find_result_file(tmp_path, "Car", "0001") == tmp_path / "0001.txt"  # one file, all classes
    (tmp_path / "car").mkdir()
    assert find_result_file(tmp_path, "Car", "0001") is None  # a class folder without the sequence
    (tmp_path / "car" / "0001.txt").write_text("")
    assert find_result_file(tmp_path, "Car", "0001") == tmp_path / "car" / "0001.txt"
    (tmp_path / "Car").mkdir()
    (tmp_path / "Car" / "0001.txt").write_text("")
    assert find_result_file(tmp_path, "Car", "0001") == tmp_path / "Car" / "0001.txt"


def test_ground_truth_folders(tmp_path) -> None:
    with pytest.raises(TrackingError, match="not a folder"):
        read_ground_truth(tmp_path / "nope", "0001")
    with pytest.raises(TrackingError, match="no such file"):
        read_ground_truth(tmp_path, "0001")
    (tmp_path / "label_02").mkdir()
    (tmp_path / "label_02" / "0001.txt").write_text("0 1 Person 0 0 0 1 2 3 4 1.7 0.6 0.8 0 1 20 0\n")
    assert read_ground_truth(tmp_path, "0001").class_id.tolist() == [GT_CLASSES.index("Person")]
    assert read_ground_truth(tmp_path / "label_02", "0001").hwl.dtype == np.float64


def test_sequence_image_size(tmp_path) -> None:
    assert sequence_image_size(tmp_path, "0005") == KITTI_IMAGE_SIZE
    (tmp_path / "image_02" / "0005").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "image_02" / "0005" / "000000.png"), np.zeros((50, 100, 3), np.uint8))
    assert sequence_image_size(tmp_path, "0005") == (100, 50)


@pytest.mark.data
def test_projected_labels_match_their_2d_boxes(shared_data) -> None:
    """The projection of KITTI's 3D labels agrees with the labelled 2D boxes (camera P2, clipping)."""
    from sensors.datasets.kitti_tracking import KittiTrackingSequence

    root = shared_data("kitti_tracking")
    assert sequence_image_size(root, "0016") == (1224, 370)  # a sequence whose images are smaller
    seq = KittiTrackingSequence(root, 1)
    size = sequence_image_size(root, "0001")
    assert size == (1242, 375)
    labels = concat_boxes(seq.frame_labels(k) for k in range(0, 100, 10))
    box, visible = project_boxes(seq.calibration(), labels.hwl.astype(np.float64),
                                 labels.bottom.astype(np.float64), labels.rot_y.astype(np.float64), size)
    assert visible.all()
    iou = np.diag(box_iou(box, labels.box2d.astype(np.float64)))
    assert np.median(iou) > 0.9 and iou.min() > 0.5
