"""compute.batches: every form a data set comes in gives the same images, in order, batch by batch."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from convis_widgets.compute import InputError
from convis_widgets.compute.batches import held_images, image_batches, known_length
from convis_widgets.data import ImageDataset

IMAGES = torch.rand(10, 1, 4, 4, generator=torch.Generator().manual_seed(0))
LABELS = torch.arange(10) % 3


class Stream(IterableDataset):
    def __iter__(self):
        return iter(IMAGES)


class NoLength(Dataset):
    def __getitem__(self, i):
        return IMAGES[i]


FORMS = {
    "tensor": IMAGES,
    "array": IMAGES.numpy(),
    "ImageDataset": ImageDataset(IMAGES, LABELS, ["a", "b", "c"], "tiny"),
    "pairs Dataset": TensorDataset(IMAGES, LABELS),
    "DataLoader": DataLoader(TensorDataset(IMAGES, LABELS), batch_size=3),
    "IterableDataset": Stream(),
    "list of batches": [IMAGES[:4], IMAGES[4:]],
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("skip", [0, 5])
def test_every_form_gives_the_images_in_order(form, skip):
    batches = list(image_batches(FORMS[form], 4, skip=skip))
    got = torch.cat([torch.as_tensor(b).reshape(-1, 1, 4, 4) for b in batches])
    torch.testing.assert_close(got, IMAGES[skip:], rtol=0, atol=0)


def test_held_forms_come_in_the_batch_size_asked_for():
    assert [len(b) for b in image_batches(IMAGES, 4)] == [4, 4, 2]
    assert [len(b) for b in image_batches(FORMS["pairs Dataset"], 4)] == [4, 4, 2]
    assert [len(b) for b in image_batches(FORMS["DataLoader"], 4)] == [3, 3, 3, 1]  # the loader's own


def test_one_image_is_a_batch_of_one():
    assert held_images(IMAGES[0]).shape == (1, 1, 4, 4)
    assert known_length(IMAGES[0]) == 1
    assert [b.shape for b in image_batches(IMAGES[0], 4)] == [(1, 1, 4, 4)]


def test_known_length_only_where_it_can_be_told_without_reading():
    assert [known_length(FORMS[f]) for f in FORMS] == [10, 10, 10, 10, 10, None, None]
    assert held_images(FORMS["ImageDataset"]) is IMAGES
    assert held_images(FORMS["DataLoader"]) is None


def test_bad_data_gets_a_clear_error():
    with pytest.raises(InputError, match="a map-style Dataset needs a length; NoLength has no __len__"):
        list(image_batches(NoLength(), 4))
    with pytest.raises(InputError, match=r"data must be an \(N, C, H, W\) tensor .* got str"):
        list(image_batches("digits", 4))
    with pytest.raises(InputError, match="got int"):
        list(image_batches(3, 4))
    assert isinstance(np.asarray(next(image_batches(IMAGES.numpy(), 4))), np.ndarray)
