"""Analyses of a model over a data set that need more than torch and numpy (scikit-learn): the
feature space of a layer. Imports only the compute core of this package."""

from .feature_space import Neighbours, Projection, features, pca, pixels, same_class_rate, tsne

__all__ = ["Neighbours", "Projection", "features", "pca", "pixels", "same_class_rate", "tsne"]
