"""Record counts per kind of input: the volume engine behind throughput and error rates.

Counts are sums, so a window's volume is the merge of its partials like any engine's
(docs/design.md, principle 1). The field order is part of the partial's layout.

>>> v = Volume().update(volume_codes("predictions", 3)).merge(Volume().update(np.array([0])))
>>> v.to_dict()["predictions"], v.to_dict()["telemetry_samples"], v.count
(3, 1, 4)
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from processors.base import check_mergeable

VOLUME_FIELDS = (
    "telemetry_samples",
    "predictions",
    "prediction_errors",
    "outcomes_matched",
    "outcomes_unmatched",
    "energy_readings",
    "unreferenced",  # telemetry samples of a model without a reference (no drift)
    "outcomes_unscorable",  # pairs that waited for a target their labels do not fit
)
_VOLUME_INDEX = {name: i for i, name in enumerate(VOLUME_FIELDS)}

__all__ = ["VOLUME_FIELDS", "Volume", "volume_codes"]


class Volume:
    """Counts per :data:`VOLUME_FIELDS`, fed with field codes (their index in that tuple).

    >>> Volume().update(np.array([0, 0, 5])).to_dict()["telemetry_samples"]
    2
    """

    kind = "volume"

    def __init__(self) -> None:
        self.counts = np.zeros(len(VOLUME_FIELDS), np.int64)

    def update(self, codes: np.ndarray) -> Self:
        """Count one row per code."""
        self.counts += np.bincount(codes, minlength=len(VOLUME_FIELDS))
        return self

    def merge(self, other: Self) -> Self:
        check_mergeable(self, other)
        out = type(self)()
        out.counts = self.counts + other.counts
        return out

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def result(self) -> dict[str, Any]:
        return dict(self.to_dict())

    def to_dict(self) -> dict[str, int]:
        return {name: int(c) for name, c in zip(VOLUME_FIELDS, self.counts, strict=True)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        out = cls()
        out.counts = np.array([int(d.get(name, 0)) for name in VOLUME_FIELDS], np.int64)
        return out


def volume_codes(name: str, n: int) -> np.ndarray:
    """``n`` codes of the field ``name`` (KeyError for an unknown field).

    >>> volume_codes("energy_readings", 2)
    array([5, 5])
    """
    return np.full(n, _VOLUME_INDEX[name], np.int64)
