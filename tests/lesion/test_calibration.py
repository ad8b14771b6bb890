import numpy as np

from lesion.calibration import Calibration, LabelCalibration, fit_label_calibration


def test_identity_calibration_keeps_probabilities():
    raw = np.array([0.1, 0.5, 0.9])
    assert np.allclose(LabelCalibration().probability(raw), raw, atol=1e-6)


def test_json_round_trip():
    cal = Calibration({"melanoma": LabelCalibration(1.5, -0.2, 0.3, "x"),
                       "seborrheic_keratosis": LabelCalibration()})
    assert Calibration.from_json(cal.to_json()) == cal


def test_fit_reaches_target_sensitivity():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(100), np.zeros(300)]
    raw = np.clip(np.r_[rng.normal(0.6, 0.15, 100), rng.normal(0.35, 0.15, 300)], 0.01, 0.99)
    cal = fit_label_calibration(labels, raw, target_sensitivity=0.9)
    decisions = cal.decision(cal.probability(raw))
    assert decisions[labels == 1].mean() >= 0.9
    assert cal.slope > 0


def test_fit_with_a_single_class_stays_uncalibrated():
    cal = fit_label_calibration(np.zeros(5), np.full(5, 0.3))
    assert (cal.slope, cal.intercept, cal.threshold) == (1.0, 0.0, 0.5)
    assert "single class" in cal.description
