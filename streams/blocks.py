"""Per topic-partition blocks: the pure accumulation behind the worker (no Kafka here).

A block holds every statistic a worker built from one source topic-partition since its
``block_start`` (the committed offset); the four blocks of one partition number form a
group, named by all four start offsets (``group_start``). Rows are first buffered per
series (kind, tenancy, feature) and applied to the engines once per batch, so a batch of
10,000 single events costs a handful of numpy calls per series rather than one per event
(docs/streaming.md, "Worker"). Statistics are keyed (kind, tenancy, feature,
window_start, late) and emitted as cumulative :class:`streams.partials.Partial` records.

>>> b = TopicBlock("energy", 0, block_start=5, window_ms=60_000)
>>> t = ("c", "m", "x", "1", "s", "h")
>>> b.add_volume(t, np.array([0, 60_000]), np.zeros(2, bool), "energy_readings")
>>> b.flush()  # (source, reason) of messages an engine refused: none
[]
>>> sorted((p.window_start, p.state["energy_readings"]) for p in b.partials(True, version=1))
[(0, 1), (60000, 1)]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from processors.volume import Volume, volume_codes
from streams.partials import Partial

Tenancy = tuple[str, str, str, str, str, str]
SeriesKey = tuple[str, Tenancy, str]  # kind, tenancy, feature
StatKey = tuple[str, Tenancy, str, int, bool]  # + window_start, late


class _Rows:
    """A buffer of messages' rows: per-row window/late plus the update columns."""

    __slots__ = ()
    windows: list[np.ndarray]
    late: list[np.ndarray]
    columns: list[Any]
    sources: list[Any]

    def append(self, windows: np.ndarray, late: np.ndarray, columns: Any, source: Any) -> None:
        self.windows.append(windows)
        self.late.append(late)
        self.columns.append(columns)
        self.sources.append(source)

    def drop_last(self, source: Any) -> None:
        """Forget the trailing chunks buffered for ``source`` (a message that failed)."""
        while self.sources and self.sources[-1] == source:
            for parts in (self.windows, self.late, self.columns, self.sources):
                parts.pop()


@dataclass(slots=True)
class Series(_Rows):
    """Rows waiting for one engine type: per-row window/late plus the update columns."""

    factory: Callable[[], Any]
    windows: list[np.ndarray] = field(default_factory=list)
    late: list[np.ndarray] = field(default_factory=list)
    columns: list[tuple[np.ndarray | None, ...]] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)


TableSpec = tuple[str, str, Callable[[], Any]]  # kind, feature, engine factory


class RunSources:
    """The source of a chunk holding a run of one-row messages of ``topic``: row i comes
    from the message at ``offsets[i]`` (its source is ``(topic, offsets[i])``)."""

    __slots__ = ("offsets", "topic")

    def __init__(self, topic: str, offsets: list[int]) -> None:
        self.topic = topic
        self.offsets = offsets


@dataclass(slots=True)
class Table(_Rows):
    """Messages waiting for a set of per-feature engines (and their volume counter)."""

    specs: tuple[TableSpec, ...]
    volume: str = "telemetry_samples"
    windows: list[np.ndarray] = field(default_factory=list)
    late: list[np.ndarray] = field(default_factory=list)
    columns: list[dict[str, np.ndarray]] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class Stat:
    engine: Any
    dirty: bool = True


class TopicBlock:
    """Everything accumulated from one source topic-partition since ``block_start``.

    ``group_start``: the start offsets of the block's group (all four input topics of the
    partition number; default: this topic alone), part of every partial's key.
    ``cursor``: a one-item list holding the message being processed (shared by the
    group's blocks); buffered rows remember it, so a failing update names its message.
    """

    def __init__(
        self,
        topic: str,
        partition: int,
        block_start: int,
        window_ms: int,
        lateness_ms: int = 0,
        group_start: dict[str, int] | None = None,
        cursor: list[Any] | None = None,
    ) -> None:
        self.topic = topic
        self.cursor = [None] if cursor is None else cursor
        self.partition = partition
        self.block_start = block_start
        self.last_offset = block_start - 1
        self.window_ms = window_ms
        self.lateness_ms = lateness_ms
        self.group_start = {topic: block_start} if group_start is None else group_start
        self.messages = 0
        self.max_ts: int | None = None
        self.stats: dict[StatKey, Stat] = {}
        self.buffer: dict[SeriesKey, Series] = {}
        self.tables: dict[Tenancy, Table] = {}
        self.window_starts: set[int] = set()  # distinct windows with statistics or rows

    # --- windows ----------------------------------------------------------------------------

    def windows(self, ts_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window starts and late flags of one message's rows, then advance the watermark.

        The watermark is ``max event ts seen in this block - lateness``: block-local, so a
        replay of the block from the same offset flags exactly the same rows late.
        """
        starts = ts_ms - ts_ms % self.window_ms
        if self.max_ts is None:
            late = np.zeros(ts_ms.shape[0], bool)
        else:
            late = starts + self.window_ms <= self.max_ts - self.lateness_ms
        if ts_ms.size:
            top = int(ts_ms.max())
            self.max_ts = top if self.max_ts is None else max(self.max_ts, top)
        return starts, late

    def window_start(self, ts_ms: np.ndarray) -> np.ndarray:
        return ts_ms - ts_ms % self.window_ms

    def admit_windows(
        self, starts: np.ndarray, per_message: int, per_block: int
    ) -> tuple[np.ndarray | None, str | None]:
        """Bound the windows one message may open: None (all rows admitted), or a mask
        of admitted rows and the reason for the others.

        A message may touch ``per_message`` distinct windows and the block
        ``per_block``; rows in windows past either bound are refused (oldest windows
        first are kept), so a batch with every row in its own minute costs bounded
        memory (docs/streaming.md, "Bounds").

        >>> b = TopicBlock("telemetry", 0, 0, window_ms=10)
        >>> mask, why = b.admit_windows(np.array([0, 10, 20, 0]), 2, 100)
        >>> mask.tolist(), why
        ([True, True, False, True], 'too many windows in one message (limit 2)')
        """
        if starts.size == 0:
            return None, None
        known = self.window_starts
        first = int(starts[0])
        if first in known and (starts.size == 1 or bool((starts == first).all())):
            return None, None  # the common case: one window the block already has
        uniq = np.unique(starts)
        if uniq.size <= per_message and (
            len(known) + uniq.size <= per_block or all(int(w) in known for w in uniq.tolist())
        ):
            known.update(uniq.tolist())
            return None, None
        allowed, reason = [], None
        room = per_block - len(known)
        for w in uniq.tolist():
            if len(allowed) >= per_message:
                reason = reason or f"too many windows in one message (limit {per_message})"
                break
            if w not in known:
                if room <= 0:
                    reason = reason or f"too many windows in one block (limit {per_block})"
                    continue
                room -= 1
            allowed.append(w)
        known.update(allowed)
        return np.isin(starts, np.asarray(allowed, starts.dtype)), reason

    # --- accumulation ----------------------------------------------------------------------

    def seen(self, offset: int) -> None:
        self.last_offset = max(self.last_offset, offset)
        self.messages += 1

    def add(
        self,
        kind: str,
        tenancy: Tenancy,
        feature: str,
        factory: Callable[[], Any],
        windows: np.ndarray,
        late: np.ndarray,
        *columns: np.ndarray | None,
    ) -> None:
        """Buffer rows for the engine of (kind, tenancy, feature); applied by :meth:`flush`."""
        if windows.size == 0:
            return
        key = (kind, tenancy, feature)
        series = self.buffer.get(key)
        if series is None:
            series = self.buffer[key] = Series(factory)
        series.append(windows, late, columns, self.cursor[0])

    def add_volume(
        self, tenancy: Tenancy, windows: np.ndarray, late: np.ndarray, name: str
    ) -> None:
        self.add("volume", tenancy, "", Volume, windows, late, volume_codes(name, windows.size))

    def add_table(
        self,
        tenancy: Tenancy,
        specs: tuple[TableSpec, ...],
        windows: np.ndarray,
        late: np.ndarray,
        columns: dict[str, np.ndarray],
        source: Any = None,
    ) -> None:
        """Buffer one message's rows for many per-feature engines at once (telemetry).

        One buffer entry per message instead of one per feature: single events with 20
        features cost one append, and :meth:`flush` splits the columns per feature.
        ``source``: :class:`RunSources` for a run of one-row messages (default: the
        message being processed).
        """
        if windows.size == 0:
            return
        series = self.tables.get(tenancy)
        if series is None:
            series = self.tables[tenancy] = Table(specs)
        series.append(windows, late, columns, self.cursor[0] if source is None else source)

    def rollback(self, source: Any) -> None:
        """Forget the rows buffered for ``source`` (its processing failed half-way)."""
        for rows in (*self.buffer.values(), *self.tables.values()):
            rows.drop_last(source)

    def flush(self) -> list[tuple[Any, str]]:
        """Apply buffered rows: one engine update per (series, window, late) group.

        Returns ``(source, reason)`` for every message whose rows an engine refused:
        those rows are left out, every other message's rows count (see :meth:`_apply`).
        """
        buffer, self.buffer = self.buffer, {}
        tables, self.tables = self.tables, {}
        failed: list[tuple[Any, str]] = []
        for tenancy, table in tables.items():
            if not table.windows:
                continue
            windows, late = _concat(table.windows), _concat(table.late)
            groups = _groups(windows, late)  # once for all the table's features
            for kind, feature, factory in table.specs:
                column = _concat([cols[feature] for cols in table.columns])
                failed += self._apply(
                    kind, tenancy, feature, factory, windows, late, [column], table, groups
                )
            codes = volume_codes(table.volume, windows.size)
            failed += self._apply(
                "volume", tenancy, "", Volume, windows, late, [codes], table, groups
            )
        for (kind, tenancy, feature), series in buffer.items():
            if not series.windows:
                continue
            windows = _concat(series.windows)
            late = _concat(series.late)
            columns = [
                None if parts[0] is None else _concat(parts)
                for parts in zip(*series.columns, strict=True)
            ]
            failed += self._apply(
                kind, tenancy, feature, series.factory, windows, late, columns, series
            )
        return failed

    def _apply(
        self,
        kind: str,
        tenancy: Tenancy,
        feature: str,
        factory: Callable[[], Any],
        windows: np.ndarray,
        late: np.ndarray,
        columns: list[np.ndarray | None],
        rows: _Rows,
        groups: list[tuple[int, bool, np.ndarray | None]] | None = None,
    ) -> list[tuple[Any, str]]:
        """Update the engines; a group an engine refuses is retried message by message.

        Engines validate a batch before they mutate (processors/base.py), so a refused
        update changed nothing, and the retry applies exactly the other messages' rows.
        ``groups``: :func:`_groups` of ``windows``/``late`` when the caller has them.
        """
        failed: list[tuple[Any, str]] = []
        for w, is_late, idx in _groups(windows, late) if groups is None else groups:
            key = (kind, tenancy, feature, w, is_late)
            stat = self.stats.get(key)
            if stat is None:
                stat = self.stats[key] = Stat(factory())
            cols = [None if c is None else (c if idx is None else c[idx]) for c in columns]
            try:
                stat.engine.update(*_trim_none(cols))
            except Exception:  # a poison row: find its message, keep everyone else's
                failed += _update_by_source(stat.engine, columns, idx, rows)
            stat.dirty = True
        return failed

    # --- emission --------------------------------------------------------------------------

    def partials(self, final: bool, version: int, now_ms: int | None = None) -> list[Partial]:
        """Cumulative partials: every statistic when ``final``, else those changed since.

        ``version`` ranks emissions of one key (the group's offsets read so far).
        """
        return list(self.iter_partials(final, version, now_ms))

    def iter_partials(
        self, final: bool, version: int, now_ms: int | None = None
    ) -> Iterator[Partial]:
        """:meth:`partials` one at a time: a statistic's state is copied (``to_dict``) and
        its dirty flag cleared only when its partial is taken, so an emission encoded and
        sent chunk by chunk holds one chunk's records, not 20,000 states at once
        (docs/streaming.md, "Bounds"). The engines must not change until it is exhausted.
        """
        now = int(time.time() * 1000) if now_ms is None else now_ms
        for (kind, tenancy, feature, w, late), stat in self.stats.items():
            if not (final or stat.dirty):
                continue
            stat.dirty = False
            state = stat.engine.to_dict()
            if kind == "classification":  # the sink keys confusion matrices by class list
                state["classes"] = list(stat.engine.classes)
            yield Partial(
                kind=kind,
                consortium=tenancy[0],
                member=tenancy[1],
                model=tenancy[2],
                model_version=tenancy[3],
                site=tenancy[4],
                hub=tenancy[5],
                feature=feature,
                window_start=w,
                window_end=w + self.window_ms,
                late=late,
                source_topic=self.topic,
                source_partition=self.partition,
                block_start=self.block_start,
                last_offset=self.last_offset,
                group_start=self.group_start,
                version=version,
                final=final,
                state=state,
                count=stat.engine.count,
                emitted_at=now,
            )


def _update_by_source(
    engine: Any, columns: list[np.ndarray | None], idx: np.ndarray | None, rows: _Rows
) -> list[tuple[Any, str]]:
    """Apply one group's rows source by source; (source, reason) of each refused one.

    A chunk is one source, but a :class:`RunSources` chunk one source per row."""
    owners: list[Any] = []  # per chunk: its source; per row of a run: the row's source
    lengths: list[int] = []
    for part, source in zip(rows.windows, rows.sources, strict=True):
        if isinstance(source, RunSources):
            owners += [(source.topic, o) for o in source.offsets]
            lengths += [1] * part.size
        else:
            owners.append(source)
            lengths.append(part.size)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    picked = np.arange(owner.size) if idx is None else idx
    failed: list[tuple[Any, str]] = []
    for chunk in np.unique(owner[picked]).tolist():
        sel = picked[owner[picked] == chunk]
        try:
            engine.update(*_trim_none([None if c is None else c[sel] for c in columns]))
        except Exception as exc:
            failed.append((owners[chunk], f"{type(exc).__name__}: {exc}"))
    return failed


def _concat(parts: Sequence[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _trim_none(cols: list[np.ndarray | None]) -> list[np.ndarray]:
    """Drop trailing optional columns that are absent (e.g. scores of a multiclass model)."""
    while cols and cols[-1] is None:
        cols.pop()
    return cols  # type: ignore[return-value]


def _groups(windows: np.ndarray, late: np.ndarray) -> list[tuple[int, bool, np.ndarray | None]]:
    """(window_start, late, row indices or None for all rows) per distinct pair."""
    w0 = int(windows[0])
    l0 = bool(late[0])
    if (windows == w0).all() and (late == l0).all():
        return [(w0, l0, None)]
    code = windows.astype(np.int64) * 2 + late.astype(np.int64)
    uniq, inverse = np.unique(code, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(uniq.size + 1))
    return [
        (int(u // 2), bool(u % 2), order[bounds[i] : bounds[i + 1]])
        for i, u in enumerate(uniq.tolist())
    ]
