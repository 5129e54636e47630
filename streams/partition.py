"""One partition number's worth of work: decoded messages → blocks, join state, rejections.

Pure (no Kafka): the Faust agent feeds it decoded messages in offset order and asks it for
partials; tests drive it directly. A partition number groups the four co-partitioned input
topics (telemetry, predictions, outcomes, energy) so the join sees both sides and the
group's blocks are finalised and committed together (docs/streaming.md, "Blocks").

A new owner calls :meth:`PartitionState.rebuild` for every committed message of
:data:`REPLAYED_TOPICS` (any interleaving of the two), then
:meth:`PartitionState.restore` with the committed offsets and the partitions' ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from processors.accuracy import ClassificationAccuracy, RegressionAccuracy
from processors.calibration import Calibration
from processors.cbpe import CBPE, calibration_descriptor
from processors.drift import drift_engine
from processors.energy import EnergyMeter
from processors.labels import as_labels, canonical_label
from processors.latency import LatencyHistogram
from processors.reference import NumericReference
from streams.blocks import RunSources, TableSpec, Tenancy, TopicBlock
from streams.bootstrap import BootstrapBuffer
from streams.decode import DecodeResult, Rejection
from streams.join import JoinState, Outcome, Prediction, join_scope
from streams.partials import Partial
from streams.registry import Bootstrap, ModelEntry, ModelId, ModelRegistry, Target
from streams.scores import prediction_scores

ModelInfo = ModelEntry

#: Input topic → the event kind it carries.
TOPIC_KINDS = {
    "telemetry": "telemetry",
    "predictions": "prediction",
    "outcomes": "outcome",
    "energy": "energy",
}
#: Topics whose committed history a new owner replays into the join state.
REPLAYED_TOPICS = ("predictions", "outcomes")
R_UNKNOWN_MODEL = "unknown model"
R_WRONG_TOPIC = "event kind does not belong on this topic"
R_NOT_IN_CLASSES = "label not in the model's classes"
R_NOT_NUMBER = "expected a number"
R_UNKNOWN_FEATURE = "unknown feature (not in the reference profile; ignored)"
R_PROCESSING = "processing error"
R_RETIRED = "retired model"
#: unregistered model versions a partition keeps an entry (and a bootstrap buffer) for;
#: beyond it, further unknown names are still counted but not bootstrapped
MAX_UNREGISTERED = 10_000
#: unknown feature names named one by one in a message's rejections (the rest counted)
MAX_NAMED_UNKNOWN = 10


def r_series(limit: int) -> str:
    return f"too many distinct member/site/hub series for the model in one block (limit {limit})"


@dataclass(frozen=True)
class BlockConfig:
    window_ms: int = 60_000
    lateness_ms: int = 120_000
    block_messages: int = 20_000
    block_max_age_s: float = 300.0
    horizon_ms: int = 7 * 86_400_000
    max_predictions: int = 2_000_000
    max_pending: int = 200_000
    max_join_bytes: int = 128 << 20
    max_windows_per_message: int = 100
    max_windows_per_block: int = 2_000
    max_series_per_model: int = 1_000
    #: ``accept``: a model missing from the registry is monitored without a reference
    #: (volume, latency, errors, energy; its telemetry counted as ``unreferenced``);
    #: ``reject``: its events go to the DLQ as ``unknown model``
    unknown_models: str = "accept"
    #: bootstrap the reference of models missing from the registry (None: never)
    bootstrap: Bootstrap | None = None
    #: matched pairs kept per partition while their model has no target yet
    max_awaiting: int = 200_000


class PartitionState:
    """Blocks of the current block group plus the (longer-lived) join state.

    A block group is identified by ``group_start``, the next offset of all four input
    topic-partitions when its first block opened (the committed offsets): a replay from
    the same commit reproduces it, and two groups never share it (every group reads at
    least one message). Its version, :meth:`covered`, only grows while it reads.
    """

    def __init__(self, partition: int, cfg: BlockConfig, registry: ModelRegistry) -> None:
        self.partition = partition
        self.cfg = cfg
        self.registry = registry
        self.blocks: dict[str, TopicBlock] = {}
        self.join = JoinState(
            cfg.horizon_ms, cfg.max_predictions, cfg.max_pending, cfg.max_join_bytes
        )
        #: the message being processed, ``(topic, offset)``: buffered rows remember it
        self.cursor: list[Any] = [None]
        #: distinct (member, site, hub) per model in the open group (bounded)
        self.series: dict[tuple[str, str, str], set[tuple[str, str, str]]] = {}
        #: rows, messages and entries refused or dropped by a bound, by bound name
        self.limited: dict[str, int] = {}
        #: recovery floor per topic: the first group after :meth:`restore` must read up to
        #: this offset (excluded) before it may be finalised
        self.floors: dict[str, int] = {}
        self.last_message_at = time.monotonic()
        self.opened_at = time.monotonic()
        self._spec_cache: dict[tuple[str, str, str], tuple[TableSpec, ...]] = {}
        #: per model version: (calibration descriptor, CBPE factory), None without one
        self._cbpe_cache: dict[ModelId, tuple[str, Any, tuple[str, ...]] | None] = {}
        #: next offset per topic (committed offset at first): where a new block starts
        self.next_offset: dict[str, int] = {}
        self.group_start: dict[str, int] = {}
        #: models seen here but missing from the registry (monitored without a reference)
        self._unregistered: dict[ModelId, ModelEntry] = {}
        self._boot: dict[ModelId, BootstrapBuffer] = {}
        #: matched (prediction, outcome) pairs of models without a target, scored later
        self.awaiting: dict[ModelId, list[tuple[Prediction, Outcome]]] = {}
        #: entries this partition changed (fitted bootstrap references): to publish
        self.outbox: list[ModelEntry] = []
        self._revision = registry.revision
        self._offset = 0  # offset of the message being processed (bootstrap provenance)

    def restore(self, committed: Mapping[str, int], ends: Mapping[str, int]) -> None:
        """Start after an assignment: blocks begin at the ``committed`` offsets, and the
        first group is not finalised before it has read up to ``ends`` (the high
        watermarks of the four input topic-partitions, fetched after the assignment).

        A previous owner can only have read below ``ends``, so this group's final version
        is at least every version that owner may have emitted for the group's keys.
        """
        self.next_offset.update(committed)
        self.floors = {t: e for t, e in ends.items() if e > committed.get(t, 0)}

    # --- blocks ----------------------------------------------------------------------------

    def block(self, topic: str) -> TopicBlock:
        """The open block of ``topic``; a new one starts at the topic's next offset (also
        for a block opened by a join match alone). The first block opens the group."""
        blk = self.blocks.get(topic)
        if blk is None:
            if not self.blocks:
                self.opened_at = time.monotonic()
                self.group_start = {t: self.next_offset.get(t, 0) for t in TOPIC_KINDS}
            blk = self.blocks[topic] = TopicBlock(
                topic,
                self.partition,
                self.group_start[topic],
                self.cfg.window_ms,
                self.cfg.lateness_ms,
                group_start=self.group_start,
                cursor=self.cursor,
            )
        return blk

    def covered(self) -> int:
        """Offsets the open group has read, over all four topics: the partials' version.

        Componentwise more reading gives a superset of statistics (the join pairs do not
        depend on the interleaving), so more offsets never means less data.
        """
        return sum(self.next_offset.get(t, 0) - s for t, s in self.group_start.items())

    def unreached_floors(self) -> dict[str, int]:
        """Topics whose recovery floor the open group has not read up to: topic -> floor."""
        return {t: f for t, f in self.floors.items() if self.next_offset.get(t, 0) < f}

    @property
    def messages(self) -> int:
        return sum(b.messages for b in self.blocks.values())

    def finalisable(
        self, idle_s: float, now: float | None = None, fetched: Mapping[str, int] | None = None
    ) -> bool:
        """Full (``block_messages``), old (``block_max_age_s``) or idle, and past every
        recovery floor.

        A floor that is never reached (a log ending in records a consumer never sees, such
        as transaction markers) is waived once the partition has been idle for three idle
        periods and the consumer has ``fetched`` (its position per topic) past the floor,
        so the group cannot stay open forever.
        """
        if not self.blocks:
            return False
        now = time.monotonic() if now is None else now
        idle = now - self.last_message_at
        unreached = self.unreached_floors()
        if unreached and not (
            idle >= 3 * idle_s
            and fetched is not None
            and all(fetched.get(t, -1) >= f for t, f in unreached.items())
        ):
            return False
        return (
            self.messages >= self.cfg.block_messages
            or idle >= idle_s
            or now - self.opened_at >= self.cfg.block_max_age_s
        )

    def flush(self) -> list[tuple[Any, str]]:
        """Apply buffered rows; ``((topic, offset), reason)`` of messages an engine refused
        (their rows are left out, see :meth:`streams.blocks.TopicBlock.flush`)."""
        failed: list[tuple[Any, str]] = []
        for blk in self.blocks.values():
            failed += blk.flush()
        return failed

    def partials(self, final: bool, now_ms: int | None = None) -> list[Partial]:
        return list(self.iter_partials(final, now_ms))

    def iter_partials(self, final: bool, now_ms: int | None = None) -> Iterator[Partial]:
        """:meth:`partials` one at a time (:meth:`streams.blocks.TopicBlock.iter_partials`):
        buffered rows are applied and the version taken now, the states copied as the
        partials are taken; nothing may be processed until the iterator is exhausted."""
        self.flush()
        version = self.covered()
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return (p for blk in list(self.blocks.values())
                for p in blk.iter_partials(final, version, now))  # fmt: skip

    def commit_offsets(self) -> dict[str, int]:
        return {t: b.last_offset + 1 for t, b in self.blocks.items()}

    def reset(self) -> None:
        """After the commit: the next message starts a new group (floors only hold for the
        first group after an assignment)."""
        self.blocks = {}
        self.floors = {}
        self.series = {}

    # --- messages --------------------------------------------------------------------------

    def process(self, topic: str, offset: int, result: DecodeResult) -> list[Rejection]:
        """Account one message (already decoded); returns rejections beyond decode's own."""
        blk = self.block(topic)
        blk.seen(offset)
        self.next_offset[topic] = offset + 1
        self.last_message_at = time.monotonic()
        if result.message_rejected or result.kind is None:
            return []
        self.refresh()
        info, rejects = self._check(topic, result)
        if info is None:
            return rejects
        if not self._admit_series(result):
            self._count("series_per_model", 1)
            return [Rejection(r_series(self.cfg.max_series_per_model), "site")]
        self._offset = offset
        handler = _HANDLERS[result.kind]
        self.cursor[0] = (topic, offset)
        try:
            rejects += handler(self, blk, info, result)
        except Exception:  # the caller dead-letters the message: none of its rows count
            for b in self.blocks.values():
                b.rollback((topic, offset))
            raise
        finally:
            self.cursor[0] = None
        self._expire_join()
        return rejects

    def _expire_join(self) -> None:
        """Outcomes past the join horizon count as unmatched; evictions are counted."""
        evicted = self.join.stats.predictions_evicted
        for outcome in self.join.expire():
            self._unmatched(outcome)
        if self.join.stats.predictions_evicted > evicted:
            self._count("join_predictions_evicted", self.join.stats.predictions_evicted - evicted)

    def process_singles(
        self, topic: str, offsets: list[int], results: list[DecodeResult]
    ) -> dict[int, list[Rejection]] | None:
        """Account a run of single telemetry events as one table: what :meth:`process`
        would do for each, in order, with a handful of numpy calls for the whole run.

        The caller's run: consecutive messages of ``topic`` in offset order, each one
        accepted row (``n == 1``) without rejections, of one tenancy and the same feature
        names in the same order. Returns the rejections by index in the run (messages without
        any left out), or None (nothing
        changed: process them one by one) unless it is the common case: a referenced
        model whose features are exactly the reference's, all numeric, and the series
        admitted. Nothing is changed before the run is known to go through, so a failure
        leaves the state as it was.
        """
        try:
            plan = self._plan_singles(topic, results)
        except Exception:  # whatever it is, process() reports it for its message
            return None
        if plan is None:
            return None
        info, blk, names, values, ts, starts, late, top = plan
        n = len(results)
        first = results[0]
        # --- from here on the state changes
        keep, reason = self._admit_run(blk, starts)
        for offset in offsets:
            blk.seen(offset)
        self.next_offset[topic] = offsets[-1] + 1
        self.last_message_at = time.monotonic()
        self._offset = offsets[-1]
        top_ts = int(top[-1])
        blk.max_ts = top_ts if blk.max_ts is None else max(blk.max_ts, top_ts)
        matrix = values.reshape(n, len(names))
        rejects: dict[int, list[Rejection]] = {}
        kept = offsets
        if keep is not None:
            self._count("windows", n - int(keep.sum()))
            for i in np.flatnonzero(~keep).tolist():
                rows = tuple(int(j) for j in results[i].rows)
                rejects[i] = [Rejection(reason, "ts", rows)]
            matrix, starts, late = matrix[keep], starts[keep], late[keep]
            kept = [o for o, k in zip(offsets, keep.tolist(), strict=True) if k]
        if kept:
            columns = dict(zip(names, np.ascontiguousarray(matrix.T), strict=True))
            blk.add_table(_tenancy(first), self._specs(info), starts, late, columns,
                          source=RunSources(topic, kept))  # fmt: skip
        self._expire_join()
        return rejects

    def _plan_singles(self, topic: str, results: list[DecodeResult]) -> Any:
        """The pure part of :meth:`process_singles`: None unless the common case."""
        first = results[0]
        if first.kind != "telemetry" or first.tenancy is None:
            return None
        self.refresh()
        info, _ = self._check(topic, first)
        if info is None or info.profile is None:
            return None
        refs = info.profile.features
        names = list(first.features)
        if first.features.keys() != refs.keys():
            return None
        n = len(results)
        # one value per (message, feature), message-major; an object column (a string,
        # a boolean, None from the general decoder) makes the array object: not this path
        values = np.concatenate([v for r in results for v in r.features.values()])
        if values.dtype != np.float64 or values.size != n * len(names):
            return None
        ts = np.concatenate([r.ts_ms for r in results])
        if ts.size != n:
            return None
        if not self._admit_series(first):
            return None  # one by one: each gets the series rejection
        blk = self.block(topic)
        window_ms = self.cfg.window_ms
        starts = ts - ts % window_ms
        # late as one message at a time: against the block's max ts before each row
        top = np.maximum.accumulate(ts)
        before = np.empty(n, np.int64)
        before[1:] = top[:-1]
        if blk.max_ts is None:
            before[0] = ts[0]  # nothing before the first row: never late
            late = starts + window_ms <= before - self.cfg.lateness_ms
            late[0] = False
        else:
            before[0] = blk.max_ts
            np.maximum(before, blk.max_ts, out=before)
            late = starts + window_ms <= before - self.cfg.lateness_ms
        return info, blk, names, values, ts, starts, late, top

    def _admit_run(self, blk: TopicBlock, starts: np.ndarray) -> tuple[np.ndarray | None, str]:
        """:meth:`TopicBlock.admit_windows` for one-row messages, message after message:
        None (all admitted), or the admitted rows and the refusal's reason. Only the
        per-block bound can refuse a row here (one window per message)."""
        known = blk.window_starts
        per_block = self.cfg.max_windows_per_block
        uniq = np.unique(starts).tolist()
        new = [w for w in uniq if w not in known]
        if len(known) + len(new) <= per_block:
            known.update(new)
            return None, ""
        keep = np.ones(starts.size, bool)
        for i, w in enumerate(starts.tolist()):
            if w not in known:
                if len(known) >= per_block:
                    keep[i] = False
                    continue
                known.add(w)
        return keep, f"too many windows in one block (limit {per_block})"

    def _count(self, bound: str, n: int) -> None:
        self.limited[bound] = self.limited.get(bound, 0) + n

    def _admit_series(self, r: DecodeResult) -> bool:
        """At most ``max_series_per_model`` (member, site, hub) per model in a group."""
        t = r.tenancy
        seen = self.series.setdefault((t.consortium, t.model, t.model_version), set())
        key = (t.member, t.site, t.hub)
        if key in seen:
            return True
        if len(seen) >= self.cfg.max_series_per_model:
            return False
        seen.add(key)
        return True

    def _windows(
        self, blk: TopicBlock, r: DecodeResult, keep: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Rejection]]:
        """Windows and late flags of the message's rows, and the rows kept: rows in windows
        past the per-message or per-block bound are refused (one rejection naming it)."""
        windows, late = blk.windows(r.ts_ms)
        keep = np.ones(r.n, bool) if keep is None else keep
        candidates = windows if keep.all() else windows[keep]
        mask, reason = blk.admit_windows(
            candidates, self.cfg.max_windows_per_message, self.cfg.max_windows_per_block
        )
        if mask is None or reason is None:
            return windows, late, keep, []
        refused = np.zeros(r.n, bool)
        refused[np.flatnonzero(keep)[~mask]] = True
        self._count("windows", int(refused.sum()))
        return windows, late, keep & ~refused, [_row_reject(r, refused, reason, "ts")]

    def rebuild(self, topic: str, result: DecodeResult) -> None:
        """Replay a committed message into the join state only (no statistics).

        The pairs do not depend on how the two topics interleave, so the state equals
        the previous owner's at its last commit (up to the horizon bounds, streams.join).
        Outcomes that expire here were counted when the previous owner expired them.
        """
        if result.message_rejected or result.kind not in ("prediction", "outcome"):
            return
        info, _ = self._check(topic, result)
        if info is None:
            return
        keep, _ = _target_rows(info, result, "prediction" if topic == "predictions" else "actual")
        if topic == "predictions":
            keep, _ = _checked_scores(info, result, keep)  # the same rows and scores as live
            matches = self._join_predictions(None, info, result, keep)
        else:
            matches = self._join_outcomes(info, result, keep)
        if info.target is None:
            self._await_target(matches)  # never counted: no target when they met
        self.join.expire()

    def _check(self, topic: str, result: DecodeResult) -> tuple[ModelInfo | None, list[Rejection]]:
        if TOPIC_KINDS.get(topic) != result.kind:
            return None, [Rejection(f"{R_WRONG_TOPIC} ({result.kind} on {topic})", "kind")]
        t = result.tenancy
        mid = (t.consortium, t.model, t.model_version)
        info = self.registry.get(*mid)
        if info is None:
            if self.cfg.unknown_models == "reject":
                return None, [Rejection(R_UNKNOWN_MODEL, "model")]
            info = self._unregistered.get(mid)
            if info is None:
                room = len(self._unregistered) < MAX_UNREGISTERED
                info = ModelEntry(consortium=mid[0], model=mid[1], version=mid[2],
                                  bootstrap=self.cfg.bootstrap if room else None)  # fmt: skip
                if room:
                    self._unregistered[mid] = info
        if info.retired:
            return None, [Rejection(R_RETIRED, "model")]
        return info, []

    # --- registry changes -------------------------------------------------------------------

    def refresh(self) -> None:
        """Follow registry changes: engine specs are rebuilt, and matched pairs that waited
        for their model's target are scored once it is there (each exactly once)."""
        if self.registry.revision == self._revision:
            return
        self._revision = self.registry.revision
        self._spec_cache.clear()
        self._cbpe_cache.clear()
        for mid in list(self._unregistered):
            if self.registry.get(*mid) is not None:
                del self._unregistered[mid]
        for mid in list(self.awaiting):
            info = self.registry.get(*mid)
            if info is None or (info.target is None and not info.retired):
                continue
            pairs = self.awaiting.pop(mid)
            if info.retired or info.target is None:  # not scored: the pairs count unmatched
                for _, outcome in pairs:
                    self._unmatched(outcome)
                continue
            good = [(p, o) for p, o in pairs if _fits(info.target, p.prediction, o.actual)]
            self._count_matches(good)
            bad = [o for p, o in pairs if not _fits(info.target, p.prediction, o.actual)]
            for outcome in bad:
                self._unmatched(outcome, "outcomes_unscorable")

    def _await_target(self, matches: list[tuple[Prediction, Outcome]]) -> None:
        """Keep pairs of a model without a target; past ``max_awaiting`` they count unmatched."""
        room = self.cfg.max_awaiting - sum(len(v) for v in self.awaiting.values())
        for pred, outcome in matches:
            if room <= 0:
                self._unmatched(outcome)
                continue
            t = pred.tenancy
            self.awaiting.setdefault((t[0], t[2], t[3]), []).append((pred, outcome))
            room -= 1

    # --- per kind --------------------------------------------------------------------------

    def _telemetry(self, blk: TopicBlock, info: ModelInfo, r: DecodeResult) -> list[Rejection]:
        tenancy = _tenancy(r)
        if info.profile is None:
            return self._unreferenced(blk, info, r, tenancy)
        rejects: list[Rejection] = []
        refs = info.profile.features
        if r.features.keys() == refs.keys() and all(
            v.dtype != object for v in r.features.values()
        ):  # the common case (the fast decoder's float columns): nothing to check per feature
            windows, late, keep, refused = self._windows(blk, r)
            columns = r.features
            if not keep.all():
                windows, late = windows[keep], late[keep]
                columns = {k: v[keep] for k, v in columns.items()}
            blk.add_table(tenancy, self._specs(info), windows, late, columns)
            return refused
        unknown = sorted(r.features.keys() - refs.keys())
        if unknown:
            rows = tuple(int(i) for i in r.rows)
            shown = unknown[:MAX_NAMED_UNKNOWN]
            rejects += [Rejection(R_UNKNOWN_FEATURE, f"features.{f}", rows) for f in shown]
            if len(unknown) > len(shown):
                more = f"{R_UNKNOWN_FEATURE}: {len(unknown) - len(shown)} more"
                rejects.append(Rejection(more, "features", rows))
        keep = np.ones(r.n, bool)
        columns: dict[str, np.ndarray] = {}
        for name, ref in info.profile.features.items():
            values = r.features.get(name)
            if values is None:
                values = np.full(r.n, np.nan)
            elif isinstance(ref, NumericReference) and values.dtype == object:
                values, bad = _as_numbers(values)
                if bad.any():
                    rejects.append(_row_reject(r, bad, R_NOT_NUMBER, f"features.{name}"))
                    keep &= ~bad
            columns[name] = values
        windows, late, keep, refused = self._windows(blk, r, keep)
        rejects += refused
        if not keep.all():
            windows, late = windows[keep], late[keep]
            columns = {k: v[keep] for k, v in columns.items()}
        blk.add_table(tenancy, self._specs(info), windows, late, columns)
        return rejects

    def _unreferenced(
        self, blk: TopicBlock, info: ModelInfo, r: DecodeResult, tenancy: Tenancy
    ) -> list[Rejection]:
        """Telemetry of a model without a reference: counted (``telemetry_samples`` and
        ``unreferenced``), and collected for its bootstrap when it has one."""
        windows, late, keep, rejects = self._windows(blk, r)
        w, lt = (windows, late) if keep.all() else (windows[keep], late[keep])
        blk.add_volume(tenancy, w, lt, "telemetry_samples")
        blk.add_volume(tenancy, w, lt, "unreferenced")
        if info.bootstrap is not None:
            buf = self._boot.get(info.mid)
            if buf is None:
                buf = self._boot[info.mid] = BootstrapBuffer(info.bootstrap)
            if buf.add(r.features, r.ts_ms, self.partition, self._offset):
                profile, provenance = buf.fit(info.model, info.version)
                del self._boot[info.mid]
                entry = info.replace(reference=profile.to_dict(), provenance=provenance)
                if not entry.registered_at:
                    entry = entry.replace(registered_at=entry.updated_at)
                self.registry.apply(entry)
                self.outbox.append(entry)
        return rejects

    def _specs(self, info: ModelInfo) -> tuple[TableSpec, ...]:
        """(kind, feature, engine factory) per reference feature, built once per model."""
        key = (info.consortium, info.model, info.version)
        specs = self._spec_cache.get(key)
        if specs is None:
            specs = self._spec_cache[key] = tuple(
                (
                    "drift_numeric" if isinstance(ref, NumericReference) else "drift_categorical",
                    name,
                    partial(drift_engine, ref),
                )
                for name, ref in info.profile.features.items()
            )
        return specs

    def _prediction(self, blk: TopicBlock, info: ModelInfo, r: DecodeResult) -> list[Rejection]:
        keep, rejects = _target_rows(info, r, "prediction")
        keep, bad_scores = _checked_scores(info, r, keep)
        rejects += bad_scores
        tenancy = _tenancy(r)
        windows, late, keep, refused = self._windows(blk, r, keep)
        rejects += refused
        w, lt = windows[keep], late[keep]
        cols = {k: v[keep] for k, v in r.columns.items()}
        blk.add("latency", tenancy, "", LatencyHistogram, w, lt, cols["latency_ms"])
        blk.add_volume(tenancy, w, lt, "predictions")
        err = cols["error"]
        if err.any():
            blk.add_volume(tenancy, w[err], lt[err], "prediction_errors")
        self._estimate(blk, info, tenancy, w, lt, cols)
        matches = self._join_predictions(windows, info, r, keep)
        self._score(info, matches)
        return rejects

    def _estimate(
        self,
        blk: TopicBlock,
        info: ModelInfo,
        tenancy: Tenancy,
        windows: np.ndarray,
        late: np.ndarray,
        cols: dict[str, np.ndarray],
    ) -> None:
        """CBPE rows of a model registered with a calibration: its scored predictions.

        Buffered like every series (one numpy update per window at flush); a row without
        a score (binary: ``score``; multiclass: ``scores`` with every class) is left out.
        """
        found = self._cbpe(info)
        if found is None or windows.size == 0:
            return
        descriptor, factory, classes = found
        scores: Any
        if len(classes) == 2:
            scores = cols["score"].astype(np.float64)
            ok = np.isfinite(scores)
        else:  # (n, K) in the target's classes, which are the calibration's (_cbpe)
            scores = cols.get("scores")
            if scores is None:
                return
            ok = np.isfinite(scores).all(axis=1)
        if not ok.any():
            return
        pred = cols["prediction"]
        if not ok.all():
            windows, late, pred = windows[ok], late[ok], pred[ok]
            scores = scores[ok]
        blk.add("estimation", tenancy, descriptor, factory, windows, late, pred, scores)

    def _cbpe(self, info: ModelInfo) -> tuple[str, Any, tuple[str, ...]] | None:
        """(descriptor, engine factory, classes) of a calibrated classifier, once per version."""
        if info.mid in self._cbpe_cache:
            return self._cbpe_cache[info.mid]
        found = None
        if info.calibration is not None and info.target is not None:
            try:
                cal = Calibration.from_dict(info.calibration)
                CBPE(cal)  # a calibration without score bins cannot estimate
                if cal.classes == info.target.classes:  # else the scores' columns differ
                    found = (calibration_descriptor(cal), partial(CBPE, cal), cal.classes)
            except (ValueError, KeyError, TypeError):
                found = None
        self._cbpe_cache[info.mid] = found
        return found

    def _outcome(self, blk: TopicBlock, info: ModelInfo, r: DecodeResult) -> list[Rejection]:
        keep, rejects = _target_rows(info, r, "actual")
        self._score(info, self._join_outcomes(info, r, keep))
        return rejects

    def _score(self, info: ModelInfo, matches: list[tuple[Prediction, Outcome]]) -> None:
        if info.target is None:
            self._await_target(matches)
        else:
            self._count_matches(matches)

    def _energy(self, blk: TopicBlock, info: ModelInfo, r: DecodeResult) -> list[Rejection]:
        tenancy = _tenancy(r)
        w, lt, keep, rejects = self._windows(blk, r)
        c = r.columns
        if not keep.all():
            w, lt, c = w[keep], lt[keep], {k: v[keep] for k, v in c.items()}
        blk.add(
            "energy", tenancy, "", EnergyMeter, w, lt, c["joules"], c["inferences"], c["duration_s"]
        )
        blk.add_volume(tenancy, w, lt, "energy_readings")
        return rejects

    # --- join ------------------------------------------------------------------------------

    def _join_predictions(
        self, windows: np.ndarray | None, info: ModelInfo, r: DecodeResult, keep: np.ndarray
    ) -> list[tuple[Prediction, Outcome]]:
        tenancy = _tenancy(r)
        ts = r.ts_ms
        if windows is None:
            windows = ts - ts % self.cfg.window_ms
        ids, preds, scores = r.columns["prediction_id"], r.columns["prediction"], r.columns["score"]
        add, scope = self.join.add_prediction, join_scope(tenancy)
        matches: list[tuple[Prediction, Outcome]] = []
        for i in np.flatnonzero(keep).tolist():
            pred = Prediction(int(windows[i]), tenancy, preds[i], float(scores[i]), int(ts[i]))
            outcome = add((scope, ids[i]), pred)
            if outcome is not None:
                matches.append((pred, outcome))
        return matches

    def _join_outcomes(
        self, info: ModelInfo, r: DecodeResult, keep: np.ndarray
    ) -> list[tuple[Prediction, Outcome]]:
        tenancy = _tenancy(r)
        ids, actual, ts = r.columns["prediction_id"], r.columns["actual"], r.ts_ms
        add, scope = self.join.add_outcome, join_scope(tenancy)
        matches = []
        for i in np.flatnonzero(keep).tolist():
            outcome = Outcome(ids[i], actual[i], int(ts[i]), tenancy)
            pred = add((scope, ids[i]), outcome)
            if pred is not None:
                matches.append((pred, outcome))
        return matches

    def _count_matches(self, matches: list[tuple[Prediction, Outcome]]) -> None:
        """Accuracy rows in the *prediction's* window (late=false: labels are late by nature).

        Always credited to the open *outcomes* block, whichever side completed the match:
        a replay may meet the two sides in another order, and must still produce the same
        keys so that its versions supersede the previous owner's (docs/streaming.md).
        """
        if not matches:
            return
        blk = self.block("outcomes")
        by_tenancy: dict[Tenancy, list[tuple[Prediction, Outcome]]] = {}
        for pred, outcome in matches:
            by_tenancy.setdefault(pred.tenancy, []).append((pred, outcome))
        for tenancy, rows in by_tenancy.items():
            info = self.registry.get(tenancy[0], tenancy[2], tenancy[3])
            if info is None or info.target is None:
                continue
            windows = np.fromiter((p.window_start for p, _ in rows), np.int64, len(rows))
            late = np.zeros(len(rows), bool)
            y_pred = _column([p.prediction for p, _ in rows], info)
            y_true = _column([o.actual for _, o in rows], info)
            if info.target.is_classifier:
                classes = info.target.classes
                scores = None
                if len(classes) == 2:
                    scores = np.fromiter((p.score for p, _ in rows), np.float64, len(rows))
                factory = partial(ClassificationAccuracy, classes)
                blk.add(
                    "classification", tenancy, "", factory, windows, late, y_true, y_pred, scores
                )
            else:
                blk.add(
                    "regression", tenancy, "", RegressionAccuracy, windows, late, y_true, y_pred
                )
            blk.add_volume(tenancy, windows, late, "outcomes_matched")

    def _unmatched(self, outcome: Outcome, why: str = "outcomes_unmatched") -> None:
        blk = self.block("outcomes")
        ts = np.array([outcome.ts], np.int64)
        blk.add_volume(outcome.tenancy, blk.window_start(ts), np.zeros(1, bool), why)


_HANDLERS: dict[str, Any] = {
    "telemetry": PartitionState._telemetry,
    "prediction": PartitionState._prediction,
    "outcome": PartitionState._outcome,
    "energy": PartitionState._energy,
}


def _tenancy(r: DecodeResult) -> Tenancy:
    t = r.tenancy
    return (t.consortium, t.member, t.model, t.model_version, t.site, t.hub)


def _column(values: list[Any], info: ModelInfo) -> np.ndarray:
    if info.target is not None and info.target.is_classifier:
        arr = np.empty(len(values), object)
        arr[:] = values
        return arr
    return np.asarray(values, np.float64)


def _as_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Object column → float64 (None → NaN) plus a mask of rows holding non-numbers."""
    out = np.full(values.size, np.nan)
    bad = np.zeros(values.size, bool)
    for i, v in enumerate(values.tolist()):
        if v is None:
            continue
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[i] = v
        else:
            bad[i] = True
    return out, bad


def _row_reject(r: DecodeResult, bad: np.ndarray, reason: str, field: str) -> Rejection:
    return Rejection(reason, field, tuple(int(i) for i in r.rows[bad]))


def _target_rows(info: ModelInfo, r: DecodeResult, column: str) -> tuple[np.ndarray, list]:
    """Rows whose label fits the model's target (class list / numbers), plus rejections."""
    keep = np.ones(r.n, bool)
    target = info.target
    if target is None or r.n == 0:
        return keep, []
    values = r.columns[column]
    if target.is_classifier:
        labels = _labels(values)
        bad = ~np.isin(labels, np.asarray([canonical_label(c) for c in target.classes], object))
        reason = R_NOT_IN_CLASSES
    else:
        bad = np.zeros(r.n, bool) if values.dtype != object else _as_numbers(values)[1]
        if values.dtype == object:
            r.columns[column] = _as_numbers(values)[0]
        reason = R_NOT_NUMBER
    if not bad.any():
        return keep, []
    return ~bad, [_row_reject(r, bad, reason, column)]


def _fits(target: Target, *values: Any) -> bool:
    """Whether labels that met before the target was known fit it (classes / numbers).

    >>> t = Target(kind="binary", classes=("ok", "defect"))
    >>> _fits(t, "ok", "defect"), _fits(t, "ok", "scrap"), _fits(Target(kind="regressor"), 1.0, 2)
    (True, False, True)
    """
    for v in values:
        if target.is_classifier:
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if v is None or str(v) not in target.classes:
                return False
        elif isinstance(v, bool) or not isinstance(v, int | float) or v != v:
            return False
    return True


def _checked_scores(
    info: ModelInfo, r: DecodeResult, keep: np.ndarray
) -> tuple[np.ndarray, list[Rejection]]:
    """A classifier's ``scores`` object against its classes (streams.scores): rows naming a
    class the model lacks, or part of a multiclass model's classes, are refused; the rest
    land in ``r.columns``: binary ``score`` (P(positive), ``scores`` winning over
    ``score``), multiclass ``scores`` as an (n, K) matrix in the target's class order."""
    target = info.target
    if not r.scores or target is None or not target.is_classifier:
        return keep, []
    found = prediction_scores(r, target.classes)
    r.columns["score" if len(target.classes) == 2 else "scores"] = found.values
    return keep & ~found.bad, found.rejections


def _labels(values: np.ndarray) -> np.ndarray:
    """Labels by the one rule (processors.labels): True/"TRUE" → "true", 1.0 → "1"."""
    labels, missing = as_labels(values, "label")
    out = labels.astype(object)
    out[missing] = None
    return out
