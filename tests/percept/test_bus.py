"""Real sockets: pub/sub over ipc, tcp and inproc; latest and reliable policies."""

from __future__ import annotations

import threading
import time

import msgpack
import numpy as np
import psutil
import pytest
import zmq

from percept import Detections, Detections2D, Image, PointCloud
from percept.bus import Publisher, Subscriber
from percept.errors import BusError, DecodeError


def _dets(seq: int, n: int = 3) -> Detections2D:
    rng = np.random.default_rng(seq)
    xy = rng.uniform(0, 500, (n, 2)).astype(np.float32)
    return Detections2D(
        stamp_ns=1_000_000 * seq, frame_id="camera_front", seq=seq,
        detections=Detections(np.hstack([xy, xy + 20]), rng.uniform(0, 1, n), np.arange(n)),
    )


def _endpoint(kind: str, tmp) -> str:
    return {"ipc": f"ipc://{tmp}/bus.sock", "tcp": "tcp://127.0.0.1:*", "inproc": "inproc://bus-test"}[kind]


@pytest.mark.parametrize("kind", ["ipc", "tcp", "inproc"])
def test_pubsub_roundtrip(kind, short_tmp):
    cloud = PointCloud(stamp_ns=1, frame_id="lidar", points=np.zeros((4, 4), np.float32))
    img = Image.from_bgr(np.full((48, 64, 3), 7, np.uint8), stamp_ns=5, frame_id="cam")
    sent = [_dets(i) for i in range(50)]
    with Publisher(_endpoint(kind, short_tmp)) as pub, Subscriber(pub.endpoints[0], ["camera/"]) as sub:
        assert pub.wait_for_subscribers(1, 5.0)
        for m in sent:
            assert pub.publish("camera/front/detections", m)
        pub.publish("lidar/top", cloud)
        pub.publish("camera/front/image", img)
        got = [sub.recv(5.0) for _ in range(51)]
        assert sub.recv(0.2) is None  # lidar/top was filtered out by the prefix
    assert [e.msg for e in got[:50]] == sent
    assert got[50].topic == "camera/front/image" and got[50].msg == img
    assert not got[50].msg.data.flags.writeable  # a read-only view of the received frame
    assert sub.stats.received == {"camera/front/detections": 50, "camera/front/image": 1}
    assert sub.stats.total_dropped == 0


def test_tcp_binds_loopback_and_reports_port():
    with Publisher("tcp://127.0.0.1:*") as pub:
        assert pub.endpoints[0].startswith("tcp://127.0.0.1:")
        assert int(pub.endpoints[0].rsplit(":", 1)[1]) > 0


def test_bad_endpoint_and_policy_raise_bus_error(short_tmp):
    with pytest.raises(BusError, match="cannot bind"):
        Publisher("bogus://nowhere")
    with pytest.raises(BusError, match="policy"):
        Subscriber(f"ipc://{short_tmp}/x.sock", policy="sometimes")  # type: ignore[arg-type]


def test_reliable_loses_nothing_across_10000_messages(short_tmp):
    """A consumer that stalls makes the publisher wait (back-pressure), nothing is dropped."""
    total = 10_000
    with Publisher(f"ipc://{short_tmp}/r.sock", hwm=50, send_timeout_ms=-1) as pub, \
            Subscriber(pub.endpoints[0], ["det"], policy="reliable", hwm=50) as sub:
        assert pub.wait_for_subscribers(1, 5.0)
        sender = threading.Thread(target=lambda: [pub.publish("det", _dets(i, 2)) for i in range(total)])
        sender.start()
        time.sleep(0.5)  # the queues fill; the sender must now be blocked, not dropping
        assert sender.is_alive()
        seqs = []
        while len(seqs) < total:
            env = sub.recv(10.0)
            assert env is not None, f"stalled after {len(seqs)} messages"
            seqs.append(env.msg.seq)
        sender.join()
    assert seqs == list(range(total))
    assert pub.stats.sent == total and pub.stats.send_drops == 0
    assert sub.stats.total_dropped == 0


def test_reliable_forced_drops_are_counted_on_both_sides(short_tmp):
    total = 3000
    with Publisher(f"ipc://{short_tmp}/d.sock", hwm=5, send_timeout_ms=0) as pub, \
            Subscriber(pub.endpoints[0], ["det"], policy="reliable", hwm=5) as sub:
        assert pub.wait_for_subscribers(1, 5.0)
        big = np.zeros((256, 1024), np.uint8)
        for i in range(total):
            pub.publish("det", Image(stamp_ns=i, frame_id="c", seq=i, encoding="mono8", data=big))
        seqs = []
        while (env := sub.recv(0.5)) is not None:
            seqs.append(env.msg.seq)
    assert pub.stats.send_drops > 0
    assert pub.stats.sent + pub.stats.send_drops == total
    assert len(seqs) == pub.stats.sent
    # every message missing between the first and last received is counted as dropped
    assert len(seqs) + sub.stats.total_dropped == seqs[-1] - seqs[0] + 1


def test_latest_slow_consumer_bounded_memory_counts_drops(short_tmp):
    """2 GB offered to a consumer that takes 5 ms per message: RSS stays bounded."""
    n, frame = 2000, np.ones((1024, 1024), np.uint8)  # 1 MiB each
    proc = psutil.Process()
    with Publisher(f"ipc://{short_tmp}/l.sock", hwm=20) as pub, \
            Subscriber(pub.endpoints[0], ["cam"], policy="latest", hwm=20) as sub:
        assert pub.wait_for_subscribers(1, 5.0)
        rss0 = proc.memory_info().rss
        peak = rss0

        def send() -> None:
            for i in range(n):
                pub.publish("cam/a", Image(stamp_ns=i, frame_id="c", seq=i, encoding="mono8", data=frame))

        sender = threading.Thread(target=send)
        sender.start()
        seqs = []
        while True:
            env = sub.recv(1.0)
            if env is None:
                break
            seqs.append(env.msg.seq)
            assert sub.pending <= 1  # one slot per topic, never a backlog
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.005)
        sender.join()
    assert seqs == sorted(seqs) and seqs[-1] == n - 1  # the newest always arrives
    assert sub.stats.total_dropped > n // 2
    assert len(seqs) + sub.stats.total_dropped == n  # every message delivered or counted
    assert 0 < sub.stats.total_replaced <= sub.stats.total_dropped
    assert pub.stats.send_drops == 0  # latest never pushes back on the publisher
    assert peak - rss0 < 150 * 2**20, f"RSS grew by {(peak - rss0) / 2**20:.0f} MiB"


def test_latest_keeps_newest_per_topic(short_tmp):
    with Publisher(f"ipc://{short_tmp}/m.sock") as pub, \
            Subscriber(pub.endpoints[0], [""], policy="latest") as sub:
        assert pub.wait_for_subscribers(1, 5.0)
        for i in range(10):
            pub.publish("a", _dets(i))
            pub.publish("b", _dets(100 + i))
        deadline = time.monotonic() + 5
        while sub.stats.total_replaced < 18 and time.monotonic() < deadline:
            time.sleep(0.01)
        got = {e.topic: e.msg.seq for e in (sub.recv(1.0), sub.recv(1.0))}
        assert got == {"a": 9, "b": 109}
        assert sub.recv(0.1) is None


def test_malformed_frames_raise_decode_error_and_are_counted(short_tmp):
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.PUB)
    raw.bind(f"ipc://{short_tmp}/bad.sock")
    with Subscriber(f"ipc://{short_tmp}/bad.sock", [""]) as sub:
        time.sleep(0.3)
        header = msgpack.packb({"s": "percept.Nope", "v": 1, "h": {}, "a": []})
        raw.send_multipart([b"x", header])
        raw.send_multipart([b"x", b"\xc1\xc1garbage"])
        raw.send_multipart(_dets(1).to_frames("x"))
        with pytest.raises(DecodeError, match="unknown schema"):
            sub.recv(2.0)
        with pytest.raises(DecodeError, match="msgpack"):
            sub.recv(2.0)
        assert sub.recv(2.0).msg == _dets(1)
        assert sub.stats.decode_errors == 2
    raw.close(0)


def test_oversized_frame_is_refused_by_the_transport(short_tmp):
    from percept.codec import CodecLimits

    limits = CodecLimits(max_array_bytes=1024, max_header_bytes=1024)
    with Publisher(f"ipc://{short_tmp}/big.sock") as pub, \
            Subscriber(pub.endpoints[0], [""], limits=limits) as sub:
        assert pub.wait_for_subscribers(1, 5.0)
        big = Image(stamp_ns=1, frame_id="c", encoding="mono8", data=np.zeros((64, 64), np.uint8))
        pub.publish("img", big)
        assert sub.recv(0.5) is None  # ZeroMQ dropped the connection instead of allocating
