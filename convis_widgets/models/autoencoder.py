"""Reference convolutional autoencoder from the course report "Autoencoders – Deep Networks
Visualizations": 32x32 down to a 5x5 code and back."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from .cnn import check_first_kernel


class EncoderDecoder(nn.Module):
    """An autoencoder as ``encoder`` and ``decoder`` submodules (what `compute.latent` reads): the
    subclass builds both; ``encode`` gives the code of a batch of images, ``decode`` images in [0, 1]."""

    encoder: nn.Module
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The codes of a batch of images."""
        return self.encoder(x)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] reconstructed from codes."""
        return self.decoder(code)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of a batch of images, same shape as the input."""
        return self.decoder(self.encoder(x))


class ConvAutoencoder(EncoderDecoder):
    """Encoder of three convs (32 -> 16 -> 8 -> 5 at the default size) and a mirrored decoder.

    Layers sit in ``encoder`` and ``decoder`` Sequentials with named children, so layer names read
    ``encoder.conv1``, ``decoder.deconv1``, ... The code is (N, 16, 5, 5) at the default 32x32 size;
    the decoder ends in a Sigmoid: images are in [0, 1].
    """

    def __init__(self, in_channels: int = 3, first_kernel: int = 3, input_size: int = 32, *,
                 output_mean: Sequence[float] | None = None) -> None:
        super().__init__()
        check_first_kernel(first_kernel, input_size)
        if input_size < 16 or input_size % 4:
            raise ValueError(f"input_size must be a multiple of 4 and at least 16, got {input_size}")
        code_side = input_size // 4 - 3
        self.input_shape = (in_channels, input_size, input_size)
        self.latent_shape = (16, code_side, code_side)
        self.encoder = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, 16, first_kernel, padding=first_kernel // 2),
                relu1=nn.ReLU(),
                pool1=nn.MaxPool2d(2),
                conv2=nn.Conv2d(16, 32, 3, padding=1),
                relu2=nn.ReLU(),
                pool2=nn.MaxPool2d(2),
                conv3=nn.Conv2d(32, 16, 4),
                relu3=nn.ReLU(),
            )
        )
        self.decoder = nn.Sequential(
            OrderedDict(
                deconv1=nn.ConvTranspose2d(16, 32, 4),
                relu1=nn.ReLU(),
                deconv2=nn.ConvTranspose2d(32, 16, 2, stride=2),
                relu2=nn.ReLU(),
                deconv3=nn.ConvTranspose2d(16, 16, 2, stride=2),
                relu3=nn.ReLU(),
                conv=nn.Conv2d(16, in_channels, 3, padding=1),
                sigmoid=nn.Sigmoid(),
            )
        )
        if output_mean is not None:
            self.start_at(output_mean)

    def start_at(self, mean: Sequence[float]) -> None:
        """Set the last conv's bias so the untrained net outputs about ``mean`` per channel (in (0, 1)):
        from the sigmoid's 0.5, images as dark as the digits (mean 0.13) drive every output to 0 in
        the first steps, where the sigmoid saturates and the net stays black."""
        values = torch.as_tensor([float(m) for m in mean])
        if values.shape != (self.input_shape[0],) or not ((values > 0) & (values < 1)).all():
            raise ValueError(f"output_mean must be {self.input_shape[0]} values in (0, 1), one per channel; "
                             f"got {list(mean)}")
        last = self.decoder.get_submodule("conv")
        assert isinstance(last, nn.Conv2d) and last.bias is not None  # built above
        with torch.no_grad():
            last.bias.copy_(torch.logit(values.clamp(1e-3, 1 - 1e-3)))


class DigitsAutoencoder(EncoderDecoder):
    """A 28x28 one-channel autoencoder with a flat ``latent_dim``-number code (16 by default): two
    strided convs and a Linear layer down, their mirror up, a Sigmoid at the end (images in [0, 1]).

    A flat code is what a latent space is explored by: its main directions, samples drawn from the
    codes' distribution and lines between two images' codes (R. Mönchmeyer, "Autoencoders and latent
    space fragmentation"). Layer names read ``encoder.conv1``, ``encoder.code``, ``decoder.deconv1``, ...
    """

    def __init__(self, latent_dim: int = 16) -> None:
        super().__init__()
        if not isinstance(latent_dim, int) or isinstance(latent_dim, bool) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        self.input_shape = (1, 28, 28)
        self.latent_shape = (latent_dim,)
        self.encoder = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(1, 16, 3, stride=2, padding=1),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(16, 32, 3, stride=2, padding=1),
                relu2=nn.ReLU(),
                flatten=nn.Flatten(),
                code=nn.Linear(32 * 7 * 7, latent_dim),
            )
        )
        self.decoder = nn.Sequential(
            OrderedDict(
                expand=nn.Linear(latent_dim, 32 * 7 * 7),
                relu0=nn.ReLU(),
                unflatten=nn.Unflatten(1, (32, 7, 7)),
                deconv1=nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),
                relu1=nn.ReLU(),
                deconv2=nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),
                sigmoid=nn.Sigmoid(),
            )
        )
