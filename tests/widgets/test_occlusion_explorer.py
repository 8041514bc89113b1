"""OcclusionExplorer without a browser: the patch readout, the heatmap job, the map views, errors, export."""

import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import convis_widgets as cw
from convis_widgets.compute import model_checksum
from convis_widgets.compute.attribution import grad_cam, occlusion_map, patch, saliency, smoothgrad
from convis_widgets.jobs import set_default_executor
from convis_widgets.models import SeedCNN


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    return SeedCNN().eval()


@pytest.fixture
def digits4():
    return torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def scores_with_patch(model, image, top, left, size, value=0.0):
    occluded = patch(image, torch.full_like(image, value), torch.tensor([top]), torch.tensor([left]),
                     (size, size))
    with torch.no_grad():
        return model(occluded)[0]


def test_moving_the_patch_updates_the_readout(cnn, digits4):
    ex = cw.OcclusionExplorer(cnn, digits4, patch_size=6, stride=3, target=2)
    before = ex.readout["occluded"].copy()
    ex.x_slider.value = 10
    ex.y_slider.value = 7
    assert ex.readout["patch"] == (7, 10, 6)
    want = scores_with_patch(cnn, digits4[0], 7, 10, 6).numpy()
    np.testing.assert_allclose(ex.readout["occluded"], want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ex.readout["occluded"], before)
    assert ex.readout["drop"] == pytest.approx(float(ex.readout["original"][2] - want[2]), abs=1e-5)
    assert "drop" in ex.readout_html.value and "x=10" in ex.readout_html.value
    assert ex.occlusion_view.patch.get_xy() == (9.5, 6.5)
    heights = [b.get_height() for b in ex.occlusion_view.bars_occluded]
    np.testing.assert_allclose(heights, want, rtol=1e-5, atol=1e-6)
    ex.close()


def test_click_and_drag_move_the_patch(cnn, digits4):
    ex = cw.OcclusionExplorer(cnn, digits4, patch_size=5)
    ax = ex.occlusion_view.ax_image
    ex._on_mouse(SimpleNamespace(name="button_press_event", inaxes=ax, xdata=12.2, ydata=20.0, button=1))
    assert (ex.patch_y, ex.patch_x) == (18, 10)  # centred on the pointer
    ex._on_mouse(SimpleNamespace(name="motion_notify_event", inaxes=ax, xdata=27.0, ydata=0.0, button=1))
    assert (ex.patch_y, ex.patch_x) == (0, 23)  # clamped so the patch stays on the image
    ex._on_mouse(SimpleNamespace(name="motion_notify_event", inaxes=ax, xdata=5.0, ydata=5.0, button=None))
    assert (ex.patch_y, ex.patch_x) == (0, 23)  # moving without a button does nothing
    ex.close()


def test_heatmap_matches_compute_and_highlights_the_patch_cell(cnn, digits4):
    ex = cw.OcclusionExplorer(cnn, digits4, patch_size=6, stride=2, baseline=0.5, image_index=1)
    want = occlusion_map(cnn, digits4[1:2], ex.target_class, window=6, stride=2, baseline=0.5)
    torch.testing.assert_close(ex.heatmap.drops, want.drops, rtol=1e-4, atol=1e-4)
    assert ex.progress.value == 1.0
    assert "12×12 patch positions" in ex.status.value
    ex.patch_x, ex.patch_y = 8, 4
    cell = ex.occlusion_view.cell
    assert cell.get_visible() and cell.get_xy() == (8 + 2.5 - 1, 4 + 2.5 - 1)
    ex.opacity = 0.8
    assert ex.occlusion_view.heat.get_alpha() == 0.8
    ex.stride = 3  # a new heatmap; the old cell no longer applies until it is done
    assert ex.heatmap.stride == (3, 3)
    ex.close()


def test_heatmap_job_is_cancelled_by_a_new_image(cnn, digits4):
    old = set_default_executor("thread")
    try:
        started = threading.Event()
        release = threading.Event()
        real = cw.OcclusionExplorer._background

        def slow(self, job, map_key, occ_key, s):
            if s["index"] == 0:  # the first image's job waits so that the new image overtakes it
                started.set()
                release.wait(10)
            return real(self, job, map_key, occ_key, s)

        cw.OcclusionExplorer._background = slow
        try:
            ex = cw.OcclusionExplorer(cnn, digits4, patch_size=4, stride=1)
            assert started.wait(10)
            first = ex.runner.current
            ex.image_index = 2
            release.set()
            assert ex.wait(30)
            assert first.cancelled and first.wait(10)
        finally:
            cw.OcclusionExplorer._background = real
        assert ex.last_error is None
        assert ex._heatmap_key[0] == 2
        want = occlusion_map(cnn, digits4[2:3], ex.target_class, window=4, stride=1)
        torch.testing.assert_close(ex.heatmap.drops, want.drops, rtol=1e-4, atol=1e-4)
        ex.close()
    finally:
        set_default_executor(old)


def test_view_switch_shows_each_gradient_map(cnn, digits4):
    ex = cw.OcclusionExplorer(cnn, digits4, target=3, image_index=2, samples=4, noise=0.1)
    x = digits4[2:3]
    np.testing.assert_allclose(ex.maps["saliency"], saliency(cnn, x, 3)[0, 0].numpy(), rtol=1e-5)
    ex.view = "smoothgrad"
    want = smoothgrad(cnn, x, 3, samples=4, noise=0.1)[0, 0].numpy()
    np.testing.assert_allclose(ex.maps["smoothgrad"], want, rtol=1e-5)
    ex.view = "grad_cam"
    assert ex.layer == "relu3"  # the last spatial block output: conv3 and its ReLU
    ex.layer = "conv2"
    np.testing.assert_allclose(ex.maps["grad_cam"], grad_cam(cnn, x, 3, layer="conv2")[0, 0].numpy(),
                               rtol=1e-5, atol=1e-7)
    for view in ("guided_backprop", "deconvnet"):
        ex.view = view
        assert ex.maps[view].shape == (28, 28)
    assert "deconvnet, class 3" == ex.map_view.ax_map.get_title()
    assert ex.last_error is None
    ex.close()


def test_target_picker_and_predicted_class(cnn, digits4):
    ex = cw.OcclusionExplorer(cnn, digits4)
    with torch.no_grad():
        assert ex.target_class == int(cnn(digits4[:1]).argmax())
    ex.target_dropdown.value = 7
    assert ex.target == 7 and ex.readout["target"] == 7 and ex.heatmap.targets.tolist() == [7]
    ex.close()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"patch_size": 30}, r"patch_size: window \(30, 30\) is larger than the image \(28, 28\)"),
        ({"stride": 0}, r"stride: stride must be at least 1"),
        ({"patch_size": 4, "stride": 5}, r"stride \(5, 5\) is larger than the window \(4, 4\)"),
        ({"target": 10}, r"target class 10 is out of range: the model has 10 classes"),
        ({"baseline": "zeros"}, r"baseline must be a number, 'mean', 'blur' or a tensor"),
        ({"layer": "fc1"}, r"Grad-CAM needs a spatial layer; got 'fc1'"),
        ({"view": "lime"}, r"view must be one of"),
        ({"image_index": 9}, r"image_index must be in 0..3"),
    ],
)
def test_bad_sizes_give_clear_errors(cnn, digits4, kwargs, match):
    with pytest.raises((ValueError, IndexError), match=match):
        cw.OcclusionExplorer(cnn, digits4, **kwargs)


def test_bad_values_set_later_are_shown_in_the_error_area(cnn, digits4):
    ex = cw.OcclusionExplorer(cnn, digits4, patch_size=6)
    for name, value, match in (("patch_size", 29, "larger than the image"), ("stride", 0, "at least 1"),
                               ("patch_x", 23, "patch_x must be in 0..22"), ("target", 11, "out of range")):
        with pytest.raises((ValueError, IndexError), match=match):
            setattr(ex, name, value)
        assert match in str(ex.last_error)
        assert match in ex.errors.outputs[-1]["text"]
    assert ex.patch_size == 6
    ex.close()


def test_unknown_keyword_is_a_type_error(cnn, digits4):
    with pytest.raises(TypeError, match="window"):
        cw.OcclusionExplorer(cnn, digits4, window=3)


def test_export_writes_every_map_as_png_and_npz(cnn, digits4, tmp_path):
    ex = cw.OcclusionExplorer(cnn, digits4, target=4, samples=3)
    before = model_checksum(cnn)
    paths = ex.export(tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == sorted([f"image0_class4_{m}.png" for m in ("occlusion", "saliency", "smoothgrad",
                                                                 "grad_cam", "guided_backprop", "deconvnet")]
                           + ["image0_class4.npz"])
    for p in paths:
        assert p.stat().st_size > 500
    data = np.load(tmp_path / "out" / "image0_class4.npz")
    assert data["occlusion"].shape == (1, 28, 28) and data["grad_cam"].shape == (1, 28, 28)
    np.testing.assert_allclose(data["saliency"], saliency(cnn, digits4[:1], 4)[0].numpy(), rtol=1e-5)
    assert '"patch_size": 6' in str(data["settings"])
    ex.folder_text.value = str(tmp_path / "button")
    ex.export_button.click()
    assert "exported 7 files" in ex.status.value
    assert model_checksum(cnn) == before
    ex.close()


class Gate(torch.nn.Module):
    """Holds every batched forward (the heatmap's) until the test opens it; single images pass."""

    def __init__(self):
        super().__init__()
        self.entered, self.open = threading.Event(), threading.Event()

    def forward(self, x):
        if x.shape[0] > 1:
            self.entered.set()
            self.open.wait(20)
        return x


class WatchedNet(torch.nn.Sequential):
    """A small net whose state shows any use in train mode, and which records every train()/eval()."""

    def __init__(self):
        torch.manual_seed(0)
        super().__init__(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                         torch.nn.Dropout(0.5), Gate(), torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3))
        self.mode_calls: list[bool] = []

    def train(self, mode=True):
        self.mode_calls.append(mode)
        return super().train(mode)


def test_patch_moves_during_the_heatmap_job_leave_the_model_untouched():
    model = WatchedNet().train()
    model[0].requires_grad_(False)  # a frozen layer
    model(torch.rand(1, 1, 8, 8)).sum().backward()  # .grad tensors set, as mid-training
    model.mode_calls.clear()
    gate = model[4]
    grads = [p.grad for p in model.parameters()]
    before = model_checksum(model)
    images = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    old = set_default_executor("thread")
    try:
        ex = cw.OcclusionExplorer(model, images, patch_size=2, stride=1)
        try:
            assert gate.entered.wait(20), "the heatmap job never reached its batched forward"
            for k in range(20):
                if k % 2:
                    ex.patch_x = k % 7
                else:
                    ex.patch_y = k % 7
                assert not ex.runner.current.done  # the heatmap job is still running
                assert model.training and model_checksum(model) == before
            assert model.mode_calls == [], "a readout switched the user's model between train and eval"
            want = scores_with_patch(model.eval(), images[0], ex.patch_y, ex.patch_x, 2).numpy()
            model.train()
            model.mode_calls.clear()
            np.testing.assert_allclose(ex.readout["occluded"], want, rtol=1e-5, atol=1e-6)
            gate.open.set()
            assert ex.wait(30) and ex.last_error is None and ex.heatmap is not None
        finally:
            gate.open.set()
            ex.close()
    finally:
        set_default_executor(old)
    assert model.mode_calls == [], "the widget switched the user's model between train and eval"
    assert model_checksum(model) == before
    assert model.training and all(m.training for m in model.modules())
    assert all(p.grad is g for p, g in zip(model.parameters(), grads, strict=True))
    assert not model[0].weight.requires_grad and model[0].weight.grad is None
    for name, m in model.named_modules():
        for table in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            assert not getattr(m, table), f"{table} left on {name or 'the model'}"


def test_each_method_shows_only_the_controls_it_reads(cnn, digits4):
    from convis_widgets.compute.attribution import METHODS

    ex = cw.OcclusionExplorer(cnn, digits4)
    shown = {name: control for name, control in (("layer", ex.layer_dropdown), ("layers", ex.layers_toggle),
                                                  ("samples", ex.samples_slider), ("noise", ex.noise_slider))}
    try:
        seen = {}
        for method in ("saliency", "smoothgrad", "grad_cam", "guided_backprop", "deconvnet"):
            ex.method = method
            seen[method] = {n for n, c in shown.items() if c.layout.display != "none"}
            assert METHODS[method].description in ex.method_html.value
        assert seen == {"saliency": set(), "smoothgrad": {"samples", "noise"},
                        "grad_cam": {"layer", "layers"}, "guided_backprop": set(), "deconvnet": set()}
    finally:
        ex.close()


def test_colour_bars_name_the_units_and_the_pointer_reads_values(cnn, digits4):
    from convis_widgets.compute.attribution import METHODS

    ex = cw.OcclusionExplorer(cnn, digits4, patch_size=6, stride=2, target=4)
    try:
        view = ex.occlusion_view
        assert view.colorbar.ax.get_visible() and view.colorbar.ax.get_ylabel() == "drop in class 4 score"
        drops = ex.heatmap.drops
        assert view.scale.get_clim() == pytest.approx((float(drops.min()), float(drops.max())))
        # pixel (x=9, y=13) lies in the 2-px cell of the window at (10, 6), centred on (12.5, 8.5)
        i, j = ex.heatmap.rows.index(10), ex.heatmap.cols.index(6)
        said = view.ax_image.format_coord(9.0, 13.0)
        assert said == (f"x=9, y=13: pixel {float(digits4[0, 0, 13, 9]):.3g}; drop in class 4 score "
                        f"{float(ex.heatmap.drops[0, i, j]):.3g} (patch centred here)")
        for method in ("saliency", "guided_backprop"):
            ex.method = method
            assert ex.map_view.colorbar.ax.get_ylabel() == METHODS[method].units
        lo, hi = ex.map_view.map.get_clim()
        assert lo == -hi  # a signed map: its colours centred on 0
        said = ex.map_view.ax_map.format_coord(3.0, 5.0)
        assert said.endswith(f"{METHODS['guided_backprop'].units} {ex.maps['guided_backprop'][5, 3]:.3g}")
        view.clear_heatmap()  # as a settings change does until the new heatmap is there
        assert not view.colorbar.ax.get_visible() and "drop" not in view.ax_image.format_coord(9.0, 13.0)
    finally:
        ex.close()


def test_a_grad_cam_that_is_zero_everywhere_says_why(cnn, digits4):
    ex = cw.OcclusionExplorer(cnn, digits4, method="grad_cam")
    try:
        zero = [k for k in range(10) if not (grad_cam(cnn, digits4[:1], k, layer=ex.layer) > 0).any()]
        assert zero, "the test model has no class without positive Grad-CAM evidence on image 0"
        ex.target = zero[0]
        want = f"Grad-CAM is zero everywhere: no positive evidence for class {zero[0]} at {ex.layer}"
        assert want in ex.status.value and ex.map_note == want
        assert ex.map_view.note.get_visible() and ex.map_view.note.get_text().replace("\n", " ") == want
        ex.target = ex._clean_scores(0).argmax().item()  # the predicted class has evidence
        assert "zero everywhere" not in ex.status.value and not ex.map_view.note.get_visible()
    finally:
        ex.close()


SHAPES = ["disc", "square", "horizontal bar", "vertical bar", "ring", "cross", "dot", "line", "arc", "star"]


def test_class_names_show_beside_the_numbers_wherever_a_class_is_named(cnn, digits4):
    ex = cw.OcclusionExplorer(cnn, digits4, classes=SHAPES, target=2, view="grad_cam")
    try:
        ex.wait(30)
        assert ex.class_names == SHAPES
        labels = [label for label, _ in ex.target_dropdown.options]
        assert labels[:4] == ["predicted", "0 (disc)", "1 (square)", "2 (horizontal bar)"]
        ticks = [t.get_text() for t in ex.occlusion_view.ax_bars.get_xticklabels()]
        assert ticks == SHAPES
        assert all(t.get_rotation() == 30 for t in ex.occlusion_view.ax_bars.get_xticklabels())  # words slant
        assert ex.occlusion_view.ax_bars.get_title().startswith("horizontal bar score: ")
        assert "target <b>2 (horizontal bar)</b> score" in ex.readout_html.value
        assert ex.occlusion_view.colorbar.ax.get_ylabel() == "drop in horizontal bar score"
        assert ex.map_view.ax_map.get_title() == "Grad-CAM, class 2 (horizontal bar)"
    finally:
        ex.close()


def test_class_names_come_from_the_data_set_unless_they_are_the_numbers(cnn, digits4):
    named = SimpleNamespace(images=digits4, classes=SHAPES)
    ex = cw.OcclusionExplorer(cnn, digits4, data=named, target=1)
    assert ex.class_names == SHAPES and ex.occlusion_view.ax_bars.get_title().startswith("square score: ")
    ex.close()
    numbers = SimpleNamespace(images=digits4, classes=[str(k) for k in range(10)])
    ex = cw.OcclusionExplorer(cnn, digits4, data=numbers)
    ticks = [t.get_text() for t in ex.occlusion_view.ax_bars.get_xticklabels()]
    assert ex.class_names == [] and ticks[:3] == ["0", "1", "2"]
    assert ex.occlusion_view.ax_bars.get_title().startswith("class ")
    assert "(" not in ex.occlusion_view.ax_bars.get_title().split("score")[0]
    ex.close()
    other = cw.OcclusionExplorer(cnn, digits4, data=SimpleNamespace(images=digits4, classes=SHAPES[:4]))
    assert other.class_names == []  # a data set of other classes names none
    other.close()


@pytest.mark.parametrize("classes", [SHAPES[:4], "disc square"])
def test_class_names_that_do_not_match_the_scores_are_refused(cnn, digits4, classes):
    with pytest.raises(ValueError, match=r"one name per class the model scores \(10\); got "):
        cw.OcclusionExplorer(cnn, digits4, classes=classes)
