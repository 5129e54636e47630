"""Prediction ↔ outcome join for one partition: bounded, pure, rebuilt from the log on restart.

Outcomes name a ``prediction_id`` and may arrive days later; accuracy counts in the window
of the *prediction's* event time. Predictions and outcomes share a partition number
(same partition count, key = model), so one worker sees both sides.

**Keys and pairing.** The join key is (:func:`join_scope`, prediction_id): consortium,
member, model, model_version, site and the id (a tenant's label never meets another tenant's
prediction, even when ids collide). Ids repeat in practice (producer retries, a model
server restarting its counter), so per key the *i*-th prediction (in predictions-partition
order) pairs with the *i*-th outcome (in outcomes-partition order): two FIFO queues per
key, at most one of them non-empty. The pairs therefore do not depend on how the two
partitions' messages interleave, which is what lets a new owner rebuild, from the
committed offsets, exactly the state the previous owner had when it committed
(docs/streaming.md, "Late ground truth").

**Bounds** (docs/streaming.md, "Join horizon"):

* ``clock`` = the highest *prediction* event time seen on this partition (outcome times
  do not move it: a label observed days later must not push out predictions that are
  still waiting for theirs);
* a waiting prediction is dropped once its event time falls ``horizon_ms`` behind the
  clock, or ``max_predictions`` newer ones push it out (oldest arrival first), or the
  two sides together hold more than ``max_bytes`` (an estimate per entry,
  :func:`entry_bytes`, within a few percent of the measured heap: ids and labels are
  producer-controlled and may be long);
* a waiting outcome is returned by :meth:`JoinState.expire` (the caller counts it as
  ``outcomes_unmatched``, never silently lost) once the clock is ``horizon_ms`` past its
  own time, or ``max_pending`` newer ones push it out, or the bytes bound still holds
  with no prediction left to drop. Both sides expire in arrival
  order: an entry waits behind older arrivals that are still inside the horizon.

Only these bounds depend on the interleaving: a pair whose prediction falls out of the
horizon while its outcome is still on the way may be matched in one run and not in
another.

>>> j = JoinState(horizon_ms=1000)
>>> t = ("c", "m", "x", "1", "s", "h")
>>> scope = join_scope(t)
>>> j.add_prediction((scope, "p1"), Prediction(0, t, "ok", 0.2, 10)) is None
True
>>> j.add_outcome((scope, "p1"), Outcome("p1", "ok", 50, t)).prediction
'ok'
>>> j.add_outcome((scope, "p2"), Outcome("p2", "defect", 60, t)) is None, j.n_pending
(True, 1)
>>> j.add_prediction((scope, "p2"), Prediction(0, t, "ok", 0.9, 20)).actual
'defect'
"""

from __future__ import annotations

import sys
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

Tenancy = tuple[str, ...]
JoinKey = tuple[Tenancy, str]  # (join_scope(tenancy), prediction_id)


def join_scope(tenancy: Tenancy) -> Tenancy:
    """The part of the tenancy a join key holds: all but the hub.

    The hub is where inference ran; the system that reports ground truth (the plant)
    does not know it, and a model served from two hubs keeps one id space. One scope
    object serves every row of a message, so keys share it.

    >>> join_scope(("steel", "baowu", "m", "3", "hsm-2", "yangtze"))
    ('steel', 'baowu', 'm', '3', 'hsm-2')
    """
    return tenancy[:5]


class Prediction(NamedTuple):
    window_start: int
    tenancy: Tenancy
    prediction: Any
    score: float
    ts: int


class Outcome(NamedTuple):
    prediction_id: str
    actual: Any
    ts: int
    tenancy: Tenancy


@dataclass
class JoinStats:
    matched: int = 0
    expired: int = 0
    predictions_evicted: int = 0


T = TypeVar("T", Prediction, Outcome)

#: bytes of one waiting entry besides its id and label objects: the ordered-dict slot
#: (amortised), the key tuple, the named tuple and its int/float fields. Measured with
#: tracemalloc on CPython 3.11 for 200,000 entries with distinct ids and labels (as the
#: decoder makes them): 337 per prediction, 273 per outcome (tests/streams/test_join_memory.py)
PREDICTION_OVERHEAD = 340
OUTCOME_OVERHEAD = 280


def entry_bytes(key: Any, item: Any, _size: Any = sys.getsizeof) -> int:
    """Estimated bytes an entry holds: fixed overhead plus its id and label objects.

    Ids and labels are producer-controlled and may be long; each is its own object
    (the decoder makes one per row), so their full size counts, header included.

    >>> entry_bytes((("c",), "p-1"), Prediction(0, ("c",), "ok", 0.5, 1))
    443
    """
    ident = key[1] if type(key) is tuple and len(key) == 2 else ""
    if isinstance(item, Prediction):
        return PREDICTION_OVERHEAD + _size(ident) + _size(item.prediction)
    if isinstance(item, Outcome):
        return OUTCOME_OVERHEAD + _size(ident) + _size(item.actual)
    return PREDICTION_OVERHEAD + _size(ident)


class _Repeat(NamedTuple):
    """The slot of an entry whose key already had one waiting (repeated ids)."""

    key: Any
    serial: int


class WaitingSide(Generic[T]):
    """Entries waiting for a partner: FIFO per key, and one global arrival order.

    Both orders are arrival orders, so the oldest arrival overall is always the oldest
    of its own key. An entry costs one ordered-dict slot, named by its key; a key with
    several waiting entries (repeated ids, rare) gives the later ones their own slots and
    keeps the key's slots in a queue.

    >>> w = WaitingSide()
    >>> w.push(("a",), "a1"); w.push(("b",), "b1"); w.push(("a",), "a2")
    >>> w.pop(("a",)), w.oldest(), len(w)
    ('a1', 'b1', 2)
    >>> w.pop_oldest(), w.pop(("a",)), len(w), w.pop(("a",))
    ('b1', 'a2', 0, None)
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[Any, T] = OrderedDict()  # slot -> entry, arrival order
        self._queues: dict[Any, deque[Any]] = {}  # key -> its slots, for repeated keys
        self._serial = 0
        self.bytes = 0  # sum of entry_bytes over the waiting entries

    def __len__(self) -> int:
        return len(self._entries)

    def push(self, key: Any, item: T) -> None:
        self.bytes += entry_bytes(key, item)
        queue = self._queues.get(key) if self._queues else None
        if queue is None and self._entries.setdefault(key, item) is item:
            return  # the usual case: one hash of the key
        self._serial += 1
        slot = _Repeat(key, self._serial)
        if queue is None:
            queue = self._queues[key] = deque((key,))
        queue.append(slot)
        self._entries[slot] = item

    def pop(self, key: Any) -> T | None:
        """The oldest entry of ``key`` (removed), or None."""
        queue = self._queues.get(key) if self._queues else None
        if queue is None:
            item = self._entries.pop(key, None)
        else:
            slot = queue.popleft()
            if not queue:
                del self._queues[key]
            item = self._entries.pop(slot)
        if item is not None:
            self.bytes -= entry_bytes(key, item)
        return item

    def oldest(self) -> T:
        return next(iter(self._entries.values()))

    def pop_oldest(self) -> T:
        slot, item = self._entries.popitem(last=False)
        key = slot.key if isinstance(slot, _Repeat) else slot
        self.bytes -= entry_bytes(key, item)
        queue = self._queues.get(key) if self._queues else None
        if queue is not None:  # the oldest of its key: the head of its queue
            queue.popleft()
            if not queue:
                del self._queues[key]
        return item


class JoinState:
    """Predictions waiting for ground truth and outcomes waiting for their prediction."""

    def __init__(
        self,
        horizon_ms: int = 7 * 86_400_000,
        max_predictions: int = 2_000_000,
        max_pending: int = 200_000,
        max_bytes: int = 128 << 20,
    ) -> None:
        self.horizon_ms = horizon_ms
        self.max_bytes = max_bytes
        self.max_predictions = max_predictions
        self.max_pending = max_pending
        self.predictions: WaitingSide[Prediction] = WaitingSide()
        self.pending: WaitingSide[Outcome] = WaitingSide()
        self.clock: int | None = None
        self.stats = JoinStats()

    @property
    def n_pending(self) -> int:
        return len(self.pending)

    @property
    def bytes(self) -> int:
        """Estimated bytes held by both sides (bounded by ``max_bytes``)."""
        return self.predictions.bytes + self.pending.bytes

    def add_prediction(self, key: JoinKey, pred: Prediction) -> Outcome | None:
        """The oldest outcome waiting for ``key`` (now matched, removed), or None: the
        prediction then waits."""
        if self.clock is None or pred.ts > self.clock:
            self.clock = pred.ts
        return self._meet(self.pending, self.predictions, key, pred)

    def add_outcome(self, key: JoinKey, outcome: Outcome) -> Prediction | None:
        """The oldest prediction waiting for ``key`` (now matched, removed), or None: the
        outcome then waits (pending)."""
        return self._meet(self.predictions, self.pending, key, outcome)

    def _meet(
        self, partners: WaitingSide[Any], own: WaitingSide[Any], key: JoinKey, item: Any
    ) -> Any:
        partner = partners.pop(key)
        if partner is None:
            own.push(key, item)
        else:
            self.stats.matched += 1
        return partner

    def expire(self) -> list[Outcome]:
        """Drop entries beyond the horizon or the size bounds; returns the outcomes dropped."""
        cutoff = None if self.clock is None else self.clock - self.horizon_ms
        preds, pending = self.predictions, self.pending
        while preds and (
            len(preds) > self.max_predictions
            or preds.bytes + pending.bytes > self.max_bytes
            or (cutoff is not None and preds.oldest().ts < cutoff)
        ):
            preds.pop_oldest()
            self.stats.predictions_evicted += 1
        expired: list[Outcome] = []
        while pending and (
            len(pending) > self.max_pending
            or pending.bytes > self.max_bytes
            or (cutoff is not None and pending.oldest().ts < cutoff)
        ):
            expired.append(pending.pop_oldest())
        self.stats.expired += len(expired)
        return expired
