"""The feature space of a layer over a data set: vectors, PCA and t-SNE to 2-D, nearest neighbours.

After the lecture notes "Visualizing and understanding CNNs" (computer-vision course notes,
week 46): collect a layer's feature vectors over many images, look at them in 2-D (PCA, an
analytic projection; t-SNE, a probabilistic one that keeps close points close), and compare a
query image's nearest neighbours in feature space, which should be alike in class, with its
neighbours in pixel space, which are alike in pixels. scikit-learn does PCA and the
neighbours, openTSNE (FFT-accelerated, with progress) the t-SNE.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from ..compute.access import open_model
from ..compute.batches import DataSource, image_batches
from ..compute.cancel import Cancel, check, stopper
from ..compute.errors import InputError
from ..compute.inputs import Layer, check_images
from ..compute.probe import layers

__all__ = ["Neighbours", "Projection", "TsneProgress", "features", "pca", "pixels", "same_class_rate", "tsne"]

Pool = Literal["auto", "mean", "max", "flatten"]
POOLS = ("auto", "mean", "max", "flatten")
FLATTEN_LIMIT = 8192
"""``pool="auto"`` flattens a spatial layer's maps up to this many numbers per image and averages
each map above it. On the shipped digits CNN flattened maps group digits far better than pooled
ones (5-NN same-class rate on the test digits, pool1: 0.85 flattened, 0.34 averaged)."""


def _vectors(act: torch.Tensor, pool: Pool) -> torch.Tensor:
    """(N, D) vectors of a batch of layer outputs: spatial maps pooled per channel (or flattened)."""
    if act.ndim == 4 and pool == "auto":
        pool = "flatten" if act[0].numel() <= FLATTEN_LIMIT else "mean"
    if act.ndim == 4 and pool in ("mean", "max"):
        return act.mean(dim=(2, 3)) if pool == "mean" else act.amax(dim=(2, 3))
    return act.reshape(act.shape[0], -1)


def features(
    model: torch.nn.Module,
    layer: Layer,
    data: DataSource,
    *,
    pool: Pool = "auto",
    batch_size: int = 256,
    cancel: Cancel = None,
) -> np.ndarray:
    """The feature vector of every image of ``data`` at ``layer``, (N, D) float32, in one streaming
    pass: a spatial layer's maps pooled per channel (``pool`` "mean" or "max", D = channels) or
    ``"flatten"``ed whole ("auto": see :data:`FLATTEN_LIMIT`); other layers flattened. ``cancel``
    is read between batches."""
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}; got {pool!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    stop = stopper(cancel)
    access = open_model(model)
    if isinstance(layer, str):
        access.resolve(layer)  # a wrong name fails before any data is read
    batches = image_batches(data, batch_size)
    first = next(batches, None)
    if first is None:
        raise InputError("empty data set: features need at least one image")
    shape = tuple(check_images(first, model=model).shape[1:])
    names = [info.name for info in layers(model, shape)] if isinstance(layer, int) else None
    name, _ = access.resolve(layer, names=names)  # an int indexes the layers that run
    parts: list[np.ndarray] = []
    with access.reader([name]) as read, torch.no_grad():
        for batch in itertools.chain([first], batches):
            check(stop, "features")
            x = check_images(batch, model=model)
            parts.append(_vectors(read(x)[name], pool).float().cpu().numpy())
    return np.concatenate(parts)


def pixels(data: DataSource) -> np.ndarray:
    """Every image of ``data`` as one flat (N, C*H*W) float32 vector: the pixel space."""
    parts = [np.asarray(torch.as_tensor(b).reshape(len(b), -1).float()) for b in image_batches(data, 1024)]
    if not parts:
        raise InputError("empty data set: no images to take pixels from")
    return np.concatenate(parts)


def _matrix(vectors: np.ndarray, what: str, at_least: int = 1) -> np.ndarray:
    x = np.asarray(vectors)
    if x.ndim != 2 or len(x) < at_least:
        raise ValueError(f"{what} needs an (N, D) array of at least {at_least} vectors; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what}: the vectors contain NaN or Inf")
    return x


@dataclass(frozen=True)
class Projection:
    """2-D (or ``n_components``-D) points of a projection, one row per vector, and, for PCA, the
    share of the variance each component explains."""

    points: np.ndarray
    method: str
    explained_variance_ratio: np.ndarray | None = None


def pca(vectors: np.ndarray, n_components: int = 2, *, seed: int = 0) -> Projection:
    """PCA of ``vectors`` (N, D) to ``n_components`` dimensions (scikit-learn's PCA; its ARPACK
    solver where it applies: for 2 of conv3's 1,152 numbers over 5,000 digits, 48 ms against 81 ms
    for its "auto" choice, the same components to float32 precision)."""
    x = _matrix(vectors, "pca", at_least=2)
    k = min(n_components, *x.shape)
    fitted = PCA(n_components=k, svd_solver="arpack" if k < min(x.shape) else "auto", random_state=seed)
    points = fitted.fit_transform(x)
    return Projection(points=points, method="pca", explained_variance_ratio=fitted.explained_variance_ratio_)


EARLY_ITERATIONS = 250
"""t-SNE's first phase, with the attractions exaggerated 12x (the usual recipe, as scikit-learn's
and openTSNE's defaults): clusters form here, and spread out in the iterations after it."""

TsneProgress = Callable[[int, int, np.ndarray], None]
"""Called as ``progress(iteration, of, points)`` with a copy of the (N, 2) points so far."""


def tsne(
    vectors: np.ndarray,
    *,
    perplexity: float = 30.0,
    seed: int = 0,
    pca_dims: int | None = 50,
    max_iter: int = 750,
    n_jobs: int = -1,
    progress: TsneProgress | None = None,
    every: int = 25,
    cancel: Cancel = None,
) -> Projection:
    """t-SNE of ``vectors`` (N, D) to 2-D: openTSNE's FFT-accelerated gradients from a PCA start,
    ``max_iter`` iterations in all (the first :data:`EARLY_ITERATIONS` exaggerated), after a PCA to
    ``pca_dims`` dimensions (the usual speed-up; None keeps them all). Every ``every`` iterations
    ``progress`` gets the points so far (a picture long before the end) and ``cancel`` is read.
    ``perplexity`` is capped below N/3, as the neighbour search needs."""
    from openTSNE import TSNEEmbedding, affinity, initialization  # its import takes 0.5 s

    x = _matrix(vectors, "tsne", at_least=4)
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < EARLY_ITERATIONS:
        raise ValueError(f"max_iter must be an int >= {EARLY_ITERATIONS} (the exaggerated phase); "
                         f"got {max_iter!r}")
    if pca_dims is not None and x.shape[1] > pca_dims:
        x = PCA(n_components=min(pca_dims, len(x)), random_state=seed).fit_transform(x)
    stop = stopper(cancel)
    x = x.astype(np.float64)
    aff = affinity.PerplexityBasedNN(x, perplexity=min(perplexity, (len(x) - 1) / 3), n_jobs=n_jobs,
                                     random_state=seed, verbose=False)
    check(stop, "tsne")
    start = initialization.pca(x, random_state=seed, verbose=False)
    embedding = TSNEEmbedding(start, aff, n_jobs=n_jobs, random_state=seed, verbose=False)
    done = 0

    def each(iteration: int, _error: float, points: np.ndarray) -> bool:
        check(stop, "tsne")
        if progress is not None:
            progress(done + iteration, max_iter, np.array(points))
        return False

    phases = ((EARLY_ITERATIONS, 12.0, 0.5), (max_iter - EARLY_ITERATIONS, None, 0.8))
    for n_iter, exaggeration, momentum in phases:
        if n_iter:
            embedding = embedding.optimize(n_iter=n_iter, exaggeration=exaggeration, momentum=momentum,
                                           callbacks=each, callbacks_every_iters=every)
        done += n_iter
    return Projection(points=np.array(embedding), method="tsne")


class Neighbours:
    """Exact nearest neighbours (Euclidean) among ``vectors`` (N, D): fit once, query fast."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = _matrix(vectors, "Neighbours", at_least=2)
        self._index = NearestNeighbors().fit(self.vectors)

    def query(self, query: int | np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """(indices, distances) of the ``k`` vectors nearest ``query``, nearest first: a vector
        (D,), or the index of one of the set's own (which is then left out of its neighbours)."""
        n = len(self.vectors)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1; got {k!r}")
        own = isinstance(query, (int, np.integer)) and not isinstance(query, bool)
        if own:
            if not -n <= int(query) < n:
                raise IndexError(f"query index {query} is out of range for {n} vectors")
            i = int(query) % n
            vector = self.vectors[i]
        else:
            vector = np.asarray(query, dtype=self.vectors.dtype).reshape(-1)
            if vector.shape != self.vectors.shape[1:]:
                raise ValueError(f"query must be one vector of {self.vectors.shape[1]} numbers or an index; "
                                 f"got shape {np.shape(query)}")
        want = min(k + own, n)
        dist, idx = self._index.kneighbors(vector[None], n_neighbors=want)
        dist, idx = dist[0], idx[0]
        if own:
            keep = idx != i
            dist, idx = dist[keep][:k], idx[keep][:k]
        return idx, dist


def same_class_rate(vectors: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Share of each vector's ``k`` nearest neighbours (itself left out) that have its label,
    averaged over the set: how well the space groups by class."""
    x = _matrix(vectors, "same_class_rate", at_least=k + 1)
    y = np.asarray(labels).reshape(-1)
    if len(y) != len(x):
        raise ValueError(f"labels must give one label per vector: {len(x)} vectors, {len(y)} labels")
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    others = np.array([row[row != i][:k] for i, row in enumerate(idx)])
    return float((y[others] == y[:, None]).mean())
