"""inspect_tflite: file checks before the interpreter, params, MACs, dtype, I/O quantization."""

from __future__ import annotations

import pytest

from edgeopt.common.errors import ModelFileError
from edgeopt.profile.tflite_file import inspect_tflite, open_interpreter, read_tflite_bytes

# Conv2D(4, 3) on 8x8x1, 'valid' -> 6x6x4 output, 3*3*1 taps each; then Dense 4 -> 3.
TINY_MACS = 6 * 6 * 4 * 3 * 3 * 1 + 3 * 4
# DepthwiseConv2D(3, depth_multiplier=2) on 8x8x2 -> 6x6x4, 3*3 taps; Dense 144->32; 32->3.
DENSE_MACS = 6 * 6 * 4 * 3 * 3 + 32 * 144 + 3 * 32


def test_macs_of_tiny_model_equal_hand_count(tiny_tflite_models):
    for path in (tiny_tflite_models.float32, tiny_tflite_models.int8):
        info = inspect_tflite(path)
        assert info.macs == TINY_MACS
        assert [op.op_name for op in info.ops if op.macs] == ["CONV_2D", "FULLY_CONNECTED"]
        assert sum(op.macs for op in info.ops) == info.macs


def test_macs_count_depthwise_and_dense_layers(tiny_tflite_models):
    info = inspect_tflite(tiny_tflite_models.dynamic)
    assert info.macs == DENSE_MACS
    assert "DEPTHWISE_CONV_2D" in [op.op_name for op in info.ops]


def test_params_match_keras_count(tiny_tflite_models):
    """TFLite stores exactly Keras' weights here (no BatchNorm to fold, biases non-zero).

    What conversion adds is the int32 axis operand of MEAN (from GlobalAveragePooling2D):
    it is a constant with buffer data, so it is in `const_elems` but not in `params`.
    Conversion can also remove parameters: BatchNorm folds into the conv before it, and an
    all-zero bias is dropped — the fixture avoids both.
    """
    for path in (tiny_tflite_models.float32, tiny_tflite_models.int8):
        info = inspect_tflite(path)
        assert info.params == tiny_tflite_models.keras_params == 55
        assert info.const_elems == info.params + 2  # MEAN's reduction axes [1, 2]


def test_dtype_and_io_quantization(tiny_tflite_models):
    f32 = inspect_tflite(tiny_tflite_models.float32)
    assert (f32.dtype, f32.input_dtype, f32.input_scale, f32.input_zero_point) == (
        "float32", "float32", None, None)
    i8 = inspect_tflite(tiny_tflite_models.int8)
    assert (i8.dtype, i8.input_dtype, i8.output_dtype) == ("int8", "int8", "int8")
    assert i8.input_scale is not None and i8.input_scale > 0
    assert -128 <= i8.input_zero_point <= 127
    assert i8.output_scale is not None and i8.output_zero_point is not None
    assert all(op.input_dtype == "int8" for op in i8.ops)
    dyn = inspect_tflite(tiny_tflite_models.dynamic)
    assert (dyn.dtype, dyn.input_dtype) == ("dynamic", "float32")


def test_shapes_sizes_and_classes(tiny_tflite_models):
    info = inspect_tflite(tiny_tflite_models.int8)
    assert info.input_shape == (1, 8, 8, 1)
    assert info.output_shape == (1, 3)
    assert info.num_classes == 3
    assert info.size_bytes == tiny_tflite_models.int8.stat().st_size
    assert 0 < info.gzip_bytes < info.size_bytes * 2
    conv = info.ops[0]
    assert conv.weight_elems == 36 + 4 and conv.weight_bytes == 36 + 4 * 4  # int8 w, int32 b
    assert conv.activation_in_elems == 64 and conv.activation_out_elems == 144


def test_missing_file_names_it_and_says_not_found(tmp_path):
    path = tmp_path / "nope.tflite"
    with pytest.raises(ModelFileError, match=r"nope\.tflite.*not found"):
        inspect_tflite(path)


def test_empty_file_is_rejected(tmp_path):
    path = tmp_path / "empty.tflite"
    path.write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"empty\.tflite is empty.*edgeopt run"):
        inspect_tflite(path)


def test_text_renamed_tflite_is_rejected(tmp_path):
    path = tmp_path / "notes.tflite"
    path.write_text("these are my notes, not a model\n")
    with pytest.raises(ModelFileError, match=r"notes\.tflite is not a TFLite model.*TFL3"):
        inspect_tflite(path)


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.99])
def test_truncated_file_is_rejected_before_the_interpreter(tiny_tflite_models, tmp_path,
                                                           fraction):
    data = tiny_tflite_models.int8.read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[: int(len(data) * fraction)])
    for check in (inspect_tflite, read_tflite_bytes, open_interpreter):
        with pytest.raises(ModelFileError, match=r"cut\.tflite is truncated.*copy it again"):
            check(path)


def test_every_truncation_of_a_model_is_caught(tiny_tflite_models, tmp_path):
    data = tiny_tflite_models.float32.read_bytes()
    path = tmp_path / "cut.tflite"
    missed = []
    for n in range(1, len(data), 7):
        path.write_bytes(data[:n])
        try:
            inspect_tflite(path)
        except ModelFileError:
            continue
        missed.append(n)
    assert missed == []


def test_directory_is_rejected(tmp_path):
    with pytest.raises(ModelFileError, match="directory"):
        inspect_tflite(tmp_path)
