"""layers(), resolve_layer(), capture(), receptive fields and conv arithmetic."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convis_widgets.compute import (
    LayerNotFoundError,
    ModelForwardError,
    NotSpatialError,
    ReceptiveField,
    capture,
    conv_output_size,
    layers,
    model_checksum,
    receptive_field,
    resolve_layer,
    run_forward,
)


def table(infos):
    return [(i.name, i.type, i.output_shape, i.spatial) for i in infos]


# ---------------------------------------------------------------- layers()


def test_layers_sequential(plain):
    assert table(layers(plain, (1, 14, 14))) == [
        ("0", "Conv2d", (4, 12, 12), True),
        ("1", "ReLU", (4, 12, 12), True),
        ("2", "MaxPool2d", (4, 6, 6), True),
        ("3", "Conv2d", (8, 6, 6), True),
        ("4", "ReLU", (8, 6, 6), True),
        ("5", "Flatten", (288,), False),
        ("6", "Linear", (10,), False),
    ]
    assert layers(plain, (1, 14, 14))[3].module is plain[3]


def test_layers_nested_skips_pass_through_containers(nested):
    # the Sequentials only hand on their last child's output: not listed
    assert table(layers(nested, None)) == [  # input_shape from model.input_shape
        ("features.0", "Conv2d", (3, 8, 8), True),
        ("features.1", "ReLU", (3, 8, 8), True),
        ("features.2", "MaxPool2d", (3, 4, 4), True),
        ("head.0", "Flatten", (48,), False),
        ("head.1", "Linear", (5,), False),
    ]


def test_layers_resnet_block_lists_block_output(resnet):
    assert table(layers(resnet, (1, 8, 8))) == [
        ("stem", "Conv2d", (4, 8, 8), True),
        ("block.conv1", "Conv2d", (8, 4, 4), True),
        ("block.bn1", "BatchNorm2d", (8, 4, 4), True),
        ("block.relu", "ReLU", (8, 4, 4), True),
        ("block.conv2", "Conv2d", (8, 4, 4), True),
        ("block.bn2", "BatchNorm2d", (8, 4, 4), True),
        ("block.downsample.0", "Conv2d", (8, 4, 4), True),
        ("block.downsample.1", "BatchNorm2d", (8, 4, 4), True),
        ("block", "Block", (8, 4, 4), True),  # new tensor after the skip addition
        ("pool", "AdaptiveAvgPool2d", (8, 1, 1), True),
        ("fc", "Linear", (3,), False),
    ]


def test_layers_functional_relu(functional):
    assert table(layers(functional, (1, 6, 6))) == [
        ("conv1", "Conv2d", (2, 4, 4), True),
        ("conv2", "Conv2d", (3, 2, 2), True),
        ("fc", "Linear", (4,), False),
    ]


def test_layers_shared_module_first_call_and_tuple_output():
    class TupleOut(nn.Module):
        def forward(self, x):
            return (x * 2, "not a tensor")

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()
            self.conv = nn.Conv2d(1, 2, 3)
            self.pair = TupleOut()
            self.unused = nn.Linear(3, 3)

        def forward(self, x):
            x = self.act(x)  # first call, shape (1, 5, 5)
            x = self.act(self.conv(x))
            return self.pair(x)[0]

    infos = layers(Shared(), (1, 5, 5))
    assert table(infos) == [
        ("act", "ReLU", (1, 5, 5), True),
        ("conv", "Conv2d", (2, 3, 3), True),
        ("pair", "TupleOut", (2, 3, 3), True),
    ]


def test_layers_leaves_model_unchanged_and_hookless(resnet, no_hooks):
    resnet.train()
    before = model_checksum(resnet)
    layers(resnet, (1, 8, 8))
    assert model_checksum(resnet) == before
    assert resnet.training
    no_hooks(resnet)


def test_layers_forward_error(exploding, no_hooks):
    with pytest.raises(ModelForwardError, match=r"\(1, 1, 6, 6\).*boom inside forward") as info:
        layers(exploding, (1, 6, 6))
    assert isinstance(info.value.__cause__, RuntimeError)
    no_hooks(exploding)


def test_layers_shape_mismatch_is_model_forward_error(plain):
    with pytest.raises(ModelForwardError, match=r"input of shape \(1, 1, 20, 20\)"):
        layers(plain, (1, 20, 20))  # Linear(288) gets 8*9*9


# ---------------------------------------------------------------- resolve_layer()


def test_resolve_by_name_and_index(plain):
    names = [i.name for i in layers(plain, (1, 14, 14))]
    assert resolve_layer(plain, "3") == ("3", plain[3])
    assert resolve_layer(plain, 0, names=names) == ("0", plain[0])
    assert resolve_layer(plain, -1, names=names) == ("6", plain[6])
    with pytest.raises(TypeError, match="names="):
        resolve_layer(plain, 1)


def test_unknown_name_lists_close_matches_and_valid_names(resnet):
    with pytest.raises(LayerNotFoundError) as info:
        resolve_layer(resnet, "block.conv")
    msg = str(info.value)
    assert "'block.conv'" in msg
    assert "did you mean" in msg and "'block.conv1'" in msg and "'block.conv2'" in msg
    assert "valid names: 'stem', 'block', 'block.conv1'" in msg and "'fc'" in msg
    assert set(info.value.suggestions[:2]) == {"block.conv1", "block.conv2"}
    assert len(info.value.suggestions) <= 5
    assert isinstance(info.value, ValueError)


def test_int_index_past_end(plain):
    names = [i.name for i in layers(plain, (1, 14, 14))]
    with pytest.raises(LayerNotFoundError, match=r"index 7 is out of range: 7 layers, valid "
                                                 r"indices -7\.\.6"):
        resolve_layer(plain, 7, names=names)
    with pytest.raises(LayerNotFoundError, match=r"index -8"):
        resolve_layer(plain, -8, names=names)


def test_root_is_not_a_layer(plain):
    with pytest.raises(LayerNotFoundError):
        resolve_layer(plain, "")


# ---------------------------------------------------------------- capture()


def test_capture_matches_manual_forward(plain, no_hooks):
    x = torch.randn(2, 1, 14, 14)
    with torch.no_grad():
        a0, a3, out = plain[0](x), plain[:4](x), plain(x)
        with capture(plain, ["0", "3", "6"]) as cap:
            plain(x)
    assert len(cap) == 3 and list(cap) == ["0", "3", "6"]
    torch.testing.assert_close(cap["0"], a0)
    torch.testing.assert_close(cap["3"], a3)
    torch.testing.assert_close(cap["6"], out)
    assert set(dict(cap)) == {"0", "3", "6"}
    no_hooks(plain)


def test_capture_single_name_and_last_forward_wins(plain):
    x1, x2 = torch.randn(1, 1, 14, 14), torch.randn(3, 1, 14, 14)
    with torch.no_grad():
        want = plain[0](x2)
        with capture(plain, "0") as cap:
            assert len(cap) == 0
            with pytest.raises(KeyError, match="has not run yet"):
                cap["0"]
            plain(x1)
            plain(x2)
    torch.testing.assert_close(cap["0"], want)


def test_capture_removes_hooks_when_forward_raises(exploding, no_hooks):
    with pytest.raises(RuntimeError, match="boom"):
        with capture(exploding, ["0", "1", "2"]) as cap:
            exploding(torch.randn(1, 1, 6, 6))
    assert set(cap) == {"0", "1"}  # the layers before the failure were captured
    no_hooks(exploding)
    with pytest.raises(ModelForwardError, match="boom"):
        with capture(exploding, "0"):
            run_forward(exploding, torch.randn(1, 1, 6, 6))
    no_hooks(exploding)


def test_capture_unknown_name_registers_nothing(plain, no_hooks):
    with pytest.raises(LayerNotFoundError, match="'9'"):
        with capture(plain, ["0", "9"]):
            pass  # pragma: no cover
    no_hooks(plain)


def test_two_simultaneous_captures_do_not_collide(plain, no_hooks):
    x1, x2 = torch.randn(1, 1, 14, 14), torch.randn(1, 1, 14, 14)
    with torch.no_grad():
        want = {k: (plain[:1](x), plain[:4](x), plain[:5](x)) for k, x in (("x1", x1), ("x2", x2))}
        with capture(plain, ["0", "3"]) as outer:
            with capture(plain, ["3", "4"]) as inner:
                plain(x1)
                assert len(plain[3]._forward_hooks) == 2
            plain(x2)  # only the outer capture is still listening
            assert len(plain[3]._forward_hooks) == 1
    torch.testing.assert_close(inner["3"], want["x1"][1])
    torch.testing.assert_close(inner["4"], want["x1"][2])
    torch.testing.assert_close(outer["0"], want["x2"][0])
    torch.testing.assert_close(outer["3"], want["x2"][1])
    assert set(inner) == {"3", "4"} and set(outer) == {"0", "3"}
    no_hooks(plain)


@pytest.mark.parametrize("inplace", ["module", "functional"])
def test_inplace_relu_after_captured_conv_does_not_corrupt(inplace):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            y = self.conv(x)
            return self.relu(y) if inplace == "module" else F.relu_(y)

    net = Net()
    x = torch.randn(2, 1, 7, 7)
    with torch.no_grad():
        expected = net.conv(x)
        assert (expected < 0).any()
        with capture(net, ["conv", "relu"]) as cap:
            net(x)
    torch.testing.assert_close(cap["conv"], expected)
    if inplace == "module":
        torch.testing.assert_close(cap["relu"], expected.clamp(min=0))


def test_capture_without_detach_keeps_autograd():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True), nn.Conv2d(2, 1, 3))
    x = torch.randn(1, 1, 7, 7, requires_grad=True)
    with capture(net, "0", detach=False) as cap:
        net(x)
    assert cap["0"].requires_grad
    cap["0"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with capture(net, "0") as cap:
        net(x)
    assert not cap["0"].requires_grad


# ---------------------------------------------------------------- conv arithmetic


def test_conv_output_size_formula():
    assert conv_output_size(28, 5) == 24  # (W - F + 2P)/S + 1
    assert conv_output_size(28, 3, padding=1, stride=2) == 14  # floor(27/2) + 1
    assert conv_output_size(32, 5, padding=2) == 32
    assert conv_output_size(10, 3, dilation=2) == 6  # floor((10 - 4 - 1)/1) + 1
    for w in (5, 8, 13):
        for k, p, s, d in [(3, 0, 1, 1), (3, 1, 2, 1), (2, 0, 2, 1), (3, 2, 3, 2), (5, 2, 1, 1)]:
            conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
            assert conv(torch.zeros(1, 1, w, w)).shape[-1] == conv_output_size(w, k, p, s, d)


def test_conv_output_size_error():
    with pytest.raises(ValueError, match="too small.*output size would be 0"):
        conv_output_size(4, 5)
    with pytest.raises(ValueError, match="stride"):
        conv_output_size(4, 3, stride=0)


# ---------------------------------------------------------------- receptive fields


def test_receptive_field_plain_stack_by_hand(plain):
    # conv3: r=3 j=1 start=1; pool2: r=4 j=2 start=1.5; conv3 pad1: r=4+2*2=8 j=2 start=1.5
    # conv3 on 14 px: the last of its 12 units is centred on pixel 12 and reaches pixel 13
    assert receptive_field(plain, "0", (1, 14, 14)) == ReceptiveField((3, 3), (1, 1), (1, 1),
                                                                      (14, 14), (13, 13))
    rf2 = receptive_field(plain, "2", (1, 14, 14))
    assert (rf2.size, rf2.stride, rf2.offset) == ((4, 4), (2, 2), (1.5, 1.5))
    rf = receptive_field(plain, "4", (1, 14, 14))  # ReLU passes the conv's field on
    assert (rf.size, rf.stride, rf.offset) == ((8, 8), (2, 2), (1.5, 1.5))
    assert rf.region(0, 0) == (slice(0, 6), slice(0, 6))  # rows -2.. 5, clipped at 0
    assert rf.region(2, 1) == (slice(2, 10), slice(0, 8))  # centre (5.5, 3.5), +-3.5
    assert rf.region(5, 5) == (slice(8, 14), slice(8, 14))  # rows 8..15, clipped at 13


def test_receptive_field_dilation_by_hand():
    net = nn.Sequential(
        nn.Conv2d(1, 1, 3, dilation=2),  # r = 1 + 2*2 = 5, start = 2
        nn.Conv2d(1, 1, 3, stride=2, padding=3, dilation=3),  # r = 5 + 2*3 = 11, j = 2
        nn.MaxPool2d(2, dilation=2),  # r = 11 + 1*2*2 = 15, j = 4, start = 2 + 1*2 = 4
    )
    rf1 = receptive_field(net, "1", (1, 20, 20))
    assert (rf1.size, rf1.stride, rf1.offset) == ((11, 11), (2, 2), (2, 2))
    rf2 = receptive_field(net, "2", (1, 20, 20))
    assert (rf2.size, rf2.stride, rf2.offset) == ((15, 15), (4, 4), (4, 4))


def test_receptive_field_anisotropic_and_same_padding():
    net = nn.Sequential(nn.Conv2d(1, 1, (3, 5), stride=(1, 2), padding=(1, 0)),
                        nn.Conv2d(1, 1, 3, padding="same"))
    rf = receptive_field(net, "0", (1, 9, 11))
    assert (rf.size, rf.stride, rf.offset) == ((3, 5), (1, 2), (0, 2))
    rf = receptive_field(net, "1", (1, 9, 11))  # same-padding: p = 1, start unchanged
    assert (rf.size, rf.stride, rf.offset) == ((5, 9), (1, 2), (0, 2))


def test_receptive_field_resnet_follows_main_path(resnet):
    shape = (1, 8, 8)
    rf = {n: receptive_field(resnet, n, shape) for n in
          ("stem", "block.conv1", "block.bn2", "block.downsample.0", "block")}
    # stem 3x3 p1: r3 j1; conv1 3x3 s2 p1: r5 j2; conv2 3x3 p1: r9 j2; all centred at 0
    assert (rf["stem"].size, rf["stem"].stride, rf["stem"].offset) == ((3, 3), (1, 1), (0, 0))
    assert (rf["block.conv1"].size, rf["block.conv1"].stride) == ((5, 5), (2, 2))
    assert (rf["block.bn2"].size, rf["block.bn2"].stride) == ((9, 9), (2, 2))
    # the skip branch's own field: 1x1 s2 on the stem output
    assert (rf["block.downsample.0"].size, rf["block.downsample.0"].stride) == ((3, 3), (2, 2))
    # after the addition: the main path (the union of both branches)
    assert (rf["block"].size, rf["block"].stride, rf["block"].offset) == ((9, 9), (2, 2), (0, 0))


def test_receptive_field_not_spatial(resnet, plain):
    with pytest.raises(NotSpatialError, match=r"'pool'.*\(8, 1, 1\).*lost.*'stem'"):
        receptive_field(resnet, "pool", (1, 8, 8))
    with pytest.raises(NotSpatialError, match=r"'6'.*\(10,\).*spatial layers: '0', '1'"):
        receptive_field(plain, "6", (1, 14, 14))


def test_receptive_field_functional_pooling_is_reported():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3)
            self.b = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.b(F.max_pool2d(self.a(x), 2))

    with pytest.raises(NotSpatialError, match="outside nn modules"):
        receptive_field(Net(), "b", (1, 12, 12))


def _grad_support(net, shape, i, j):
    x = torch.rand(1, *shape, requires_grad=True) + 0.1
    x.retain_grad()
    net(x)[0, 0, i, j].backward()
    return x.grad[0].abs().sum(0) > 0


def _mask(region, hw):
    m = torch.zeros(hw, dtype=torch.bool)
    m[region] = True
    return m


def test_receptive_field_matches_gradient_support_exactly():
    # avg pools and positive weights: the gradient reaches every pixel of the field
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.AvgPool2d(2),
        nn.Conv2d(2, 2, 3, dilation=2, padding=2),
        nn.AvgPool2d(3, stride=2, padding=1),
        nn.Conv2d(2, 1, 2),
    )
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(0.1, 1.0)
    rf = receptive_field(net, "4", (1, 24, 24))
    assert (rf.size, rf.stride) == ((20, 20), (4, 4))
    for i, j in [(0, 0), (2, 3), (4, 4)]:
        support = _grad_support(net, (1, 24, 24), i, j)
        assert torch.equal(support, _mask(rf.region(i, j), (24, 24))), (i, j)


def test_receptive_field_contains_gradient_support_random_weights():
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 3, 3, dilation=2, padding=1),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(3, 2, 2),
    )
    for name in ("3", "5"):
        rf = receptive_field(net, name, (1, 24, 24))
        sub = net[: int(name) + 1]
        out_h = sub(torch.zeros(1, 1, 24, 24)).shape[-1]
        for i, j in [(0, 0), (out_h // 2, 1), (out_h - 1, out_h - 1)]:
            support = _grad_support(sub, (1, 24, 24), i, j)
            assert support.any()
            assert not (support & ~_mask(rf.region(i, j), (24, 24))).any(), (name, i, j)


def test_receptive_field_decoder_is_conservative(ae):
    for name in ("2", "3", "4"):
        rf = receptive_field(ae, name, (1, 8, 8))
        sub = ae[: int(name) + 1]
        for i, j in [(0, 0), (3, 5), (7, 7)]:
            support = _grad_support(sub, (1, 8, 8), i, j)
            assert not (support & ~_mask(rf.region(i, j), (8, 8))).any(), (name, i, j)
    bilinear = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.Upsample(scale_factor=3,
                                                                       mode="bilinear"))
    rf = receptive_field(bilinear, "1", (1, 9, 9))
    for i, j in [(0, 0), (5, 7), (11, 11)]:
        support = _grad_support(bilinear, (1, 9, 9), i, j)
        assert support.any() and not (support & ~_mask(rf.region(i, j), (9, 9))).any(), (i, j)
    rf = receptive_field(ae, "2", (1, 8, 8))  # convT k2 s2 divides the jump: 2 -> 1
    assert rf.stride == (1, 1)
    assert receptive_field(ae, "3", (1, 8, 8)).stride == (0.5, 0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_follows_model_device(resnet, no_hooks):
    from convis_widgets.compute import activations, channel_statistics

    net = resnet.cuda()
    assert [i.name for i in layers(net, (1, 8, 8))][0] == "stem"
    assert activations(net, torch.rand(2, 1, 8, 8), layer="block")["block"].device.type == "cpu"
    assert channel_statistics(net, torch.rand(5, 1, 8, 8), layer="block").count == 5
    assert receptive_field(net, "block", (1, 8, 8)).size == (9, 9)
    no_hooks(net)


def _gradient_support(model: nn.Module, shape: tuple[int, int, int], i: int, j: int) -> tuple[int, ...]:
    """Rows and cols of the input that unit (i, j) of channel 0 depends on, from its gradient."""
    x = (torch.rand(1, *shape, generator=torch.Generator().manual_seed(0)) + 0.5).requires_grad_(True)
    (g,) = torch.autograd.grad(model(x)[0, 0, i, j], x)
    nz = g[0].abs().sum(0).nonzero()
    return (int(nz[:, 0].min()), int(nz[:, 0].max()) + 1, int(nz[:, 1].min()), int(nz[:, 1].max()) + 1)


@pytest.mark.parametrize(
    ("model", "shape"),
    [
        # floor-mode average pooling drops the last row and column; the padded conv after it
        # must not reach into them
        (nn.Sequential(nn.Conv2d(1, 1, 3), nn.AvgPool2d(2), nn.Conv2d(1, 1, 3, padding=1)), (1, 11, 9)),
        (nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(1, 1, 1, stride=2), nn.AvgPool2d(2, 1, padding=1)),
         (1, 11, 10)),
        (nn.Sequential(nn.AvgPool2d(3, 2, padding=1), nn.Conv2d(1, 1, 3, 2)), (1, 12, 13)),
        (nn.Sequential(nn.Conv2d(1, 1, 5, 2, 2), nn.AvgPool2d(2), nn.Conv2d(1, 1, 3, 1, 1)), (1, 14, 15)),
    ],
)
def test_receptive_field_region_is_the_gradient_support_of_every_unit(model, shape):
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    rf = receptive_field(model, str(len(model) - 1), shape)
    out = model(torch.zeros(1, *shape))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            rows, cols = rf.region(i, j)
            got = (rows.start, rows.stop, cols.start, cols.stop)
            assert got == _gradient_support(model, shape, i, j), (i, j)
