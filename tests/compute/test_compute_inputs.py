"""check_images() and expected_input_shape(): bad images get a message that says what to do."""

import numpy as np
import pytest
import torch
from torch import nn

from convis_widgets.compute import InputError, check_images, expected_input_shape


def test_expected_input_shape(nested, plain):
    assert expected_input_shape(nested) == (1, 10, 10)  # the attribute wins
    assert expected_input_shape(plain) == (1, None, None)  # first Conv2d's in_channels
    assert expected_input_shape(nn.Sequential(nn.Linear(3, 2))) is None


def test_accepts_batches_single_images_and_numpy(plain):
    x = torch.rand(5, 1, 14, 14)
    assert check_images(x, model=plain) is not None
    torch.testing.assert_close(check_images(x, model=plain), x)
    single = check_images(x[0], model=plain)
    assert single.shape == (1, 1, 14, 14)
    arr = check_images(np.ones((2, 1, 14, 14)), model=plain)  # float64 -> the model's float32
    assert arr.dtype == torch.float32 and arr.shape == (2, 1, 14, 14)
    assert check_images(np.ones((3, 4, 4))).dtype == torch.float64  # no model: keep dtype


def test_wrong_ndim():
    with pytest.raises(InputError, match=r"\(N, C, H, W\).*got shape \(28, 28\).*x\[None\]"):
        check_images(torch.rand(28, 28))
    with pytest.raises(InputError, match=r"got shape \(1, 2, 1, 28, 28\) with 5 dims"):
        check_images(torch.rand(1, 2, 1, 28, 28))


@pytest.mark.parametrize("images", [torch.zeros(1, 1, 4, 4, dtype=torch.uint8),
                                    torch.zeros(1, 1, 4, 4, dtype=torch.bool),
                                    np.zeros((1, 1, 4, 4), dtype=np.int64)])
def test_integer_dtype(images):
    with pytest.raises(InputError, match=r"float.*/ 255"):
        check_images(images)


def test_not_an_array():
    with pytest.raises(InputError, match="got list"):
        check_images([[1.0]])


def test_channel_and_size_mismatch_names_both_shapes(nested, plain):
    with pytest.raises(InputError) as info:
        check_images(torch.rand(2, 3, 32, 32), model=nested)
    assert str(info.value) == (
        "model expects images of shape (N, 1, 10, 10) (channels, height, width = 1, 10, 10); "
        "got (N, 3, 32, 32)"
    )
    with pytest.raises(InputError, match=r"\(N, 1, H, W\) .*got \(N, 3, 14, 14\)"):
        check_images(torch.rand(2, 3, 14, 14), model=plain)
    with pytest.raises(InputError, match=r"\(N, 1, 28, 28\).*got \(N, 1, 14, 14\)"):
        check_images(torch.rand(2, 1, 14, 14), input_shape=(1, 28, 28))


def test_nan_and_inf_counted_and_located():
    x = torch.rand(3, 1, 4, 4)
    x[1, 0, 2, 3] = float("nan")
    x[2, 0, 0, 0] = float("nan")
    x[2, 0, 1, 1] = float("inf")
    with pytest.raises(InputError, match=r"2 NaN and 1 Inf values \(first at index \(1, 0, 2, 3\)"):
        check_images(x)
    y = np.zeros((1, 1, 2, 2), dtype=np.float32)
    y[0, 0, 1, 0] = -np.inf
    with pytest.raises(InputError, match=r"0 NaN and 1 Inf.*\(0, 0, 1, 0\)"):
        check_images(y)


def test_empty_batch():
    with pytest.raises(InputError, match="empty batch"):
        check_images(torch.rand(0, 1, 4, 4))
    with pytest.raises(InputError, match="zero-size"):
        check_images(torch.rand(2, 1, 0, 4))
