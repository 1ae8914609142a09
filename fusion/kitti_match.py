"""The KITTI tracking devkit's per-frame matching and counting for one class, at any score threshold.

:class:`ClassData` gathers the ground-truth and tracker rows of one class (and its neighbour class)
over sequences with the devkit's ignore flags and the ``1 - 3D IoU`` cost of every same-frame pair;
:class:`Sweep` evaluates it at a score threshold (:meth:`Sweep.run`), re-matching only the frames
whose kept tracker boxes changed since the previous threshold. The rules are listed in
:mod:`fusion.kitti_eval`. Row arrays are concatenated over sequences; a frame is the key
``sequence index * 2**32 + frame``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from fusion.errors import TrackingError
from fusion.geometry3d import box_overlaps
from sensors.datasets.kitti_tracking import GT_CLASSES, KittiBoxes

#: Ground-truth (and tracker) class ignored when evaluating a class (KITTI devkit).
NEIGHBOURS = {"Car": "Van", "Pedestrian": "Person_sitting"}
#: Ground truth truncated (devkit: ``int(truncation)``) above this is ignored.
MAX_TRUNCATION = 0
#: Ground truth occluded above this (3: unknown) is ignored.
MAX_OCCLUSION = 2
#: Unmatched tracker boxes whose 2D box is at most this tall (pixels) are ignored.
MIN_HEIGHT_PX = 25.0
#: Unmatched tracker boxes with more than this share of their 2D box inside one DontCare box are ignored.
DONTCARE_FRACTION = 0.5
_SEQ_SHIFT = np.int64(2**32)


def same_frame_pairs(a_key: np.ndarray, b_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(ia, ib)`` of every a-row and b-row with the same key (both keys sorted)."""
    lo, hi = np.searchsorted(b_key, a_key, "left"), np.searchsorted(b_key, a_key, "right")
    n = hi - lo
    ia = np.repeat(np.arange(len(a_key)), n)
    ib = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
    return ia, ib


def in_dontcare(box: np.ndarray, key: np.ndarray, dc_box: np.ndarray, dc_key: np.ndarray) -> np.ndarray:
    """bool (N,): more than :data:`DONTCARE_FRACTION` of 2D box ``box[i]`` (x1 y1 x2 y2) lies in one
    DontCare box of its frame (intersection over the box's own area, devkit ``boxoverlap(.., "a")``)."""
    ia, ib = same_frame_pairs(key, dc_key)
    a, b = box[ia], dc_box[ib]
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    inside = (iw > 0) & (ih > 0) & (iw * ih > DONTCARE_FRACTION * area)
    out = np.zeros(len(box), bool)
    out[ia[inside]] = True
    return out


def _rows_by_frame(boxes: KittiBoxes, keep: np.ndarray) -> KittiBoxes:
    rows = np.flatnonzero(keep)
    return boxes.select(rows[np.argsort(boxes.frame[rows], kind="stable")])


def _class_rows(boxes: KittiBoxes, names: tuple[str, ...]) -> KittiBoxes:
    keep = np.isin(boxes.class_id, [GT_CLASSES.index(n) for n in names]) & (boxes.track_id != -1)
    return _rows_by_frame(boxes, keep)


def _cost(g: KittiBoxes, d: KittiBoxes) -> np.ndarray:
    """(len g, len d) ``1 - 3D IoU``; boxes with a non-positive size overlap nothing."""
    iou = np.zeros((len(g), len(d)))
    gv, dv = (g.hwl > 0).all(1), (d.hwl > 0).all(1)
    if gv.any() and dv.any():
        a, b = g.select(gv), d.select(dv)
        reach = sum(float(np.hypot(x.hwl[:, 1], x.hwl[:, 2]).max()) / 2 for x in (a, b))
        iou[np.ix_(gv, dv)] = box_overlaps((a.centre, a.size_lwh, a.rot_y), (b.centre, b.size_lwh, b.rot_y),
                                           "y", max_dist=reach + 1e-6)
    return 1.0 - iou


class ClassData:
    """Rows of class ``cls`` (and its neighbour) in sequences ``(labels, tracker rows)``, pooled."""

    def __init__(self, cls: str, seqs: Sequence[tuple[KittiBoxes, KittiBoxes]], iou_threshold: float) -> None:
        nb = NEIGHBOURS.get(cls)
        names = (cls, nb) if nb else (cls,)
        nb_id = GT_CLASSES.index(nb) if nb else -2
        self.n_seqs, self.max_cost = len(seqs), 1.0 - iou_threshold
        gts, dets, g_parts, d_parts = [], [], [], []
        for i, (labels, res) in enumerate(seqs):
            for what, b in (("labels", labels), ("results", res)):
                if len(b) and int(b.frame.min()) < 0:
                    raise TrackingError(f"sequence #{i} {cls} {what}: negative frame {int(b.frame.min())}")
            g, d = _class_rows(labels, names), _class_rows(res, names)
            pairs, counts = np.unique(np.stack([d.frame, d.track_id], 1), axis=0, return_counts=True)
            if (counts > 1).any():
                f, t = pairs[np.argmax(counts > 1)]
                raise TrackingError(f"sequence #{i} {cls}: track id {t} occurs more than once in frame {f}")
            dc = _rows_by_frame(labels, labels.class_id == -1)
            g_key, d_key = g.frame + i * _SEQ_SHIFT, d.frame + i * _SEQ_SHIFT
            ign = (g.occluded > MAX_OCCLUSION) | (np.trunc(g.truncated) > MAX_TRUNCATION)
            ign |= g.class_id == nb_id
            small = np.abs(d.box2d[:, 1] - d.box2d[:, 3]) <= MIN_HEIGHT_PX
            ignorable = (d.class_id == nb_id) | small | in_dontcare(d.box2d, d_key, dc.box2d,
                                                                   dc.frame + i * _SEQ_SHIFT)
            g_parts.append((g_key, g.track_id, np.full(len(g), i), ign))
            d_parts.append((d_key, d.track_id, np.full(len(d), i), ignorable, d.score))
            gts.append(g)
            dets.append(d)
        (self.gt_key, self.gt_tid, self.gt_seq, self.gt_ign) = [
            np.concatenate(c) for c in zip(*g_parts, strict=True)]
        (self.det_key, self.det_tid, self.det_seq, self.det_ignorable, self.det_score) = [
            np.concatenate(c) for c in zip(*d_parts, strict=True)]
        self.gt_ign, self.det_ignorable = self.gt_ign.astype(bool), self.det_ignorable.astype(bool)
        self.n_gt = int((~self.gt_ign).sum())
        self._pair_costs(gts, dets)
        self._tracks()
        self.traj_order = np.lexsort((np.arange(len(self.gt_key)), self.gt_tid, self.gt_seq))
        s, t = self.gt_seq[self.traj_order], self.gt_tid[self.traj_order]
        self.traj_first = np.ones(len(s), bool)
        self.traj_first[1:] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])

    def _pair_costs(self, gts: list[KittiBoxes], dets: list[KittiBoxes]) -> None:
        """``slots``: per frame with both sides ``(gs, ge, ds, de, cost (ge-gs, de-ds))`` (global rows)."""
        self.slots: list[tuple[int, int, int, int, np.ndarray]] = []
        self.det_slot = np.full(len(self.det_key), -1, np.int64)
        self._slot_of: dict[int, int] = {}
        g_off = np.cumsum([0] + [len(g) for g in gts])
        d_off = np.cumsum([0] + [len(d) for d in dets])
        for i, (g, d) in enumerate(zip(gts, dets, strict=True)):
            both = np.intersect1d(g.frame, d.frame)
            g_lo, g_hi = np.searchsorted(g.frame, both, "left"), np.searchsorted(g.frame, both, "right")
            d_lo, d_hi = np.searchsorted(d.frame, both, "left"), np.searchsorted(d.frame, both, "right")
            ranges = (x.tolist() for x in (both, g_lo, g_hi, d_lo, d_hi))
            for f, a, b, c, e in zip(*ranges, strict=True):
                cost = _cost(g.select(slice(a, b)), d.select(slice(c, e)))
                gs, ds = int(g_off[i]) + a, int(d_off[i]) + c
                self._slot_of[i * int(_SEQ_SHIFT) + f] = len(self.slots)
                self.det_slot[ds:ds + e - c] = len(self.slots)
                self.slots.append((gs, gs + b - a, ds, ds + e - c, cost))

    def _tracks(self) -> None:
        """Tracks (sequence, tracker id) and each box's place in its track (frame order)."""
        _, self.det_track = np.unique(np.stack([self.det_seq, self.det_tid], 1), axis=0, return_inverse=True)
        self.det_track = self.det_track.reshape(-1)
        self.track_len = np.bincount(self.det_track)
        order = np.argsort(self.det_track, kind="stable")  # rows are frame-sorted within a sequence
        pos = np.empty(len(order), np.int64)
        starts = np.cumsum(self.track_len) - self.track_len
        pos[order] = np.arange(len(order)) - np.repeat(starts, self.track_len)
        self._pos = pos
        self._mask = np.arange(int(self.track_len.max(initial=0)))[None, :] < self.track_len[:, None]

    def initial_means(self) -> np.ndarray:
        """float64 (T,) mean score per track, summed in frame order (as Python's ``sum``)."""
        table = np.zeros(self._mask.shape)
        table[self.det_track, self._pos] = self.det_score
        return self._row_sums(table)

    def repeat_means(self, means: np.ndarray) -> np.ndarray:
        """float64 (T,) the mean of n copies of each track's mean (n its length), summed in order."""
        return self._row_sums(np.where(self._mask, means[:, None], 0.0))

    def _row_sums(self, table: np.ndarray) -> np.ndarray:
        if table.shape[1] == 0:
            return np.zeros(len(table))
        return np.cumsum(table, axis=1)[:, -1] / self.track_len  # sequential; the zero padding adds nothing

    def pair_cost(self, g_rows: np.ndarray, d_rows: np.ndarray) -> np.ndarray:
        """(len g, len d) cost of ground-truth and tracker rows of one frame."""
        if not len(g_rows) or not len(d_rows):
            return np.zeros((len(g_rows), len(d_rows)))
        gs, _, ds, _, cost = self.slots[self._slot_of[int(self.gt_key[g_rows[0]])]]
        return cost[np.ix_(g_rows - gs, d_rows - ds)]

    def id_switches(self, gt_match: np.ndarray) -> int:
        """Devkit rule, per trajectory (ground-truth id, frame order): a switch at a non-ignored,
        tracked occurrence whose previous occurrence was tracked by another id and is not ignored
        (unless it is the trajectory's first)."""
        g, ign, first = gt_match[self.traj_order], self.gt_ign[self.traj_order], self.traj_first
        cur, prev = g[1:], g[:-1]
        sw = ~first[1:] & ~ign[1:] & (cur != -1) & (prev != -1) & (cur != prev) & (first[:-1] | ~ign[:-1])
        return int(sw.sum())

    def trajectory_stats(self, gt_match: np.ndarray) -> dict[str, int]:
        """Fragmentations and mostly tracked / partly tracked / mostly lost trajectories (devkit loop)."""
        g_all, ign_all = gt_match[self.traj_order].tolist(), self.gt_ign[self.traj_order].tolist()
        starts = np.flatnonzero(self.traj_first).tolist()
        stats = dict.fromkeys(("Frag", "MT", "PT", "ML"), 0)
        for a, b in zip(starts, [*starts[1:], len(g_all)][:len(starts)], strict=True):
            g, ign = g_all[a:b], ign_all[a:b]
            if all(ign):
                continue
            if all(v == -1 for v in g):
                stats["ML"] += 1
                continue
            n, last, tracked = len(g), g[0], int(g[0] != -1)
            for f in range(1, n):
                if ign[f]:
                    last = -1
                    continue
                if f < n - 1 and g[f - 1] != g[f] and last != -1 and g[f] != -1 and g[f + 1] != -1:
                    stats["Frag"] += 1
                if g[f] != -1:
                    tracked, last = tracked + 1, g[f]
            if n > 1 and g[n - 2] != g[n - 1] and last != -1 and g[n - 1] != -1 and not ign[n - 1]:
                stats["Frag"] += 1
            ratio = tracked / (n - sum(ign))
            stats["MT" if ratio > 0.8 else "ML" if ratio < 0.2 else "PT"] += 1
        return stats


@dataclass(frozen=True)
class Run:
    """Counts of one evaluation at a score threshold (the devkit's ``compute3rdPartyMetrics``).

    ``tp`` matches of non-ignored ground truth, ``tp_all`` all matches; ``gt_match`` (G,) the
    tracker id matched to each ground-truth row or -1; ``counted`` (D,) tracker rows kept, not
    ignored and not matched to ignored ground truth; ``matched_scores`` the track means of the
    matched tracker rows.
    """

    n_gt: int
    tp_all: int
    tp: int
    fn: int
    fp: int
    ids: int
    iou_sum: float
    gt_match: np.ndarray
    counted: np.ndarray
    matched_scores: np.ndarray

    @property
    def mota(self) -> float:
        return 1.0 - (self.fn + self.fp + self.ids) / self.n_gt if self.n_gt else -math.inf

    @property
    def motp(self) -> float:
        return self.iou_sum / self.tp_all if self.tp_all else 0.0

    def smota(self, recall: float) -> float:
        """Scaled MOTA at recall step ``recall`` (AB3DMOT), clipped to [0, 1]."""
        if not self.n_gt:
            return -math.inf
        errors = self.fn + self.fp + self.ids - (1.0 - recall) * self.n_gt
        return min(1.0, max(0.0, 1.0 - errors / (recall * self.n_gt)))


class Sweep:
    """Evaluates one :class:`ClassData` at a sequence of score thresholds (see ``compat`` in
    :mod:`fusion.kitti_eval`)."""

    def __init__(self, data: ClassData, compat: bool = True) -> None:
        self.data, self.compat = data, compat
        self.means = data.initial_means()
        self.calls = 0
        n_gt, n_det = len(data.gt_key), len(data.det_key)
        self.gt_det = np.full(n_gt, -1, np.int64)
        self.gt_iou = np.zeros(n_gt)
        self.det_hit = np.zeros(n_det, bool)
        self.ever_hit = np.zeros(n_det, bool)
        self.active: np.ndarray | None = None

    def _match(self, k: int, active: np.ndarray) -> None:
        gs, ge, ds, de, cost = self.data.slots[k]
        self.gt_det[gs:ge], self.gt_iou[gs:ge], self.det_hit[ds:de] = -1, 0.0, False
        cols = np.flatnonzero(active[ds:de])
        sub = cost[:, cols]
        ok = sub <= self.data.max_cost
        if not ok.any():
            return
        r, c = linear_sum_assignment(np.where(ok, sub, min(sub.shape) + 1.0))  # most pairs, then least cost
        keep = ok[r, c]
        r, c = r[keep], c[keep]
        self.gt_det[gs + r] = ds + cols[c]
        self.gt_iou[gs + r] = 1.0 - sub[r, c]
        self.det_hit[ds + cols[c]] = True

    def run(self, threshold: float) -> Run:
        """Keep the tracks whose mean score is at least ``threshold``, match and count."""
        d = self.data
        if self.compat and self.calls:
            self.means = d.repeat_means(self.means)
        self.calls += 1
        active = self.means[d.det_track] >= threshold if len(d.det_key) else np.zeros(0, bool)
        if self.active is None:
            changed = range(len(d.slots))
        else:
            slots = d.det_slot[active != self.active]
            changed = np.unique(slots[slots >= 0]).tolist()
        for k in changed:
            self._match(k, active)
        self.active = active
        matched = self.gt_det >= 0
        tp_all, tp = int(matched.sum()), int((matched & ~d.gt_ign).sum())
        valid = self.det_hit | self.ever_hit if self.compat else self.det_hit
        missed = active & ~self.det_hit
        ignored = missed & d.det_ignorable & ~valid
        if self.compat:
            self.ever_hit |= self.det_hit
        gt_match = np.full(len(matched), -1, np.int64)
        gt_match[matched] = d.det_tid[self.gt_det[matched]]
        counted = active & ~ignored
        counted[self.gt_det[matched & d.gt_ign]] = False
        return Run(n_gt=d.n_gt, tp_all=tp_all, tp=tp, fn=d.n_gt - tp, fp=int(missed.sum() - ignored.sum()),
                   ids=d.id_switches(gt_match), iou_sum=float(self.gt_iou[matched].sum()), gt_match=gt_match,
                   counted=counted, matched_scores=self.means[d.det_track[self.det_hit]])
