"""The case study's data: scikit-learn's digits, MNIST from its IDX files, or tfds.

Every loader returns a :class:`Dataset` of flat float32 images in [0, 1] and int32 labels.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # 0x00000803 (ubyte, 3 dims), 0x00000801 (ubyte, 1)
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_URL = "https://yann.lecun.org/exdb/mnist/ (or any mirror)"


class IdxError(ValueError):
    """An IDX file that is corrupt: bad magic number, truncated, or inconsistent."""


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray  # (n, features) float32 in [0, 1]
    y_train: np.ndarray  # (n,) int32
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    def describe(self) -> str:
        n_train, n_test = len(self.x_train), len(self.x_test)
        return f"{self.name}: {n_train} train / {n_test} test, {self.n_features} inputs"


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzipped if its name ends in ``.gz``) into a NumPy array.

    The header is the magic number (two zero bytes, a type code, the number of dimensions),
    then one big-endian uint32 per dimension, then the data in row-major order.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    try:
        with (gzip.open if path.name.endswith(".gz") else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise IdxError(f"{path}: cannot be decompressed ({err}); the file is corrupt") from None
    if len(raw) < 4:
        raise IdxError(f"{path}: truncated: {len(raw)} bytes, an IDX header needs at least 4")
    (magic,) = struct.unpack(">I", raw[:4])
    ndim = raw[3]
    if raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES or ndim == 0:
        raise IdxError(f"{path}: bad magic number {magic} (0x{magic:08x}): not an IDX file")
    if expected_magic is not None and magic != expected_magic:
        raise IdxError(f"{path}: bad magic number {magic}, expected {expected_magic}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxError(f"{path}: truncated in the header ({len(raw)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    need = math.prod(dims) * dtype.itemsize
    if len(raw) - header != need:
        what = "truncated" if len(raw) - header < need else "too long"
        raise IdxError(
            f"{path}: {what}: {len(raw) - header} data bytes, the header's shape {dims} needs "
            f"{need}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims)


def find_idx(data_dir: Path, stem: str) -> Path:
    """``data_dir/stem`` or ``stem.gz`` (also the ``train-images.idx3-ubyte`` spelling)."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, f"{stem}.gz", dotted, f"{dotted}.gz"):
        if (data_dir / name).is_file():
            return data_dir / name
    raise FileNotFoundError(
        f"MNIST file {stem}[.gz] not found in {data_dir}; download the four IDX files from "
        f"{MNIST_URL}"
    )


def load_mnist(data_dir: str | Path) -> Dataset:
    """MNIST's 60,000 training and 10,000 test images from the standard IDX files."""
    data_dir, arrays = Path(data_dir), {}
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data-dir {data_dir} is not a folder")
    for split in ("train", "t10k"):
        images_path = find_idx(data_dir, f"{split}-images-idx3-ubyte")
        labels_path = find_idx(data_dir, f"{split}-labels-idx1-ubyte")
        images = read_idx(images_path, IMAGES_MAGIC)
        labels = read_idx(labels_path, LABELS_MAGIC)
        if len(images) != len(labels):
            raise IdxError(f"{labels_path}: {len(labels)} labels for {len(images)} images")
        if labels.size and labels.max() > 9:
            raise IdxError(f"{labels_path}: label {labels.max()} outside 0..9")
        x = (images.reshape(len(images), -1) / 255.0).astype(np.float32)
        arrays[split] = (x, labels.astype(np.int32))
    return Dataset("mnist", *arrays["train"], *arrays["t10k"])


def load_digits(seed: int) -> Dataset:
    """scikit-learn's 1,797 8x8 digits (bundled, no network), an 80/20 stratified split."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    digits = sk_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    split = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    return Dataset("digits", split[0], split[2], split[1], split[3])


def load_tfds() -> Dataset:
    """MNIST through tensorflow_datasets (downloads on first use)."""
    import tensorflow_datasets as tfds  # an ImportError is reported by the caller

    train, test = tfds.as_numpy(tfds.load("mnist", split=["train", "test"], batch_size=-1))
    arrays = []
    for part in (train, test):
        x = part["image"].reshape(len(part["image"]), -1) / 255.0
        arrays += [x.astype(np.float32), part["label"].astype(np.int32)]
    return Dataset("mnist (tfds)", *arrays)


def tfds_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorflow_datasets") is not None
