"""Suite-wide settings: a non-interactive matplotlib backend and seeded torch."""

import matplotlib
import pytest
import torch

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same torch seed."""
    torch.manual_seed(0)
