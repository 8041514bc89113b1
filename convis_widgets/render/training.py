"""Views of training runs compared: loss curves of every run, and each run's first layer side by side."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogFormatter, MaxNLocator

from ..compute.training import NOISE_SE, RunSummary
from . import DEAD_COLOR, PADDING_ON_GREY, _bare, _cmap, _set_image, image_for_display
from .grid import channel_grid, grid_shape

RUN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
LIVE_BAR = "#7f7f7f"


def run_color(index: int) -> str:
    """The colour of the ``index``-th run, the same in every view."""
    return RUN_COLORS[index % len(RUN_COLORS)]


class PlainMinorFormatter(LogFormatter):
    """LogFormatter's choice of which minor ticks to label, as plain numbers of two significant digits:
    on a range under a decade matplotlib ticks linearly (0.12, 0.14, ...), which "1e-01" would repeat."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        """The label of the tick at ``x``: "" where LogFormatter would leave it unlabelled."""
        return f"{x:.2g}" if super().__call__(x, pos) else ""


class LossView:
    """Train (dashed) and held-out (solid) loss of every run against epochs on a log scale, and, for a
    classifier, each run's held-out accuracy beside it."""

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        self.lines: dict[str, tuple] = {}
        self.accuracy_lines: dict[str, Line2D] = {}
        self.acc_ax: Axes | None = None
        self.reset([])

    def reset(self, names: Sequence[str], title: str = "", *, accuracy: bool = False,
              loss_name: str = "loss") -> None:
        """Start over with one pair of loss lines per run (and one accuracy line each if ``accuracy``);
        ``loss_name`` names the loss on the axis, e.g. "cross-entropy"."""
        self.fig.clear()
        if accuracy:
            self.ax, self.acc_ax = self.fig.subplots(1, 2, width_ratios=(3, 2))
        else:
            self.ax, self.acc_ax = self.fig.add_subplot(), None
        self.ax.set_xlabel("epoch")
        self.ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        self.ax.set_ylabel(f"{loss_name} (log scale)")
        self.ax.set_yscale("log")
        # plain numbers (0.1, 2.2), not 10^-1 or 2.2x10^0; minor ticks labelled only on a narrow range
        self.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        self.ax.yaxis.set_minor_formatter(PlainMinorFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        self.ax.grid(True, which="both", alpha=0.3)
        self.lines, self.accuracy_lines = {}, {}
        for i, name in enumerate(names):
            (val,) = self.ax.plot([], [], "-o", ms=3, color=run_color(i), label=f"{name} held-out")
            (train,) = self.ax.plot([], [], "--", lw=1, color=run_color(i), label=f"{name} train")
            self.lines[name] = (train, val)
            if self.acc_ax is not None:
                (acc,) = self.acc_ax.plot([], [], "-o", ms=3, color=run_color(i), label=f"{name} held-out")
                self.accuracy_lines[name] = acc
        if names:
            self.ax.legend(loc="best", fontsize=8, ncols=2)
        self.ax.set_title(title, fontsize=10)
        if self.acc_ax is not None:
            self.acc_ax.set_xlabel("epoch")
            self.acc_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            self.acc_ax.set_ylabel("held-out accuracy (%)")
            self.acc_ax.grid(True, alpha=0.3)
            self.acc_ax.set_title("held-out accuracy", fontsize=10)
            if names:
                self.acc_ax.legend(loc="lower right", fontsize=8)

    def update(self, name: str, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
               accuracy: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Set one run's curves: (epochs, values) of the train and held-out loss and, when the view
        shows it, of the held-out accuracy (fractions, drawn in %)."""
        train_line, val_line = self.lines[name]
        train_line.set_data(*train)
        val_line.set_data(*val)
        self.ax.relim()
        self.ax.autoscale_view()
        if accuracy is not None and self.acc_ax is not None:
            epochs, values = accuracy
            self.accuracy_lines[name].set_data(epochs, 100.0 * np.asarray(values, dtype=np.float64))
            self.acc_ax.relim()
            self.acc_ax.autoscale_view()


def filter_mosaic(filters: np.ndarray) -> np.ndarray:
    """(out, in, k, k) weights -> a mosaic, each filter scaled by its own min/max: RGB for 3 inputs,
    else the first input channel in grey."""
    f = np.asarray(filters, dtype=np.float64)
    _, ncols = grid_shape(len(f))
    if f.shape[1] != 3:
        return channel_grid(f[:, 0], ncols=ncols, normalize="per_channel")
    lo = f.min(axis=(1, 2, 3), keepdims=True)
    span = f.max(axis=(1, 2, 3), keepdims=True) - lo
    scaled = np.where(span > 0, (f - lo) / np.where(span > 0, span, 1.0), 0.5)
    return np.stack([channel_grid(scaled[:, k], ncols=ncols, normalize="none", pad_value=1.0)
                     for k in range(3)], axis=-1)


class FirstLayerView:
    """One column per run: its first-layer filters, the probe picture, each channel's fraction of zeros.

    The probe picture is the autoencoder's reconstruction of the probe image, or the classifier's
    first-layer activation of it (channel grid). Dead channels (zero on every held-out image) are
    the red bars at 1; a legend under the bars says so.
    """

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        self.columns: dict[str, dict] = {}
        self.probe_input: Axes | None = None

    def reset(self, names: Sequence[str], probe_image: np.ndarray | None = None) -> None:
        """Lay out one column per run (plus the probe input when one is given)."""
        self.fig.clear()
        extra = probe_image is not None
        grid = self.fig.add_gridspec(3, len(names) + extra, height_ratios=(3, 3, 1.4),
                                     width_ratios=(0.6,) * extra + (1.0,) * len(names))
        self.columns, self.probe_input = {}, None
        empty = np.zeros((1, 1))
        if probe_image is not None:
            ax = self.fig.add_subplot(grid[1, 0])
            _bare(ax)
            ax.imshow(image_for_display(probe_image), cmap="gray", interpolation="nearest")
            ax.set_title("probe image", fontsize=9)
            ax.set_xlabel("a held-out image", fontsize=8)
            self.probe_input = ax
        for i, name in enumerate(names):
            col = i + extra
            ax_f, ax_p, ax_z = (self.fig.add_subplot(grid[r, col]) for r in range(3))
            _bare(ax_f)
            _bare(ax_p)
            im_f = ax_f.imshow(empty, cmap=_cmap("gray", PADDING_ON_GREY), interpolation="nearest",
                               vmin=0, vmax=1)
            im_p = ax_p.imshow(empty, cmap=_cmap("viridis"), interpolation="nearest")
            ax_f.set_title(name, fontsize=10, color=run_color(i))
            ax_z.set_ylim(0, 1.05)
            ax_z.set_xticks([])
            ax_z.tick_params(labelsize=7)
            ax_z.set_xlabel("first-layer channel", fontsize=8)
            if i == 0:
                ax_z.set_ylabel("fraction of\nzero values", fontsize=8)
            self.columns[name] = {"filters": (ax_f, im_f), "probe": (ax_p, im_p), "zeros": ax_z,
                                  "bars": None}
        if names:
            keys = [Patch(color=LIVE_BAR, label="channel: fraction of held-out values at 0"),
                    Patch(color=DEAD_COLOR, label="dead channel: 0 on every held-out image")]
            self.fig.legend(handles=keys, loc="outside lower center", ncols=2, fontsize=8, frameon=False)

    def update(self, name: str, filters: np.ndarray, *, probe: np.ndarray | None = None,
               probe_is_image: bool = False, frac_zero: np.ndarray | None = None,
               dead: np.ndarray | None = None, epoch: int | None = None) -> None:
        """Draw one run's latest snapshot."""
        col = self.columns[name]
        ax_f, im_f = col["filters"]
        _set_image(ax_f, im_f, filter_mosaic(filters), autoscale=False)
        k = filters.shape[-1]
        at = "" if epoch is None else f", epoch {epoch}"
        ax_f.set_xlabel(f"{len(filters)} filters {k}x{k}{at} (each on its own scale)", fontsize=8)
        if probe is not None:
            ax_p, im_p = col["probe"]
            if probe_is_image:
                _set_image(ax_p, im_p, image_for_display(probe), autoscale=False)
                im_p.set_clim(0, 1)
                ax_p.set_xlabel("reconstruction", fontsize=8)
            else:
                _set_image(ax_p, im_p, channel_grid(probe, normalize="per_channel"), autoscale=False)
                im_p.set_clim(0, 1)
                ax_p.set_xlabel("first-layer maps of the probe (each on its own scale)", fontsize=8)
        if frac_zero is not None:
            self._bars(col, np.asarray(frac_zero), np.zeros(len(frac_zero), bool) if dead is None else dead)

    def _bars(self, col: dict, frac_zero: np.ndarray, dead: np.ndarray) -> None:
        ax = col["zeros"]
        if col["bars"] is None or len(col["bars"]) != len(frac_zero):
            if col["bars"] is not None:
                col["bars"].remove()
            col["bars"] = ax.bar(np.arange(len(frac_zero)), frac_zero, color=LIVE_BAR, width=0.8)
            ax.set_xlim(-0.6, len(frac_zero) - 0.4)
        for bar, height, is_dead in zip(col["bars"], frac_zero, dead, strict=True):
            bar.set_height(float(height))
            bar.set_color(DEAD_COLOR if is_dead else LIVE_BAR)
        n_dead = int(np.sum(dead))
        ax.set_title(f"{n_dead} dead of {len(dead)}", fontsize=8, color=DEAD_COLOR if n_dead else "black")


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def results_table(summaries: Sequence[RunSummary], verdict: str) -> str:
    """HTML table of each run's final figures, the verdict line under it and, when the verdict gives
    spreads (±), a line saying what they are."""
    head = ("first layer", "status", "epochs", "held-out loss, last epoch", "accuracy, last epoch",
            "dead channels", "filter smoothness", "time")
    cell_style = "style='padding: 2px 12px 2px 0; text-align: left'"  # the notebook's CSS may set none
    rows = "".join(
        "<tr>" + "".join(f"<td {cell_style}>{html.escape(str(cell))}</td>" for cell in (
            s.name, s.status, s.epochs, _fmt(s.val_loss, ".4f"),
            _fmt(s.val_accuracy, ".1%") if s.val_accuracy is not None else "-",
            f"{s.dead} of {s.channels}", _fmt(s.smoothness, ".2f"), f"{s.seconds:.1f} s")) + "</tr>"
        for s in summaries)
    header = "".join(f"<th {cell_style}>{h}</th>" for h in head)
    return (f"<table class='convis-results'><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
            f"<p class='convis-verdict'><b>{html.escape(verdict)}</b></p>" + _spread_note(verdict))


def _spread_note(verdict: str) -> str:
    """What the verdict's ± are, and when a difference is within noise (empty without a ±)."""
    if "±" not in verdict:
        return ""
    parts = []
    if "epoch by epoch" in verdict:
        parts.append("± after a difference is its standard deviation from epoch to epoch, over the epochs "
                     "averaged (a fall both runs share cancels in it). Those epochs come from one seed, so "
                     "they do not show how much another seed would change the result: start again with "
                     "another seed, and the verdict pools the seeds.")
    if "seeds" in verdict:
        parts.append("± after a figure is its standard deviation across the seeds, the run-to-run spread.")
    parts.append(f"A difference is <i>within noise</i> when it is at most {NOISE_SE:g} standard errors.")
    return f"<p class='convis-verdict-note' style='font-size: 90%'>{' '.join(parts)}</p>"
