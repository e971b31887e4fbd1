"""Open a `.tflite` file safely: check it in Python, then hand the checked bytes to LiteRT.

The file is checked *before* the native LiteRT interpreter sees it, so that a missing, empty,
foreign or truncated file becomes a `ModelFileError` that says what to do, not a bare `ValueError`
from C++. What the flatbuffer holds (ops, params, MACs) is read by `tflite_graph.py`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from edgeopt.common.errors import EdgeoptError, ModelFileError
from edgeopt.common.quiet import native_output_captured
from edgeopt.profile.tflite_graph import FIX_HINT, TfliteInfo, parse_tflite

if TYPE_CHECKING:  # the interpreter loads a native library; only type-check against it here
    from ai_edge_litert.interpreter import Interpreter

TFLITE_FILE_IDENTIFIER = b"TFL3"
# The largest file read as a model: a flatbuffer is limited to 2 GiB, and models above that keep
# their buffers after it; beyond this a path is almost surely the wrong file (a disk image, a dump).
MAX_MODEL_BYTES = 4 * 2**30


def read_tflite_bytes(path: str | os.PathLike) -> bytes:
    """Read a `.tflite` file and check that it is a complete TFLite flatbuffer.

    Args:
        path: The model file.

    Returns:
        The file's bytes, safe to hand to the LiteRT interpreter.

    Raises:
        ModelFileError: The file is missing, unreadable, empty, not a TFLite model, or truncated.

    Example:
        >>> data = read_tflite_bytes("runs/x/int8/model.tflite")  # doctest: +SKIP
    """
    data = _read_file(Path(path))
    parse_tflite(Path(path), data)  # raises ModelFileError when the flatbuffer does not hold together
    return data


def inspect_tflite(path: str | os.PathLike) -> TfliteInfo:
    """Describe a `.tflite` file: size, gzip size, params, MACs, dtype, inputs and outputs.

    MACs count one inference at the stored batch size (1 for Keras exports): CONV_2D =
    out_elems*kh*kw*cin, DEPTHWISE_CONV_2D = out_elems*kh*kw, FULLY_CONNECTED =
    out_elems*in_features, BATCH_MATMUL = out_elems*K, TRANSPOSE_CONV = in_elems*kh*kw*cout;
    every other op counts 0.

    Args:
        path: The model file.

    Returns:
        A frozen `TfliteInfo`.

    Raises:
        ModelFileError: The file is missing, empty, not a TFLite model, or truncated.

    Example:
        >>> info = inspect_tflite("model_int8.tflite")  # doctest: +SKIP
        >>> info.dtype, info.macs, info.input_scale  # doctest: +SKIP
        ('int8', 1234, 0.0039)
    """
    path = Path(path)
    data = _read_file(path)
    return parse_tflite(path, data)


def open_interpreter(path: str | os.PathLike, *, threads: int = 1) -> "Interpreter":
    """Check a `.tflite` file, then load it into a LiteRT interpreter with tensors allocated.

    Args:
        path: The model file.
        threads: CPU threads the interpreter may use.

    Returns:
        A ready `ai_edge_litert.interpreter.Interpreter`.

    Raises:
        ModelFileError: The file is bad (see `read_tflite_bytes`) or this LiteRT cannot run it.

    Example:
        >>> interpreter = open_interpreter("model.tflite", threads=2)  # doctest: +SKIP
        >>> interpreter.invoke()  # doctest: +SKIP
    """
    from ai_edge_litert.interpreter import Interpreter  # native library: load only when running

    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise EdgeoptError(
            f"`threads` must be an integer >= 1. Received: threads={threads!r} (model {path})."
        )
    data = read_tflite_bytes(path)
    try:
        # Hand over the bytes already checked rather than the path, so the interpreter runs
        # exactly what was validated even if the file changes on disk meanwhile.
        # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate" from C++ to fd 2.
        with native_output_captured():
            interpreter = Interpreter(model_content=data, num_threads=threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise ModelFileError(
            f"{path}: LiteRT {_litert_version()} cannot load this model: {err}. "
            "If it uses an op this runtime lacks, update ai-edge-litert on the device; "
            f"if the file is damaged: {FIX_HINT}"
        ) from err
    return interpreter


def _litert_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-edge-litert")
    except PackageNotFoundError:
        return "(unknown version)"


def _read_file(path: Path) -> bytes:
    try:
        st = path.stat()  # follows symlinks: what a read would open
    except FileNotFoundError:
        raise ModelFileError(
            f"Model file {path} not found. Check the path, or re-export it with `edgeopt run` "
            "or copy it again from the device."
        ) from None
    except OSError as err:
        raise ModelFileError(f"Cannot read model file {path}: {err.strerror}. Check the path and its permissions.") from err
    if stat.S_ISDIR(st.st_mode):
        raise ModelFileError(f"{path} is a directory, not a .tflite model file. Pass the file.")
    if not stat.S_ISREG(st.st_mode):
        # Reading a FIFO blocks until a writer comes, /dev/zero never ends: refuse them unread.
        raise ModelFileError(f"{path} is a {_file_kind(st.st_mode)}, not a regular .tflite file. "
                             "Copy the model into a file and pass that.")
    if st.st_size > MAX_MODEL_BYTES:
        raise ModelFileError(
            f"{path} is {st.st_size / 2**30:.1f} GiB, larger than any TFLite model edgeopt profiles "
            f"({MAX_MODEL_BYTES / 2**30:.0f} GiB: a flatbuffer holds at most 2 GiB, plus buffers stored after it). "
            "Is it the right file?")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelFileError(f"Cannot read model file {path}: {err.strerror}. "
                             "Check its permissions.") from err
    if not data:
        raise ModelFileError(f"Model file {path} is empty (0 bytes). {FIX_HINT}")
    if len(data) < 8 or data[4:8] != TFLITE_FILE_IDENTIFIER:
        raise ModelFileError(
            f"{path} is not a TFLite model: bytes 4..8 are {data[4:8]!r}, not the TFLite file "
            f"identifier {TFLITE_FILE_IDENTIFIER!r}. Is it a Keras/SavedModel file or text "
            f"renamed .tflite? {FIX_HINT}"
        )
    return data


def _file_kind(mode: int) -> str:
    kinds = {stat.S_ISFIFO: "FIFO (named pipe)", stat.S_ISCHR: "character device", stat.S_ISBLK: "block device",
             stat.S_ISSOCK: "socket"}
    return next((name for test, name in kinds.items() if test(mode)), "special file")
