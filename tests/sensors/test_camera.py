"""Camera driver: shared videos and frame folders, JPEG mode, bad input, and a live MJPEG stream
that dies and comes back (real HTTP sockets on 127.0.0.1, real OpenCV/FFmpeg)."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from percept.clock import VirtualClock, WallClock
from percept.config import build
from percept.errors import ConfigError
from percept.messages import Image
from percept.node import LocalRunner, NodeContext, make_processor
from sensors.camera import CameraConfig, CameraSource, iter_frames
from sensors.errors import SensorError
from tests.sensors.mjpeg_server import MjpegServer


def _images(runner: LocalRunner) -> list[Image]:
    return [m for _, m in runner.outputs if isinstance(m, Image)]


def _video_fps(path: Path) -> float:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        return float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()


@pytest.mark.data
@pytest.mark.parametrize(("name", "count", "shape"), [
    ("mot17_04_frames1-8.mp4", 8, (1080, 1920, 3)),
    ("nuscenes_front_40frames.mp4", 40, (450, 800, 3)),
])
def test_video_plays_in_real_time_on_virtual_clock(shared_data, name, count, shape) -> None:
    path = shared_data("video", name)
    fps = _video_fps(path)
    src = CameraSource(CameraConfig(source=str(path), topic="cam/f", frame_id="camera_test"))
    runner = LocalRunner(src, start_ns=1_000_000_000)
    runner.advance_to(1_000_000_000 + round((count + 5) * 1e9 / fps))
    imgs = _images(runner)
    assert {t for t, _ in runner.outputs} == {"cam/f"}
    assert len(imgs) == count
    assert all(m.encoding == "bgr8" and m.data.shape == shape and m.frame_id == "camera_test" for m in imgs)
    assert [m.seq for m in imgs] == list(range(count))
    stamps = np.array([m.stamp_ns for m in imgs])
    # real-time pacing: frame k is read at tick k+1 of a 1/fps timer, and its stamp is the
    # playback start plus its stream time, i.e. the virtual clock time of that tick
    np.testing.assert_allclose(np.diff(stamps), 1e9 / fps, atol=1e3)
    assert abs(stamps[0] - (1_000_000_000 + 1e9 / fps)) <= 1
    st = src.status
    assert (st.state, st.frames, st.bad_frames) == ("ended", count, 0)
    # pixels are the file's frames
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    ok, first = cap.read()
    cap.release()
    assert ok and np.array_equal(first, imgs[0].data)
    runner.close()


@pytest.mark.data
def test_ucsd_folder_plays_sorted_at_given_fps(shared_data) -> None:
    folder = shared_data("ucsd_ped2", "frames", "Test001")
    n_files = len(list(folder.glob("*.jpg")))
    src = CameraSource(CameraConfig(source=str(folder), fps=10.0, frame_id="cctv"))
    runner = LocalRunner(src)
    runner.advance_to(round((n_files + 2) * 0.1e9))
    imgs = _images(runner)
    assert len(imgs) == n_files > 0
    assert all(m.data.shape == (240, 360, 3) for m in imgs)
    np.testing.assert_array_equal(np.diff([m.stamp_ns for m in imgs]), 100_000_000)
    for n in (1, 2, 57, n_files):  # frame N is {N-1:03d}.jpg
        want = cv2.imread(str(folder / f"{n - 1:03d}.jpg"), cv2.IMREAD_COLOR)
        assert np.array_equal(imgs[n - 1].data, want), f"frame {n}"
    assert src.status.state == "ended"


def _write_folder(folder: Path, n: int, bad: int | None = None) -> None:
    folder.mkdir()
    for i in range(n):
        img = np.full((48, 64, 3), i * 20, np.uint8)
        cv2.imwrite(str(folder / f"{i}.png"), img)
    if bad is not None:
        (folder / f"{bad}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))


def test_corrupt_image_in_folder_is_counted_and_skipped(tmp_path) -> None:
    _write_folder(tmp_path / "f", 12, bad=3)  # natural order: 2.png before 10.png
    src = CameraSource(CameraConfig(source=str(tmp_path / "f"), fps=20.0))
    runner = LocalRunner(src)
    runner.advance_to(2_000_000_000)
    imgs = _images(runner)
    assert [int(m.data[0, 0, 0]) for m in imgs] == [i * 20 for i in range(12) if i != 3]
    assert [m.seq for m in imgs] == list(range(11))
    st = src.status
    assert (st.bad_frames, st.frames, st.state) == (1, 11, "ended")
    assert "3.png" in st.last_error
    stamps = np.array([m.stamp_ns for m in imgs])
    assert stamps[3] - stamps[2] == 100_000_000  # the skipped frame leaves a gap of one period


@pytest.mark.data
def test_jpeg_mode_decodes_to_right_size(shared_data) -> None:
    path = shared_data("video", "nuscenes_front_40frames.mp4")
    raw = list(iter_frames(CameraConfig(source=str(path), rate="max"), clock=VirtualClock()))
    frames = iter_frames(CameraConfig(source=str(path), rate="max", jpeg_quality=85), clock=VirtualClock())
    jpegs = list(frames)
    assert len(jpegs) == len(raw) == 40
    assert all(m.encoding == "jpeg" and (m.width, m.height) == (800, 450) for m in jpegs)
    decoded = jpegs[7].to_bgr()
    assert decoded.shape == (450, 800, 3)
    assert np.abs(decoded.astype(int) - raw[7].data.astype(int)).mean() < 6.0
    # as fast as possible on a virtual clock: one frame per MAX_RATE_PERIOD_S tick, stamps from
    # the stream (1/fps apart) and still strictly increasing
    assert np.all(np.diff([m.stamp_ns for m in jpegs]) == 50_000_000)
    assert frames.source.status.state == "ended"


@pytest.mark.data
def test_loop_restarts_with_continuing_seq_and_stamps(shared_data) -> None:
    path = shared_data("video", "mot17_04_frames1-8.mp4")
    src = CameraSource(CameraConfig(source=str(path), loop=True, rate=30.0, stamp_source="capture"))
    runner = LocalRunner(src)
    runner.advance_to(round(19.5e9 / 30))
    imgs = _images(runner)
    assert [m.seq for m in imgs] == list(range(19))
    # capture stamps: the tick times of a 30 Hz timer, across the loop boundaries
    np.testing.assert_allclose([m.stamp_ns for m in imgs], np.arange(1, 20) * 1e9 / 30, atol=2)
    assert src.status.loops == 2 and src.status.state == "streaming"
    assert np.array_equal(imgs[0].data, imgs[8].data)


def test_looped_folder_with_corrupt_first_image_keeps_playing(tmp_path) -> None:
    _write_folder(tmp_path / "f", 3, bad=0)
    src = CameraSource(CameraConfig(source=str(tmp_path / "f"), fps=10.0, loop=True))
    runner = LocalRunner(src)
    runner.advance_to(round(9.5e8))  # 9 ticks: bad, 1, 2 three times over
    assert [int(m.data[0, 0, 0]) for m in _images(runner)] == [20, 40] * 3
    st = src.status  # the frame after the 9th tick is already read ahead: loop 4's bad first image
    assert (st.bad_frames, st.loops, st.state) == (4, 3, "streaming")


def test_iter_frames_on_wall_clock_paces_in_real_time(tmp_path) -> None:
    _write_folder(tmp_path / "f", 6)
    t0 = time.monotonic()
    imgs = list(iter_frames(CameraConfig(source=str(tmp_path / "f"), fps=50.0, frame_id="cam_x")))
    assert time.monotonic() - t0 >= 5 * 0.02 * 0.9
    assert [m.seq for m in imgs] == list(range(6)) and imgs[0].frame_id == "cam_x"
    np.testing.assert_array_equal(np.diff([m.stamp_ns for m in imgs]), 20_000_000)


def test_bad_sources_raise_sensor_error_naming_them(tmp_path) -> None:
    missing = tmp_path / "nope" / "clip.mp4"
    with pytest.raises(SensorError, match=str(missing)):
        LocalRunner(CameraSource(CameraConfig(source=str(missing))))
    with pytest.raises(SensorError, match=str(missing)):
        iter_frames(CameraConfig(source=str(missing)))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    with pytest.raises(SensorError, match=str(garbage)):
        iter_frames(CameraConfig(source=str(garbage)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SensorError, match="no images"):
        iter_frames(CameraConfig(source=str(tmp_path / "empty")))
    with pytest.raises(SensorError, match="ftp"):
        iter_frames(CameraConfig(source="ftp://127.0.0.1/cam"))


def test_config_validation_names_the_key() -> None:
    with pytest.raises(ConfigError, match="rate"):
        build(CameraConfig, {"source": "a.mp4", "rate": "fast"}, "cam")
    with pytest.raises(ConfigError, match="jpeg_quality"):
        build(CameraConfig, {"source": "a.mp4", "jpeg_quality": 0}, "cam")
    with pytest.raises(ConfigError, match="reconnect"):
        build(CameraConfig, {"source": "a.mp4", "reconnect_initial_s": 5.0, "reconnect_max_s": 1.0}, "cam")
    cfg = build(CameraConfig, {"source": 0, "rate": "max", "stamp_source": "capture"}, "cam")
    assert (cfg.source, cfg.rate, cfg.frame_id) == (0, "max", "camera_front")
    proc = make_processor("sensors.camera:CameraSource", {"source": "x.mp4", "rate": 12.5}, "nodes.cam")
    assert isinstance(proc, CameraSource) and proc.config.rate == 12.5


def test_silent_server_open_is_bounded_by_open_timeout() -> None:
    """A server that accepts TCP but never answers must not block the node for long."""
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(4)
        url = f"http://127.0.0.1:{lsock.getsockname()[1]}/stream.mjpg"
        src = CameraSource(CameraConfig(source=url, open_timeout_ms=300, read_timeout_ms=300))
        t0 = time.monotonic()
        ctx = NodeContext("cam", WallClock(), lambda _t, _m: True)
        src.start(ctx)
        assert time.monotonic() - t0 < 2.0
        assert src.status.state == "reconnecting"
        src.stop()


def _pump(ctx: NodeContext, until: Callable[[], bool], timeout_s: float,
          each: Callable[[], None] | None = None) -> bool:
    """Fire the context's timers on the wall clock until ``until()`` or the timeout."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if until():
            return True
        deadline = ctx.timers.next_deadline()
        wait = (deadline - ctx.clock.now_ns()) / 1e9 if deadline is not None else 0.01
        if wait > 0:
            time.sleep(min(wait, 0.05))
        ctx.timers.run_due(ctx.clock.now_ns(), ctx.handler_error)
        if each is not None:
            each()
    return until()


def test_mjpeg_stream_dies_and_reconnects_with_backoff() -> None:
    server = MjpegServer(fps=25.0).start()
    images: list[Image] = []
    src = CameraSource(CameraConfig(source=server.url, topic="cam/live", reconnect_initial_s=0.2,
                                    reconnect_max_s=1.0, open_timeout_ms=1000, read_timeout_ms=1000))
    ctx = NodeContext("cam", WallClock(), lambda _t, m: images.append(m) is None)
    try:
        src.start(ctx)
        assert src.status.state == "streaming"
        assert _pump(ctx, lambda: len(images) >= 10, 5.0)
        assert images[0].data.shape == (120, 160, 3)

        server.stop()  # listening socket and live connection closed
        assert _pump(ctx, lambda: src.status.state == "reconnecting", 5.0)
        n_before = len(images)
        delays: list[float] = []

        def record() -> None:
            d = src.status.retry_delay_s
            if d and (not delays or delays[-1] != d):
                delays.append(d)

        record()
        assert _pump(ctx, lambda: src.status.reconnect_attempts >= 3, 4.0, record)
        st = src.status
        assert st.reconnect_attempts >= 3 and st.reconnects == 0 and st.read_failures == 1
        assert delays[:4] == [0.2, 0.4, 0.8, 1.0], delays  # backoff x2 from 0.2 s, capped at 1 s
        assert len(images) == n_before  # nothing while the camera is gone

        server.start()  # same port
        assert _pump(ctx, lambda: src.status.reconnects >= 1 and len(images) >= n_before + 10, 5.0)
        st = src.status
        assert st.state == "streaming" and st.reconnects >= 1
        assert [m.seq for m in images] == list(range(len(images)))  # seq continues
        assert np.all(np.diff([m.stamp_ns for m in images]) > 0)
    finally:
        src.stop()
        server.stop()


def test_stamps_on_a_wall_clock_are_never_later_than_the_read(tmp_path) -> None:
    """Regression: the camera stamped files with stream time mapped once, so a file read faster
    than real time (or a late first read) came out stamped after it was read."""
    _write_folder(tmp_path / "f", 6)
    clock = WallClock()
    for rate in ("max", "auto"):
        frames = iter_frames(CameraConfig(source=str(tmp_path / "f"), fps=25.0, rate=rate), clock=clock)
        got = []
        for img in frames:
            got.append((img.stamp_ns, clock.now_ns()))
        stamps = np.array([s for s, _ in got])
        assert len(got) == 6 and all(s <= read for s, read in got), rate
        assert np.all(np.diff(stamps) > 0)
        if rate == "max":  # 1 ms ticks, 40 ms of stream a frame: stamps are the read times
            assert frames.source.status.stamps_lowered == 5 and stamps[-1] - stamps[0] < 40_000_000


def test_the_end_of_a_file_ends_the_node_stream(tmp_path) -> None:
    _write_folder(tmp_path / "f", 3)
    looped = LocalRunner(CameraSource(CameraConfig(source=str(tmp_path / "f"), fps=10.0, loop=True)))
    looped.advance_to(round(1e9))
    assert not looped.ctx.ended
    runner = LocalRunner(CameraSource(CameraConfig(source=str(tmp_path / "f"), fps=10.0)))
    runner.advance_to(round(2.5e8))
    assert len(_images(runner)) == 2 and not runner.ctx.ended
    runner.advance_to(round(3.5e8))  # the read ahead after the 3rd (last) frame finds the end
    assert len(_images(runner)) == 3 and runner.ctx.ended and runner.processor.status.state == "ended"


def test_counters_report_frames_and_bad_frames_for_the_run_summary(tmp_path) -> None:
    _write_folder(tmp_path / "f", 5, bad=2)
    runner = LocalRunner(CameraSource(CameraConfig(source=str(tmp_path / "f"), fps=10.0)))
    runner.advance_to(round(1e9))
    got = runner.processor.counters()
    assert (got["frames"], got["bad_frames"], got["loops"]) == (4, 1, 0)


def test_max_frames_ends_a_looped_folder_after_that_many_frames(tmp_path) -> None:
    _write_folder(tmp_path / "f", 3)
    runner = LocalRunner(CameraSource(CameraConfig(source=str(tmp_path / "f"), fps=10.0, loop=True,
                                                   max_frames=5)))
    runner.advance_to(round(2e9))
    assert [int(m.data[0, 0, 0]) for m in _images(runner)] == [0, 20, 40, 0, 20]
    assert runner.ctx.ended and runner.processor.status.state == "ended"
    with pytest.raises(ValueError, match="max_frames: expected >= 1"):
        CameraConfig(source=str(tmp_path / "f"), max_frames=0)


def test_file_frames_are_decoded_ahead_and_released_on_their_tick(tmp_path) -> None:
    """The next frame is read right after a publication, so the tick only stamps and publishes it."""
    _write_folder(tmp_path / "f", 3)
    runner = LocalRunner(CameraSource(CameraConfig(source=str(tmp_path / "f"), fps=10.0)))
    reads: list[int] = []
    reader = runner.processor._reader
    read = reader.read

    def counted():
        reads.append(runner.clock.now_ns())
        return read()

    reader.read = counted
    runner.advance_to(round(1.5e8))  # one tick: frame 0 (read in start) out, frame 1 read ahead
    assert len(_images(runner)) == 1 and len(reads) == 1
    assert [m.stamp_ns for m in _images(runner)] == [100_000_000]


def test_analytics_stream_is_a_downscaled_copy_published_first(tmp_path) -> None:
    _write_folder(tmp_path / "f", 2)
    cfg = CameraConfig(source=str(tmp_path / "f"), fps=10.0, topic="cam/image",
                       analytics_topic="cam/analytics", analytics_width=32)
    runner = LocalRunner(CameraSource(cfg))
    runner.advance_to(round(2.5e8))
    assert [t for t, _ in runner.outputs] == ["cam/analytics", "cam/image"] * 2
    small, full = runner.outputs[2][1], runner.outputs[3][1]
    assert (small.width, small.height, small.full_width, small.full_height) == (32, 24, 64, 48)
    assert (small.stamp_ns, small.seq, small.frame_id) == (full.stamp_ns, full.seq, full.frame_id)
    assert int(small.data[5, 5, 0]) == 20 and full.full_width == 0
    wide = LocalRunner(CameraSource(dataclasses.replace(cfg, analytics_width=640)))  # narrower frames:
    wide.advance_to(round(1.5e8))  # published there as they are
    (_, a), (_, b) = wide.outputs
    assert a.full_width == 0 and a.data is b.data
    with pytest.raises(ValueError, match="analytics_width: expected >= 16"):
        dataclasses.replace(cfg, analytics_width=0)
    with pytest.raises(ValueError, match="analytics_topic: expected a topic other than"):
        dataclasses.replace(cfg, analytics_topic="cam/image")
