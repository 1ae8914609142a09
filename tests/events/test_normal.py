"""The learned normal-motion model, track features and the anomaly score (scripted tracks)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from events.errors import EventsError
from events.normal import NormalModelConfig, NormalMotionModel, TrackFeatures
from events.normal_score import AnomalyScoreConfig, AnomalyScorer, CausalSmoother, smooth_scores
from percept.messages import Tracks, TrackStatus

NAMES = ("person", "bicycle")
FPS = 10
IMAGE = (400, 300)


Row = tuple[int, int, float, tuple[float, float, float, float], int]


def tracks(stamp_ns: int, rows: list[Row]) -> Tracks:
    """A Tracks message of rows ``(track_id, class_id, confidence, (x1, y1, x2, y2), status)``."""
    n = len(rows)
    return Tracks(stamp_ns=stamp_ns, frame_id="cam", track_id=np.array([r[0] for r in rows], np.int64),
                  class_id=np.array([r[1] for r in rows], np.int32),
                  confidence=np.array([r[2] for r in rows], np.float32),
                  state=np.array([[*r[3], 0.0, 0.0] for r in rows], np.float32).reshape(n, 6),
                  state_fields=("x1", "y1", "x2", "y2", "vx", "vy"), age=np.ones(n, np.int32),
                  status=np.array([r[4] for r in rows], np.uint8), sensors=np.ones(n, np.uint32),
                  class_names=NAMES)


def box(cx: float, cy: float, h: float = 40.0) -> tuple[float, float, float, float]:
    return (cx - h / 4, cy - h / 2, cx + h / 4, cy + h / 2)


def walkers(model: NormalMotionModel, frames: int = 60, speed_h: float = 0.5, seed: int = 0) -> None:
    """Fit ``model`` on 12 walkers crossing the image at about ``speed_h`` heights/s (40 px boxes)."""
    rng = np.random.default_rng(seed)
    feats = TrackFeatures(model.config, IMAGE)
    starts = rng.uniform(20, 250, size=(12, 2))
    speeds = speed_h * 40 * np.exp(rng.normal(0, 0.2, 12))
    for f in range(frames):
        rows = [(k + 1, 0, 0.8, box(x + speeds[k] * f / FPS, y), TrackStatus.CONFIRMED)
                for k, (x, y) in enumerate(starts)]
        model.add_observations(feats.update(tracks(int(f * 1e9 / FPS), rows)))


def test_speed_is_heights_per_second_over_the_window() -> None:
    feats = TrackFeatures(NormalModelConfig(speed_window_s=0.5, min_track_s=0.3), IMAGE)
    obs = []
    for f in range(8):  # 40 px tall box moving 20 px per frame = 200 px/s = 5 heights/s
        obs = feats.update(tracks(int(f * 1e8), [(1, 0, 0.9, box(50 + 20 * f, 150), TrackStatus.CONFIRMED)]))
        if f < 3:
            assert math.isnan(obs[0].speed)  # younger than min_track_s
    assert obs[0].speed == pytest.approx(5.0, rel=1e-3)
    assert obs[0].cx == pytest.approx((50 + 140) / 400) and obs[0].measured and obs[0].inside


def test_lost_rows_do_not_extend_history_and_report_time_since_measured() -> None:
    feats = TrackFeatures(NormalModelConfig(), IMAGE)
    feats.update(tracks(0, [(1, 1, 0.9, box(100, 150), TrackStatus.CONFIRMED)]))
    obs = feats.update(tracks(int(3e8), [(1, 1, 0.9, box(450, 150), TrackStatus.LOST)]))[0]
    assert not obs.measured and not obs.inside and obs.since_measured_s == pytest.approx(0.3)


def test_state_fields_must_be_image_boxes() -> None:
    t = tracks(0, [(1, 0, 0.9, box(100, 100), TrackStatus.CONFIRMED)])
    bad = t.replace(state_fields=("x", "y", "z", "a", "b", "c"))
    with pytest.raises(EventsError, match="x1, y1, x2, y2"):
        TrackFeatures(NormalModelConfig(), IMAGE).update(bad)


def test_normal_speeds_score_low_fast_ones_high() -> None:
    model = NormalMotionModel(NormalModelConfig(grid=(4, 3)))
    walkers(model)
    assert model.n_observations == 12 * 60
    z = model.speed_z(np.array([0.5, 0.5, 0.5]), np.array([0.5, 0.5, 0.5]), np.array([0.5, 2.0, 5.0]))
    assert abs(z[0]) < 1.0 and z[1] > 3.0 and z[2] > z[1]
    assert np.isnan(model.speed_z(np.array([0.5]), np.array([0.5]), np.array([np.nan])))[0]


def test_cells_learn_their_own_speeds() -> None:
    cfg = NormalModelConfig(grid=(2, 1), prior_count=5.0)
    model = NormalMotionModel(cfg)
    n = 400
    rng = np.random.default_rng(1)
    model.add(np.full(n, 0.25), np.full(n, 0.5), np.exp(rng.normal(math.log(0.4), 0.2, n)))  # footpath
    model.add(np.full(n, 0.75), np.full(n, 0.5), np.exp(rng.normal(math.log(3.0), 0.2, n)))  # cycle lane
    z = model.speed_z(np.array([0.25, 0.75]), np.array([0.5, 0.5]), np.array([3.0, 3.0]))
    assert z[0] > 3.0 and abs(z[1]) < 1.0
    assert model.occupancy_ratio(np.array([0.25]), np.array([0.5]))[0] == pytest.approx(1.0)


def test_empty_model_gives_no_motion_evidence() -> None:
    z = NormalMotionModel().speed_z(np.array([0.5]), np.array([0.5]), np.array([9.0]))
    assert np.isnan(z[0])


def test_model_round_trips_through_json(tmp_path) -> None:
    model = NormalMotionModel(NormalModelConfig(grid=(3, 2), classes=("person", "dog")))
    walkers(model, frames=20)
    path = tmp_path / "normal.json"
    model.save(path)
    back = NormalMotionModel.load(path)
    assert back.config == model.config
    np.testing.assert_array_equal(back.speed_counts, model.speed_counts)
    np.testing.assert_array_equal(back.occupancy, model.occupancy)


def test_bad_model_files_name_the_problem(tmp_path) -> None:
    path = tmp_path / "m.json"
    path.write_text("{not json")
    with pytest.raises(EventsError, match=r"m\.json"):
        NormalMotionModel.load(path)
    data = NormalMotionModel().to_dict()
    with pytest.raises(EventsError, match="format"):
        NormalMotionModel.from_dict({**data, "format": "other"})
    with pytest.raises(EventsError, match="occupancy"):
        NormalMotionModel.from_dict({**data, "occupancy": [1.0, 2.0]})
    with pytest.raises(EventsError, match=r"normal\.grid"):
        NormalModelConfig(grid=(0, 3))


def fitted_scorer(**score: object) -> AnomalyScorer:
    model = NormalMotionModel(NormalModelConfig(grid=(4, 3)))
    walkers(model)
    cfg = AnomalyScoreConfig(class_weights={"bicycle": 1.0}, motion_window=5, **score)  # type: ignore[arg-type]
    return AnomalyScorer(cfg, model, IMAGE)


def test_vehicle_class_scores_its_mean_confidence_person_does_not() -> None:
    scorer = fitted_scorer()
    frame = None
    for f, conf in enumerate([0.6, 0.8, 0.7]):
        frame = scorer.update(tracks(int(f * 1e8), [(1, 1, conf, box(100, 150), TrackStatus.CONFIRMED),
                                                    (2, 0, 0.9, box(300, 150), TrackStatus.CONFIRMED)]))
    assert frame is not None
    by_id = {t.track_id: t for t in frame.tracks}
    assert by_id[1].class_score == pytest.approx(0.7, abs=1e-6)
    assert by_id[2].class_score == 0.0 and by_id[2].score < 0.05
    assert frame.score == pytest.approx(by_id[1].score) and frame.top is not None and frame.top.track_id == 1


def test_a_fast_person_scores_high_walkers_low() -> None:
    scorer = fitted_scorer()
    for f in range(15):  # walker 0.5 h/s, rider 4 h/s (40 px boxes)
        rows = [(1, 0, 0.9, box(50 + 2 * f, 150), TrackStatus.CONFIRMED),
                (2, 0, 0.9, box(50 + 16 * f, 100), TrackStatus.CONFIRMED)]
        frame = scorer.update(tracks(int(f * 1e8), rows))
    by_id = {t.track_id: t for t in frame.tracks}
    assert by_id[2].speed == pytest.approx(4.0, rel=0.01) and by_id[2].motion_score > 0.5
    assert by_id[1].motion_score < 0.05


def test_lost_track_coasts_with_decay_inside_the_image_only() -> None:
    scorer = fitted_scorer(coast_tau_s=1.0)
    scorer.update(tracks(0, [(1, 1, 0.8, box(100, 150), TrackStatus.CONFIRMED)]))
    coast = scorer.update(tracks(int(5e8), [(1, 1, 0.8, box(110, 150), TrackStatus.LOST)]))
    assert coast.score == pytest.approx(0.8 * math.exp(-0.5), rel=1e-3)
    gone = scorer.update(tracks(int(6e8), [(1, 1, 0.8, box(480, 150), TrackStatus.LOST)]))
    assert gone.score == 0.0


def test_tentative_rows_are_ignored_and_empty_frames_score_zero() -> None:
    scorer = fitted_scorer()
    frame = scorer.update(tracks(0, [(1, 1, 0.9, box(100, 150), TrackStatus.TENTATIVE)]))
    assert frame.score == 0.0 and frame.tracks == () and frame.top is None


def test_online_learning_counts_normal_observations() -> None:
    model = NormalMotionModel()
    scorer = AnomalyScorer(AnomalyScoreConfig(learn_online=True), model, IMAGE)
    scorer.update(tracks(0, [(1, 0, 0.9, box(100, 150), TrackStatus.CONFIRMED),
                             (2, 1, 0.9, box(200, 150), TrackStatus.CONFIRMED)]))
    assert model.n_observations == 1  # the person; bicycles are not the scene's normal traffic


def test_score_config_is_validated() -> None:
    with pytest.raises(EventsError, match=r"class_weights\.bicycle"):
        AnomalyScoreConfig(class_weights={"bicycle": 2.0})
    with pytest.raises(EventsError, match="motion_window"):
        AnomalyScoreConfig(motion_window=0)


def test_smoothing_spreads_a_spike_and_keeps_a_constant() -> None:
    spike = np.zeros(21)
    spike[10] = 1.0
    out = smooth_scores(spike, fps=10, smooth_s=0.3)
    assert out.argmax() == 10 and out[10] == pytest.approx(1 / (3 * math.sqrt(2 * math.pi)), rel=1e-3)
    assert out[7] > 0 and out.sum() == pytest.approx(1.0, abs=1e-3)  # sigma 3 frames
    np.testing.assert_allclose(smooth_scores(np.full(5, 0.4), 10, 0.3), 0.4)
    np.testing.assert_array_equal(smooth_scores(spike, 10, 0.0), spike)
    ema = CausalSmoother(tau_s=1.0)
    assert ema.update(0, 1.0) == 1.0
    assert ema.update(int(1e9), 0.0) == pytest.approx(math.exp(-1.0))
