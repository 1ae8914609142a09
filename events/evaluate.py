"""Event evaluation (``percept eval events``): per-type precision, recall and detection latency.

Inputs are JSON-lines files, one event message per line, as the JSONL sink writes them::

    {"stamp_ns": ..., "event_type": "loitering", "track_ids": [2], "zone": "plaza", "severity": "info",
     "phase": "start", "event_id": "plaza-loitering-4", "camera": "cctv", "evidence": {...}, "text": "..."}

Ground truth is typically the simulator's ``gt/events`` (one-shot events, ``evidence.start_ns``
= the onset of the anomaly, ``stamp_ns`` = when its definition first held). Each event counts
once: the lines of one ``event_id`` (start / update / end) are one event, stamped by its first
line; lines without an ``event_id`` are one event each.

Matching is one-to-one per event type (maximum number of matches, then least total time
difference): a ground-truth event and a detected one match when their stamps are at most
``window_s`` apart and they share a track id -- or, when either has no track ids, the same zone.
Per type: ``precision`` = matched / detected, ``recall`` = matched / ground truth (1.0 when the
denominator is 0: nothing to get wrong), ``latency`` = detected stamp - ground-truth onset
(``evidence.start_ns``, else its stamp) and ``delay`` = detected stamp - ground-truth stamp, both
over the matched pairs, in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from events.errors import EventsError
from events.jsonl import read_events_jsonl


@dataclass(frozen=True)
class EventRecord:
    """The fields of one event line that evaluation uses (times in ns)."""

    stamp_ns: int
    event_type: str
    track_ids: tuple[int, ...] = ()
    zone: str = ""
    phase: str = "start"
    event_id: str = ""
    onset_ns: int = 0


def _read_jsonl(path: Path | str) -> list[EventRecord]:
    """Event lines of ``path`` (the JSONL sink's format, :mod:`events.jsonl`; errors name the line)."""
    out = []
    for e in read_events_jsonl(path):
        onset = e.evidence.get("start_ns")
        out.append(EventRecord(stamp_ns=e.stamp_ns, event_type=e.event_type, track_ids=e.track_ids,
                               zone=e.zone, phase=e.phase, event_id=e.event_id,
                               onset_ns=onset if isinstance(onset, int) else e.stamp_ns))
    return out


def distinct(records: Iterable[EventRecord]) -> list[EventRecord]:
    """One record per event: the earliest line of each ``event_id``; lines without one as they are."""
    first: dict[str, EventRecord] = {}
    loose: list[EventRecord] = []
    for r in records:
        if not r.event_id:
            loose.append(r)
        elif r.event_id not in first or r.stamp_ns < first[r.event_id].stamp_ns:
            first[r.event_id] = r
    return sorted([*first.values(), *loose], key=lambda r: (r.stamp_ns, r.event_type))


def _compatible(g: EventRecord, p: EventRecord, window_ns: int) -> bool:
    if abs(p.stamp_ns - g.stamp_ns) > window_ns:
        return False
    if g.track_ids and p.track_ids:
        return bool(set(g.track_ids) & set(p.track_ids))
    return g.zone == p.zone


def match(gt: Sequence[EventRecord], pred: Sequence[EventRecord], window_s: float) -> list[tuple[int, int]]:
    """One-to-one ``(gt index, pred index)`` pairs of the same type (see the module docstring)."""
    window_ns = round(window_s * 1e9)
    pairs: list[tuple[int, int]] = []
    for etype in sorted({g.event_type for g in gt}):
        gi = [i for i, g in enumerate(gt) if g.event_type == etype]
        pi = [j for j, p in enumerate(pred) if p.event_type == etype]
        if not gi or not pi:
            continue
        ok = np.array([[_compatible(gt[i], pred[j], window_ns) for j in pi] for i in gi])
        dt = np.array([[abs(pred[j].stamp_ns - gt[i].stamp_ns) / 1e9 for j in pi] for i in gi])
        big = 1.0 + float(dt[ok].sum()) if ok.any() else 1.0  # any match beats any time saving
        rows, cols = linear_sum_assignment(np.where(ok, dt, big * (len(gi) + len(pi))))
        pairs += [(gi[r], pi[c]) for r, c in zip(rows, cols, strict=True) if ok[r, c]]
    return sorted(pairs)


@dataclass(frozen=True)
class TypeResult:
    """Scores of one event type (``event_type`` ``"all"`` for every type together)."""

    event_type: str
    gt: int
    detected: int
    matched: int
    precision: float
    recall: float
    latency_mean_s: float
    latency_max_s: float
    delay_mean_s: float
    delay_max_s: float

    def as_dict(self) -> dict[str, object]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def _result(etype: str, gt: list[EventRecord], pred: list[EventRecord],
            pairs: list[tuple[EventRecord, EventRecord]]) -> TypeResult:
    lat = [(p.stamp_ns - g.onset_ns) / 1e9 for g, p in pairs]
    delay = [(p.stamp_ns - g.stamp_ns) / 1e9 for g, p in pairs]
    m = len(pairs)
    def mean(v: list[float]) -> float:
        return float(np.mean(v)) if v else math.nan

    precision, recall = m / len(pred) if pred else 1.0, m / len(gt) if gt else 1.0
    return TypeResult(etype, len(gt), len(pred), m, precision, recall, mean(lat), max(lat, default=math.nan),
                      mean(delay), max(delay, default=math.nan))


def evaluate(gt: Iterable[EventRecord], detected: Iterable[EventRecord],
             window_s: float = 2.0) -> list[TypeResult]:
    """Per-type results (sorted by type) and a last ``"all"`` row."""
    if not window_s >= 0:
        raise EventsError(f"--window: expected >= 0 seconds, got {window_s}")
    g, p = distinct(gt), distinct(detected)
    pairs = [(g[i], p[j]) for i, j in match(g, p, window_s)]
    out = [_result(t, [x for x in g if x.event_type == t], [x for x in p if x.event_type == t],
                   [(a, b) for a, b in pairs if a.event_type == t])
           for t in sorted({x.event_type for x in (*g, *p)})]
    return [*out, _result("all", g, p, pairs)]


def evaluate_files(gt_path: Path | str, events_path: Path | str, window_s: float = 2.0) -> list[TypeResult]:
    """:func:`evaluate` of two JSON-lines files."""
    return evaluate(_read_jsonl(gt_path), _read_jsonl(events_path), window_s)


def format_table(results: Sequence[TypeResult]) -> str:
    """A fixed-width text table of ``results``."""
    def f(v: float) -> str:
        return "-" if math.isnan(v) else f"{v:.2f}"
    lines = [f"{'type':18s} {'gt':>4s} {'events':>6s} {'matched':>7s} {'precision':>9s} {'recall':>6s} "
             f"{'latency s mean/max':>18s} {'delay s mean/max':>16s}"]
    for r in results:
        lines.append(f"{r.event_type:18s} {r.gt:4d} {r.detected:6d} {r.matched:7d} {r.precision:9.3f} "
                     f"{r.recall:6.3f} {f(r.latency_mean_s) + ' / ' + f(r.latency_max_s):>18s} "
                     f"{f(r.delay_mean_s) + ' / ' + f(r.delay_max_s):>16s}")
    return "\n".join(lines)
