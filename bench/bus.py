"""Run ``percept bench bus`` and write its rows to bench/results/bus.json plus a Markdown table.

    python bench/bus.py [--repeat N]

The table (percept beside raw pyzmq and pickle, with percept/raw ratios) is what the README
shows; paste it there after a run.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = {1024: "1 KB", 1024 * 1024: "1 MB", 1920 * 1080 * 3: "1080p frame"}


def table(rows: list[dict]) -> str:
    by = {(r["transport"], r["payload_bytes"], r["impl"]): r for r in rows}
    out = ["| transport | payload | impl | msg/s | MB/s | p50 µs | p99 µs | throughput / raw | p99 / raw |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        raw = by[(r["transport"], r["payload_bytes"], "raw_zmq")]
        out.append(
            f"| {r['transport']} | {NAMES.get(r['payload_bytes'], r['payload_bytes'])} | {r['impl']} "
            f"| {r['msgs_per_s']:,.0f} | {r['mb_per_s']:,.1f} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} "
            f"| {r['msgs_per_s'] / raw['msgs_per_s']:.2f} | {r['p99_us'] / raw['p99_us']:.2f} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--from-json", help="render an existing result file instead of running")
    args = ap.parse_args()
    if args.from_json:
        rows = json.loads(Path(args.from_json).read_text())
    else:
        res = subprocess.run([sys.executable, "-m", "percept.cli", "bench", "bus", "--json",
                              "--repeat", str(args.repeat)], capture_output=True, text=True, check=True)
        rows = json.loads(res.stdout)
        out = HERE / "results" / "bus.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"machine: {platform.machine()}, {platform.python_version()}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
