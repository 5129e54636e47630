"""Partial records: the mergeable window statistics a worker writes to the ``partials`` topic.

A worker emits, per source topic-partition block, the block's *cumulative* state again and
again (``final=false`` every ``emit_interval``, ``final=true`` once). Records with the same
``key`` describe the same block, so a consumer keeps the highest ``version`` per key and
sums over keys (:func:`latest_per_key` then :func:`sum_partials`). See docs/streaming.md.

>>> group = {"telemetry": 0, "predictions": 0, "outcomes": 0, "energy": 0}
>>> a = Partial(kind="volume", consortium="c", member="m", model="x", model_version="1",
...             site="s", hub="h", feature="", window_start=0, window_end=60_000, late=False,
...             source_topic="telemetry", source_partition=0, block_start=0, last_offset=9,
...             group_start=group, version=14, final=False, count=5,
...             state={"telemetry_samples": 5})
>>> b = Partial.decode(a.replace(last_offset=12, version=20, count=7,
...                              state={"telemetry_samples": 7}).encode())
>>> [p.version for p in latest_per_key([a, b]).values()]
[20]
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, TypeVar

import orjson

#: 2: keys name the block group (``group_start``) and ``version`` counts the offsets the
#: group has read; 1: ``version`` was the block's ``last_offset``.
PARTIAL_VERSION = 2
KINDS = (
    "drift_numeric",
    "drift_categorical",
    "classification",
    "regression",
    "latency",
    "energy",
    "volume",
    "estimation",
)
TENANCY = ("consortium", "member", "model", "model_version", "site", "hub")
#: What identifies one block's contribution to one statistic (hashed into ``key``).
KEY_FIELDS = (
    "kind",
    *TENANCY,
    "feature",
    "window_start",
    "late",
    "source_topic",
    "source_partition",
    "block_start",
    "group_start",
)
#: Default grouping of :func:`sum_partials`: one statistic per window, sources merged.
SERIES = ("kind", *TENANCY, "feature", "window_start")

__all__ = [
    "KINDS",
    "PARTIAL_VERSION",
    "Partial",
    "keep_latest",
    "latest_per_key",
    "partial_key",
    "sum_partials",
    "sum_states",
]


def partial_key(values: Mapping[str, Any]) -> str:
    """sha1 over :data:`KEY_FIELDS`: equal for every emission of one block's statistic."""
    text = "\x1f".join(_key_text(values[name]) for name in KEY_FIELDS)
    return hashlib.sha1(text.encode()).hexdigest()


def _key_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Mapping):
        return ",".join(f"{k}={value[k]}" for k in sorted(value))
    return str(value)


@dataclass(slots=True)
class Partial:
    """One emission of one statistic of one block (see docs/internals.md for the JSON).

    ``count`` (samples or readings the state holds: ``engine.count``) and ``emitted_at``
    (wall ms, tie-breaker between two emissions of the same version) extend the contract;
    both are optional on decode. ``group_start`` (start offset per input topic of the
    block's group) and ``version`` (offsets the group had read at this emission) came with
    partial_version 2; a record without a version ranks by its ``last_offset``, as
    version 1 did.
    """

    kind: str
    consortium: str
    member: str
    model: str
    model_version: str
    site: str
    hub: str
    feature: str
    window_start: int
    window_end: int
    late: bool
    source_topic: str
    source_partition: int
    block_start: int
    last_offset: int
    final: bool
    state: dict[str, Any]
    group_start: dict[str, int] = field(default_factory=dict)
    version: int = -1
    count: int = 0
    emitted_at: int = 0
    partial_version: int = PARTIAL_VERSION
    key: str = field(default="")

    def __post_init__(self) -> None:
        if self.version < 0:
            self.version = self.last_offset
        if not self.key:
            self.key = partial_key(self.key_values())

    def key_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in KEY_FIELDS}

    @property
    def tenancy(self) -> tuple[str, ...]:
        return tuple(getattr(self, name) for name in TENANCY)

    def replace(self, **changes: Any) -> Partial:
        """Copy with changes (the key is recomputed)."""
        return replace(self, key="", **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def encode(self) -> bytes:
        """The JSON record; orjson walks the dataclass itself (same bytes as
        ``to_dict()``, without ``asdict``'s deep copy of the state: ~10x faster)."""
        return orjson.dumps(self, option=orjson.OPT_SERIALIZE_NUMPY)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Partial:
        names = cls.__dataclass_fields__.keys()
        values = {k: v for k, v in d.items() if k in names}
        return cls(**values)

    @classmethod
    def decode(cls, raw: bytes | str) -> Partial:
        return cls.from_dict(orjson.loads(raw))


R = TypeVar("R", bound="Ranked")


class Ranked(Protocol):
    """What de-duplication reads of a partial (``Partial``, or the sink's own view of one)."""

    key: str
    version: int
    final: bool
    emitted_at: int


def keep_latest(items: Iterable[R]) -> dict[str, R]:
    """Highest version per key; among equal versions the final, then the latest emission."""
    best: dict[str, R] = {}
    for p in items:
        old = best.get(p.key)
        if old is None or _rank(p) > _rank(old):
            best[p.key] = p
    return best


def _rank(p: Ranked) -> tuple[int, bool, int]:
    return (p.version, p.final, p.emitted_at)


def latest_per_key(records: Iterable[Partial | Mapping[str, Any] | bytes]) -> dict[str, Partial]:
    """:func:`keep_latest` over records in any form (Partial, dict or encoded bytes)."""
    return keep_latest(map(_as_partial, records))


def _as_partial(rec: Partial | Mapping[str, Any] | bytes) -> Partial:
    if isinstance(rec, Partial):
        return rec
    if isinstance(rec, bytes | str):
        return Partial.decode(rec)
    return Partial.from_dict(rec)


def sum_states(a: Any, b: Any) -> Any:
    """Element-wise sum of two JSON states (numbers and lists add; other values must agree).

    >>> sum_states({"counts": [1, 2], "n": 3, "classes": ["a"]}, {"counts": [1, 1], "n": 1,
    ...             "classes": ["a"]})
    {'counts': [2, 3], 'n': 4, 'classes': ['a']}
    """
    if isinstance(a, dict) and isinstance(b, dict):
        return {
            k: sum_states(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k))
            for k in {**a, **b}
        }
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            raise ValueError(f"cannot sum states of different shapes ({len(a)} vs {len(b)})")
        return [sum_states(x, y) for x, y in zip(a, b, strict=True)]
    if _is_number(a) and _is_number(b):
        return a + b
    if a is None:
        return b
    if b is None or a == b:
        return a
    raise ValueError(f"cannot sum {a!r} and {b!r}")


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def sum_partials(
    records: Iterable[Partial | Mapping[str, Any] | bytes],
    by: Sequence[str] = SERIES,
    *,
    merge: Callable[[Any, Any], Any] = sum_states,
    dedup: bool = True,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """``{group: {"count": int, "state": merged state, "keys": n}}`` after de-duplication.

    ``merge`` combines two states (default: element-wise sum, exact for every engine whose
    state is counts and sums); pass an engine merge for anything else.
    """
    latest = latest_per_key(records).values() if dedup else map(_as_partial, records)
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for p in latest:
        group = tuple(getattr(p, name) for name in by)
        acc = out.get(group)
        if acc is None:
            out[group] = {"count": p.count, "state": p.state, "keys": 1}
        else:
            acc["count"] += p.count
            acc["state"] = merge(acc["state"], p.state)
            acc["keys"] += 1
    return out
