"""TrackSet: duplicate tracks of one object are merged into the better-supported one; its
confidence (mean or latest matched score, the hit-count factor) and configuration checks."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.errors import TrackingError
from fusion.fusion_config import ClassConfig
from fusion.motion_world import NSTATE
from fusion.trackset import TrackSet


def _two_tracks(config: ClassConfig, later: list[float]) -> TrackSet:
    """Tracks 1 and 2 born with scores 1 and 4; track 1 then matched with the ``later`` scores."""
    ts = TrackSet(config)
    ts.add(np.array([1, 2]), np.zeros((2, NSTATE)), np.tile(np.eye(NSTATE), (2, 1, 1)), np.array([1.0, 4.0]),
           0, 1)
    for k, s in enumerate(later, 1):
        ts.matched(np.array([0]), np.zeros((1, NSTATE)), np.eye(NSTATE)[None], k * 100_000_000, 1,
                   np.array([s]))
    return ts


def test_default_confidence_is_the_mean_matched_score() -> None:
    ts = _two_tracks(ClassConfig(), [2.0, 6.0])
    np.testing.assert_allclose(ts.confidence, [3.0, 4.0])


def test_latest_confidence_follows_the_last_matched_score() -> None:
    ts = _two_tracks(ClassConfig(confidence="latest"), [2.0, 6.0])
    np.testing.assert_allclose(ts.confidence, [6.0, 4.0])
    ts.keep(np.array([True, False]))
    np.testing.assert_allclose(ts.confidence, [6.0])


def test_hit_factor_ranks_tracks_with_few_matches_lower() -> None:
    cfg = ClassConfig(confidence="latest", confidence_hits=3.0, score_floor=-1.0)
    ts = _two_tracks(cfg, [4.0, 4.0])  # the same score, 3 matches against 1
    np.testing.assert_allclose(ts.confidence, [(4 + 1) * 3 / 6, (4 + 1) * 1 / 4])
    assert ts.confidence[0] > ts.confidence[1]


@pytest.mark.parametrize("bad", [{"confidence": "max"}, {"confidence_hits": -1.0},
                                 {"score_floor": float("nan")}])
def test_bad_confidence_settings_are_refused(bad) -> None:
    with pytest.raises(TrackingError, match=next(iter(bad))):
        ClassConfig(**bad)



def _set(merge_iou: float) -> TrackSet:
    tracks = TrackSet(ClassConfig(merge_iou=merge_iou, min_hits=1))
    X = np.zeros((3, 10))
    X[:, :3] = [[10.0, 0.0, 0.75], [10.6, 0.1, 0.75], [10.0, 3.5, 0.75]]  # two on one car, one a lane over
    X[:, 4:7] = (4.5, 1.8, 1.5)
    tracks.add(np.array([1, 2, 3]), X, np.broadcast_to(np.eye(10), (3, 10, 10)).copy(), np.ones(3), 0, 1)
    tracks.hits[:] = [2, 7, 4]
    return tracks


def test_the_weaker_of_two_overlapping_tracks_goes() -> None:
    tracks = _set(0.1)
    assert tracks.merge_duplicates() == 1
    assert tracks.ids.tolist() == [2, 3]  # the one with more hits stays, the neighbour too
    assert _set(0.0).merge_duplicates() == 0  # off by default
