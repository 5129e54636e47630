"""The join's byte bound is a bound on the heap it holds (tracemalloc, no broker).

Entries are built as the worker builds them: ids and labels decoded by orjson (one
object per row), window and event times as Python ints from numpy columns.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import orjson
import pytest

from streams.join import JoinState, Outcome, Prediction, join_scope

T = ("steel", "baowu", "strip-defect-classifier", "3", "hsm-2", "yangtze")
SCOPE = join_scope(T)
N = 60_000


def columns(n: int, labels: list) -> tuple[list, list, np.ndarray]:
    ids = orjson.loads(orjson.dumps([f"{T[2]}-{i}" for i in range(n)]))
    ts = np.arange(n, dtype=np.int64) * 50 + 1_796_300_000_000
    return ids, orjson.loads(orjson.dumps(labels)), ts


def held(fill) -> tuple[int, JoinState]:
    j = JoinState()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fill(j)
        return tracemalloc.get_traced_memory()[0] - base, j
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("labels", [["scratch"] * N, [i * 0.37 for i in range(N)]])
def test_prediction_estimate_matches_the_heap(labels):
    ids, preds, ts = columns(N, labels)
    scores = np.linspace(0, 1, N)

    def fill(j: JoinState) -> None:
        # the decoded columns are the message's; the entries keep their own copies of
        # the ids and labels (as the worker's entries outlive the message)
        for i in range(N):
            pid, label = orjson.loads(orjson.dumps([ids[i], preds[i]]))
            pred = Prediction(int(ts[i] - ts[i] % 60_000), T, label, float(scores[i]), int(ts[i]))
            j.add_prediction((SCOPE, pid), pred)

    measured, j = held(fill)
    assert len(j.predictions) == N
    assert 0.9 < j.bytes / measured < 1.15, (j.bytes / N, measured / N)


def test_outcome_estimate_matches_the_heap():
    ids, actual, ts = columns(N, ["scratch"] * N)

    def fill(j: JoinState) -> None:
        for i in range(N):
            pid, label = orjson.loads(orjson.dumps([ids[i], actual[i]]))
            j.add_outcome((SCOPE, pid), Outcome(pid, label, int(ts[i]), T))

    measured, j = held(fill)
    assert j.n_pending == N
    assert 0.9 < j.bytes / measured < 1.15, (j.bytes / N, measured / N)


def test_max_bytes_bounds_the_heap():
    """Three times more predictions than fit: the join keeps the newest within the bound."""
    bound = 8 << 20
    n = 3 * bound // 450
    ids, preds, ts = columns(n, ["ok"] * n)

    def fill(j: JoinState) -> None:
        j.max_bytes = bound
        for i in range(n):
            pid, label = orjson.loads(orjson.dumps([ids[i], preds[i]]))
            j.add_prediction((SCOPE, pid), Prediction(0, T, label, 0.5, int(ts[i])))
            if i % 1000 == 999:
                j.expire()
        j.expire()

    measured, j = held(fill)
    assert j.bytes <= bound and j.stats.predictions_evicted > n // 2
    assert measured < bound * 1.15, measured / bound
