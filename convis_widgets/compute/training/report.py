"""The report of finished runs: each run's end figures (RunSummary) and a verdict a teacher would sign.

The verdict compares runs on the held-out loss and (for a classifier) the held-out accuracy
together, each averaged over the last epochs of a run, or over several seeds when summaries of one
first layer from several seeds are given. Over epochs, the two runs' difference is taken epoch by
epoch, so that a loss both runs are still losing is not read as noise; over seeds, from each first
layer's run-to-run spread. A difference counts only when it is more than twice its standard error;
otherwise it is "within noise". Cancelled or failed runs get no verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..filters import smoothness
from .records import Run

LAST_EPOCHS = 3
"""How many of a run's last epochs the verdict averages (their spread is its measure of noise)."""
MIN_EPOCHS = LAST_EPOCHS + 1
"""The shortest run the verdict measures the noise of: its last LAST_EPOCHS epochs leave out the
first, whose steep fall from the untrained model is not noise."""
NOISE_SE = 2.0
"""A difference is "within noise" unless it exceeds this many standard errors of the difference."""


@dataclass(frozen=True)
class Spread:
    """A figure's mean and standard deviation over its samples, and what they were (``over``);
    ``keys`` name the samples (the epochs) where two spreads can be paired sample by sample."""

    mean: float
    std: float
    n: int
    over: str
    values: tuple[float, ...] = ()
    keys: tuple[int, ...] = ()

    @property
    def sem(self) -> float:
        """Standard error of the mean (NaN with fewer than two samples)."""
        return self.std / math.sqrt(self.n) if self.n >= 2 else float("nan")


def spread(values: Sequence[float], over: str, keys: Sequence[int] = ()) -> Spread:
    """Mean and sample standard deviation (ddof 1; NaN for one value) of ``values``, named by
    ``keys`` (one per value, or none)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"a spread needs one or more finite values; got {list(values)!r}")
    if keys and len(keys) != v.size:
        raise ValueError(f"a spread needs one key per value; got {len(keys)} keys for {v.size} values")
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if v.size >= 2 else float("nan")
    if std < 1e-12 * max(1.0, float(np.abs(v).max())):  # equal values: no rounding noise as spread
        std = 0.0
    return Spread(mean, std, int(v.size), over, tuple(float(x) for x in v), tuple(int(k) for k in keys))


@dataclass(frozen=True)
class Difference:
    """Two runs compared on one figure: which is better, or None when the difference is within noise
    (``measured`` False: too few samples to measure the noise). ``paired``: the first run's figure
    minus the second's, sample by sample, when the two were paired (else None)."""

    figure: str
    names: tuple[str, str]
    values: tuple[Spread, Spread]
    better: str | None
    measured: bool
    paired: Spread | None = None

    @property
    def within_noise(self) -> bool:
        """The difference was measured and is inside the noise."""
        return self.measured and self.better is None


def compare(figure: str, a: tuple[str, Spread], b: tuple[str, Spread], *, higher_is_better: bool
            ) -> Difference:
    """Compare ``a`` and ``b`` (name, spread) on ``figure``: the better one only when the difference of
    means exceeds NOISE_SE standard errors of the difference.

    Spreads over the same keys (the same epochs of two runs) are paired: the standard error is that
    of the per-epoch differences, in which a trend both runs share cancels. Others (seeds) are
    compared by Welch's standard error, from the two spreads.
    """
    (name_a, sa), (name_b, sb) = a, b
    names, values = (name_a, name_b), (sa, sb)
    if math.isnan(sa.std) or math.isnan(sb.std):
        return Difference(figure, names, values, None, measured=False)
    paired = None
    if sa.keys and sa.keys == sb.keys:
        paired = spread(np.subtract(sa.values, sb.values).tolist(), sa.over, sa.keys)
        diff, noise = paired.mean, NOISE_SE * paired.sem
    else:
        diff, noise = sa.mean - sb.mean, NOISE_SE * math.sqrt(sa.sem ** 2 + sb.sem ** 2)
    if abs(diff) <= noise:
        return Difference(figure, names, values, None, measured=True, paired=paired)
    a_better = diff > 0 if higher_is_better else diff < 0
    return Difference(figure, names, values, name_a if a_better else name_b, measured=True, paired=paired)


@dataclass
class RunSummary:
    """The figures of a run's end that the comparison table shows, with the held-out loss and
    accuracy over its last epochs (``loss``, ``accuracy``) that the verdict compares."""

    name: str
    status: str
    epochs: int
    val_loss: float
    val_accuracy: float | None
    dead: int
    channels: int
    smoothness: float
    seconds: float
    planned_epochs: int
    loss: Spread
    accuracy: Spread | None
    seed: int | None = None


def _over(k: int) -> str:
    return "the last epoch" if k == 1 else f"the last {k} epochs"


def _unmeasured_if_short(s: Spread, last: int) -> Spread:
    """``s`` without a spread when it covers fewer than ``last`` epochs: over two epochs of a falling
    loss the "spread" is the fall itself, not noise, and a verdict on it would be a guess."""
    return s if s.n >= last else replace(s, std=float("nan"))


def summarize(run: Run, *, last: int = LAST_EPOCHS) -> RunSummary:
    """Final held-out loss and accuracy, their spread over the ``last`` epochs (never the first),
    dead first-layer channels, filter smoothness and time of a run."""
    if last < 1:
        raise ValueError(f"last must be >= 1 epoch; got {last}")
    last_rec = run.last_epoch
    if last_rec is None or last_rec.val_loss is None:
        raise ValueError(f"run {run.name!r} has no held-out record yet")
    trained = [r for r in run.records if r.is_epoch and r.epoch >= 1]
    # the first epoch's steep fall is never averaged in; a run of one epoch has only it (or, stopped
    # in its first epoch, only the untrained model)
    window = [r for r in trained if r.epoch >= 2][-last:] or trained[-1:] or [last_rec]
    epochs, over = [r.epoch for r in window], _over(len(window))
    loss = _unmeasured_if_short(spread([float(r.val_loss or 0.0) for r in window], over, epochs), last)
    accs = [r.val_accuracy for r in window if r.val_accuracy is not None]
    accuracy = (_unmeasured_if_short(spread(accs, over, epochs), last) if len(accs) == len(window)
                else None)
    filters = run.records[-1].filters
    smooth = float(smoothness(filters).mean()) if filters.shape[2] * filters.shape[3] > 1 else float("nan")
    dead = last_rec.dead if last_rec.dead is not None else np.zeros(0, dtype=bool)
    return RunSummary(run.name, run.status, last_rec.epoch, float(last_rec.val_loss), last_rec.val_accuracy,
                      int(dead.sum()), len(dead), smooth, run.records[-1].elapsed,
                      int(run.config.get("epochs", last_rec.epoch)), loss, accuracy, run.config.get("seed"))


def pooled(summaries: Sequence[RunSummary]) -> list[tuple[str, Spread, Spread | None]]:
    """Per first layer (summary name), in first-seen order: its held-out loss and accuracy spreads.

    A name met once keeps its last-epochs spreads; a name met several times (runs of several
    seeds) gets the spread of those runs' means, over "n seeds" (named when the summaries carry them).
    """
    groups: dict[str, list[RunSummary]] = {}
    for s in summaries:
        groups.setdefault(s.name, []).append(s)
    out = []
    for name, group in groups.items():
        if len(group) == 1:
            out.append((name, group[0].loss, group[0].accuracy))
            continue
        seeds = sorted(s.seed for s in group if s.seed is not None)
        named = f" ({', '.join(map(str, seeds))})" if len(seeds) == len(group) else ""
        over = f"{len(group)} seeds{named}"
        accs = [s.accuracy.mean for s in group if s.accuracy is not None]
        out.append((name, spread([s.loss.mean for s in group], over),
                    spread(accs, over) if len(accs) == len(group) else None))
    return out


def _num(x: float, digits: int) -> str:
    return f"{x:.{digits}f}"


def _decimals(std: float, least: int) -> int:
    """Enough decimals to show ``std`` with one significant digit (at least ``least``)."""
    if not math.isfinite(std) or std <= 0:
        return least
    return max(least, min(5, -math.floor(math.log10(float(f"{std:.2g}")))))


def _show(d: Difference) -> str:
    """'loss 0.0121 vs 0.0142, difference -0.0021 ± 0.0003' (paired), 'loss 0.15 ± 0.05 vs …' (seeds)."""
    (sa, sb), pct = d.values, d.figure.endswith("accuracy")
    scale, unit = (100.0, "%") if pct else (1.0, "")
    places = max(_decimals(s.std * scale, 1 if pct else 3) for s in (sa, sb, d.paired) if s is not None)

    def one(s: Spread, *, sign: bool = False, show_std: bool = True) -> str:
        pm = f" ± {_num(s.std * scale, places)}" if show_std and math.isfinite(s.std) else ""
        mean = _num(s.mean * scale, places)
        if sign:  # a signed difference; one that rounds to zero has no sign
            mean = mean.lstrip("-") if float(mean) == 0 else f"{s.mean * scale:+.{places}f}".replace("-", "−")
        return f"{mean}{pm} points" if sign and pct else f"{mean}{unit}{pm}"

    if d.paired is None:
        return f"{d.figure} {one(sa)} vs {one(sb)}"
    return (f"{d.figure} {one(sa, show_std=False)} vs {one(sb, show_std=False)}, "
            f"difference {one(d.paired, sign=True)}")


def _stopped(summaries: Sequence[RunSummary]) -> str | None:
    """Why there is no verdict when a run did not finish; None when all did."""
    unfinished = [s for s in summaries if s.status != "finished"]
    if not unfinished:
        return None
    reached = sorted({s.epochs for s in unfinished})
    planned = max(s.planned_epochs for s in summaries)
    at = f"{reached[0]}" if len(reached) == 1 else f"{reached[0]} to {reached[-1]}"
    how = "stopped" if all(s.status == "cancelled" for s in unfinished) else \
        "; ".join(sorted({f"{s.name} {s.status}" for s in unfinished}))
    return f"{how} after {at} of {planned} epochs: no verdict"


def verdict(summaries: Sequence[RunSummary]) -> str:
    """One line comparing the first layers on held-out loss and accuracy together, saying what it
    measured and "within noise" where the difference is inside the spread it measured.

    The best run (by accuracy, else loss) is compared with the runner-up, the two named in the order
    the runs came (3x3 vs 9x9 whichever is ahead); a winner is named only
    when one figure favours it beyond noise and the other does not favour the other run. A winner
    from one seed's epochs is said to hold "in this seed": another seed can reverse it, which only
    several seeds (pooled) measure.
    """
    if not summaries:
        return "no run has reached an epoch yet"
    stopped = _stopped(summaries)
    if stopped is not None:
        return stopped
    pools = pooled(summaries)
    if len(pools) == 1:
        name, loss, _ = pools[0]
        return f"only {name} ran: held-out loss {loss.mean:.4f} over {loss.over}"
    use_acc = all(acc is not None for _, _, acc in pools)
    ranked = sorted(pools, key=lambda p: -p[2].mean if use_acc and p[2] is not None else p[1].mean)
    (na, la, aa), (nb, lb, ab) = sorted(ranked[:2], key=pools.index)  # the two best, in the runs' order
    diffs = [compare("held-out loss", (na, la), (nb, lb), higher_is_better=False)]
    if use_acc and aa is not None and ab is not None:
        diffs.insert(0, compare("held-out accuracy", (na, aa), (nb, ab), higher_is_better=True))
    overs = " / ".join(sorted({s.over for d in diffs for s in d.values}))
    how = f"epoch by epoch over {overs}" if any(d.paired for d in diffs) else f"over {overs}"
    measured = "; ".join(_show(d) for d in diffs) + f" ({na} vs {nb}, {how})"
    conclusion = _conclusion(diffs)
    if any(d.paired for d in diffs) and any(d.better for d in diffs):
        conclusion = f"in this seed, {conclusion}"  # its epochs cannot show what another seed would give
    return f"{measured}: {conclusion}"


def _conclusion(diffs: Sequence[Difference]) -> str:
    """What the figures compared say together: a winner only when none favours the other run."""
    if not all(d.measured for d in diffs):
        return (f"too few epochs to measure the noise, no verdict (train {MIN_EPOCHS} epochs or more, "
                "or several seeds)")
    winners = {d.better for d in diffs if d.better is not None}
    if len(winners) > 1:
        return "mixed, " + "; ".join(f"{d.better} better on {d.figure}" for d in diffs) + ": no winner"
    if not winners:
        return "within noise, neither first layer is better"
    (winner,) = winners
    on = " and ".join(d.figure.removeprefix("held-out ") for d in diffs if d.better)
    noise = [d.figure.removeprefix("held-out ") for d in diffs if d.within_noise]
    return f"{winner} better on {on}" + (f"; {' and '.join(noise)} within noise" if noise else "")
