"""render.attribution: where the heatmap cells sit, the occlusion view's layers and bars, the map view."""

import matplotlib
import numpy as np
import pytest

from convis_widgets.render import new_figure, png_bytes
from convis_widgets.render.attribution import (
    PATCH_COLOR,
    TARGET_COLOR,
    MapView,
    OcclusionView,
    freeze_layout,
    heatmap_extent,
)


def test_heatmap_extent_centres_each_cell_on_its_window():
    # windows 4 px wide every 2 px from 0 to 6: centres at 1.5 .. 7.5, cells 2 px wide around them
    assert heatmap_extent([0, 2, 4, 6], [0, 3], (4, 4), (2, 3)) == (0.0, 6.0, 8.5, 0.5)
    # stride = window: the cells tile the image exactly
    assert heatmap_extent([0, 4], [0, 4], (4, 4), (4, 4)) == (-0.5, 7.5, 7.5, -0.5)


def test_freeze_layout_lays_out_once_then_stops():
    fig = new_figure((4.0, 2.0))
    ax = fig.add_subplot()
    ax.set_title("a title that needs room")
    default = ax.get_position().bounds
    freeze_layout(fig)
    laid_out = ax.get_position().bounds
    assert laid_out != default  # the constrained layout ran once
    ax.set_ylabel("a long label\non two lines")
    png_bytes(fig)  # a draw would lay the axes out again if the layout were still on
    assert ax.get_position().bounds == laid_out


@pytest.fixture
def view():
    return OcclusionView(new_figure((6.0, 3.0)), num_classes=4)


def test_occlusion_view_image_patch_and_heatmap(view):
    image = np.linspace(0.2, 0.6, 64, dtype=np.float32).reshape(1, 8, 8)
    view.set_image(image)
    np.testing.assert_array_equal(view.image.get_array(), image[0])
    assert view.image.get_clim() == pytest.approx((0.2, 0.6))
    assert view.heat.get_alpha() == 0.0
    view.set_patch(2, 3, (4, 5))
    assert view.patch.get_xy() == (2.5, 1.5) and (view.patch.get_width(), view.patch.get_height()) == (5, 4)
    assert matplotlib.colors.to_hex(view.patch.get_edgecolor()) == PATCH_COLOR
    drops = np.array([[0.0, 1.0], [2.0, 4.0]])
    extent = heatmap_extent([0, 4], [0, 4], (4, 4), (4, 4))
    view.set_heatmap(drops, extent)
    np.testing.assert_array_equal(view.heat.get_array(), drops)
    assert view.heat.get_extent() == list(extent) and view.heat.get_clim() == (0.0, 4.0)
    assert view.heat.get_alpha() == 0.5
    assert view.ax_image.get_xlim() == (-0.5, 7.5) and view.ax_image.get_ylim() == (7.5, -0.5)
    view.set_cell((5.5, 1.5), (4, 4))
    assert view.cell.get_visible() and view.cell.get_xy() == (-0.5, 3.5)
    view.set_opacity(0.8)
    assert view.heat.get_alpha() == 0.8
    view.set_cell(None, (4, 4))
    assert not view.cell.get_visible()
    view.clear_heatmap()
    assert view.heat.get_alpha() == 0.0


def test_occlusion_view_bars_and_title(view):
    original = np.array([1.0, 3.0, -0.5, 0.0])
    occluded = np.array([1.0, 1.0, -1.0, 0.5])
    view.set_scores(original, occluded, target=1, title="drop 2.0")
    assert [b.get_height() for b in view.bars_original] == list(original)
    assert [b.get_height() for b in view.bars_occluded] == list(occluded)
    target, other = view.bars_original[1], view.bars_original[0]
    assert matplotlib.colors.to_hex(target.get_edgecolor()) == TARGET_COLOR and target.get_linewidth() == 2
    assert other.get_linewidth() == 0
    lo, hi = view.ax_bars.get_ylim()
    assert lo == pytest.approx(-1.0 - 0.08 * 4.0) and hi == pytest.approx(3.0 + 0.08 * 4.0)
    assert view.ax_bars.get_title() == "drop 2.0"
    assert [t.get_text() for t in view.ax_bars.get_legend().get_texts()] == ["original", "occluded",
                                                                             "target class"]


def test_map_view_sums_channels_and_names_the_method():
    view = MapView(new_figure((4.0, 2.0)))
    image = np.random.default_rng(0).random((3, 5, 6)).astype(np.float32)
    attribution = np.stack([np.full((5, 6), 1.0), np.eye(5, 6), np.zeros((5, 6))])
    shown = view.update(image, attribution, "Grad-CAM, class 3")
    np.testing.assert_array_equal(shown, attribution.sum(axis=0))
    np.testing.assert_array_equal(view.map.get_array(), shown)
    assert view.map.get_clim() == (1.0, 2.0)
    assert view.image.get_array().shape == (5, 6, 3)
    assert view.ax_map.get_title() == "Grad-CAM, class 3"
    assert view.ax_map.get_xlim() == (-0.5, 5.5)


def test_a_title_that_would_run_off_the_figure_gets_a_smaller_font():
    """On an Agg canvas, as the widgets' ipympl canvases are (a figure without one keeps its font)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from convis_widgets.render import new_figure
    from convis_widgets.render.attribution import fit_title

    fig = new_figure((3.0, 2.0))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    fit_title(ax, "short")
    medium = ax.title.get_fontsize()
    fit_title(ax, "horizontal bar score: 0.0545 → 0.0543 (drop 0.000248)")
    assert 7.0 <= ax.title.get_fontsize() < medium  # smaller, never below 7 pt
    box = ax.title.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    fit_title(ax, "short")
    assert ax.title.get_fontsize() == medium  # a title that fits gets its font back
