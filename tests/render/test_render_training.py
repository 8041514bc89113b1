"""render.training: run colours, loss curves, first-layer filter mosaics and columns, the results table."""

import matplotlib
import numpy as np

from convis_widgets.compute.training import RunSummary, spread
from convis_widgets.render import DEAD_COLOR, new_figure
from convis_widgets.render.training import (
    LIVE_BAR,
    RUN_COLORS,
    FirstLayerView,
    LossView,
    filter_mosaic,
    results_table,
    run_color,
)


def test_run_colours_cycle():
    assert run_color(0) == RUN_COLORS[0] and run_color(len(RUN_COLORS) + 1) == RUN_COLORS[1]


def test_loss_view_one_pair_of_lines_per_run():
    view = LossView(new_figure((4.0, 3.0)))
    view.reset(["3x3", "9x9"], title="first layers")
    view.update("9x9", (np.array([0, 1, 2]), np.array([2.0, 1.0, 0.5])), (np.array([0, 1, 2]),
                                                                          np.array([2.5, 1.5, 1.0])))
    train, val = view.lines["9x9"]
    assert list(train.get_ydata()) == [2.0, 1.0, 0.5] and list(val.get_ydata()) == [2.5, 1.5, 1.0]
    assert train.get_color() == val.get_color() == RUN_COLORS[1] and train.get_linestyle() == "--"
    assert view.ax.get_yscale() == "log" and view.ax.get_title() == "first layers"
    assert (view.ax.get_xlabel(), view.ax.get_ylabel()) == ("epoch", "loss (log scale)")
    assert view.acc_ax is None  # no accuracy axes unless asked
    lo, hi = view.ax.get_ylim()
    assert lo <= 0.5 and hi >= 2.5
    labels = [t.get_text() for t in view.ax.get_legend().get_texts()]
    assert labels == ["3x3 held-out", "3x3 train", "9x9 held-out", "9x9 train"]
    view.reset(["5x5"])
    assert list(view.lines) == ["5x5"] and len(view.ax.get_lines()) == 2  # old lines removed


def test_loss_axis_labels_are_distinct_plain_numbers_on_any_range():
    """Under a decade matplotlib ticks the log axis linearly (0.12, 0.14, ...): each label must differ."""
    for low, high in [(0.11, 0.27), (0.05, 0.6), (0.01, 2.5)]:
        view = LossView(new_figure((8.6, 3.0)))
        view.reset(["3x3"])
        curve = (np.array([0.0, 1.0]), np.array([high, low]))
        view.update("3x3", curve, curve)
        view.ax.set_ylim(low, high)
        view.fig.draw_without_rendering()
        ticks = view.ax.yaxis.get_major_ticks() + view.ax.yaxis.get_minor_ticks()
        labels = [t.label1.get_text() for t in ticks if low <= t.get_loc() <= high and t.label1.get_text()]
        assert len(labels) >= 3 and len(set(labels)) == len(labels), (low, high, labels)
        assert all("e" not in label for label in labels), labels


def test_loss_view_shows_a_classifiers_held_out_accuracy_in_percent():
    fig = new_figure((8.6, 3.0))
    view = LossView(fig)
    view.reset(["3x3", "9x9"], accuracy=True, loss_name="cross-entropy loss")
    assert len(fig.axes) == 2 and view.ax.get_ylabel() == "cross-entropy loss (log scale)"
    view.update("3x3", (np.array([1.0]), np.array([0.3])), (np.array([0, 1]), np.array([2.3, 0.2])),
                (np.array([0, 1]), np.array([0.1, 0.95])))
    assert list(view.accuracy_lines["3x3"].get_ydata()) == [10.0, 95.0]
    assert view.acc_ax.get_ylabel() == "held-out accuracy (%)" and view.acc_ax.get_xlabel() == "epoch"
    labels = [t.get_text() for t in view.acc_ax.get_legend().get_texts()]
    assert labels == ["3x3 held-out", "9x9 held-out"]


def test_filter_mosaic_grey_first_input_and_rgb():
    grey = np.random.default_rng(0).normal(size=(4, 2, 3, 3))
    mosaic = filter_mosaic(grey)
    assert mosaic.shape == (7, 7)
    first = grey[0, 0]
    np.testing.assert_allclose(mosaic[:3, :3], (first - first.min()) / np.ptp(first), atol=1e-6)
    rgb = filter_mosaic(np.random.default_rng(1).normal(size=(2, 3, 3, 3)))
    assert rgb.shape == (3, 7, 3) and rgb[..., :].min() == 0.0 and rgb.max() == 1.0
    assert (rgb[:, 3] == 1.0).all()  # white gap


def test_first_layer_view_columns_filters_probe_and_dead_bars():
    fig = new_figure((6.0, 5.0))
    view = FirstLayerView(fig)
    view.reset(["3x3", "9x9"], probe_image=np.zeros((1, 8, 8)))
    assert len(fig.axes) == 1 + 2 * 3 and view.probe_input.get_title() == "probe image"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["channel: fraction of held-out values at 0", "dead channel: 0 on every held-out image"]
    filters = np.random.default_rng(2).normal(size=(4, 1, 3, 3))
    probe = np.random.default_rng(3).random((4, 6, 6))
    view.update("3x3", filters, probe=probe, frac_zero=np.array([0.1, 1.0, 0.5, 1.0]),
                dead=np.array([False, True, False, True]), epoch=2)
    ax_f, im_f = view.columns["3x3"]["filters"]
    np.testing.assert_allclose(im_f.get_array(), filter_mosaic(filters))
    assert ax_f.get_xlabel() == "4 filters 3x3, epoch 2 (each on its own scale)" and ax_f.get_title() == "3x3"
    ax_p, im_p = view.columns["3x3"]["probe"]
    assert ax_p.get_xlabel() == "first-layer maps of the probe (each on its own scale)"
    assert im_p.get_array().shape == (13, 13)
    assert view.columns["3x3"]["zeros"].get_xlabel() == "first-layer channel"
    bars = view.columns["3x3"]["bars"]
    assert [b.get_height() for b in bars] == [0.1, 1.0, 0.5, 1.0]
    assert [matplotlib.colors.to_hex(b.get_facecolor()) for b in bars] == [LIVE_BAR, DEAD_COLOR] * 2
    assert view.columns["3x3"]["zeros"].get_title() == "2 dead of 4"
    view.update("9x9", filters, probe=np.full((1, 8, 8), 0.5), probe_is_image=True)
    ax_p, im_p = view.columns["9x9"]["probe"]
    assert ax_p.get_xlabel() == "reconstruction" and im_p.get_clim() == (0, 1)


def test_results_table_rows_and_verdict():
    loss = spread([0.05, 0.0512], "the last 2 epochs")
    rows = [RunSummary("3x3", "finished", 4, 0.0512, 0.987, 1, 32, 0.41, 12.3, 4, loss, None),
            RunSummary("9x9 <b>", "cancelled", 2, float("nan"), None, 0, 32, 0.2, 3.0, 4, loss, None)]
    table = results_table(rows, "3x3 learns faster")
    assert table.count("<tr>") == 3 and ">0.0512</td>" in table
    assert "98.7%" in table and "1 of 32" in table and "12.3 s" in table
    assert "9x9 &lt;b&gt;" in table  # names are escaped
    assert ">-</td>" in table  # nan loss and no accuracy shown as "-"
    assert table.endswith("<p class='convis-verdict'><b>3x3 learns faster</b></p>")
    seeds = results_table(rows, "held-out loss 0.050 ± 0.001 vs 0.060 ± 0.002 (3x3 vs 9x9, over 3 seeds): "
                                "3x3 better on loss")
    assert "standard deviation across the seeds" in seeds and "at most 2 standard errors" in seeds
    assert "from epoch to epoch" not in seeds
    epochs = results_table(rows, "held-out loss 0.050 vs 0.060, difference −0.010 ± 0.001 (3x3 vs 9x9, epoch "
                                 "by epoch over the last 3 epochs): 3x3 better on loss")
    assert "standard deviation from epoch to epoch" in epochs and "another seed" in epochs
    assert "across the seeds" not in epochs and "at most 2 standard errors" in epochs
