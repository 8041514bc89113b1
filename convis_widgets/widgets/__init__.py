"""Jupyter widgets over the compute core: the only package that imports ipywidgets and ipympl."""

from .activation_explorer import ActivationExplorer
from .filter_gallery import FilterGallery

__all__ = ["ActivationExplorer", "FilterGallery"]
