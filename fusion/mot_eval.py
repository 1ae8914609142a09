"""MOTChallenge evaluation: CLEAR MOT (MOTA), identity (IDF1) and HOTA of 2D box trackers.

Files are MOT text files, one box per line ``frame,id,x,y,w,h,conf,...`` (1-based frames, box
top-left corner and size in image pixels). Ground-truth rows whose ``conf`` column (the MOT
"considered" flag) is 0 are ignored; MOT15 ground truth has 1 everywhere. CLEAR and identity
metrics come from ``motmetrics`` with the MOT15 IoU threshold 0.5; HOTA is computed here,
following Luiten et al. 2020 "HOTA: A Higher Order Metric for Evaluating Multi-Object Tracking"
exactly as TrackEval defines it (IoU similarity, per-frame Hungarian matching maximising the
global-alignment-weighted similarity, averaged over alpha = 0.05, 0.10, ..., 0.95).

numpy 2 removed ``np.asfarray``, which motmetrics 1.4.0 (the newest release) still calls in
``motmetrics.distances.iou_matrix``; :func:`_import_motmetrics` defines it only when missing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fusion.errors import TrackingError
from sensors.datasets.mot_format import read_mot_rows
from sensors.errors import SensorError

log = logging.getLogger(__name__)

#: IoU threshold of the MOT15 CLEAR/identity matching.
CLEAR_IOU = 0.5
#: HOTA localisation thresholds (TrackEval: ``np.arange(0.05, 0.99, 0.05)``, 19 values).
HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)


def _import_motmetrics() -> Any:
    """Import motmetrics, first giving numpy 2 back ``np.asfarray`` (float64 ``asarray``) if absent."""
    if not hasattr(np, "asfarray"):
        def asfarray(a: Any, dtype: Any = np.float64) -> np.ndarray:
            if not np.issubdtype(np.dtype(dtype), np.inexact):
                dtype = np.float64
            return np.asarray(a, dtype=dtype)

        np.asfarray = asfarray  # type: ignore[attr-defined]
    import motmetrics

    return motmetrics


@dataclass(frozen=True)
class MotTable:
    """One MOT file as arrays, rows sorted by frame.

    Attributes:
        frame: int64 (N,) 1-based frame numbers.
        ids: int64 (N,) object/track ids.
        xywh: float64 (N, 4) top-left x, y, width, height in pixels.
    """

    frame: np.ndarray
    ids: np.ndarray
    xywh: np.ndarray

    def frames(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """frame -> (ids (K,), xywh (K, 4))."""
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if len(self.frame) == 0:
            return out
        uniq, starts = np.unique(self.frame, return_index=True)
        ends = np.append(starts[1:], len(self.frame))
        for f, s, e in zip(uniq.tolist(), starts.tolist(), ends.tolist(), strict=True):
            out[int(f)] = (self.ids[s:e], self.xywh[s:e])
        return out


def load_mot(path: str | Path, is_gt: bool) -> MotTable:
    """Read a MOT gt or result file (:func:`sensors.datasets.mot_format.read_mot_rows`); ground-truth
    rows whose 7th column (considered flag) is 0 are dropped. Errors name ``file:line``."""
    try:
        rows = read_mot_rows(path, "gt" if is_gt else "res")
    except SensorError as exc:
        raise TrackingError(str(exc)) from exc
    return MotTable(rows.frame, rows.track_id, rows.xywh)


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of top-left-width-height boxes a (N, 4), b (M, 4)."""
    a1, a2 = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    b1, b2 = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    wh = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


@dataclass
class HotaState:
    """Per-alpha sums that combine over sequences (TrackEval ``combine_sequences``).

    Attributes:
        tp, fn, fp: (A,) detection true positives, misses, false positives per alpha.
        ass_tp: (A,) sum over TPs of their association score (AssA * TP).
    """

    tp: np.ndarray
    fn: np.ndarray
    fp: np.ndarray
    ass_tp: np.ndarray

    def __add__(self, other: HotaState) -> HotaState:
        return HotaState(self.tp + other.tp, self.fn + other.fn, self.fp + other.fp,
                         self.ass_tp + other.ass_tp)

    def scores(self) -> dict[str, float]:
        """HOTA, DetA, AssA (each the mean over alphas, in [0, 1])."""
        det_a = self.tp / np.maximum(1.0, self.tp + self.fn + self.fp)
        ass_a = self.ass_tp / np.maximum(1.0, self.tp)
        hota = np.sqrt(det_a * ass_a)
        return {"HOTA": float(hota.mean()), "DetA": float(det_a.mean()), "AssA": float(ass_a.mean())}


def hota_state(gt: MotTable, res: MotTable) -> HotaState:
    """HOTA sums of one sequence (see the module docstring for the definition)."""
    gt_f, tr_f = gt.frames(), res.frames()
    empty = (np.zeros(0, np.int64), np.zeros((0, 4)))
    frames = []
    for f in sorted(set(gt_f) | set(tr_f)):
        (g_ids, g_box), (t_ids, t_box) = gt_f.get(f, empty), tr_f.get(f, empty)
        frames.append((g_ids, t_ids, iou_xywh(g_box, t_box)))
    return hota_from_similarity(frames)


def hota_from_similarity(frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> HotaState:
    """HOTA sums of one sequence given, per frame in time order, ``(gt_ids (K,), track_ids (M,),
    similarity (K, M))`` with similarity in [0, 1] (IoU for MOT boxes; any IoU-like score, e.g. 3D
    IoU, works). Frames with only ground truth or only tracks still count (misses / false positives)."""
    from scipy.optimize import linear_sum_assignment

    na = len(HOTA_ALPHAS)
    zeros = np.zeros(na)
    sizes = [(len(g), len(t)) for g, t, _ in frames]
    no_ids = [np.zeros(0, np.int64)]
    all_g = np.concatenate([np.asarray(g, np.int64).reshape(-1) for g, _, _ in frames] or no_ids)
    all_t = np.concatenate([np.asarray(t, np.int64).reshape(-1) for _, t, _ in frames] or no_ids)
    for (k, m), (_, _, sim) in zip(sizes, frames, strict=True):
        if np.shape(sim) != (k, m):
            raise TrackingError(f"HOTA: similarity of shape {np.shape(sim)} for {k} gt and {m} track ids")
    gt_ids, gt_inv = np.unique(all_g, return_inverse=True)
    tr_ids, tr_inv = np.unique(all_t, return_inverse=True)
    n_gt, n_tr = len(all_g), len(all_t)
    if n_gt == 0 or n_tr == 0:
        return HotaState(zeros.copy(), np.full(na, float(n_gt)), np.full(na, float(n_tr)), zeros.copy())
    g_split = np.split(gt_inv, np.cumsum([k for k, _ in sizes])[:-1])
    t_split = np.split(tr_inv, np.cumsum([m for _, m in sizes])[:-1])
    both = [(g, t, np.asarray(f[2], np.float64))
            for g, t, f in zip(g_split, t_split, frames, strict=True) if len(g) and len(t)]

    potential = np.zeros((len(gt_ids), len(tr_ids)))
    gt_count = np.bincount(gt_inv, minlength=len(gt_ids)).astype(np.float64)
    tr_count = np.bincount(tr_inv, minlength=len(tr_ids)).astype(np.float64)
    for g, t, sim in both:
        denom = sim.sum(0)[None, :] + sim.sum(1)[:, None] - sim
        sim_iou = np.zeros_like(sim)
        ok = denom > np.finfo(float).eps
        sim_iou[ok] = sim[ok] / denom[ok]
        potential[np.ix_(g, t)] += sim_iou
    global_align = potential / (gt_count[:, None] + tr_count[None, :] - potential)

    tp = np.zeros(na)
    matches = np.zeros((na, len(gt_ids), len(tr_ids)))
    for g, t, sim in both:
        score = global_align[np.ix_(g, t)] * sim
        rows, cols = linear_sum_assignment(-score)
        for a, alpha in enumerate(HOTA_ALPHAS):
            ok = sim[rows, cols] >= alpha - np.finfo(float).eps
            tp[a] += ok.sum()
            matches[a, g[rows[ok]], t[cols[ok]]] += 1
    ass_tp = np.zeros(na)
    for a in range(na):
        mc = matches[a]
        ass = mc / np.maximum(1.0, gt_count[:, None] + tr_count[None, :] - mc)
        ass_tp[a] = (mc * ass).sum()
    return HotaState(tp, n_gt - tp, n_tr - tp, ass_tp)


def clear_accumulator(gt: MotTable, res: MotTable) -> Any:
    """A motmetrics accumulator of one sequence, IoU distance with threshold :data:`CLEAR_IOU`."""
    mm = _import_motmetrics()
    acc = mm.MOTAccumulator(auto_id=False)
    gt_f, tr_f = gt.frames(), res.frames()
    empty = (np.zeros(0, np.int64), np.zeros((0, 4)))
    for f in sorted(set(gt_f) | set(tr_f)):
        g_ids, g_box = gt_f.get(f, empty)
        t_ids, t_box = tr_f.get(f, empty)
        dist = 1.0 - iou_xywh(g_box, t_box)
        dist[dist > 1.0 - CLEAR_IOU] = np.nan  # motmetrics: NaN = not matchable
        acc.update(g_ids.tolist(), t_ids.tolist(), dist, frameid=f)
    return acc


_MM_METRICS = ["idf1", "idp", "idr", "mota", "motp", "num_switches", "num_false_positives",
               "num_misses", "num_objects", "num_predictions", "mostly_tracked", "mostly_lost",
               "num_fragmentations", "num_unique_objects"]
_MM_NAMES = {"idf1": "IDF1", "idp": "IDP", "idr": "IDR", "mota": "MOTA", "motp": "MOTP",
             "num_switches": "IDSW", "num_false_positives": "FP", "num_misses": "FN",
             "num_objects": "GT", "num_predictions": "Pred", "mostly_tracked": "MT",
             "mostly_lost": "ML", "num_fragmentations": "Frag", "num_unique_objects": "GT_IDs"}


@dataclass(frozen=True)
class SequenceResult:
    """Metrics of one sequence (or the combination, name ``"COMBINED"``); ratios in [0, 1]."""

    name: str
    IDF1: float
    MOTA: float
    HOTA: float
    DetA: float
    AssA: float
    MOTP: float
    IDSW: int
    FP: int
    FN: int
    GT: int
    MT: int
    ML: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _result(name: str, row: Any, hota: HotaState) -> SequenceResult:
    s = hota.scores()
    motp = float(row["motp"])
    return SequenceResult(
        name=name, IDF1=float(row["idf1"]), MOTA=float(row["mota"]), HOTA=s["HOTA"], DetA=s["DetA"],
        AssA=s["AssA"], MOTP=1.0 - motp if np.isfinite(motp) else float("nan"),
        IDSW=int(row["num_switches"]), FP=int(row["num_false_positives"]), FN=int(row["num_misses"]),
        GT=int(row["num_objects"]), MT=int(row["mostly_tracked"]), ML=int(row["mostly_lost"]))


def evaluate_many(pairs: list[tuple[str | Path, str | Path]], names: list[str] | None = None
                  ) -> list[SequenceResult]:
    """Evaluate (gt_path, res_path) pairs; one result per pair then ``COMBINED`` (last).

    Combined CLEAR/identity metrics are motmetrics' overall (sums of counts); combined HOTA sums
    the per-alpha TP/FN/FP and TP-weighted association scores, as TrackEval does. ``MOTP`` is
    the mean IoU of matches (1 - motmetrics' distance).
    """
    if not pairs:
        raise TrackingError("evaluate_many: no (gt, result) pairs given")
    mm = _import_motmetrics()
    if names is None:
        names = [Path(g).parent.parent.name if Path(g).parent.name == "gt" else Path(g).stem
                 for g, _ in pairs]
        if len(set(names)) != len(names):
            names = [f"{n}#{i}" for i, n in enumerate(names)]
    accs, hotas = [], []
    for gt_path, res_path in pairs:
        gt, res = load_mot(gt_path, is_gt=True), load_mot(res_path, is_gt=False)
        accs.append(clear_accumulator(gt, res))
        hotas.append(hota_state(gt, res))
    mh = mm.metrics.create()
    summary = mh.compute_many(accs, metrics=_MM_METRICS, names=names, generate_overall=True)
    out = [_result(n, summary.loc[n], h) for n, h in zip(names, hotas, strict=True)]
    total = hotas[0]
    for h in hotas[1:]:
        total = total + h
    out.append(_result("COMBINED", summary.loc["OVERALL"], total))
    return out


def evaluate(gt_path: str | Path, res_path: str | Path) -> dict[str, Any]:
    """Metrics of one sequence as a dict (IDF1, MOTA, HOTA, DetA, AssA, MOTP, IDSW, FP, FN, ...)."""
    return evaluate_many([(gt_path, res_path)])[0].as_dict()


def format_table(results: list[SequenceResult]) -> str:
    """Plain-text table (percentages for ratios)."""
    head = f"{'sequence':18s} {'IDF1':>6s} {'MOTA':>6s} {'HOTA':>6s} {'DetA':>6s} {'AssA':>6s} " \
           f"{'IDSW':>5s} {'FP':>6s} {'FN':>6s} {'GT':>6s}"
    lines = [head]
    for r in results:
        lines.append(f"{r.name:18s} {100 * r.IDF1:6.1f} {100 * r.MOTA:6.1f} {100 * r.HOTA:6.1f} "
                     f"{100 * r.DetA:6.1f} {100 * r.AssA:6.1f} {r.IDSW:5d} {r.FP:6d} {r.FN:6d} {r.GT:6d}")
    return "\n".join(lines)
