"""Accuracy through the interpreter: quantization, batching, data checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeopt.common.errors import DataError
from edgeopt.profile.accuracy import dequantize_output, evaluate_tflite, predict_tflite, quantize_input


def test_float32_tflite_matches_keras_outputs(tiny_tflite_models):
    m = tiny_tflite_models
    outputs = predict_tflite(m.float32, m.x)
    np.testing.assert_allclose(outputs, m.keras_logits, rtol=1e-4, atol=1e-4)
    assert evaluate_tflite(m.float32, m.x, m.keras_labels) == 1.0


def test_int8_tflite_agrees_with_keras_predictions(tiny_tflite_models):
    m = tiny_tflite_models
    assert len(set(m.keras_labels.tolist())) == 3  # otherwise agreement would prove nothing
    assert evaluate_tflite(m.int8, m.x, m.keras_labels) >= 0.9
    # Dequantized int8 outputs land near the float logits: the scale and zero point are used.
    outputs = predict_tflite(m.int8, m.x)
    spread = np.ptp(m.keras_logits)
    assert np.median(np.abs(outputs - m.keras_logits)) < 0.05 * spread


def test_accuracy_on_true_labels_is_close_to_keras(tiny_tflite_models):
    m = tiny_tflite_models
    keras_accuracy = float(np.mean(m.keras_labels == m.y))
    assert evaluate_tflite(m.float32, m.x, m.y) == pytest.approx(keras_accuracy)
    assert abs(evaluate_tflite(m.int8, m.x, m.y) - keras_accuracy) <= 0.05


@pytest.mark.parametrize("model", ["float32", "int8"])
def test_batched_and_single_sample_runs_agree(tiny_tflite_models, model):
    m = tiny_tflite_models
    path = getattr(m, model)
    one = predict_tflite(path, m.x, batch_size=1)
    batched = predict_tflite(path, m.x, batch_size=64)  # 200 = 3*64 + 8: a short last batch
    np.testing.assert_allclose(batched, one, rtol=1e-5, atol=1e-5)
    assert evaluate_tflite(path, m.x, m.keras_labels, batch_size=1) == evaluate_tflite(
        path, m.x, m.keras_labels, batch_size=64)


def test_labels_shaped_n_by_1_are_accepted(tiny_tflite_models):
    m = tiny_tflite_models
    assert evaluate_tflite(m.float32, m.x, m.keras_labels[:, None]) == 1.0


def test_shape_mismatch_names_both_shapes(tiny_tflite_models):
    m = tiny_tflite_models
    with pytest.raises(DataError, match=r"\(8, 8\).*\(8, 8, 1\).*x\[\.\.\., None\]"):
        evaluate_tflite(m.int8, m.x[..., 0], m.keras_labels)
    with pytest.raises(DataError, match=r"\(16, 16, 1\).*\(8, 8, 1\)"):
        evaluate_tflite(m.int8, np.zeros((4, 16, 16, 1), np.float32), np.zeros(4, int))


def test_label_problems_are_data_errors(tiny_tflite_models):
    m = tiny_tflite_models
    with pytest.raises(DataError, match="200 samples but 10 labels"):
        evaluate_tflite(m.float32, m.x, m.keras_labels[:10])
    with pytest.raises(DataError, match="one-hot"):
        evaluate_tflite(m.float32, m.x, np.eye(3, dtype=np.float32)[m.keras_labels])
    with pytest.raises(DataError, match="No samples"):
        evaluate_tflite(m.float32, m.x[:0], m.keras_labels[:0])


def test_quantize_input_rounds_and_clips():
    q = quantize_input(np.array([0.0, 0.2, 1.0, 2.0, -1.0]), np.int8, 1 / 255, -128)
    assert q.dtype == np.int8
    assert q.tolist() == [-128, -77, 127, 127, -128]  # 0.2*255 = 51 steps above -128


@given(x=st.floats(0, 1), scale=st.floats(1e-3, 1e-1), zero_point=st.integers(-128, 0))
def test_quantize_then_dequantize_is_within_half_a_step(x, scale, zero_point):
    q = quantize_input(np.array([x]), np.int8, scale, zero_point)
    back = dequantize_output(q, scale, zero_point)[0]
    representable_max = (127 - zero_point) * scale
    if x <= representable_max:
        assert abs(back - x) <= scale / 2 + 1e-6
    else:
        assert q[0] == 127


def test_quantize_rounds_ties_away_from_zero_like_tflite():
    # TFLite's QUANTIZE kernel uses std::round: 2.5 -> 3 and -2.5 -> -3 (numpy would give 2, -2).
    q = quantize_input(np.array([2.5, -2.5, 0.5]), np.int8, 1.0, 0)
    assert q.tolist() == [3, -3, 1]
