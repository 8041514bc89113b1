"""Errors raised when a data set file on disk cannot be read."""

from __future__ import annotations


class DatasetFormatError(ValueError):
    """A data set file exists but is truncated, corrupt or not in the expected format."""


class UnsafePickleError(DatasetFormatError):
    """A pickle asked for a global outside the allow-list; it was refused, never executed."""
