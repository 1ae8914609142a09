"""The detector node under LocalRunner: per-camera outputs, batching, newest-frame policy, bad frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from percept.config import build
from percept.errors import ConfigError
from percept.messages import Detections2D, Image
from percept.node import LocalRunner
from perception.config import DetectorConfig
from perception.detector import Detector
from perception.node import DetectorNode, DetectorNodeConfig, output_topic

T0 = 1_000_000_000  # virtual start time, ns
MS = 1_000_000


@pytest.fixture
def yolox(shared_model) -> str:
    return str(shared_model("yolox_nano_coco_416.onnx"))


@pytest.fixture
def frames(shared_data) -> dict[str, np.ndarray]:
    return {name: cv2.imread(str(shared_data("images", f"{name}.jpg"))) for name in ("bus", "zidane")}


def _node(model: str, **kw) -> tuple[DetectorNode, LocalRunner]:
    node = DetectorNode(DetectorNodeConfig(detector=DetectorConfig(model=model), **kw))
    return node, LocalRunner(node, name="detector", start_ns=T0)


def test_output_topic_mapping():
    assert output_topic("camera/front/image") == "camera/front/detections"
    assert output_topic("camera/front") == "camera/front/detections"
    assert output_topic("camera/rear/image", "dets2d") == "camera/rear/dets2d"
    assert output_topic("image") == "detections"


def test_config_from_mapping_names_bad_keys(yolox):
    cfg = build(DetectorNodeConfig, {"detector": {"model": yolox, "conf": 0.4}, "inputs": ["cam/"],
                                     "max_batch": 2}, "nodes[0].config")
    assert cfg.detector.conf == 0.4 and cfg.inputs == ("cam/",) and cfg.max_batch == 2
    with pytest.raises(ConfigError, match=r"nodes\[0\]\.config\.detector: unknown key 'modle'"):
        build(DetectorNodeConfig, {"detector": {"modle": yolox}}, "nodes[0].config")
    with pytest.raises(ConfigError, match="max_batch: expected >= 1"):
        build(DetectorNodeConfig, {"detector": {"model": yolox}, "max_batch": 0}, "cfg")


def test_two_cameras_one_batch_with_source_headers(yolox, frames):
    node, runner = _node(yolox, max_batch=2, max_wait_ms=5)
    bus, zidane = frames["bus"], frames["zidane"]
    front = Image.from_bgr(bus, stamp_ns=T0 - 3 * MS, frame_id="cam_front", seq=41, jpeg_quality=95)
    rear = Image(stamp_ns=T0 - 2 * MS, frame_id="cam_rear", seq=7, encoding="rgb8",
                 data=np.ascontiguousarray(zidane[:, :, ::-1]))
    assert runner.feed("camera/front/image", front, at_ns=T0) == []  # waits for the batch to fill
    out = dict(runner.feed("camera/rear/image", rear, at_ns=T0 + MS))
    assert sorted(out) == ["camera/front/detections", "camera/rear/detections"]
    assert node.stats.batches == 1 and node.stats.batch_sizes == {2: 1}

    ref = Detector(DetectorConfig(model=yolox))
    expected = ref.detect([front.to_bgr(), zidane])
    for topic, src, exp in (("camera/front/detections", front, expected[0]),
                            ("camera/rear/detections", rear, expected[1])):
        msg = out[topic]
        assert isinstance(msg, Detections2D)
        # source header, but the node's own seq: the first message on each output topic is 0
        assert (msg.stamp_ns, msg.frame_id, msg.seq) == (src.stamp_ns, src.frame_id, 0)
        assert msg.class_names == ref.class_names and len(msg.class_names) == 80
        np.testing.assert_allclose(msg.detections.xyxy, exp.xyxy, atol=1e-3)
        np.testing.assert_array_equal(msg.detections.class_id, exp.class_id)
    ref.close()
    names = out["camera/front/detections"].class_names
    front_classes = {names[c] for c in out["camera/front/detections"].detections.class_id}
    assert {"bus", "person"} <= front_classes
    assert "person" in {names[c] for c in out["camera/rear/detections"].detections.class_id}
    # both frames were detected in one call: same measured batch latency
    lat = {m.latency_ns for m in out.values()}
    assert len(lat) == 1 and lat.pop() > 0
    runner.close()


def test_max_batch_splits_and_a_lone_camera_flushes_after_max_wait(yolox, frames):
    node, runner = _node(yolox, max_batch=2, max_wait_ms=8)
    small = cv2.resize(frames["bus"], (270, 360))
    for i, cam in enumerate(("a", "b", "c")):
        runner.feed(f"camera/{cam}", Image.from_bgr(small, stamp_ns=T0, frame_id=cam, seq=i), at_ns=T0)
    assert [t for t, _ in runner.outputs] == ["camera/a/detections", "camera/b/detections"]
    assert node.stats.batch_sizes == {2: 1}
    # camera c waits alone: flushed once it has waited max_wait (checked every max_wait / 4)
    first_out = None
    for t in range(T0, T0 + 20 * MS, MS // 2):
        runner.advance_to(t)
        if len(runner.outputs) == 3:
            first_out = t
            break
    assert first_out is not None and T0 + 8 * MS <= first_out <= T0 + 10 * MS
    assert runner.outputs[2][0] == "camera/c/detections" and runner.outputs[2][1].frame_id == "c"
    assert node.stats.batch_sizes == {2: 1, 1: 1} and node.stats.batches == 2
    runner.close()


def test_only_the_newest_frame_of_a_camera_is_detected(yolox, frames):
    node, runner = _node(yolox, max_batch=2, max_wait_ms=10)
    small = cv2.resize(frames["zidane"], (320, 180))
    for seq in range(3):
        frame = Image.from_bgr(small, stamp_ns=T0 + seq * MS, frame_id="f", seq=seq)
        runner.feed("camera/front/image", frame)
    runner.advance_to(T0 + 30 * MS)
    assert [(m.stamp_ns, m.seq) for _, m in runner.outputs] == [(T0 + 2 * MS, 0)]  # input seq 2, output 0
    assert node.stats.superseded == 2 and node.stats.frames_in == 3 and node.stats.batches == 1
    runner.close()


def test_bad_frames_are_counted_and_the_rest_of_the_batch_goes_on(yolox, frames):
    node, runner = _node(yolox, inputs=("camera/",), max_batch=3, max_wait_ms=5)
    junk = Image(stamp_ns=T0, frame_id="broken", seq=1, encoding="jpeg",
                 data=np.frombuffer(b"this is not a jpeg" * 4, np.uint8))
    empty = Image(stamp_ns=T0, frame_id="empty", seq=1, encoding="bgr8", data=np.zeros((0, 8, 3), np.uint8))
    good = Image.from_bgr(cv2.resize(frames["bus"], (270, 360)), stamp_ns=T0, frame_id="good", seq=5)
    runner.feed("lidar/top", good, at_ns=T0)  # not an input prefix: ignored
    runner.feed("camera/x/detections", Detections2D(stamp_ns=T0, frame_id="x"), at_ns=T0)  # not an image
    runner.feed("camera/broken/image", junk, at_ns=T0)
    runner.feed("camera/empty/image", empty, at_ns=T0)
    out = runner.feed("camera/good/image", good, at_ns=T0)
    assert [(t, m.frame_id, m.seq) for t, m in out] == [("camera/good/detections", "good", 0)]
    assert len(out[0][1].detections) > 0
    assert node.stats.bad_frames == 2 and node.stats.ignored == 2 and node.stats.frames_out == 1
    assert runner.ctx.counters.handler_errors == 0
    # the node keeps working after bad frames
    runner.feed("camera/broken/image", Image.from_bgr(good.data, stamp_ns=T0 + MS, frame_id="broken", seq=2))
    runner.advance_to(T0 + 20 * MS)
    assert runner.outputs[-1][0] == "camera/broken/detections" and node.stats.bad_frames == 2
    runner.close()


def test_output_seq_counts_per_topic_so_superseded_frames_are_no_bus_loss(yolox, frames):
    """Regression: the node republished the input's ``seq``; every frame it superseded (or the
    ``latest`` policy skipped) then showed up downstream as a gap, i.e. a bus loss."""
    node, runner = _node(yolox, max_batch=2, max_wait_ms=10)
    small = cv2.resize(frames["zidane"], (320, 180))
    in_seq = 0
    for burst in range(3):  # three frames per burst on the front camera, one on the rear
        t0 = T0 + burst * 50 * MS
        for k in range(3):
            runner.feed("camera/front/image", Image.from_bgr(small, stamp_ns=t0 + k * MS, frame_id="f",
                                                             seq=in_seq))
            in_seq += 1
        runner.feed("camera/rear/image", Image.from_bgr(small, stamp_ns=t0 + 3 * MS, frame_id="r",
                                                        seq=100 + 7 * burst))
        runner.advance_to(t0 + 30 * MS)
    front = [m for t, m in runner.outputs if t == "camera/front/detections"]
    rear = [m for t, m in runner.outputs if t == "camera/rear/detections"]
    assert [m.seq for m in front] == [0, 1, 2] and [m.seq for m in rear] == [0, 1, 2]
    # the detected front frames were the newest of each burst (input seq 2, 5, 8)
    assert [m.stamp_ns for m in front] == [T0 + 2 * MS, T0 + 52 * MS, T0 + 102 * MS]
    assert node.stats.superseded == 6 and node.seq == {"camera/front/detections": 3,
                                                       "camera/rear/detections": 3}
    runner.close()


def test_explicit_output_topics_are_honoured_and_checked(yolox, frames):
    """Regression: the node always derived its topic, so a graph publishing elsewhere got nothing."""
    cfg = build(DetectorNodeConfig, {"detector": {"model": yolox}, "max_wait_ms": 0,
                                     "outputs": {"camera/front/image": "det2d/front"}}, "nodes[1].config")
    node = DetectorNode(cfg)
    runner = LocalRunner(node, name="detector", start_ns=T0)
    small = cv2.resize(frames["bus"], (270, 360))
    for topic, seq in (("camera/front/image", 9), ("camera/rear/image", 4), ("camera/front/image", 10)):
        runner.feed(topic, Image.from_bgr(small, stamp_ns=T0 + seq * MS, frame_id="c", seq=seq))
    assert [(t, m.seq) for t, m in runner.outputs] == [
        ("det2d/front", 0), ("camera/rear/detections", 0), ("det2d/front", 1)]
    assert node.output_topic("camera/side/image") == "camera/side/detections"  # not listed: default
    runner.close()
    with pytest.raises(ConfigError, match=r"nodes\[1\]\.config.*outputs: camera topic 'lidar/top'"):
        build(DetectorNodeConfig, {"detector": {"model": yolox}, "outputs": {"lidar/top": "det/x"}},
              "nodes[1].config")
    with pytest.raises(ConfigError, match=r"outputs\['camera/a'\]: expected a topic name"):
        build(DetectorNodeConfig, {"detector": {"model": yolox}, "outputs": {"camera/a": "/"}}, "cfg")


def test_detections_on_a_downscaled_analytics_copy_come_back_in_full_frame_pixels(yolox, frames):
    """The camera's analytics stream: the node detects on the small copy and scales the boxes by
    the full frame's size it carries; they agree with detecting on the full frame."""
    bus = frames["bus"]  # 810 x 1080
    h, w = bus.shape[:2]
    small = cv2.resize(bus, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    _, runner = _node(yolox, max_batch=1, max_wait_ms=0)
    out = runner.feed("camera/front/analytics", Image.from_bgr(small, stamp_ns=T0, frame_id="cam", seq=0,
                                                              full_size=(w, h)), at_ns=T0)
    got = out[0][1].detections
    ref = Detector(DetectorConfig(model=yolox))
    full = ref.detect([bus])[0]
    ref.close()
    assert got.xyxy[:, 2].max() > w / 2 + 50  # really in full-frame pixels, not the copy's
    big = full[full.confidence > 0.5]
    for box, cls in zip(big.xyxy, big.class_id, strict=True):  # each confident box is found again
        same = got[got.class_id == cls]
        assert len(same) and np.abs(same.xyxy - box).max(axis=1).min() < 0.03 * w
    runner.close()
