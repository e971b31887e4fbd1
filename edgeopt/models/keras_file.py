"""Is this file a Keras model? Answered from its first bytes, without TensorFlow, in milliseconds.

`edgeopt validate` (a `load` step's path) and `edgeopt search` ask before any dataset is loaded or
any model built, so a `.tflite`, a text file or an empty file is refused at once with a message
that names what is wanted, instead of an HDF5 library error after seconds of loading data.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # an .h5 file (tf_keras and Keras 3 `model.save('m.h5')`)
TFLITE_IDENTIFIER = b"TFL3"  # bytes 4–8 of a .tflite flatbuffer


def keras_file_problem(path: Path) -> str | None:
    """Why `path` is not a Keras model file (a .keras zip or an HDF5 .h5), or None when it looks like one.

    The answer completes a sentence that starts with the path: "not found", "is a TensorFlow Lite model (.tflite)", …

    Example:
        >>> keras_file_problem(Path("runs/quickstart/base_int8/model.tflite"))  # doctest: +SKIP
        'is a TensorFlow Lite model (.tflite)'
    """
    path = Path(path)
    if not path.exists():
        return "not found"
    if path.is_dir():
        return "is a folder"
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        return f"is unreadable ({exc.strerror or exc})"
    if not head:
        return "is empty (0 bytes)"
    if head == HDF5_SIGNATURE:
        return None
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (OSError, zipfile.BadZipFile):
            return "is a damaged zip archive"
        return None if "config.json" in names else "is a zip archive without a Keras model's config.json"
    if head[4:8] == TFLITE_IDENTIFIER:
        return "is a TensorFlow Lite model (.tflite)"
    return "is neither a .keras archive nor an HDF5 .h5 file"
