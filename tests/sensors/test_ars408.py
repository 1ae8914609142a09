"""ARS408-21 CAN decoding: DBC against the byte layout, cycle assembly, and the python-can source."""

from __future__ import annotations

import uuid

import can
import numpy as np
import pytest

from percept.messages import RadarScan
from percept.node import LocalRunner
from sensors.ars408 import EXTRA_FIELDS, Ars408Assembler, Ars408Source, Ars408SourceConfig, load_dbc
from sensors.errors import SensorError


def pack_obj_general(oid: int, dl: int, dlat: int, vl: int, vlat: int, dyn: int, rcs: int) -> bytes:
    """Obj_1_General from raw integers, bit by bit as in the ARS408 interface description
    (big-endian: DistLong 13 bit from byte 1, DistLat 11 bit, VrelLong 10, VrelLat 9, DynProp 3, RCS 8)."""
    return bytes([oid, dl >> 5, ((dl & 0x1F) << 3) | (dlat >> 8), dlat & 0xFF, vl >> 2,
                  ((vl & 0x3) << 6) | (vlat >> 3), ((vlat & 0x7) << 5) | dyn, rcs])


def test_dbc_matches_documented_byte_layout() -> None:
    db = load_dbc()
    assert {m.name: m.frame_id for m in db.messages} == {
        "Obj_0_Status": 0x60A, "Obj_1_General": 0x60B, "Cluster_0_Status": 0x600, "Cluster_1_General": 0x701}
    rng = np.random.default_rng(0)
    msg = db.get_message_by_name("Obj_1_General")
    for _ in range(200):
        raw = [int(rng.integers(0, 1 << bits)) for bits in (8, 13, 11, 10, 9, 3, 8)]
        sig = msg.decode(pack_obj_general(*raw), decode_choices=False)
        assert sig["Obj_ID"] == raw[0]
        assert sig["Obj_DistLong"] == pytest.approx(raw[1] * 0.2 - 500)
        assert sig["Obj_DistLat"] == pytest.approx(raw[2] * 0.2 - 204.6)
        assert sig["Obj_VrelLong"] == pytest.approx(raw[3] * 0.25 - 128)
        assert sig["Obj_VrelLat"] == pytest.approx(raw[4] * 0.25 - 64)
        assert sig["Obj_DynProp"] == raw[5]
        assert sig["Obj_RCS"] == pytest.approx(raw[6] * 0.5 - 64)
    status = db.get_message_by_name("Obj_0_Status").encode(
        {"Obj_NofObjects": 7, "Obj_MeasCounter": 0x1234, "Obj_InterfaceVersion": 3})
    assert status[:4] == bytes([7, 0x12, 0x34, 0x30])
    cl = db.get_message_by_name("Cluster_1_General").encode(
        {"Cluster_ID": 9, "Cluster_DistLong": -500 + 0.2 * 0x1ABC, "Cluster_DistLat": -102.3 + 0.2 * 0x2F1,
         "Cluster_VrelLong": -128 + 0.25 * 0x2D3, "Cluster_VrelLat": -64 + 0.25 * 0x1A5,
         "Cluster_DynProp": 5, "Cluster_RCS": -64 + 0.5 * 0x81})
    # DistLong bits 12..5 | 4..0 ; DistLat 9..8 in byte 2 bits 1..0 ; VrelLong ; VrelLat ; DynProp ; RCS
    assert cl == bytes([9, 0x1ABC >> 5, ((0x1ABC & 0x1F) << 3) | (0x2F1 >> 8), 0x2F1 & 0xFF, 0x2D3 >> 2,
                        ((0x2D3 & 3) << 6) | (0x1A5 >> 3), ((0x1A5 & 7) << 5) | 5, 0x81])


def _obj_frames(targets: list[tuple[float, float, float, float, float]], counter: int = 1,
                announce: int | None = None, sensor_id: int = 0) -> list[tuple[int, bytes]]:
    db = load_dbc()
    status = db.get_message_by_name("Obj_0_Status")
    general = db.get_message_by_name("Obj_1_General")
    off = 0x10 * sensor_id
    frames = [(status.frame_id + off, status.encode({
        "Obj_NofObjects": len(targets) if announce is None else announce,
        "Obj_MeasCounter": counter, "Obj_InterfaceVersion": 1}))]
    for i, (x, y, vx, vy, rcs) in enumerate(targets):
        frames.append((general.frame_id + off, general.encode({
            "Obj_ID": i, "Obj_DistLong": x, "Obj_DistLat": y, "Obj_VrelLong": vx, "Obj_VrelLat": vy,
            "Obj_DynProp": i % 8, "Obj_RCS": rcs})))
    return frames


TARGETS = [(20.0, 0.0, -5.0, 0.0, 10.0), (10.0, 10.0, 2.0, 2.0, -3.5), (0.0, -4.0, 1.0, 3.0, 0.0),
           (35.2, -7.4, -1.25, 0.5, 20.5)]


def _check_scan(scan: RadarScan, targets=TARGETS) -> None:
    t = np.array(targets)
    np.testing.assert_allclose(scan.xyz, np.c_[t[:, :2], np.zeros(len(t))], atol=1e-4)
    r = np.hypot(t[:, 0], t[:, 1])
    np.testing.assert_allclose(scan.range_m, r, atol=1e-4)
    np.testing.assert_allclose(scan.azimuth_rad, np.arctan2(t[:, 1], t[:, 0]), atol=1e-5)
    # radial projection of the relative velocity: head-on approach -5, (2,2) along (1,1)/sqrt2 ...
    last = (t[3, 0] * t[3, 2] + t[3, 1] * t[3, 3]) / r[3]
    np.testing.assert_allclose(scan.range_rate_mps, [-5.0, 2 * np.sqrt(2), -3.0, last], atol=1e-4)
    np.testing.assert_allclose(scan.rcs_dbsm, t[:, 4])
    assert scan.extra_fields == EXTRA_FIELDS
    np.testing.assert_array_equal(scan.extra[:, 0], np.arange(len(t)))
    np.testing.assert_allclose(scan.extra[:, 1:3], t[:, 2:4])


def test_assembler_objects_cycle() -> None:
    asm = Ars408Assembler("objects")
    out = []
    for k, (fid, data) in enumerate(_obj_frames(TARGETS, counter=42)):
        out += asm.feed(fid, data, 1000 + k)
    assert len(out) == 1 and out[0].complete and out[0].meas_counter == 42 and out[0].stamp_ns == 1000
    _check_scan(out[0].to_scan(frame_id="radar", seq=0))


def test_assembler_clusters_empty_and_sensor_id() -> None:
    db = load_dbc()
    asm = Ars408Assembler("clusters", sensor_id=2)
    st = db.get_message_by_name("Cluster_0_Status")
    gen = db.get_message_by_name("Cluster_1_General")
    empty = asm.feed(0x620, st.encode({"Cluster_NofClustersNear": 0, "Cluster_NofClustersFar": 0,
                                       "Cluster_MeasCounter": 1, "Cluster_InterfaceVersion": 0}), 5)
    assert len(empty) == 1 and len(empty[0].to_scan(frame_id="r", seq=0)) == 0
    assert asm.feed(0x600, st.encode({"Cluster_NofClustersNear": 1, "Cluster_NofClustersFar": 1,
                                      "Cluster_MeasCounter": 2, "Cluster_InterfaceVersion": 0}), 6) == []
    assert asm.ignored_frames == 1  # sensor 0's status is not ours
    asm.feed(0x620, st.encode({"Cluster_NofClustersNear": 1, "Cluster_NofClustersFar": 1,
                               "Cluster_MeasCounter": 2, "Cluster_InterfaceVersion": 0}), 7)
    out = []
    for i, (x, y) in enumerate([(50.0, -10.1), (120.4, 30.3)]):  # DistLat grid: -102.3 + 0.2 k
        out += asm.feed(0x721, gen.encode({"Cluster_ID": i, "Cluster_DistLong": x, "Cluster_DistLat": y,
                                           "Cluster_VrelLong": 0, "Cluster_VrelLat": 0,
                                           "Cluster_DynProp": 1, "Cluster_RCS": 5}), 8)
    assert len(out) == 1 and out[0].complete
    np.testing.assert_allclose(out[0].xyz[:, :2], [[50, -10.1], [120.4, 30.3]], atol=1e-4)


def test_assembler_incomplete_orphan_bad() -> None:
    asm = Ars408Assembler()
    frames = _obj_frames(TARGETS, announce=6)  # two targets never arrive
    out = [c for fid, d in frames for c in asm.feed(fid, d, 1)]
    assert out == []
    out = [c for fid, d in _obj_frames(TARGETS[:2], counter=2) for c in asm.feed(fid, d, 2)]
    assert [c.complete for c in out] == [False, True] and asm.incomplete_cycles == 1
    assert len(out[0].ids) == 4 and len(out[1].ids) == 2
    assert asm.feed(*_obj_frames(TARGETS[:1])[1], 3) == [] and asm.orphan_frames == 1
    with pytest.raises(SensorError, match=r"0x60B \(Obj_1_General\)"):
        asm.feed(0x60B, b"\x01\x02\x03", 4)
    assert asm.bad_frames == 1
    with pytest.raises(SensorError, match="mode"):
        Ars408Assembler("tracks")  # type: ignore[arg-type]


def test_source_over_virtual_bus() -> None:
    channel = f"ars408-{uuid.uuid4().hex}"
    src = Ars408Source(Ars408SourceConfig(interface="virtual", channel=channel, topic="radar/front",
                                          frame_id="radar_front"))
    runner = LocalRunner(src, name="ars408", start_ns=10**12)
    tx = can.Bus(interface="virtual", channel=channel)
    try:
        def send(frames: list[tuple[int, bytes]]) -> None:
            for fid, data in frames:
                tx.send(can.Message(arbitration_id=fid, data=data, is_extended_id=False))

        send(_obj_frames(TARGETS, counter=1))
        runner.advance_to(10**12 + 5_000_000)
        frames = _obj_frames(TARGETS, counter=2)
        send(frames[:3])
        tx.send(can.Message(arbitration_id=0x60B, data=b"\x01\x02", is_extended_id=False))  # short frame
        tx.send(can.Message(arbitration_id=0x201, data=bytes(8), is_extended_id=False))  # RadarState: ignored
        tx.send(can.Message(arbitration_id=0x60B, is_error_frame=True))
        send(frames[3:])
        runner.advance_to(10**12 + 10_000_000)
        send(_obj_frames([], counter=3))
        runner.advance_to(10**12 + 15_000_000)
    finally:
        tx.shutdown()
        runner.close()
    assert [t for t, _ in runner.outputs] == ["radar/front"] * 3
    msgs = [m for _, m in runner.outputs]
    assert all(isinstance(m, RadarScan) and m.frame_id == "radar_front" for m in msgs)
    assert [m.seq for m in msgs] == [0, 1, 2]
    assert [m.stamp_ns for m in msgs] == [10**12 + 5_000_000, 10**12 + 10_000_000, 10**12 + 15_000_000]
    _check_scan(msgs[0])
    _check_scan(msgs[1])
    assert len(msgs[2]) == 0
    assert src.bad_frames == 2 and src.assembler.ignored_frames == 1


def test_source_bad_interface() -> None:
    with pytest.raises(SensorError, match="cannot open CAN bus"):
        LocalRunner(Ars408Source(Ars408SourceConfig(interface="no_such_interface", channel="x")))
