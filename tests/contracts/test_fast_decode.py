"""The msgspec fast path decodes exactly what the general path decodes, or steps aside."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import decode as decode_module
from streams.decode import decode
from streams.fast_decode import fast_telemetry

NOW = 1_795_946_400_000
DAY = 86_400_000
HEAD = {
    "schema_version": 1,
    "kind": "telemetry",
    "consortium": "steel",
    "member": "baowu",
    "model": "strip-defect",
    "model_version": "3",
    "site": "s",
    "hub": "h",
}


def _general(raw: bytes):
    """decode() with the fast path switched off."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(decode_module, "fast_telemetry", lambda *a: None)
        return decode(raw, now_ms=NOW)


def _same(a, b) -> None:
    assert (a.kind, a.tenancy, a.batch, a.n_input) == (b.kind, b.tenancy, b.batch, b.n_input)
    assert [str(r) for r in a.rejections] == [str(r) for r in b.rejections]
    assert a.rows.tolist() == b.rows.tolist() and a.ts_ms.tolist() == b.ts_ms.tolist()
    assert a.columns.keys() == b.columns.keys() and a.features.keys() == b.features.keys()
    for name, col in a.features.items():
        other = b.features[name]
        assert col.dtype == other.dtype, name
        if col.dtype == object:
            assert col.tolist() == other.tolist()
        else:
            np.testing.assert_array_equal(col, other)


def _fast(body: dict) -> bool:
    raw = json.dumps(body).encode()
    found = fast_telemetry(raw, NOW, 366 * DAY, decode_module._envelope, decode_module.DecodeResult)
    return found is not None


def test_clean_numeric_telemetry_takes_the_fast_path():
    batch = HEAD | {
        "batch": True,
        "ts": [NOW, NOW + 1],
        "features": {"a": [1, None], "b": [2.5, 3]},
    }
    single = HEAD | {"ts": NOW, "features": {"a": 1.5, "b": None}}
    for body in (batch, single):
        assert _fast(body)
        raw = json.dumps(body).encode()
        _same(decode(raw, now_ms=NOW), _general(raw))
    # what it leaves to the general path: text, booleans, ISO timestamps, bad rows, bad heads
    for body in (
        batch | {"features": {"a": ["x", "y"]}},
        single | {"features": {"a": True}},
        single | {"ts": "2026-11-29T18:00:00Z"},
        batch | {"ts": [NOW, NOW + 400 * DAY]},
        batch | {"features": {"a": [1]}},
        single | {"site": ""},
        single | {"schema_version": 2},
        single | {"extra": 1},
        batch | {"ts": []},
    ):
        assert not _fast(body), body


NUMBERS = st.none() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.booleans()
VALUES = NUMBERS | st.text(max_size=3)


@settings(max_examples=400, deadline=None)
@given(
    batch=st.booleans(),
    n=st.integers(0, 4),
    features=st.dictionaries(st.text(max_size=3), st.lists(VALUES, min_size=0, max_size=5)),
    ts_shift=st.sampled_from([0, 1, -DAY, 400 * DAY]),
    head=st.dictionaries(
        st.sampled_from(list(HEAD)), st.none() | st.integers() | st.text(max_size=2)
    ),
)
def test_fast_and_general_paths_agree_on_any_telemetry(batch, n, features, ts_shift, head):
    ts = [NOW + ts_shift + i for i in range(n)]
    if batch:
        feats = {k: v[:n] if len(v) >= n else v for k, v in features.items()}
        body = HEAD | head | {"batch": True, "ts": ts, "features": feats}
    else:
        feats = {k: (v[0] if v else None) for k, v in features.items()}
        body = HEAD | head | {"ts": NOW + ts_shift, "features": feats}
    raw = json.dumps(body).encode()  # NaN/Infinity literals included
    _same(decode(raw, now_ms=NOW), _general(raw))
