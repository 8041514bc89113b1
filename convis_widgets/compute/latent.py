"""An autoencoder's latent space: encode a data set, fit the codes' distribution (mean, covariance and
its main directions), decode samples drawn from it and points on a line between two images' codes,
and say which sampled codes fall far from every encoded training image.

The last is R. Mönchmeyer's "latent space fragmentation" ("Autoencoders and latent space
fragmentation"): a conventional autoencoder's codes fill only scattered islands of the region a
normal distribution fitted to them covers, so many codes drawn from that distribution land where no
training image was encoded, and decode to blurs or mixtures rather than digits. A sampled code is
called far when its distance to the nearest training code exceeds what ``quantile`` of the training
codes have to their own nearest neighbour.

An autoencoder is any ``nn.Module`` with ``encode`` and ``decode`` methods, or with ``encoder`` and
``decoder`` submodules; both run on a private eval-mode view of it (:mod:`.access`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .access import ModelAccess, open_model
from .batches import DataSource, image_batches
from .cancel import Cancel, check, stopper
from .inputs import check_images

LATENT_BATCH = 256
FAR_QUANTILE = 0.99
PARTS = (("encode", "decode"), ("encoder", "decoder"))


def autoencoder_parts(model: nn.Module) -> tuple[str, str]:
    """The names of ``model``'s encoding and decoding parts: its ``encode``/``decode`` methods, else
    its ``encoder``/``decoder`` submodules; a TypeError saying so when it has neither."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"an autoencoder must be a torch.nn.Module; got {type(model).__name__}")
    for encode, decode in PARTS:
        if callable(getattr(model, encode, None)) and callable(getattr(model, decode, None)):
            return encode, decode
    raise TypeError(
        f"{type(model).__name__} is not an autoencoder as convis-widgets reads one: it needs encode() and "
        "decode() methods, or encoder and decoder submodules (code = encoder(images), images = "
        "decoder(code))"
    )


def _access(model: nn.Module) -> tuple[ModelAccess, str, str]:
    encode, decode = autoencoder_parts(model)
    return open_model(model), encode, decode


@torch.no_grad()
def encode(autoencoder: nn.Module, data: DataSource, *, batch_size: int = LATENT_BATCH,
           cancel: Cancel = None) -> torch.Tensor:
    """The codes of every image of ``data`` (a tensor of images, an ``ImageDataset``, a Dataset or a
    DataLoader), as one float32 CPU tensor of shape (N, *code shape); RunCancelled when ``cancel`` asks."""
    access, enc, _ = _access(autoencoder)
    stop, codes = stopper(cancel), []
    for batch in image_batches(data, batch_size):
        check(stop, "encoding the data set")
        x = check_images(batch, model=autoencoder).to(access.device, access.dtype)
        code = access.call(enc, x, what=f"encoding a batch of shape {tuple(x.shape)}")
        if not isinstance(code, torch.Tensor):
            raise TypeError(f"the autoencoder's {enc} must return a tensor of codes; "
                            f"got {type(code).__name__}")
        codes.append(code.float().cpu())
    if not codes:
        raise ValueError("data holds no images to encode")
    return torch.cat(codes)


@torch.no_grad()
def decode(autoencoder: nn.Module, codes: torch.Tensor, *, batch_size: int = LATENT_BATCH) -> torch.Tensor:
    """The images ``autoencoder`` decodes from ``codes`` (N, *code shape), as a float32 CPU tensor."""
    access, _, dec = _access(autoencoder)
    if not isinstance(codes, torch.Tensor) or codes.ndim < 2:
        raise TypeError(f"codes must be a tensor of shape (N, *code shape); got "
                        f"{tuple(codes.shape) if isinstance(codes, torch.Tensor) else type(codes).__name__}")
    images = []
    for start in range(0, len(codes), batch_size):
        code = codes[start : start + batch_size].to(access.device, access.dtype)
        out = access.call(dec, code, what=f"decoding codes of shape {tuple(code.shape)}")
        images.append(out.float().cpu())
    return torch.cat(images)


@dataclass(frozen=True)
class LatentDistribution:
    """The normal distribution fitted to a data set's codes: ``mean`` (D,), ``covariance`` (D, D), its
    ``directions`` (rows, unit length, largest variance first) and their ``variances``; codes are
    flattened to D numbers and given back in ``code_shape``."""

    mean: torch.Tensor
    covariance: torch.Tensor
    directions: torch.Tensor
    variances: torch.Tensor
    code_shape: tuple[int, ...]

    @property
    def explained(self) -> torch.Tensor:
        """Each direction's share of the total variance."""
        return self.variances / self.variances.sum().clamp_min(1e-12)

    def sample(self, n: int, *, seed: int = 0) -> torch.Tensor:
        """``n`` codes drawn from the distribution, from a generator of their own seeded with ``seed``."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}")
        z = torch.randn(n, len(self.mean), generator=torch.Generator().manual_seed(seed))
        return self._codes(self.mean + (z * self.variances.sqrt()) @ self.directions)

    def point(self, steps: list[float] | tuple[float, ...] | torch.Tensor) -> torch.Tensor:
        """The code ``mean + sum_k steps[k] * sd_k * direction_k`` (1, *code shape): ``steps`` are in
        standard deviations along the first ``len(steps)`` directions."""
        s = torch.as_tensor(steps, dtype=torch.float32).flatten()
        if len(s) > len(self.mean):
            raise ValueError(f"at most {len(self.mean)} steps (one per latent number); got {len(s)}")
        k = len(s)
        return self._codes((self.mean + (s * self.variances[:k].sqrt()) @ self.directions[:k])[None])

    def _codes(self, flat: torch.Tensor) -> torch.Tensor:
        return flat.reshape(-1, *self.code_shape)


def fit_latent(codes: torch.Tensor) -> LatentDistribution:
    """The mean and covariance of ``codes`` (N, *code shape), with the covariance's eigenvectors as the
    main directions (variances below 0 from rounding are set to 0)."""
    if not isinstance(codes, torch.Tensor) or codes.ndim < 2 or len(codes) < 2:
        raise ValueError("codes must be a tensor of at least 2 codes, shape (N, *code shape); got "
                         f"{tuple(codes.shape) if isinstance(codes, torch.Tensor) else type(codes).__name__}")
    flat = codes.detach().double().flatten(1)
    mean = flat.mean(dim=0)
    covariance = torch.cov(flat.T).reshape(flat.shape[1], flat.shape[1])
    variances, vectors = torch.linalg.eigh(covariance)
    order = variances.argsort(descending=True)
    return LatentDistribution(mean=mean.float(), covariance=covariance.float(),
                              directions=vectors[:, order].T.contiguous().float(),
                              variances=variances[order].clamp_min(0).float(),
                              code_shape=tuple(codes.shape[1:]))


def interpolate(code_a: torch.Tensor, code_b: torch.Tensor, steps: int = 8) -> torch.Tensor:
    """``steps`` codes (steps, *code shape) evenly spaced on the line from ``code_a`` to ``code_b``, both
    ends included; each is one code, as ``encode(...)[i]`` gives it (a leading batch of 1 is dropped)."""
    a, b = (c[0] if c.ndim > 1 and c.shape[0] == 1 else c for c in (code_a, code_b))
    if a.shape != b.shape:
        raise ValueError(f"the two codes differ in shape: {tuple(a.shape)} and {tuple(b.shape)}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
        raise ValueError(f"steps must be an int of at least 2 (the two ends); got {steps!r}")
    t = torch.linspace(0, 1, steps).reshape(steps, *([1] * a.ndim))
    return (1 - t) * a.float() + t * b.float()


@dataclass(frozen=True)
class Fragmentation:
    """How far each code lies from the training codes: ``distances`` to the nearest one (index
    ``nearest``), the ``threshold`` beyond which a code is ``far``, and the quantile it came from."""

    distances: torch.Tensor
    nearest: torch.Tensor
    threshold: float
    far: torch.Tensor
    quantile: float

    @property
    def share_far(self) -> float:
        """The share of codes that lie far from every training code."""
        return float(self.far.float().mean()) if len(self.far) else 0.0


def _nearest(queries: torch.Tensor, points: torch.Tensor, *, leave_out_self: bool = False,
             chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance to and index of each query's nearest point (a query's own row left out when asked)."""
    dists, index = [], []
    for start in range(0, len(queries), chunk):
        d = torch.cdist(queries[start : start + chunk], points)
        if leave_out_self:
            rows = torch.arange(start, min(start + chunk, len(queries)))
            d[rows - start, rows] = float("inf")
        best = d.min(dim=1)
        dists.append(best.values)
        index.append(best.indices)
    return torch.cat(dists), torch.cat(index)


def fragmentation(codes: torch.Tensor, training_codes: torch.Tensor, *, quantile: float = FAR_QUANTILE
                  ) -> Fragmentation:
    """Which of ``codes`` lie far from every one of ``training_codes``: farther from the nearest than
    ``quantile`` of the training codes are from their own nearest neighbour."""
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be between 0 and 1; got {quantile!r}")
    if len(training_codes) < 2:
        raise ValueError("fragmentation needs at least 2 training codes")
    train = training_codes.detach().float().flatten(1)
    query = codes.detach().float().reshape(-1, train.shape[1])
    own, _ = _nearest(train, train, leave_out_self=True)
    threshold = float(torch.quantile(own, quantile))
    distances, nearest = _nearest(query, train)
    return Fragmentation(distances=distances, nearest=nearest, threshold=threshold,
                         far=distances > threshold, quantile=quantile)
