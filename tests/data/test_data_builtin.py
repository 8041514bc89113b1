"""Built-in digits and patches: shapes, ranges, fixed disjoint splits, determinism."""

import pytest
import torch
from torch.utils.data import Dataset

from convis_widgets.data import digits, patches


def _rows(images: torch.Tensor) -> set[bytes]:
    return {img.numpy().tobytes() for img in images}


def test_digits_shapes_ranges_and_split_sizes() -> None:
    train, test = digits("train"), digits("test")
    assert isinstance(train, Dataset)
    assert (len(train), len(test)) == (1437, 360)
    for ds in (train, test):
        assert ds.images.dtype == torch.float32 and ds.images.shape[1:] == (1, 28, 28)
        assert ds.labels.dtype == torch.int64 and ds.labels.shape == (len(ds),)
        assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
        assert ds.classes == [str(d) for d in range(10)]
        # MNIST layout: the digit lives in the central 20x20 box, the 4-pixel frame is empty.
        inner = torch.zeros(28, 28, dtype=torch.bool)
        inner[4:24, 4:24] = True
        assert ds.images[..., ~inner].abs().max() == 0
    image, label = train[0]
    assert image.shape == (1, 28, 28) and isinstance(label, int)
    assert train.name != test.name


def test_digits_split_is_stratified_disjoint_and_deterministic() -> None:
    train, test = digits("train"), digits("test")
    counts = torch.bincount(test.labels, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38
    assert not _rows(train.images) & _rows(test.images)
    again = digits("test")
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)


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
