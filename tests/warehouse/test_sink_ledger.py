"""The sink's ledger: a bounded LRU cache of what ClickHouse holds per key."""

from types import SimpleNamespace

from warehouse.sink.ledger import Ledger


def _keys(*names):
    return [SimpleNamespace(key=k) for k in names]


def _ledger(max_keys, loads):
    def loader(partials):
        loads.append([p.key for p in partials])
        return {p.key: (1, {"n": p.key}) for p in partials if p.key != "new"}

    return Ledger(loader, max_keys)


def test_a_batch_larger_than_the_cache_is_answered_whole():
    loads = []
    ledger = _ledger(2, loads)
    out = ledger.lookup(_keys("a", "b", "c", "new"))  # 4 misses, room for 2
    assert out == {"a": (1, {"n": "a"}), "b": (1, {"n": "b"}), "c": (1, {"n": "c"}), "new": None}
    assert loads == [["a", "b", "c", "new"]]
    assert len(ledger) == 2


def test_misses_evict_older_keys_before_the_batchs_hits():
    loads = []
    ledger = _ledger(3, loads)
    ledger.record("old", 5, {"n": 5})
    ledger.record("hit", 7, {"n": 7})
    ledger.record("other", 2, {"n": 2})
    # "old" is the least recently used; looking it up with two misses used to evict it
    # before it was read back (KeyError: the sink stopped)
    out = ledger.lookup(_keys("old", "x", "y"))
    assert out == {"old": (5, {"n": 5}), "x": (1, {"n": "x"}), "y": (1, {"n": "y"})}
    assert loads == [["x", "y"]]
    assert len(ledger) == 3
    assert ledger.lookup(_keys("old", "x", "y")) == out  # all three still cached
    assert loads == [["x", "y"]]
    ledger.lookup(_keys("hit"))  # evicted by the misses: read again
    assert loads == [["x", "y"], ["hit"]]
