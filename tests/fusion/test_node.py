"""Tracker2DNode under LocalRunner, and the track2d CLI handler on TUD-Campus."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from calib.kitti import KITTI_CAMERA_FRAME
from fusion.cli import register
from fusion.lifecycle import TrackState
from fusion.node import STATE_FIELDS, Tracker2DNode, Tracker2DNodeConfig, output_topic
from fusion.tracker2d import Tracker2D, Tracker2DConfig
from percept.config import build
from percept.detections import Detections
from percept.errors import ConfigError
from percept.graph import GraphConfig, validate
from percept.messages import Detections2D, Image, Tracks, TrackStatus
from percept.node import LocalRunner, make_processor
from tests.cli_parser import percept_parser

DT_NS = 40_000_000


def frame(stamp_ns: int, frame_id: str, seq: int, x: float) -> Detections2D:
    d = Detections(xyxy=np.array([[x, 50, x + 40, 150]], np.float32), confidence=np.array([0.9], np.float32),
                   class_id=np.array([0], np.int32))
    return Detections2D(stamp_ns=stamp_ns, frame_id=frame_id, seq=seq, detections=d, class_names=("person",))


def test_output_topic_mapping() -> None:
    assert output_topic("cam/front/detections") == "cam/front/tracks"
    assert output_topic("detections") == "tracks"
    assert output_topic("cam/front/boxes") == "cam/front/boxes/tracks"


def test_node_tracks_each_camera_separately() -> None:
    runner = LocalRunner(Tracker2DNode(), start_ns=0)
    for k in range(5):
        runner.feed("front/detections", frame(k * DT_NS, "cam_front", k, 10 + 2 * k))
        runner.feed("rear/detections", frame(k * DT_NS, "cam_rear", k, 10 + 2 * k))
    runner.close()
    front = [m for t, m in runner.outputs if t == "front/tracks"]
    rear = [m for t, m in runner.outputs if t == "rear/tracks"]
    assert len(front) == len(rear) == 5
    assert all(isinstance(m, Tracks) for m in front)
    assert [m.seq for m in front] == list(range(5))
    assert {m.frame_id for m in front} == {"cam_front"}
    last_f, last_r = front[-1], rear[-1]
    assert last_f.state_fields == STATE_FIELDS and last_f.class_names == ("person",)
    assert last_f.track_id.tolist() != last_r.track_id.tolist()  # ids unique across streams
    assert last_f.status.tolist() == [TrackStatus.CONFIRMED]
    assert last_f.age.tolist() == [5]
    np.testing.assert_allclose(last_f.state[0, :4], [18, 50, 58, 150], atol=1.0)
    assert last_f.state[0, 4] > 0  # moving right


def test_node_out_of_order_and_non_detection_messages() -> None:
    node = Tracker2DNode(Tracker2DNodeConfig(publish_all=True))
    runner = LocalRunner(node, start_ns=0)
    runner.feed("cam/detections", frame(2 * DT_NS, "cam", 0, 10))
    out = runner.feed("cam/detections", frame(DT_NS, "cam", 1, 10), at_ns=3 * DT_NS)
    assert out == []  # older frame: dropped, nothing published
    assert node.trackers.tracker("cam/detections").stats.out_of_order == 1
    runner.feed("cam/other", Tracks(stamp_ns=4 * DT_NS, frame_id="x", seq=0, track_id=np.zeros(0, np.int64),
                                    class_id=np.zeros(0, np.int32), confidence=np.zeros(0, np.float32),
                                    state=np.zeros((0, 4), np.float32), state_fields=("a", "b", "c", "d"),
                                    age=np.zeros(0, np.int32), status=np.zeros(0, np.uint8),
                                    sensors=np.zeros(0, np.uint32)))
    assert node.ignored == 1
    empty = Detections2D(stamp_ns=5 * DT_NS, frame_id="cam", seq=2)
    (topic, msg), = runner.feed("cam/detections", empty)
    assert topic == "cam/tracks" and msg.status.tolist() == [TrackStatus.LOST]  # publish_all shows LOST
    assert node.trackers.tracker("cam/detections").tracks[0].state == TrackState.LOST


def test_node_config_from_mapping() -> None:
    proc = make_processor("fusion.node:Tracker2DNode", {"publish_all": True}, "graph.nodes.trk")
    assert isinstance(proc, Tracker2DNode) and proc.config.publish_all


PAN_PX = 24  # the camera pans: the (static) scene moves this many pixels right per frame


def pan_images(n: int) -> list[np.ndarray]:
    """``n`` BGR (240, 320, 3) frames of one blurred random texture, frame k rolled k * PAN_PX right."""
    rng = np.random.default_rng(0)
    gray = cv2.GaussianBlur((rng.random((240, 320)) * 255).astype(np.uint8), (5, 5), 0)
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    return [np.roll(bgr, k * PAN_PX, axis=1) for k in range(n)]


def pan_detections(k: int) -> Detections2D:
    """A static 30 px wide object seen in frame k of the pan (it moves with the scene)."""
    x = 60 + k * PAN_PX
    d = Detections(xyxy=np.array([[x, 80, x + 30, 140]], np.float32), confidence=np.array([0.9], np.float32),
                   class_id=np.array([0], np.int32))
    return Detections2D(stamp_ns=k * DT_NS, frame_id="cam", seq=k, detections=d, class_names=("person",))


CMC = {"tracker": {"cmc": "sparse"}, "images": {"cam/detections": "cam/image"}}


def test_cmc_in_the_node_gives_the_ids_of_the_tracker_fed_directly() -> None:
    n = 6
    images = pan_images(n)
    direct = Tracker2D(Tracker2DConfig(cmc="sparse"))
    want = [direct.update(pan_detections(k).detections, k * DT_NS, image=images[k]).track_id.tolist()
            for k in range(n)]
    assert want == [[1]] * n  # compensated, the pan keeps the one track

    node = make_processor("tracker2d", CMC, "test")
    assert isinstance(node, Tracker2DNode)
    runner = LocalRunner(node, start_ns=0)
    got = []
    for k in range(n):
        runner.feed("cam/image", Image.from_bgr(images[k], stamp_ns=k * DT_NS, frame_id="cam", seq=k))
        (topic, msg), = runner.feed("cam/detections", pan_detections(k))
        assert topic == "cam/tracks"
        got.append(msg.track_id.tolist())
    assert got == want
    assert (node.images_in, node.cmc_frames, node.cmc_missing, node.ignored) == (n, n, 0, 0)

    plain = LocalRunner(Tracker2DNode(), start_ns=0)  # cmc off: the same pan breaks the track
    for k in range(n):
        plain.feed("cam/image", Image.from_bgr(images[k], stamp_ns=k * DT_NS, frame_id="cam", seq=k))
        plain.feed("cam/detections", pan_detections(k))
    assert plain.processor.ignored == n  # images are not used without cmc
    assert len({t.id for t in plain.processor.trackers.tracker("cam/detections").tracks}) > 1


def test_cmc_frame_without_its_image_is_tracked_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    images = pan_images(3)
    node = make_processor("tracker2d", CMC, "test")
    runner = LocalRunner(node, start_ns=0)
    runner.feed("cam/image", Image.from_bgr(images[0], stamp_ns=0, frame_id="cam"))
    runner.feed("cam/detections", pan_detections(0))
    (_, msg), = runner.feed("cam/detections", pan_detections(1))  # its image never came
    assert msg.stamp_ns == DT_NS
    runner.feed("cam/image", Image.from_bgr(images[2], stamp_ns=2 * DT_NS, frame_id="cam"))
    runner.feed("cam/detections", pan_detections(2))
    with caplog.at_level(logging.WARNING):
        runner.feed("other/detections", frame(0, "cam2", 0, 10.0))  # no image topic for this camera
    assert (node.cmc_frames, node.cmc_missing) == (2, 1)
    assert any("other/detections" in r.getMessage() and "images" in r.getMessage() for r in caplog.records)


def test_cmc_without_image_topic_is_rejected_at_config_time() -> None:
    with pytest.raises(ConfigError, match=r"graph.nodes\[0\].config .*images: tracker.cmc is 'ecc'"):
        make_processor("tracker2d", {"tracker": {"cmc": "ecc"}}, "graph.nodes[0].config (trk)")
    make_processor("tracker2d", {"tracker": {"cmc": "none"}}, "test")  # off: no images needed


def test_graph_subscribes_the_cmc_tracker_to_its_images(caplog: pytest.LogCaptureFixture) -> None:
    def graph(cfg: dict) -> GraphConfig:
        return validate(build(GraphConfig, {"name": "g", "external": ["cam/"], "nodes": [
            {"name": "trk", "type": "tracker2d", "subscribe": ["cam/detections"], "config": cfg}]}))

    assert graph(CMC).nodes[0].subscribe == ("cam/detections", "cam/image")
    assert graph({}).nodes[0].subscribe == ("cam/detections",)
    with caplog.at_level(logging.WARNING, logger="percept.graph"):  # no camera publishes the images
        validate(build(GraphConfig, {"name": "g", "external": ["cam/detections"], "nodes": [
            {"name": "trk", "type": "tracker2d", "subscribe": ["cam/detections"], "config": CMC}]}))
    assert any("'trk'" in r.getMessage() and "'cam/image'" in r.getMessage() for r in caplog.records)


def test_cli_track2d_on_tud_campus(shared_data, tmp_path) -> None:
    seq = shared_data("mot15", "TUD-Campus")
    parser = percept_parser(register)
    out = tmp_path / "res.txt"
    args = parser.parse_args(["track2d", "--mot-det", str(seq / "det" / "det.txt"),
                              "--seqinfo", str(seq / "seqinfo.ini"), "--out", str(out)])
    assert args.func(args) == 0
    rows = np.loadtxt(out, delimiter=",")
    assert rows.ndim == 2 and rows.shape[1] == 10 and len(rows) > 100
    assert rows[:, 0].min() >= 1 and rows[:, 0].max() <= 71
    assert (rows[:, 1] > 0).all() and (rows[:, 4:6] > 0).all()
    assert np.all(np.diff(rows[:, 0]) >= 0)
    pairs = {(int(f), int(i)) for f, i in rows[:, :2]}
    assert len(pairs) == len(rows)  # one row per id per frame


def test_tracker3d_node_publishes_tracks_per_topic() -> None:
    from fusion.node import Tracker3DNode
    from fusion.tracker3d import STATE_FIELDS as STATE_3D
    from percept.messages import Detections3D

    def d3(k: int, x: float) -> Detections3D:
        return Detections3D(stamp_ns=k * 100_000_000, frame_id=KITTI_CAMERA_FRAME, seq=k,
                            centre=np.array([[x, 1.0, 10 + 0.5 * k]], np.float32),
                            size=np.array([[4.0, 1.8, 1.5]], np.float32), yaw=np.zeros(1, np.float32),
                            class_id=np.ones(1, np.int32), confidence=np.full(1, 3.0, np.float32),
                            class_names=("Pedestrian", "Car", "Cyclist"))

    runner = LocalRunner(make_processor("tracker3d", {"tracker": {"cost": "giou3d"}}, "test"), start_ns=0)
    for k in range(4):
        runner.feed("kitti/detections", d3(k, 0.0))
        runner.feed("other/boxes", d3(k, 3.0))
    runner.feed("kitti/detections", frame(0, "cam", 0, 10.0))  # a 2D message: ignored
    runner.feed("kitti/detections", d3(1, 0.0))  # older than the last frame: dropped, nothing published
    runner.close()
    node = runner.processor
    assert isinstance(node, Tracker3DNode) and node.ignored == 1
    main = [m for t, m in runner.outputs if t == "kitti/tracks"]
    other = [m for t, m in runner.outputs if t == "other/boxes/tracks"]
    assert len(main) == len(other) == 4
    assert [m.seq for m in main] == [0, 1, 2, 3]
    assert main[-1].state_fields == STATE_3D and main[-1].frame_id == KITTI_CAMERA_FRAME
    assert main[-1].track_id.tolist() != other[-1].track_id.tolist()
    np.testing.assert_allclose(main[-1].state[0, [0, 2]], [0.0, 11.5], atol=0.2)
    assert main[-1].state[0, STATE_3D.index("vz")] > 2.0
