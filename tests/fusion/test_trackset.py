"""TrackSet's confidence: mean or latest matched score, the hit-count factor, configuration checks."""

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
