"""Compatibility re-export: the errors live in the leaf package :mod:`errors`."""

from errors import ResonanceError, UsageError

__all__ = ["ResonanceError", "UsageError"]
