"""Accuracy and throughput of percept's 2D tracker vs boxmot ByteTrack, OC-SORT and SORT on MOT15.

    .venv/bin/python bench/track2d_table.py [--runs N] [--json]

Every tracker gets the same MOT15 Faster R-CNN detections (det/det.txt) and is scored by the same
evaluator (fusion.mot_eval: motmetrics CLEAR/identity at IoU 0.5, HOTA as TrackEval) on the three
sequences with ground truth (TUD-Campus, TUD-Stadtmitte, ETH-Sunnyday). percept runs through
fusion.mot.run_tracker_on_sequence with the default Tracker2DConfig. Throughput is tracker-only
frames/s on all nine shared sequences (median of --runs passes).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench import track2d
from fusion.mot import run_tracker_on_sequence, write_mot_results
from fusion.mot_eval import evaluate_many
from percept.data import data_path

GT_SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte", "ETH-Sunnyday")
LABELS = {"percept": "percept Tracker2D", "bytetrack": "boxmot ByteTrack", "ocsort": "boxmot OC-SORT",
          "sort": "SORT"}


def accuracy(trackers: list[str]) -> dict[str, list]:
    """Tracker -> evaluate_many results (per GT sequence, then COMBINED)."""
    root = data_path("mot15")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in trackers:
            pairs = []
            for s in GT_SEQUENCES:
                folder = root / s
                if name == "percept":
                    results = run_tracker_on_sequence(folder / "det" / "det.txt", folder / "seqinfo.ini")
                else:
                    results, _ = track2d.track_sequence(name, track2d.MotSequence(folder))
                res = Path(tmp) / f"{name}_{s}.txt"
                write_mot_results(res, results)
                pairs.append((folder / "gt" / "gt.txt", res))
            out[name] = evaluate_many(pairs, names=list(GT_SEQUENCES))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="throughput passes (median)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    trackers = [t for t in track2d.TRACKERS
                if track2d.boxmot_version() is not None or t not in ("bytetrack", "ocsort")]
    acc = accuracy(trackers)
    rows = track2d.run(trackers=trackers, runs=args.runs)
    if args.json:
        print(json.dumps({"accuracy": {k: [r.as_dict() for r in v] for k, v in acc.items()},
                          "throughput": [r.as_dict() for r in rows],
                          "boxmot": track2d.boxmot_version()}))
        return
    print(f"Accuracy on MOT15 (same Faster R-CNN detections; boxmot {track2d.boxmot_version()})\n")
    print("| tracker | sequence | IDF1 | MOTA | HOTA | IDSW | FP | FN |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, results in acc.items():
        for r in results:
            seq = f"**{r.name}**" if r.name == "COMBINED" else r.name
            print(f"| {LABELS[name]} | {seq} | {100 * r.IDF1:.1f} | {100 * r.MOTA:.1f} | {100 * r.HOTA:.1f} "
                  f"| {r.IDSW} | {r.FP} | {r.FN} |")
    tot = track2d.totals(rows)
    print(f"\nTracker-only throughput, frames/s (median of {args.runs} runs, all trackers in one process)\n")
    seqs = list(dict.fromkeys(r.sequence for r in rows))
    print("| tracker | " + " | ".join(seqs) + " | all |")
    print("|---|" + "---:|" * (len(seqs) + 1))
    for name in trackers:
        fps = {r.sequence: r.fps for r in rows if r.tracker == name}
        print(f"| {LABELS[name]} | " + " | ".join(f"{fps[s]:.0f}" for s in seqs) + f" | {tot[name]:.0f} |")
    if "bytetrack" in tot:
        print(f"\npercept / ByteTrack throughput: x{tot['percept'] / tot['bytetrack']:.2f}")


if __name__ == "__main__":
    main()
