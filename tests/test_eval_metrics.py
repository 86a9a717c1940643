"""Box metrics against hand-computed cases and the got10k toolkit."""
import math

import numpy as np
import pytest

from trackers.eval.metrics import (center_error, evaluated_frames, got10k_metrics, iou, otb_metrics, precision_at,
                                   success_auc, success_curve)


def test_iou_identical_disjoint_and_half_overlap():
    a = [(0, 0, 10, 10), (0, 0, 10, 10), (0, 0, 10, 10)]
    b = [(0, 0, 10, 10), (20, 20, 5, 5), (5, 0, 10, 10)]
    out = iou(a, b)
    assert out[0] == pytest.approx(1.0)
    assert out[1] == 0.0
    assert out[2] == pytest.approx(50 / 150)


def test_missing_prediction_scores_zero_iou_and_infinite_centre_error():
    pred = [None, (0, 0, 0, 0), (float("nan"),) * 4]
    gt = [(0, 0, 10, 10)] * 3
    assert list(iou(pred, gt)) == [0.0, 0.0, 0.0]
    assert np.all(np.isinf(center_error(pred, gt)))


def test_iou_clips_to_image_like_the_toolkit():
    # half of the prediction hangs off the right edge: cut there, it scores 50 / 100
    assert iou([(95, 0, 10, 10)], [(90, 0, 10, 10)], bound=(100, 100))[0] == pytest.approx(0.5)
    assert iou([(95, 0, 10, 10)], [(90, 0, 10, 10)])[0] == pytest.approx(50 / 150)
    # the toolkit's quirk, kept for comparable figures: off the left edge, x is moved, w kept
    assert iou([(-10, 0, 20, 10)], [(0, 0, 10, 10)], bound=(100, 100))[0] == pytest.approx(0.5)


def test_iou_matches_got10k_toolkit_on_random_boxes():
    from got10k.utils.metrics import center_error as toolkit_center_error, rect_iou

    rng = np.random.default_rng(0)
    a = np.c_[rng.uniform(-20, 300, (200, 2)), rng.uniform(1, 120, (200, 2))]
    b = np.c_[rng.uniform(0, 300, (200, 2)), rng.uniform(1, 120, (200, 2))]
    bound = (320, 240)
    np.testing.assert_allclose(iou(a, b, bound), rect_iou(a.copy(), b.copy(), bound=bound), atol=1e-9)
    np.testing.assert_allclose(center_error(a, b), toolkit_center_error(a, b), atol=1e-9)


def test_evaluated_frames_skip_init_and_absent():
    absent = np.array([False, False, True, False, True])
    assert evaluated_frames(absent).tolist() == [False, True, False, True, False]


def test_got10k_ao_and_strict_success_rates():
    m = got10k_metrics(np.array([0.5, 0.75, 1.0, 0.0]))
    assert m["ao"] == pytest.approx(2.25 / 4)
    assert m["sr50"] == pytest.approx(2 / 4)   # 0.5 itself is not a success (strict >)
    assert m["sr75"] == pytest.approx(1 / 4)   # nor is 0.75
    assert m["frames"] == 4
    assert got10k_metrics(np.ones(3))["ao"] == 1.0
    assert got10k_metrics(np.zeros(3))["ao"] == 0.0


def test_otb_success_uses_21_thresholds_and_strict_greater():
    # IoU exactly 0.5 passes thresholds 0, 0.05, ..., 0.45 (10 of 21), not 0.5
    assert success_curve(np.array([0.5])).tolist() == [1.0] * 10 + [0.0] * 11
    assert success_auc(np.array([0.5])) == pytest.approx(10 / 21)
    # even a perfect IoU fails the last threshold 1.0
    assert success_auc(np.array([1.0])) == pytest.approx(20 / 21)


def test_precision_counts_exactly_20_pixels():
    gt = [(0, 0, 10, 10)] * 3
    pred = [(12, 16, 10, 10), (20, 0, 10, 10), (20.5, 0, 10, 10)]   # 20, 20, 20.5 px off
    errors = center_error(pred, gt)
    assert errors.tolist() == pytest.approx([20.0, 20.0, 20.5])
    assert precision_at(errors) == pytest.approx(2 / 3)


def test_otb_averages_over_sequences_not_frames():
    long_bad = (np.zeros(9), np.full(9, 100.0))
    short_good = (np.array([0.9]), np.array([1.0]))
    m = otb_metrics([long_bad, short_good, (np.zeros(0), np.zeros(0))])
    assert m["sequences"] == 2
    assert m["precision"] == pytest.approx(0.5)
    assert m["auc"] == pytest.approx((0 + success_auc(np.array([0.9]))) / 2)
    assert math.isclose(success_auc(np.array([0.9])), 18 / 21)
