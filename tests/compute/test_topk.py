"""Top-k maximally activating examples: against brute force, crops against the receptive field,
border clipping marked, streaming with progress, cancel and resume, the model left as it was."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from attribution_models import CALLS, RaisesOnCall
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from convis_widgets.compute import (
    InputError,
    LayerNotFoundError,
    ModelForwardError,
    RunCancelled,
    activations,
    layers,
    model_checksum,
    receptive_field,
)
from convis_widgets.compute.access import HOOK_TABLES
from convis_widgets.compute.topk import TopK, iter_top_k, top_k
from convis_widgets.data import ImageDataset, digits
from convis_widgets.models import pretrained_digits_cnn

SHAPE = (2, 11, 11)
IMAGES = torch.rand(37, *SHAPE, generator=torch.Generator().manual_seed(0))


def padded() -> nn.Sequential:
    """Padded convs, so the fields of units at the border reach past the input."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(5, 6, 3, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 7 * 7, 4),
    ).eval()


def brute_force(model: nn.Module, layer: str, images: torch.Tensor, k: int):
    """Every image's activation at once; per channel the k largest spatial maxima, ties by index."""
    act = activations(model, images, layer=[layer])[layer]
    flat = act.reshape(len(images), act.shape[1], -1)
    best, where = flat.max(dim=2)
    order = torch.sort(best.T, dim=1, descending=True, stable=True).indices[:, :k]
    values = best.T.gather(1, order)
    flat_pos = where.T.gather(1, order)
    width = act.shape[3] if act.ndim == 4 else 1
    return order, values, torch.stack([flat_pos // width, flat_pos % width], dim=-1)


def as_kind(kind: str, images: torch.Tensor):
    labels = torch.zeros(len(images), dtype=torch.int64)
    return {
        "tensor": lambda: images,
        "array": lambda: images.numpy(),
        "ImageDataset": lambda: ImageDataset(images, labels, ["a"], "random"),
        "DataLoader": lambda: DataLoader(TensorDataset(images, labels), batch_size=6),
        "Dataset": lambda: TensorDataset(images, labels),
    }[kind]()


@pytest.mark.parametrize("kind", ["tensor", "array", "ImageDataset", "DataLoader", "Dataset"])
@pytest.mark.parametrize("layer", ["0", "1", "2", "4", "6"])
def test_top_k_equals_brute_force(kind, layer):
    model = padded()
    got = top_k(model, layer, as_kind(kind, IMAGES), k=4, batch_size=5)
    indices, values, positions = brute_force(model, layer, IMAGES, 4)
    assert torch.equal(got.indices, indices)
    torch.testing.assert_close(got.values, values, rtol=1e-6, atol=1e-6)  # batches of another size
    assert torch.equal(got.positions, positions)
    assert got.seen == 37 and got.done and got.k == 4 and got.layer == layer
    assert got.total == 37 and got.fraction == 1.0


def test_on_the_shipped_digits_cnn_every_value_is_the_map_at_its_position():
    model, data = pretrained_digits_cnn(), digits("test").head(300)
    got = top_k(model, "conv3", data)
    act = activations(model, data.images, layer=["conv3"])["conv3"]
    indices, values, _ = brute_force(model, "conv3", data.images, 9)
    assert torch.equal(got.indices, indices) and torch.equal(got.values, values)
    for c in range(0, 128, 5):
        for j in range(9):
            row, col = got.positions[c, j].tolist()
            assert act[got.indices[c, j], c, row, col] == got.values[c, j]
    assert got.values.shape == (128, 9) and (got.values[:, :-1] >= got.values[:, 1:]).all()


@pytest.mark.parametrize("kind", ["tensor", "DataLoader"])  # crops cut at the end / kept as they come
@pytest.mark.parametrize("layer", ["0", "2", "3", "4"])
def test_crops_are_the_receptive_field_clipped_at_the_border_and_marked(kind, layer):
    model = padded()
    got = top_k(model, layer, as_kind(kind, IMAGES), k=5, batch_size=8)
    rf = receptive_field(model, layer, SHAPE)
    assert got.field == rf and got.crops.shape == (got.values.shape[0], 5, 2, *rf.size)
    for c in range(got.values.shape[0]):
        for j in range(5):
            rows, cols = rf.region(*got.positions[c, j].tolist())
            assert got.boxes[c, j].tolist() == [rows.start, cols.start, rows.stop, cols.stop]
            inside = (rows.stop - rows.start, cols.stop - cols.start)
            assert bool(got.clipped[c, j]) == (inside != rf.size)
            image = IMAGES[got.indices[c, j]]
            crop = got.crops[c, j]
            # the field's part inside the input sits where the field starts past the border
            top = rf.size[0] - inside[0] if rows.start == 0 and got.clipped[c, j] else 0
            left = rf.size[1] - inside[1] if cols.start == 0 and got.clipped[c, j] else 0
            placed = crop[:, top:top + inside[0], left:left + inside[1]]
            assert torch.equal(placed, image[:, rows, cols])
            outside = crop.clone()
            outside[:, top:top + inside[0], left:left + inside[1]] = 0
            assert not outside.any()  # zero where the field lies outside the input
    if layer in ("3", "4"):  # 8x8 fields on an 11x11 input, map padded by 2: edge units are clipped
        assert rf.size == (8, 8) and got.clipped.any()


def test_a_field_inside_the_input_is_not_marked_clipped():
    got = top_k(pretrained_digits_cnn(), "conv2", digits("test").head(64), k=3)
    rf = receptive_field(pretrained_digits_cnn(), "conv2", (1, 28, 28))
    inner = ((got.positions >= 1) & (got.positions <= 9)).all(dim=-1)  # conv2 is 11x11, field 8 wide
    assert inner.any() and not got.clipped[inner].any()
    assert (got.boxes[..., 2:] - got.boxes[..., :2])[inner].eq(torch.tensor(rf.size)).all()


def test_a_linear_layer_sees_the_whole_image():
    got = top_k(padded(), "6", IMAGES, k=2)
    assert got.field is None and got.crops.shape == (4, 2, *SHAPE)
    assert torch.equal(got.crops[1, 0], IMAGES[got.indices[1, 0]])
    assert (got.positions == 0).all() and not got.clipped.any()
    assert got.boxes[0, 0].tolist() == [0, 0, 11, 11]


def test_fewer_images_than_k_keep_them_all_and_an_int_layer_indexes_the_layers():
    names = [info.name for info in layers(padded(), SHAPE)]
    got = top_k(padded(), names.index("3"), IMAGES[:3], k=9)
    assert got.layer == "3" and got.k == 9 and got.values.shape == (6, 3)
    assert sorted(got.indices[0].tolist()) == [0, 1, 2]


def test_the_iterator_reports_progress_and_each_record_stays_as_it_was():
    model = padded()
    records = list(iter_top_k(model, "3", IMAGES, k=3, batch_size=10))
    assert [r.seen for r in records] == [10, 20, 30, 37]
    assert [r.fraction for r in records] == [10 / 37, 20 / 37, 30 / 37, 1.0]
    assert [r.done for r in records] == [False, False, False, True]
    streamed = list(iter_top_k(model, "3", (IMAGES[i:i + 10] for i in range(0, 37, 10)), k=3))
    assert [(r.seen, r.total, r.fraction, r.done) for r in streamed] == [
        (10, None, None, False), (20, None, None, False), (30, None, None, False), (37, None, None, True)]
    for r in records:  # a record is the top-k of the images read so far, untouched by later batches
        expected = top_k(model, "3", IMAGES[: r.seen], k=3)
        assert torch.equal(r.indices, expected.indices) and torch.equal(r.crops, expected.crops)


@pytest.mark.parametrize("kind", ["tensor", "DataLoader"])
def test_cancel_ends_with_a_marked_record_and_resume_goes_on_to_the_same_result(kind):
    model = padded()
    event = threading.Event()
    records = []
    for r in iter_top_k(model, "4", as_kind(kind, IMAGES), k=3, batch_size=6, cancel=event):
        records.append(r)
        if len(records) == 2:
            event.set()
    assert [r.seen for r in records] == [6, 12, 18] and records[-1].cancelled and not records[-1].done
    frozen = records[-1].crops.clone()
    rest = list(iter_top_k(model, "4", as_kind(kind, IMAGES), k=3, batch_size=6, resume=records[-1]))
    assert [r.seen for r in rest] == [24, 30, 36, 37] and torch.equal(records[-1].crops, frozen)
    whole = top_k(model, "4", IMAGES, k=3)
    for name in ("indices", "values", "positions", "boxes", "clipped", "crops"):
        assert torch.equal(getattr(rest[-1], name), getattr(whole, name)), name
    with pytest.raises(RunCancelled, match="top_k was cancelled after 256 images"):
        top_k(model, "4", IMAGES.repeat(10, 1, 1, 1), cancel=lambda: True)
    with pytest.raises(ValueError, match="resume= keeps k=3, not k=4"):
        iter_top_k(model, "4", IMAGES, k=4, resume=records[-1])
    with pytest.raises(ValueError, match="resume= is a pass over layer '4', not '3'"):
        iter_top_k(model, "3", IMAGES, k=3, resume=records[-1])


def flaky(fail_on: int) -> nn.Sequential:
    """conv -> BatchNorm (train mode) -> ReLU(inplace) -> raises on call ``fail_on`` -> pool -> fc."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), RaisesOnCall(fail_on),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 5 * 5, 3),
    ).train()
    model[0].bias.requires_grad_(False)
    model[6].weight.grad = torch.full_like(model[6].weight, 0.5)
    return model


def hook_counts(model: nn.Module) -> dict[tuple[str, str], int]:
    return {(n, t): len(getattr(m, t)) for n, m in model.named_modules() for t in HOOK_TABLES}


def stop_after_two(model):
    event = threading.Event()
    for i, _ in enumerate(iter_top_k(model, "4", IMAGES, batch_size=4, cancel=event)):
        if i == 1:
            event.set()


def close_half_way(model):
    it = iter_top_k(model, "4", IMAGES, batch_size=4)
    next(it)
    it.close()


@pytest.mark.parametrize("how", ["error", "cancel", "close", "finish"])
def test_the_model_comes_back_as_it_went_in_also_on_error_and_cancel(how):
    model = flaky(3 if how == "error" else 10**9)
    seen = []
    handle = model[0].register_forward_hook(lambda m, a, o: seen.append(1))  # the user's own observer
    counts, before = hook_counts(model), model_checksum(model)
    try:
        if how == "error":
            with pytest.raises(ModelForwardError, match="failing on call 3"):
                top_k(model, "4", IMAGES, batch_size=4)
        elif how == "cancel":
            stop_after_two(model)
        elif how == "close":
            close_half_way(model)
        else:
            top_k(model, "4", DataLoader(TensorDataset(IMAGES), batch_size=5))
        assert hook_counts(model) == counts and model_checksum(model) == before and seen == []
        assert model.training and model[1].training and not model[0].bias.requires_grad
        assert torch.equal(model[6].weight.grad, torch.full_like(model[6].weight, 0.5))
    finally:
        handle.remove()
        CALLS.pop(model[3].key)
    assert all(n == 0 for n in hook_counts(model).values())


def test_bad_inputs_say_what_was_expected():
    model = padded()
    with pytest.raises(LayerNotFoundError, match=r"no layer named 'conv9'.*valid names: '0', '1', '2'"):
        top_k(model, "conv9", IMAGES)
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match=f"k must be an int >= 1 .*got {bad!r}"):
            top_k(model, "0", IMAGES, k=bad)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1; got 0"):
        iter_top_k(model, "0", IMAGES, batch_size=0)
    with pytest.raises(InputError, match="empty data set: top_k needs at least one image"):
        top_k(model, "0", IMAGES[:0])
    with pytest.raises(InputError, match="empty data set"):
        top_k(model, "0", DataLoader(TensorDataset(IMAGES[:0]), batch_size=4))
    with pytest.raises(InputError, match=r"expects images of shape \(N, 2, H, W\).*got \(N, 3, 11, 11\)"):
        top_k(model, "0", torch.rand(4, 3, 11, 11))
    with pytest.raises(InputError, match="images must be a float tensor; got dtype torch.uint8"):
        top_k(model, "0", torch.zeros(4, *SHAPE, dtype=torch.uint8))
    with pytest.raises(InputError, match="data must be an .* got str"):
        top_k(model, "0", "digits")
    with pytest.raises(TypeError, match="resume must be a TopK"):
        iter_top_k(model, "0", IMAGES, resume={"seen": 3})
    with pytest.raises(TypeError, match="cancel must be a threading.Event"):
        iter_top_k(model, "0", IMAGES, cancel=True)
    assert isinstance(top_k(model, "0", np.asarray(IMAGES[:2])), TopK)
