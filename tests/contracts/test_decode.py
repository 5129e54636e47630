"""The hot-path decoder: exact arrays for valid messages, exact reasons for bad ones."""

from __future__ import annotations

import base64
import json

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.decode import MAX_MESSAGE_BYTES, R_JSON, R_NONFINITE, R_TENANCY, Rejection, decode
from streams.dlq import dlq_records, parse_dlq_record
from streams.events import MAX_TS_SKEW_MS, TENANCY_FIELDS
from tests.contracts.conftest import NOW, TENANCY, YEAR_MS


def msg(kind: str, batch: bool = False, **fields: object) -> bytes:
    body: dict[str, object] = {"schema_version": 1, "kind": kind, **TENANCY}
    if batch:
        body["batch"] = True
    body.update(fields)
    return orjson.dumps(body)


def run(raw: bytes, **kw: object):
    return decode(raw, now_ms=NOW, **kw)


def only(result) -> Rejection:
    assert len(result.rejections) == 1, result.rejections
    return result.rejections[0]


# --- valid messages --------------------------------------------------------------------------


def test_single_telemetry_decodes_to_length_one_columns():
    r = run(
        msg(
            "telemetry",
            ts="2026-11-29T10:00:00Z",
            features={"strip_temp_c": 912.4, "grade": "Q235", "speed_mps": None},
        )
    )
    assert r.rejections == []
    assert (r.kind, r.batch, r.n_input, r.n) == ("telemetry", False, 1, 1)
    assert r.tenancy.model_dump() == TENANCY
    assert r.ts_ms.dtype == np.int64 and r.ts_ms.tolist() == [NOW]
    assert r.features["strip_temp_c"].dtype == np.float64
    assert r.features["strip_temp_c"].tolist() == [912.4]
    assert r.features["grade"].dtype == object and r.features["grade"].tolist() == ["Q235"]
    assert np.isnan(r.features["speed_mps"]).all()  # all-null feature: float64 NaN
    assert r.rows.tolist() == [0]


def test_telemetry_batch_columns():
    r = run(
        msg(
            "telemetry",
            batch=True,
            ts=[NOW, NOW + 1, "2026-11-29T10:00:00.002Z"],
            features={"t": [1.5, None, 3], "grade": ["Q235", None, "Q345"]},
        )
    )
    assert r.rejections == [] and r.n == 3
    assert r.ts_ms.tolist() == [NOW, NOW + 1, NOW + 2]
    np.testing.assert_array_equal(r.features["t"], [1.5, np.nan, 3.0])
    assert r.features["grade"].tolist() == ["Q235", None, "Q345"]


def test_prediction_single_and_batch():
    single = run(
        msg("prediction", ts=NOW, prediction_id="p1", prediction="defect", score=0.8, latency_ms=4)
    )
    assert single.rejections == []
    assert single.columns["prediction_id"].tolist() == ["p1"]
    assert single.columns["prediction"].tolist() == ["defect"]
    assert single.columns["score"].tolist() == [0.8]
    assert single.columns["latency_ms"].tolist() == [4.0]
    assert single.columns["error"].dtype == bool and single.columns["error"].tolist() == [False]
    batch = run(
        msg(
            "prediction",
            batch=True,
            ts=[NOW, NOW],
            prediction_id=["a", "b"],
            prediction=[1.5, 2],
            score=[None, 0.25],
            latency_ms=[0, 12.5],
            error=[False, True],
        )
    )
    assert batch.rejections == []
    np.testing.assert_array_equal(batch.columns["prediction"], [1.5, 2.0])
    np.testing.assert_array_equal(batch.columns["score"], [np.nan, 0.25])
    assert batch.columns["latency_ms"].tolist() == [0.0, 12.5]
    assert batch.columns["error"].tolist() == [False, True]


def test_prediction_without_optional_fields_gets_defaults():
    r = run(
        msg("prediction", batch=True, ts=[NOW], prediction_id=["a"], prediction=[1], latency_ms=[1])
    )
    assert r.rejections == []
    assert np.isnan(r.columns["score"]).all() and r.columns["error"].tolist() == [False]


def test_outcome_and_energy():
    out = run(
        msg("outcome", batch=True, ts=[NOW, NOW], prediction_id=["a", "b"], actual=["ok", "defect"])
    )
    assert out.rejections == [] and out.columns["actual"].tolist() == ["ok", "defect"]
    en = run(msg("energy", ts=NOW, joules=360.0, inferences=12, duration_s=60))
    assert en.rejections == []
    assert en.columns["joules"].tolist() == [360.0]
    assert en.columns["inferences"].dtype == np.int64 and en.columns["inferences"].tolist() == [12]
    assert en.columns["duration_s"].tolist() == [60.0]


# --- message-level rejections ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        (b'{"schema_version": 1, "kind": ', R_JSON, None),
        (b"\xff\xfe", R_JSON, None),
        (b"[1, 2]", "message is not a JSON object", None),
        (
            msg("telemetry", ts=NOW, features={"t": float("nan")}).replace(b"null", b"NaN"),
            R_NONFINITE,
            "features.t",
        ),
    ],
)
def test_parse_failures(raw, reason, field):
    r = run(raw)
    assert only(r) == Rejection(reason, field, None)
    assert r.n == 0 and r.message_rejected


def test_nan_literal_in_single_event_is_named():
    raw = msg("telemetry", ts=NOW, features={"strip_temp_c": 1.0}).replace(b"1.0", b"NaN")
    assert str(only(run(raw))) == "features.strip_temp_c: non-finite number (NaN/Infinity)"


def test_huge_number_counts_as_non_finite():
    raw = msg("energy", ts=NOW, joules=1.0, inferences=1, duration_s=1.0).replace(
        b'"joules":1.0', b'"joules":1e400'
    )
    assert only(run(raw)) == Rejection(R_NONFINITE, "joules")


def test_oversized_rejected_before_parsing():
    raw = b"x" * (MAX_MESSAGE_BYTES + 1)  # not even JSON: size is checked first
    rej = only(run(raw))
    assert rej.reason.startswith("message too large") and rej.rows is None
    assert only(run(msg("telemetry", ts=NOW, features={}), max_bytes=10)).reason.startswith(
        "message too large"
    )


@pytest.mark.parametrize("missing", TENANCY_FIELDS)
def test_missing_tenancy(missing):
    body = json.loads(msg("telemetry", ts=NOW, features={"t": 1.0}))
    del body[missing]
    assert only(run(json.dumps(body).encode())) == Rejection("missing field", missing)


def test_empty_tenancy_and_wrong_type():
    assert only(run(msg("telemetry", ts=NOW, features={}, site=""))) == Rejection(
        "empty string", "site"
    )
    assert only(run(msg("telemetry", ts=NOW, features={}, hub=7))) == Rejection(
        "expected a string, got number", "hub"
    )


HOSTILE_TENANCY = [
    "x') OR 1=1 --",  # the stored injection that reached Grafana SQL (issue 11)
    "C:\\plant\\",  # a backslash broke 8 of 12 panels
    "steel'",
    'say "hi"',
    "line\nbreak",
    "tab\there",
    "nul\u0000",
    "two words",
    "caf\u00e9",
    "${consortium}",
    "a" * 65,
]


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
@pytest.mark.parametrize("field", ["consortium", "site", "member", "hub"])
@pytest.mark.parametrize("value", HOSTILE_TENANCY)
def test_hostile_tenancy_values_are_refused_naming_the_field(value, field, batch):
    ts, feats = ([NOW, NOW], {"t": [1.0, 2.0]}) if batch else (NOW, {"t": 1.0})
    r = run(msg("telemetry", batch=batch, ts=ts, features=feats, **{field: value}))
    assert only(r) == Rejection(R_TENANCY, field)
    assert r.n == 0


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_a_lone_surrogate_in_a_tenancy_value_is_invalid_json(batch):
    ts, feats = ([NOW], {"t": [1.0]}) if batch else (NOW, {"t": 1.0})
    raw = msg("telemetry", batch=batch, ts=ts, features=feats, site="PLACEHOLDER")
    for bad in (b'"\\ud800"', b'"\xed\xa0\x80"'):  # escaped, and the raw UTF-8 bytes
        rej = only(run(raw.replace(b'"PLACEHOLDER"', bad)))
        assert rej.reason == R_JSON and rej.rows is None


def test_the_tenancy_charset_edges_are_accepted():
    edge = "A-z.0_9:" + "x" * 56  # every allowed class, exactly 64 characters
    r = run(msg("telemetry", ts=NOW, features={"t": 1.0}, site=edge, member="m.1-b_2:c"))
    assert r.rejections == [] and r.tenancy.site == edge and r.n == 1


def test_unknown_schema_version_and_kind():
    assert only(run(msg("telemetry", ts=NOW, features={}, schema_version=2))) == Rejection(
        "unknown schema_version 2 (expected 1)", "schema_version"
    )
    rej = only(run(msg("metrics", ts=NOW)))
    assert (rej.field, rej.reason.startswith("unknown kind 'metrics'")) == ("kind", True)


def test_json_booleans_are_labels():
    """The one label rule (processors.labels): a JSON boolean is the label "true"/"false"."""
    assert run(msg("telemetry", ts=NOW, features={"t": True})).features["t"].tolist() == ["true"]
    batch = run(msg("telemetry", batch=True, ts=[NOW] * 3, features={"t": [True, "x", None]}))
    assert batch.features["t"].tolist() == ["true", "x", None] and not batch.rejections


def test_wrong_types_in_single_event():
    assert only(
        run(msg("prediction", ts=NOW, prediction_id="a", prediction=1, latency_ms="fast"))
    ) == (Rejection("expected a number, got string", "latency_ms"))
    assert only(run(msg("energy", ts=NOW, joules=1, inferences=1.5, duration_s=1))) == Rejection(
        "expected an integer, got number", "inferences"
    )
    assert only(run(msg("telemetry", ts=[NOW], features={"t": 1}))) == Rejection(
        "expected a scalar, got array (single event)", "ts"
    )


def test_missing_and_unknown_fields():
    assert only(run(msg("outcome", ts=NOW, prediction_id="a"))) == Rejection(
        "missing field", "actual"
    )
    assert only(run(msg("outcome", ts=NOW, prediction_id="a", actual=1, extra=1))) == Rejection(
        "unknown field", "extra"
    )


def test_unequal_batch_lengths_reject_the_message():
    r = run(msg("telemetry", batch=True, ts=[NOW, NOW], features={"a": [1, 2], "b": [1]}))
    assert only(r) == Rejection("unequal array lengths: ts has 2, features.b has 1", "features.b")
    assert r.n == 0 and r.message_rejected


def test_batch_field_must_be_an_array():
    r = run(msg("energy", batch=True, ts=[NOW], joules=1.0, inferences=[1], duration_s=[1.0]))
    assert only(r) == Rejection("expected an array (batch), got number", "joules")


@pytest.mark.parametrize("years", [10, -10])
def test_timestamps_ten_years_away_are_rejected(years):
    r = run(msg("telemetry", ts=NOW + years * YEAR_MS, features={"t": 1.0}))
    rej = only(r)
    assert (rej.field, rej.rows) == ("ts", None)
    assert rej.reason == "timestamp out of bounds (more than 366 days from now)"


def test_timestamp_bound_is_a_parameter():
    raw = msg("telemetry", ts=NOW + 2 * 86_400_000, features={})
    assert run(raw).rejections == []
    assert only(run(raw, max_skew_ms=86_400_000)).field == "ts"
    assert MAX_TS_SKEW_MS == 366 * 86_400_000


def test_bad_iso_timestamp():
    assert only(run(msg("telemetry", ts="yesterday", features={}))) == Rejection(
        "not an ISO-8601 timestamp: 'yesterday'", "ts"
    )


# --- row-level rejections in batches ---------------------------------------------------------


def test_bad_rows_are_dropped_and_the_rest_kept():
    ts = [NOW, NOW + 1, NOW + 10 * YEAR_MS, NOW + 3, NOW + 4, NOW + 5]
    temp = [900.0, 901.0, 902.0, 1.0, 904.0, 905.0]
    raw = msg("telemetry", batch=True, ts=ts, features={"strip_temp_c": temp, "grade": ["a"] * 6})
    raw = raw.replace(b"1.0,904.0", b"NaN,904.0")  # row 3 -> NaN literal
    raw = raw.replace(b'"a","a","a","a","a","a"', b'"a","a","a","a",[1],"a"')  # row 4 -> array
    r = run(raw)
    assert r.n_input == 6 and r.rows.tolist() == [0, 1, 5]
    assert r.ts_ms.tolist() == [NOW, NOW + 1, NOW + 5]
    assert r.features["strip_temp_c"].tolist() == [900.0, 901.0, 905.0]
    assert r.features["grade"].tolist() == ["a", "a", "a"]
    assert sorted(map(str, r.rejections)) == [
        "features.grade[4]: expected a string, got array",
        "features.strip_temp_c[3]: non-finite number (NaN/Infinity)",
        "ts[2]: timestamp out of bounds (more than 366 days from now)",
    ]
    assert not r.message_rejected


def test_row_level_range_checks():
    r = run(
        msg(
            "prediction",
            batch=True,
            ts=[NOW] * 4,
            prediction_id=["a", "", "c", "d"],
            prediction=[1, 1, 1, 1],
            score=[0.5, 0.5, 1.5, 0.5],
            latency_ms=[1, 1, 1, -1],
        )
    )
    assert r.rows.tolist() == [0]
    assert sorted(map(str, r.rejections)) == [
        "latency_ms[3]: must be >= 0",
        "prediction_id[1]: empty string",
        "score[2]: must be <= 1",
    ]
    en = run(
        msg(
            "energy",
            batch=True,
            ts=[NOW] * 3,
            joules=[1, -1, 1],
            inferences=[1, 1, -2],
            duration_s=[0, 1, 1],
        )
    )
    assert sorted(map(str, en.rejections)) == [
        "duration_s[0]: must be > 0",
        "inferences[2]: must be >= 0",
        "joules[1]: must be >= 0",
    ]
    assert en.n == 0 and not en.message_rejected


def test_mixed_feature_column_follows_the_majority():
    r = run(msg("telemetry", batch=True, ts=[NOW] * 3, features={"x": [1.0, "oops", 2.0]}))
    assert r.features["x"].tolist() == [1.0, 2.0]
    assert [str(x) for x in r.rejections] == ["features.x[1]: expected a number, got string"]


def test_rejections_become_dlq_records():
    raw = msg("telemetry", batch=True, ts=[NOW, NOW + 10 * YEAR_MS], features={"t": [1.0, 2.0]})
    r = run(raw)
    (record,) = dlq_records(raw, r.rejections, "telemetry", 3, 1534, received_at=NOW)
    parsed = parse_dlq_record(record)
    assert (parsed.field, parsed.rows, parsed.raw) == ("ts", [1], raw)
    assert parsed.source == {"topic": "telemetry", "partition": 3, "offset": 1534}
    assert json.loads(record)["raw"] == base64.b64encode(raw).decode()


def test_empty_batch_is_accepted_with_no_rows():
    r = run(msg("telemetry", batch=True, ts=[], features={}))
    assert r.rejections == [] and r.n == 0


def test_integer_beyond_double_range():
    raw = msg("telemetry", batch=True, ts=[NOW, NOW], features={"a": [1, 2]})
    raw = raw.replace(b"[1,2]", b"[1" + b"0" * 400 + b",2]")
    r = run(raw)
    assert r.features["a"].tolist() == [2.0]
    assert [str(x) for x in r.rejections] == ["features.a[0]: number too large"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = [
    "ts",
    "features",
    "prediction_id",
    "prediction",
    "score",
    "latency_ms",
    "error",
    "actual",
    "joules",
    "inferences",
    "duration_s",
    "batch",
    "schema_version",
    "site",
]


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["telemetry", "prediction", "outcome", "energy"]),
    batch=st.booleans(),
    values=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6),
)
def test_decoder_never_raises_and_never_hits_the_catch_all(kind, batch, values):
    body = json.loads(msg(kind, batch=batch, ts=[NOW] if batch else NOW, features={}))
    body.update(values)
    raw = json.dumps(body).encode()  # allow_nan: NaN/Infinity literals included
    r = run(raw)
    assert all(not x.reason.startswith("undecodable") for x in r.rejections), r.rejections
    assert r.n == len(r.rows) == len(r.ts_ms) <= r.n_input or r.message_rejected
    for col in [*r.columns.values(), *r.features.values()]:
        assert len(col) == r.n
