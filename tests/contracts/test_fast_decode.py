"""The fast paths (simdjson batches, msgspec single events) decode exactly what the general
path decodes, or step aside."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import decode as decode_module
from streams import fast_decode
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
BATCH = HEAD | {"batch": True, "ts": [NOW, NOW + 1], "features": {"a": [1, None], "b": [2.5, 3]}}
SINGLE = HEAD | {"ts": NOW, "features": {"a": 1.5, "b": None}}


def _general(raw: bytes):
    """decode() with the fast path switched off."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(decode_module, "fast_telemetry", lambda *a: None)
        return decode(raw, now_ms=NOW)


def _same(a, b) -> None:
    assert (a.kind, a.tenancy, a.batch, a.n_input) == (b.kind, b.tenancy, b.batch, b.n_input)
    assert [str(r) for r in a.rejections] == [str(r) for r in b.rejections]
    assert a.rows.tolist() == b.rows.tolist() and a.ts_ms.tolist() == b.ts_ms.tolist()
    assert a.ts_ms.dtype == b.ts_ms.dtype == np.int64
    assert a.columns.keys() == b.columns.keys()
    assert list(a.features) == list(b.features)  # same names in the same order
    for name, col in a.features.items():
        other = b.features[name]
        assert col.dtype == other.dtype, name
        if col.dtype == object:
            assert col.tolist() == other.tolist()
        else:  # bit for bit: -0.0 stays -0.0, an integer's float is the same float
            assert col.tobytes() == other.tobytes(), (name, col, other)


def _fast_raw(raw: bytes):
    return fast_telemetry(raw, NOW, 366 * DAY, decode_module._envelope, decode_module.DecodeResult)


def _fast(body: dict) -> bool:
    return _fast_raw(json.dumps(body).encode()) is not None


class Raw(str):
    """JSON text written as is: ``1e400``, ``NaN``, a nested array..."""


class Obj(list):
    """A JSON object as (key, value) pairs: keys may repeat."""


def _emit(value, compact: bool = True) -> str:
    """JSON text of ``value``; ``json.dumps`` escapes non-ASCII (lone surrogates too)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        value = Obj(value.items())
    comma, colon = (",", ":") if compact else (", ", ": ")
    if isinstance(value, Obj):
        return "{" + comma.join(_emit(k) + colon + _emit(v, compact) for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + comma.join(_emit(v, compact) for v in value) + "]"
    return json.dumps(value)


def _raw(pairs, compact: bool = True) -> bytes:
    return _emit(Obj(pairs), compact).encode()


def test_clean_numeric_telemetry_takes_the_fast_path():
    names = {"t": [1.5, 2], "température": [-0.0, 9007199254740993], "😀": [None, None]}
    for body in (
        BATCH,
        SINGLE,
        BATCH | {"features": names},  # \u escapes, a surrogate pair, integers, nulls
        BATCH | {"features": {}},
        BATCH | {"features": {f"f{i}": [i, 0.5] for i in range(fast_decode.MAX_FAST_FEATURES)}},
        BATCH | {"ts": [NOW + 3, NOW - 2], "features": {"a": [18446744073709551615, 1e-400]}},
    ):
        raw = json.dumps(body).encode()
        assert _fast_raw(raw) is not None, body
        _same(decode(raw, now_ms=NOW), _general(raw))
    for compact in (True, False):  # "batch":true and "batch": true
        raw = _raw(BATCH.items(), compact)
        assert _fast_raw(raw) is not None
        assert all(v.flags.writeable for v in _fast_raw(raw).features.values())


# What the fast paths leave to the general path, which accepts some of these and rejects
# others (by row or as a whole): either way the result must be the general path's.
_DOUBTFUL = {
    "text feature": BATCH | {"features": {"a": ["x", "y"]}},
    "boolean feature": BATCH | {"features": {"a": [True, 1.0]}},
    "boolean single": SINGLE | {"features": {"a": True}},
    "ISO timestamp": SINGLE | {"ts": "2026-11-29T18:00:00Z"},
    "ISO ts in batch": BATCH | {"ts": [NOW, "2026-11-29T18:00:00Z"]},
    "null ts": BATCH | {"ts": [NOW, None]},
    "float ts": BATCH | {"ts": [NOW, NOW + 0.5]},
    "integral float ts": BATCH | {"ts": [NOW, float(NOW)]},
    "ts beyond int64": BATCH | {"ts": [NOW, 2**63]},
    "ts below int64": BATCH | {"ts": [NOW, -(2**63) - 1]},
    "ts beyond uint64": BATCH | {"ts": [NOW, 2**64 + 1]},
    "ts far away": BATCH | {"ts": [NOW, NOW + 400 * DAY]},
    "ts far back": BATCH | {"ts": [NOW - 400 * DAY, NOW]},
    "empty ts": BATCH | {"ts": [], "features": {"a": []}},
    "ts not an array": BATCH | {"ts": NOW},
    "unequal lengths": BATCH | {"features": {"a": [1]}},
    "features not an object": BATCH | {"features": [1, 2]},
    "feature not an array": BATCH | {"features": {"a": 1}},
    "empty feature name": BATCH | {"features": {"": [1, 2]}},
    "feature beyond uint64": BATCH | {"features": {"a": [1, 2**64]}},
    "empty site": SINGLE | {"site": ""},
    "bad site": BATCH | {"site": "a b"},
    "site not a string": BATCH | {"site": 5},
    "schema 2": SINGLE | {"schema_version": 2},
    "schema 1.0": BATCH | {"schema_version": 1.0},
    "schema true": BATCH | {"schema_version": True},
    "unknown field": BATCH | {"extra": 1},
    "unknown field single": SINGLE | {"extra": 1},
    "batch false": BATCH | {"batch": False},
    "other kind": BATCH | {"kind": "energy"},
    "lone surrogate site": BATCH | {"site": "\ud800"},
    "lone surrogate name": BATCH | {"features": {"\udc00": [1, 2]}},
    "NUL in a name": BATCH | {"features": {"a": [1, 2], "a\x00b": [3, 4]}},
    "bracket in a name": BATCH | {"features": {"a[0]": [1, 2]}},
    "too wide": BATCH
    | {"features": {f"f{i}": [i, 0.5] for i in range(fast_decode.MAX_FAST_FEATURES + 1)}},
}
_TEXT = {  # JSON text no dict can write
    "1e400": _raw((BATCH | {"features": Obj([("a", [1, Raw("1e400")])])}).items()),
    "NaN": _raw((BATCH | {"features": Obj([("a", [Raw("NaN"), 2])])}).items()),
    "-Infinity ts": _raw((BATCH | {"ts": [NOW, Raw("-Infinity")]}).items()),
    "nested array": _raw((BATCH | {"features": {"a": [[1], [2]]}}).items()),
    "nested empty": _raw((BATCH | {"features": {"a": [[], [1, 2]]}}).items()),
    "nested ts": _raw((BATCH | {"ts": [[NOW], [NOW]]}).items()),
    "object value": _raw((BATCH | {"features": {"a": [{"b": 1}, 2]}}).items()),
    "repeated ts, last wins": _raw([*BATCH.items(), ("ts", [NOW + 5, NOW + 6])]),
    "repeated ts, first wins": _raw([("ts", [NOW + 5, NOW + 6]), *BATCH.items()]),
    "repeated features": _raw([*BATCH.items(), ("features", {"a": [7, 8]})]),
    "repeated site": _raw([*BATCH.items(), ("site", "other")]),
    "repeated batch": _raw([*BATCH.items(), ("batch", False)]),
    "repeated kind": _raw([*BATCH.items(), ("kind", "energy")]),
    "repeated feature": _raw(
        (BATCH | {"features": Obj([("a", [1, 2]), ("b", [3, 4]), ("a", [5, 6])])}).items()
    ),
    "repeated single feature": _raw(
        (SINGLE | {"features": Obj([("a", 1), ("b", 3), ("a", 5)])}).items()
    ),
    "repeated single ts": _raw([*SINGLE.items(), ("ts", NOW + 7)]),
    "byte order mark": b"\xef\xbb\xbf" + _raw(BATCH.items()),
    "invalid UTF-8 name": _raw(BATCH.items()).replace(b'"a"', b'"\xff"'),
    "encoded surrogate": _raw(BATCH.items()).replace(b'"steel"', b'"\xed\xa0\x80"'),
    "overlong UTF-8": _raw(BATCH.items()).replace(b'"a"', b'"\xc0\x80"'),
    "trailing garbage": _raw(BATCH.items()) + b" x",
    "two documents": _raw(BATCH.items()) + _raw(BATCH.items()),
}


#: msgspec decodes a single event's repeated keys as a dict does (the last one wins)
_EITHER = {"repeated single feature", "repeated single ts"}


@pytest.mark.parametrize("name", sorted(_DOUBTFUL) + sorted(_TEXT))
def test_doubtful_messages_go_to_the_general_path(name):
    raw = _TEXT[name] if name in _TEXT else json.dumps(_DOUBTFUL[name]).encode()
    assert name in _EITHER or _fast_raw(raw) is None, name
    _same(decode(raw, now_ms=NOW), _general(raw))


def test_columns_outlive_the_parser_and_parsers_are_per_thread():
    """as_buffer copies: a result stays valid after its thread's parser takes the next
    document, and threads decoding at the same time each get their own parser."""
    bodies = [
        BATCH | {"features": {"a": [i, i + 0.5], "b": [-i, None]}, "ts": [NOW + i, NOW]}
        for i in range(200)
    ]
    raws = [json.dumps(b).encode() for b in bodies]
    first = decode(raws[0], now_ms=NOW)
    for raw in raws[1:]:
        decode(raw, now_ms=NOW)
    assert first.features["a"].tolist() == [0.0, 0.5] and first.ts_ms.tolist() == [NOW, NOW]

    def run(offset: int) -> list:
        order = raws[offset:] + raws[:offset]
        return [(raw, decode(raw, now_ms=NOW)) for raw in order for _ in range(3)]

    with ThreadPoolExecutor(4) as pool:
        results = [r for chunk in pool.map(run, (0, 50, 100, 150)) for r in chunk]
    for raw, result in results:
        assert _fast_raw(raw) is not None
        _same(result, _general(raw))


def test_a_live_proxy_of_the_last_document_does_not_stop_the_fast_path():
    raw = json.dumps(BATCH).encode()
    held = fast_decode._parser().parse(raw)  # a proxy still pointing into the parser
    assert _fast_raw(raw) is not None  # on a new parser, for this thread from now on
    _same(decode(raw, now_ms=NOW), _general(raw))
    assert held["ts"][0] == NOW  # the old document is still there for the proxy


NUMBERS = st.none() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.booleans()
TOKENS = st.sampled_from(
    [
        "1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1E2", "-0", "0.0", "1.5e-320",
        "4.9e-324", "1.7976931348623157e308", "18446744073709551615", "18446744073709551616",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809",
        "9007199254740993", "[1]", "[]", "[[1]]", "[null]", "{}", '{"a": 1}', "true",
    ]
).map(Raw)  # fmt: skip
VALUES = NUMBERS | st.text(max_size=3) | TOKENS
NAMES = st.text(max_size=3) | st.sampled_from(
    ["", "a", "é", "\ud800", "b\udfff", "\ud83d\ude00", "a\x00", "\x00", "[", "]", "\x7fBAD"]
)
TS_ODD = (
    st.none()
    | st.floats(allow_nan=True)
    | st.integers(2**63 - 2, 2**64 + 2)
    | st.integers(-(2**64), -(2**63) + 1)
    | st.text(max_size=3)
    | st.booleans()
    | TOKENS
)
TOP = ["ts", "features", "site", "batch", "kind", "schema_version", "extra"]
BAD_BYTES = [None, b"\xff", b"\xed\xa0\x80", b"\xc0\x80", b"\xef\xbb\xbf"]


CLEAN = st.none() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)


@st.composite
def _telemetry(draw) -> bytes:
    """Telemetry JSON as producers may write it, and as they should not: each oddity is
    drawn with a small probability, so about half the messages are clean."""

    def odd(one_in: int = 12) -> bool:
        return draw(st.integers(0, one_in - 1)) == one_in - 1

    batch = not odd(4)  # 3 in 4 are batches
    n = draw(st.integers(0 if odd() else 1, 4))
    names = draw(st.lists(NAMES if odd() else st.text(min_size=1, max_size=3), max_size=4))
    ts_shift = draw(st.sampled_from([0, 1, -DAY, 400 * DAY])) if odd() else 0
    ts: list = [NOW + ts_shift + i for i in range(n)]
    if ts and odd():
        ts[draw(st.integers(0, n - 1))] = draw(TS_ODD)

    def values() -> object:
        pick = VALUES if odd(16) else CLEAN
        if not batch:
            return draw(pick)
        size = draw(st.integers(0, 5)) if odd(16) else n
        return draw(st.lists(pick, min_size=size, max_size=size))

    features = Obj((name, values()) for name in names)
    head = {}
    if odd():
        head = draw(
            st.dictionaries(
                st.sampled_from(list(HEAD)),
                st.none() | st.integers() | st.text(max_size=2) | st.sampled_from(["\ud800"]),
            )
        )
    body = HEAD | head | {"ts": ts if batch else NOW + ts_shift, "features": features}
    if batch:
        body["batch"] = draw(st.sampled_from([False, 1, None])) if odd() else True
    pairs = list(body.items())
    for key in draw(st.lists(st.sampled_from(TOP), max_size=2)) if odd() else ():
        value = {  # a repeated field, before or after the first
            "ts": [t + 1 if isinstance(t, int) else t for t in ts] if batch else NOW + 1,
            "features": Obj((name, values()) for name in names),
            "site": draw(st.sampled_from(["s2", ""])),
            "batch": draw(st.booleans()),
            "kind": draw(st.sampled_from(["telemetry", "energy"])),
            "schema_version": draw(st.sampled_from([1, 2])),
            "extra": 1,
        }[key]
        pairs.insert(draw(st.integers(0, len(pairs))), (key, value))
    for name in draw(st.lists(NAMES, max_size=2)) if names and odd() else ():
        features.insert(draw(st.integers(0, len(features))), (name, values()))  # repeated
    pairs = draw(st.permutations(pairs)) if draw(st.booleans()) else pairs
    raw = _raw(pairs, compact=draw(st.booleans()))
    bad = draw(st.sampled_from(BAD_BYTES)) if odd() else None
    if bad == b"\xef\xbb\xbf":
        raw = bad + raw
    elif bad is not None:
        raw = raw.replace(b"\x7fBAD", bad).replace(b'"s"', b'"' + bad + b'"', 1)
    return raw


@settings(max_examples=600, deadline=None)
@given(raw=_telemetry())
def test_fast_and_general_paths_agree_on_any_telemetry(raw):
    _same(decode(raw, now_ms=NOW), _general(raw))
