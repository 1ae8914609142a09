"""The bus benchmark runs end to end through ``percept bench bus`` and reports every row (no timing
assertions here)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_bench_bus_json_rows(capsys, bench_parser):
    argv = ["bench", "bus", "--json", "--quick", "--repeat", "1", "--transports", "ipc"]
    args = bench_parser.parse_args(argv)
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    keys = {"transport", "payload_bytes", "impl", "msgs_per_s", "mb_per_s", "p50_us", "p99_us"}
    assert all(set(r) == keys for r in rows)
    assert {(r["payload_bytes"], r["impl"]) for r in rows} == {
        (p, i) for p in (1024, 1024 * 1024, 1920 * 1080 * 3) for i in ("percept", "raw_zmq", "pickle")}
    assert all(r["msgs_per_s"] > 0 and 0 < r["p50_us"] <= r["p99_us"] for r in rows)
