"""The bus benchmark runs end to end and reports every row (no timing assertions here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_bench_bus_json_rows():
    res = subprocess.run(
        [sys.executable, "-m", "percept.cli", "bench", "bus", "--json", "--quick", "--repeat", "1",
         "--transports", "ipc"],
        capture_output=True, text=True, timeout=300, check=True)
    rows = json.loads(res.stdout)
    keys = {"transport", "payload_bytes", "impl", "msgs_per_s", "mb_per_s", "p50_us", "p99_us"}
    assert all(set(r) == keys for r in rows)
    assert {(r["payload_bytes"], r["impl"]) for r in rows} == {
        (p, i) for p in (1024, 1024 * 1024, 1920 * 1080 * 3) for i in ("percept", "raw_zmq", "pickle")}
    assert all(r["msgs_per_s"] > 0 and 0 < r["p50_us"] <= r["p99_us"] for r in rows)
