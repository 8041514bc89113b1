"""Loaders for MNIST (IDX), CIFAR-10 (python pickles) and SVHN (.mat) files already on disk.

Nothing here downloads: point ``root`` at the files torchvision (or you) fetched earlier.
"""

from __future__ import annotations

import codecs
import gzip
import importlib
import os
import pickle
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .dataset import ImageDataset
from .errors import DatasetFormatError, UnsafePickleError

DIGIT_CLASSES = [str(d) for d in range(10)]
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
SVHN_SPLITS = ("train", "test", "extra")

_IDX_IMAGES_MAGIC = 0x00000803
_IDX_LABELS_MAGIC = 0x00000801


def _to_dataset(pixels: np.ndarray, labels: np.ndarray, classes: list[str], name: str) -> ImageDataset:
    """Wrap uint8 NCHW pixels and integer labels as float32 images in [0, 1]."""
    images = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32) / 255.0)
    return ImageDataset(images, torch.from_numpy(labels.astype(np.int64)), classes, name)


def _check_labels(labels: np.ndarray, n_classes: int, path: Path) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetFormatError(
            f"{path}: labels must lie in 0..{n_classes - 1}, found {labels.min()}..{labels.max()}"
        )


# --- MNIST -------------------------------------------------------------------------------


def _find_mnist_file(root: Path, stem: str) -> Path:
    """Return the first of root/MNIST/raw/stem[.gz], root/stem[.gz] that exists."""
    candidates = [
        folder / (stem + suffix) for folder in (root / "MNIST" / "raw", root) for suffix in ("", ".gz")
    ]
    for path in candidates:
        if path.is_file():
            return path
    looked = "\n  ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"MNIST file {stem!r} not found. Looked for:\n  {looked}\n"
        "Expected torchvision's layout root/MNIST/raw/<file>[.gz] or the files directly in root."
    )


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one IDX file (raw or gzip) with a uint8 payload, checking magic and size."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetFormatError(f"{path}: cannot decompress ({err})") from err
    if len(data) < 4:
        raise DatasetFormatError(f"{path}: {len(data)} bytes, too short for an IDX header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DatasetFormatError(f"{path}: bad IDX magic number 0x{found:08x}, expected 0x{magic:08x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetFormatError(f"{path}: truncated IDX header ({len(data)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DatasetFormatError(
            f"{path}: header says shape {dims} ({expected} bytes) but the file has "
            f"{len(data)} bytes; truncated or corrupt"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_mnist(root: str | os.PathLike[str], train: bool = True) -> ImageDataset:
    """Read MNIST's IDX files (raw or .gz) from root/MNIST/raw or root itself."""
    root = Path(root)
    prefix = "train" if train else "t10k"
    images_path = _find_mnist_file(root, f"{prefix}-images-idx3-ubyte")
    labels_path = _find_mnist_file(root, f"{prefix}-labels-idx1-ubyte")
    images = _read_idx(images_path, _IDX_IMAGES_MAGIC)
    labels = _read_idx(labels_path, _IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise DatasetFormatError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    _check_labels(labels, 10, labels_path)
    return _to_dataset(images[:, None], labels, DIGIT_CLASSES, f"MNIST-{prefix}")


# --- CIFAR-10 ----------------------------------------------------------------------------


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals a CIFAR batch needs: numpy's array reconstructors and dtype/ndarray."""
    core = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"
    multiarray = importlib.import_module(f"{core}.multiarray")
    numeric = importlib.import_module(f"{core}.numeric")
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes bytes as _codecs.encode(str, "latin1") under pickle protocol 2.
        ("_codecs", "encode"): codecs.encode,
    }
    for module in ("numpy.core", "numpy._core"):
        allowed[(f"{module}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{module}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{module}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals and refuses everything else."""

    allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused global {module}.{name}: a CIFAR batch only needs numpy arrays "
                "and plain containers, so this pickle was not loaded"
            ) from None


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Unpickle one CIFAR-10 batch safely and return (N,3,32,32) uint8 pixels and labels."""
    try:
        with path.open("rb") as f:
            batch = _RestrictedUnpickler(f, encoding="bytes").load()
    except UnsafePickleError as err:
        raise UnsafePickleError(f"{path}: {err}") from None
    except Exception as err:  # a corrupt pickle can fail in many ways
        raise DatasetFormatError(f"{path}: cannot unpickle ({type(err).__name__}: {err})") from err
    if not isinstance(batch, dict):
        raise DatasetFormatError(f"{path}: expected a dict, found {type(batch).__name__}")
    keys = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in keys or "labels" not in keys:
        raise DatasetFormatError(
            f"{path}: expected keys b'data' and b'labels', found {sorted(batch, key=str)}"
        )
    data, labels = keys["data"], np.asarray(keys["labels"])
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == 3 * 32 * 32
    ):
        raise DatasetFormatError(
            f"{path}: b'data' must be a uint8 array of shape (N, 3072), found "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        )
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetFormatError(
            f"{path}: b'labels' must hold {len(data)} integers, found {labels.dtype} {labels.shape}"
        )
    _check_labels(labels, 10, path)
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(root: str | os.PathLike[str], train: bool = True) -> ImageDataset:
    """Read CIFAR-10's python batches from root/cifar-10-batches-py (or that folder itself)."""
    root = Path(root)
    folder = root / "cifar-10-batches-py"
    if not folder.is_dir():
        folder = root
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    missing = [folder / n for n in names if not (folder / n).is_file()]
    if missing:
        looked = "\n  ".join(str(p) for p in missing)
        raise FileNotFoundError(
            f"CIFAR-10 batch files not found:\n  {looked}\n"
            "Expected root/cifar-10-batches-py/data_batch_1..5 and test_batch "
            "(or root pointing at that folder)."
        )
    batches = [_read_cifar_batch(folder / n) for n in names]
    pixels = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    return _to_dataset(pixels, labels, CIFAR10_CLASSES, f"CIFAR-10-{'train' if train else 'test'}")


# --- SVHN --------------------------------------------------------------------------------


def load_svhn(root: str | os.PathLike[str], split: str = "train") -> ImageDataset:
    """Read SVHN's format-2 root/<split>_32x32.mat; label 10 (digit 0) becomes 0."""
    if split not in SVHN_SPLITS:
        raise ValueError(f"split must be one of {SVHN_SPLITS}, got {split!r}")
    path = Path(root) / f"{split}_32x32.mat"
    if not path.is_file():
        raise FileNotFoundError(
            f"SVHN file not found: {path}\n"
            "Expected root/train_32x32.mat, root/test_32x32.mat, root/extra_32x32.mat "
            "(SVHN format 2, cropped digits)."
        )
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises several types for unreadable files
        raise DatasetFormatError(f"{path}: not a readable .mat file ({type(err).__name__}: {err})") from err
    if "X" not in mat or "y" not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DatasetFormatError(f"{path}: expected variables 'X' and 'y', found {found}")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DatasetFormatError(
            f"{path}: 'X' must be a uint8 array of shape (32, 32, 3, N), found {x.dtype} {x.shape}"
        )
    if len(y) != x.shape[3] or y.dtype.kind not in "iuf" or not np.all(y == np.round(y)):
        raise DatasetFormatError(
            f"{path}: 'y' must hold {x.shape[3]} integer labels, found {y.dtype} {y.shape}"
        )
    labels = y.astype(np.int64)
    labels[labels == 10] = 0
    _check_labels(labels, 10, path)
    return _to_dataset(x.transpose(3, 2, 0, 1), labels, DIGIT_CLASSES, f"SVHN-{split}")
