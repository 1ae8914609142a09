"""The shared base of the file and dataset sources: one set of config checks for the four sources,
and the dataset-source timer loop (stamps, end of sequence, a bad output counted and skipped)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pytest

from percept.config import build
from percept.detections import Detections
from percept.errors import ConfigError
from percept.messages import Detections2D
from percept.node import LocalRunner
from sensors.datasets.kitti_tracking import KittiTrackingSourceConfig
from sensors.datasets.mot import MotSourceConfig
from sensors.lidar import LidarFileSourceConfig
from sensors.playback import DatasetSource, DatasetSourceConfig, Output, PlaybackConfig
from sensors.radar import RadarFileSourceConfig

KITTI = {"root": "/data/kitti", "sequence": 1}
MOT = {"path": "/data/mot/TUD-Campus"}


@pytest.mark.parametrize(("cls", "base", "bad", "text"), [
    (MotSourceConfig, MOT, {"path": ""}, "path: expected a file or folder path"),
    (KittiTrackingSourceConfig, KITTI, {"root": ""}, "root: expected a file or folder path"),
    (LidarFileSourceConfig, {}, {"folder": ""}, "folder: expected a file or folder path"),
    (MotSourceConfig, MOT, {"rate": float("inf")}, "rate: expected >= 0"),
    (KittiTrackingSourceConfig, KITTI, {"rate": -1.0}, "rate: expected >= 0"),
    (RadarFileSourceConfig, {}, {"rate_hz": -3.0}, "rate_hz: expected >= 0"),
    (LidarFileSourceConfig, {}, {"rate_hz": float("nan")}, "rate_hz: expected >= 0"),
    (MotSourceConfig, MOT, {"start_ns": -5}, "start_ns: expected None or >= 0"),
    (RadarFileSourceConfig, {}, {"topic": ""}, "topic: expected a non-empty topic"),
    (MotSourceConfig, MOT, {"topic_detections": "", "topic_gt": ""}, "topic_detections, topic_gt: all empty"),
    (KittiTrackingSourceConfig, KITTI, {"frame_3d": ""}, "frame_3d: expected a non-empty frame id"),
    (LidarFileSourceConfig, {}, {"frame_id": ""}, "frame_id: expected a non-empty frame id"),
    (KittiTrackingSourceConfig, KITTI, {"sequence": -1}, "sequence: expected >= 0"),
])
def test_every_source_config_shares_the_checks(cls, base, bad, text):
    assert issubclass(cls, PlaybackConfig)
    build(cls, base)  # the defaults pass
    with pytest.raises(ConfigError, match=text):
        build(cls, {**base, **bad})


@dataclass(frozen=True, kw_only=True)
class _ListConfig(DatasetSourceConfig):
    path: str = "memory"
    topic_boxes: str = "boxes"
    topic_checked: str = "checked"


class _ListSource(DatasetSource):
    """Frames are box widths; a negative width makes the 'checked' output fail to build."""

    Config = _ListConfig

    def open(self) -> list[float]:
        return [1.0, -2.0, 3.0]

    def frame_period_s(self) -> float:
        return 0.5

    def stamp_ns(self, index: int, t0_ns: int) -> int:
        return t0_ns + index * 500_000_000

    def outputs(self, index: int, stamp_ns: int) -> list[Output]:
        w = self.sequence[index]

        def boxes(checked: bool) -> Detections2D:
            if checked and w < 0:
                raise ValueError(f"negative width {w}")
            d = Detections(xyxy=np.array([[0, 0, abs(w), 1]], np.float32), confidence=[1.0], class_id=[0])
            return Detections2D(stamp_ns=stamp_ns, frame_id="cam", seq=index, detections=d)

        cfg = self.config
        return [(cfg.topic_boxes, lambda: boxes(False)), (cfg.topic_checked, lambda: boxes(True))]


def test_dataset_source_counts_a_bad_output_and_finishes_once(caplog):
    src = _ListSource(_ListConfig(rate=2.0, start_ns=1000))  # twice the recorded speed: a tick per 0.25 s
    runner = LocalRunner(src, start_ns=0)
    with caplog.at_level(logging.INFO):
        runner.advance_to(2_000_000_000)
    assert [(t, m.seq, m.stamp_ns) for t, m in runner.outputs] == [
        ("boxes", 0, 1000), ("checked", 0, 1000), ("boxes", 1, 500_001_000),
        ("boxes", 2, 1_000_001_000), ("checked", 2, 1_000_001_000)]
    assert src.errors == 1 and src.finished
    assert "frame 1, topic checked: ValueError: negative width -2.0 (1 errors so far)" in caplog.text
    assert caplog.text.count("end of sequence after 3 frames (1 errors)") == 1


def test_rate_zero_plays_as_fast_as_a_timer_allows():
    src = _ListSource(_ListConfig(rate=0.0, topic_checked=""))
    runner = LocalRunner(src, start_ns=0)
    runner.advance_to(10_000)  # 10 µs of clock time: 1 µs a frame
    assert src.finished and src.errors == 0
    first = runner.outputs[0][1].stamp_ns
    assert [m.stamp_ns - first for _t, m in runner.outputs] == [0, 500_000_000, 1_000_000_000]


def test_dataset_and_folder_sources_end_the_node_stream_after_their_last_frame(tmp_path):
    from sensors.lidar import LidarFileSource

    src = _ListSource(_ListConfig(rate=2.0))
    runner = LocalRunner(src, start_ns=0)
    runner.advance_to(750_000_000)  # ticks at 0.25, 0.5, 0.75 s: the three frames
    assert not runner.ctx.ended
    runner.advance_to(1_000_000_000)  # the next tick finds the end
    assert runner.ctx.ended and src.finished

    folder = tmp_path / "bins"
    folder.mkdir()
    for i in range(2):
        np.zeros((3, 4), np.float32).tofile(folder / f"{i:06d}.bin")
    lidar = LocalRunner(LidarFileSource(LidarFileSourceConfig(folder=str(folder), rate_hz=10.0)))
    lidar.advance_to(200_000_000)
    assert len(lidar.outputs) == 2 and not lidar.ctx.ended
    lidar.advance_to(300_000_000)
    assert lidar.ctx.ended
    looped = LocalRunner(LidarFileSource(LidarFileSourceConfig(folder=str(folder), rate_hz=10.0, loop=True)))
    looped.advance_to(1_000_000_000)
    assert len(looped.outputs) == 10 and not looped.ctx.ended
