import numpy as np
import pytest

from lesion import metrics


def masks(*rows: str) -> np.ndarray:
    return np.array([[c == "#" for c in row] for row in rows])


def test_jaccard_and_dice_by_hand():
    pred = masks("##..", "##..")
    truth = masks("#...", "#...", )
    # intersection 2, union 4, |p| 4, |t| 2
    assert metrics.jaccard(pred, truth) == pytest.approx(0.5)
    assert metrics.dice(pred, truth) == pytest.approx(2 * 2 / 6)


def test_partial_overlap():
    pred = masks("###.", "....")
    truth = masks(".###", "....")
    assert metrics.jaccard(pred, truth) == pytest.approx(2 / 4)
    assert metrics.dice(pred, truth) == pytest.approx(4 / 6)


def test_empty_masks():
    empty, some = masks("....", "...."), masks("#...", "....")
    assert metrics.jaccard(empty, empty) == 1.0
    assert metrics.dice(empty, empty) == 1.0
    assert metrics.jaccard(empty, some) == 0.0
    assert metrics.dice(some, empty) == 0.0


def test_uint8_255_masks_count_as_lesion():
    pred = np.array([[255, 0]], dtype=np.uint8)
    assert metrics.jaccard(pred, np.array([[1, 0]])) == 1.0


def test_threshold_jaccard_zeroes_scores_below_cutoff():
    out = metrics.threshold_jaccard(np.array([0.64, 0.65, 0.9, 0.0]))
    assert out.tolist() == [0.0, 0.65, 0.9, 0.0]


def test_auc_by_hand_and_single_class():
    # positives score 0.8 and 0.4, negatives 0.5 and 0.1: 3 of 4 pairs ordered correctly
    assert metrics.auc(np.array([1, 1, 0, 0]), np.array([0.8, 0.4, 0.5, 0.1])) == pytest.approx(0.75)
    assert metrics.auc(np.array([0, 0]), np.array([0.2, 0.3])) is None


def test_sensitivity_specificity_by_hand():
    labels = np.array([1, 1, 1, 0, 0])
    scores = np.array([0.9, 0.6, 0.2, 0.7, 0.1])
    sens, spec = metrics.sensitivity_specificity(labels, scores, threshold=0.5)
    assert sens == pytest.approx(2 / 3)
    assert spec == pytest.approx(1 / 2)
    assert metrics.sensitivity_specificity(np.array([0, 0]), np.array([0.1, 0.9]), 0.5) == (None, 0.5)
