"""Multi-object tracking evaluation, the one implementation: CLEAR MOT (MOTA), identity (IDF1), HOTA.

The core (:func:`evaluate_frames`) scores sequences given, per frame in time order, ground-truth
ids, hypothesis ids and their similarity (:class:`ScoredFrame`). CLEAR and identity metrics come
from ``motmetrics`` (distance ``1 - similarity``; pairs not ``matchable`` are never matched); HOTA
is computed here (:func:`hota_from_similarity`) after Luiten et al. 2020 "HOTA: A Higher Order
Metric for Evaluating Multi-Object Tracking" exactly as TrackEval defines it (per-frame Hungarian
matching maximising the global-alignment-weighted similarity, averaged over alpha = 0.05 .. 0.95).
Per-frame objects are :class:`FrameObjects`; a :class:`MatchRule` scores two of them: IoU of
``x1, y1, x2, y2`` image boxes, matchable at IoU >= ``iou_threshold``, or ``1 - d / dist_threshold_m``
(clipped at 0) for 2D/3D points ``d`` metres apart, matchable at ``d <= dist_threshold_m``.

MOT text files have one box per line ``frame,id,x,y,w,h,conf,...`` (1-based frames, top-left
corner and size in pixels); ground-truth rows whose ``conf`` column (the MOT "considered" flag) is
0 are ignored (MOT15 has 1 everywhere); they are matched at the MOT15 IoU threshold 0.5.
numpy 2 removed ``np.asfarray``, which motmetrics 1.4.0 (the newest release) still calls in
``motmetrics.distances.iou_matrix``; :func:`_import_motmetrics` defines it only when missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from fusion.errors import TrackingError
from percept.boxes import box_iou, xywh_to_xyxy
from sensors.datasets.mot_format import read_mot_rows
from sensors.errors import SensorError

if TYPE_CHECKING:
    from percept.cliutil import ProgressCallback

#: IoU threshold of the MOT15 CLEAR/identity matching.
CLEAR_IOU = 0.5
#: HOTA localisation thresholds (TrackEval: ``np.arange(0.05, 0.99, 0.05)``, 19 values).
HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)
#: Name of the result row that combines all sequences.
COMBINED = "COMBINED"


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


@dataclass(frozen=True, eq=False)
class FrameObjects:
    """N objects of one frame (ground truth or hypotheses).

    Attributes:
        ids: int64 (N,) object / track ids.
        classes: N class names.
        geom: float64 (N, 4) ``x1, y1, x2, y2`` image boxes (pixels), or (N, 2) / (N, 3) points
            (metres, e.g. ground-plane ``x, z`` in a camera frame).
    """

    ids: np.ndarray
    classes: tuple[str, ...]
    geom: np.ndarray

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids).reshape(-1).astype(np.int64)
        geom = np.asarray(self.geom, np.float64)
        if geom.ndim != 2 or geom.shape[0] != len(ids) or geom.shape[1] not in (2, 3, 4):
            raise TrackingError(f"FrameObjects.geom: expected shape ({len(ids)}, 4) boxes or "
                                f"({len(ids)}, 2|3) points, got {geom.shape}")
        if len(self.classes) != len(ids):
            raise TrackingError(f"FrameObjects.classes: expected {len(ids)} names, got {len(self.classes)}")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "geom", geom)
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))

    def __len__(self) -> int:
        return len(self.ids)

    def of_class(self, cls: str | None) -> FrameObjects:
        """The objects of class ``cls`` (all of them for None)."""
        if cls is None:
            return self
        idx = [i for i, c in enumerate(self.classes) if c == cls]
        return FrameObjects(self.ids[idx], tuple(self.classes[i] for i in idx), self.geom[idx])


@dataclass(frozen=True)
class MatchRule:
    """How ground truth and hypotheses are compared (see the module docstring).

    Attributes:
        iou_threshold: boxes are matchable at IoU >= this, in (0, 1].
        dist_threshold_m: points are matchable at distance <= this, metres; similarity 0 there.
    """

    iou_threshold: float = CLEAR_IOU
    dist_threshold_m: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 < self.iou_threshold <= 1.0:
            raise TrackingError(f"iou_threshold: expected in (0, 1], got {self.iou_threshold}")
        if not self.dist_threshold_m > 0.0:
            raise TrackingError(f"dist_threshold_m: expected > 0 metres, got {self.dist_threshold_m}")

    def score(self, gt: np.ndarray, hyp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(similarity float64 (K, M) in [0, 1], matchable bool (K, M)) of gt (K, D) vs hyp (M, D)."""
        if len(gt) == 0 or len(hyp) == 0:
            return np.zeros((len(gt), len(hyp))), np.zeros((len(gt), len(hyp)), bool)
        if gt.shape[1] != hyp.shape[1]:
            raise TrackingError(f"cannot compare ground truth of shape {gt.shape} with hypotheses of "
                                f"shape {hyp.shape}: both must be boxes (N, 4) or points of one dimension")
        if gt.shape[1] == 4:
            iou = box_iou(gt, hyp)
            return iou, iou >= self.iou_threshold
        d = np.linalg.norm(gt[:, None, :] - hyp[None, :, :], axis=2)
        return np.clip(1.0 - d / self.dist_threshold_m, 0.0, 1.0), d <= self.dist_threshold_m


class ScoredFrame(NamedTuple):
    """One frame as the metrics see it: ``gt_ids`` int64 (K,), ``hyp_ids`` int64 (M,), ``similarity``
    float64 (K, M) in [0, 1] (HOTA; CLEAR distance ``1 - similarity``), ``matchable`` bool (K, M)
    (the pairs CLEAR/identity matching may pair)."""

    gt_ids: np.ndarray
    hyp_ids: np.ndarray
    similarity: np.ndarray
    matchable: np.ndarray


def score_frames(gt: Mapping[Any, FrameObjects], hyp: Mapping[Any, FrameObjects],
                 rule: MatchRule | None = None, cls: str | None = None,
                 keys: Iterable[Any] | None = None) -> list[ScoredFrame]:
    """Score the frames ``keys`` (in that order; default: the sorted union of both mappings) of
    class ``cls`` (None: all, across classes). A key missing on one side has no objects there."""
    rule = rule or MatchRule()
    empty = FrameObjects(np.zeros(0, np.int64), (), np.zeros((0, 4)))
    out = []
    for key in sorted(set(gt) | set(hyp)) if keys is None else keys:
        g, h = gt.get(key, empty).of_class(cls), hyp.get(key, empty).of_class(cls)
        out.append(ScoredFrame(g.ids, h.ids, *rule.score(g.geom, h.geom)))
    return out


def mot_objects(table: MotTable, cls: str = "pedestrian") -> dict[int, FrameObjects]:
    """frame -> :class:`FrameObjects` (xyxy boxes, all of class ``cls``) of a MOT table."""
    return {f: FrameObjects(ids, (cls,) * len(ids), xywh_to_xyxy(xywh))
            for f, (ids, xywh) in table.frames().items()}


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


def clear_accumulator_from(frames: Sequence[ScoredFrame]) -> Any:
    """A motmetrics accumulator of one sequence: distance ``1 - similarity``, NaN where not matchable."""
    mm = _import_motmetrics()
    acc = mm.MOTAccumulator(auto_id=False)
    for n, f in enumerate(frames):
        dist = np.where(f.matchable, 1.0 - np.asarray(f.similarity, np.float64), np.nan)
        acc.update(np.asarray(f.gt_ids).tolist(), np.asarray(f.hyp_ids).tolist(), dist, frameid=n)
    return acc


_MM_METRICS = ["idf1", "idp", "idr", "mota", "motp", "num_switches", "num_false_positives",
               "num_misses", "num_objects", "num_predictions", "mostly_tracked", "mostly_lost",
               "num_fragmentations", "num_unique_objects"]


@dataclass(frozen=True)
class SequenceResult:
    """Metrics of one sequence (or the combination, name :data:`COMBINED`); ratios in [0, 1].

    ``MOTP`` is the mean similarity of CLEAR matches (IoU for boxes), higher is better.
    """

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

    @property
    def TP(self) -> int:
        """CLEAR matches (every hypothesis scored is one of these or a false positive)."""
        return self.GT - self.FN

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _result(name: str, row: Any, hota: HotaState) -> SequenceResult:
    s = hota.scores()
    motp = float(row["motp"])
    return SequenceResult(
        name=name, IDF1=float(row["idf1"]), MOTA=float(row["mota"]), HOTA=s["HOTA"], DetA=s["DetA"],
        AssA=s["AssA"], MOTP=1.0 - motp if math.isfinite(motp) else math.nan,
        IDSW=int(row["num_switches"]), FP=int(row["num_false_positives"]), FN=int(row["num_misses"]),
        GT=int(row["num_objects"]), MT=int(row["mostly_tracked"]), ML=int(row["mostly_lost"]))


def evaluate_frames(sequences: Sequence[tuple[str, Sequence[ScoredFrame]]],
                    progress: ProgressCallback | None = None) -> list[SequenceResult]:
    """Evaluate ``(name, scored frames)`` sequences; one result per sequence then :data:`COMBINED`.

    Combined CLEAR/identity metrics are motmetrics' overall (sums of counts); combined HOTA sums
    the per-alpha TP/FN/FP and TP-weighted association scores, as TrackEval does. ``progress(done,
    total)`` is called after each sequence's metrics (total: the number of sequences).
    """
    names = [str(n) for n, _ in sequences]
    if not names or len(set(names)) != len(names) or {COMBINED, "OVERALL"} & set(names):
        raise TrackingError(f"evaluate_frames: expected sequences with unique names other than "
                            f"{COMBINED!r}/'OVERALL', got {names}")
    mm = _import_motmetrics()
    accs, hotas = [], []
    for i, (_, frames) in enumerate(sequences, start=1):
        accs.append(clear_accumulator_from(frames))
        hotas.append(hota_from_similarity([f[:3] for f in frames]))
        if progress is not None:
            progress(i, len(sequences))
    summary = mm.metrics.create().compute_many(accs, metrics=_MM_METRICS, names=names, generate_overall=True)
    out = [_result(n, summary.loc[n], h) for n, h in zip(names, hotas, strict=True)]
    out.append(_result(COMBINED, summary.loc["OVERALL"], sum(hotas[1:], hotas[0])))
    return out


def evaluate_objects(gt: Mapping[Any, FrameObjects], hyp: Mapping[Any, FrameObjects], cls: str | None = None,
                     rule: MatchRule | None = None, keys: Iterable[Any] | None = None,
                     name: str = "sequence") -> SequenceResult:
    """Metrics of one sequence (frame key -> :class:`FrameObjects`) of class ``cls`` (None: all, matched
    across classes) over the frames ``keys`` (see :func:`score_frames`)."""
    return evaluate_frames([(name, score_frames(gt, hyp, rule, cls, keys))])[0]


def evaluate_many(pairs: list[tuple[str | Path, str | Path]], names: list[str] | None = None,
                  progress: ProgressCallback | None = None) -> list[SequenceResult]:
    """Evaluate MOT (gt_path, res_path) pairs at :data:`CLEAR_IOU`; one result per pair then
    :data:`COMBINED` (last), see :func:`evaluate_frames`. ``MOTP`` is the mean IoU of matches.
    ``progress(done, total)``: two steps per pair (read and match, then metrics)."""
    if not pairs:
        raise TrackingError("evaluate_many: no (gt, result) pairs given")
    if names is None:
        names = [Path(g).parent.parent.name if Path(g).parent.name == "gt" else Path(g).stem
                 for g, _ in pairs]
        if len(set(names)) != len(names):
            names = [f"{n}#{i}" for i, n in enumerate(names)]
    rule = MatchRule(iou_threshold=CLEAR_IOU)
    sequences, show = [], progress or (lambda _done, _total: None)
    for n, (g, r) in zip(names, pairs, strict=True):
        sequences.append((n, score_frames(mot_objects(load_mot(g, is_gt=True)),
                                          mot_objects(load_mot(r, is_gt=False)), rule)))
        show(len(sequences), 2 * len(pairs))
    return evaluate_frames(sequences, lambda done, _n: show(len(pairs) + done, 2 * len(pairs)))


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
