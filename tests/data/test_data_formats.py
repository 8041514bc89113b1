"""On-disk loaders: tiny files in each format written to tmp_path and read back, plus failures."""

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from convis_widgets.data import (
    DatasetFormatError,
    UnsafePickleError,
    load_cifar10,
    load_mnist,
    load_svhn,
)

RNG = np.random.default_rng(0)


# --- MNIST -------------------------------------------------------------------------------


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    dims = np.array(array.shape, dtype=">u4").tobytes()
    return magic.to_bytes(4, "big") + dims + array.astype(np.uint8).tobytes()


def _write_mnist(folder: Path, prefix: str, n: int, gz: bool) -> tuple[np.ndarray, np.ndarray]:
    images = RNG.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = RNG.integers(0, 10, size=n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array, magic in (
        (f"{prefix}-images-idx3-ubyte", images, 0x803),
        (f"{prefix}-labels-idx1-ubyte", labels, 0x801),
    ):
        data = _idx_bytes(array, magic)
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_mnist_round_trip_torchvision_layout(tmp_path: Path, gz: bool, train: bool) -> None:
    prefix = "train" if train else "t10k"
    images, labels = _write_mnist(tmp_path / "MNIST" / "raw", prefix, 5, gz)
    ds = load_mnist(tmp_path, train=train)
    assert ds.images.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(np.rint(ds.images.numpy()[:, 0] * 255), images)
    np.testing.assert_array_equal(ds.labels.numpy(), labels)


def test_mnist_files_directly_in_root(tmp_path: Path) -> None:
    images, _ = _write_mnist(tmp_path, "t10k", 3, gz=True)
    ds = load_mnist(tmp_path, train=False)
    np.testing.assert_array_equal(np.rint(ds.images.numpy()[:, 0] * 255), images)


def test_mnist_truncated_file(tmp_path: Path) -> None:
    _write_mnist(tmp_path, "train", 4, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetFormatError, match="truncated") as info:
        load_mnist(tmp_path)
    assert str(path) in str(info.value)


def test_mnist_bad_magic(tmp_path: Path) -> None:
    _write_mnist(tmp_path, "train", 2, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + path.read_bytes()[4:])
    with pytest.raises(DatasetFormatError, match="magic"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_mnist_corrupt_gzip(tmp_path: Path, damage: str) -> None:
    _write_mnist(tmp_path, "train", 4, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    data = path.read_bytes()
    path.write_bytes(b"not a gzip stream" * 10 if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(DatasetFormatError, match="decompress") as info:
        load_mnist(tmp_path)
    assert str(path) in str(info.value)


def test_mnist_image_label_count_mismatch(tmp_path: Path) -> None:
    _write_mnist(tmp_path, "train", 4, gz=False)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(np.zeros(3, np.uint8), 0x801))
    with pytest.raises(DatasetFormatError, match="4 images but"):
        load_mnist(tmp_path)


def test_mnist_missing_names_paths_and_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="MNIST/raw") as info:
        load_mnist(tmp_path)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in str(info.value)


# --- CIFAR-10 ----------------------------------------------------------------------------


def _cifar_batch(n: int) -> dict:
    # Keys and strings as bytes, as Python 2 wrote them and encoding="bytes" reads them.
    return {
        b"batch_label": b"testing batch",
        b"labels": RNG.integers(0, 10, size=n).tolist(),
        b"data": RNG.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        b"filenames": [b"img_%d.png" % i for i in range(n)],
    }


def _write_cifar(folder: Path, protocol: int = 2) -> dict[str, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = {name: _cifar_batch(2 + i) for i, name in enumerate(names)}
    for name, batch in batches.items():
        data = pickle.dumps(batch, protocol=protocol)
        if protocol == 2:  # real batches name numpy 1's numpy.core.multiarray._reconstruct
            data = data.replace(b"cnumpy._core.", b"cnumpy.core.")
        (folder / name).write_bytes(data)
    return batches


@pytest.mark.parametrize(("nested", "protocol"), [(True, 2), (False, 2), (True, 5)])
def test_cifar_round_trip(tmp_path: Path, nested: bool, protocol: int) -> None:
    folder = tmp_path / "cifar-10-batches-py" if nested else tmp_path
    batches = _write_cifar(folder, protocol)
    train = load_cifar10(tmp_path, train=True)
    data = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    labels = sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    assert train.images.shape == (len(data), 3, 32, 32)
    np.testing.assert_array_equal(np.rint(train.images.numpy() * 255).reshape(-1, 3072), data)
    assert train.labels.tolist() == labels
    assert train.classes[0] == "airplane" and len(train.classes) == 10
    test = load_cifar10(tmp_path, train=False)
    assert test.labels.tolist() == batches["test_batch"][b"labels"]


class _Evil:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.target}",))


def test_cifar_pickle_carrying_code_is_refused(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    target = tmp_path / "pwned"
    batch = _cifar_batch(2)
    batch[b"labels"] = _Evil(target)
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"refused global \w+\.system") as info:
        load_cifar10(tmp_path, train=False)
    assert isinstance(info.value, DatasetFormatError)
    assert str(tmp_path / "test_batch") in str(info.value)
    assert not target.exists()


def test_cifar_truncated_batch(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    path = tmp_path / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DatasetFormatError, match="cannot unpickle") as info:
        load_cifar10(tmp_path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({b"data": np.zeros((2, 3072), np.uint8)}, "expected keys"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"\(N, 3072\)"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "must hold 2 integers"),
        ([1, 2, 3], "expected a dict"),
    ],
)
def test_cifar_wrong_content(tmp_path: Path, batch: object, message: str) -> None:
    _write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DatasetFormatError, match=message):
        load_cifar10(tmp_path, train=False)


def test_cifar_missing_batches(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data_batch_1") as info:
        load_cifar10(tmp_path)
    assert "cifar-10-batches-py" in str(info.value)


# --- SVHN --------------------------------------------------------------------------------


def test_svhn_round_trip_maps_label_10_to_0(tmp_path: Path) -> None:
    x = RNG.integers(0, 256, size=(32, 32, 3, 4), dtype=np.uint8)
    y = np.array([[10], [1], [9], [10]], dtype=np.uint8)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": x, "y": y})
    ds = load_svhn(tmp_path, split="test")
    assert ds.images.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(np.rint(ds.images.numpy() * 255), x.transpose(3, 2, 0, 1))
    assert ds.labels.tolist() == [0, 1, 9, 0]


def test_svhn_corrupt_mat(tmp_path: Path) -> None:
    path = tmp_path / "train_32x32.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    with pytest.raises(DatasetFormatError, match="not a readable .mat") as info:
        load_svhn(tmp_path)
    assert str(path) in str(info.value)


def test_svhn_wrong_variables(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"images": np.zeros((2, 2))})
    with pytest.raises(DatasetFormatError, match="'X' and 'y'"):
        load_svhn(tmp_path)


def test_svhn_missing_and_bad_split(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="extra_32x32.mat"):
        load_svhn(tmp_path, split="extra")
    with pytest.raises(ValueError, match="'train', 'test', 'extra'"):
        load_svhn(tmp_path, split="valid")
