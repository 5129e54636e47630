"""The prediction ``scores`` object: decoder columns, row rejections, agreement with pydantic,
and the worker's check against the model's classes (streams.scores)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

from streams.decode import R_NONFINITE, Rejection, decode
from streams.events import (
    SCHEMA_HISTORY,
    SCHEMA_VERSION,
    PredictionBatch,
    PredictionEvent,
    validate_event,
)
from streams.scores import R_INCOMPLETE, R_UNKNOWN_CLASS, prediction_scores
from tests.contracts.conftest import NOW, TENANCY

HEAD = {"schema_version": 1, "kind": "prediction", **TENANCY}


def single(**fields: object) -> dict:
    return {**HEAD, "ts": NOW, "prediction_id": "p1", "prediction": "a", "latency_ms": 3} | fields


def batch(n: int, **fields: object) -> dict:
    body = {**HEAD, "batch": True, "ts": [NOW] * n, "prediction_id": [f"p{i}" for i in range(n)],
            "prediction": ["a"] * n, "latency_ms": [1] * n}  # fmt: skip
    return body | fields


def run(body: dict):
    return decode(orjson.dumps(body), now_ms=NOW)


def test_single_event_scores_decode_per_class():
    r = run(single(scores={"a": 0.7, "b": 0.2, "c": 0.1}))
    assert r.rejections == [] and r.n == 1
    assert {k: v.tolist() for k, v in r.scores.items()} == {"a": [0.7], "b": [0.2], "c": [0.1]}
    assert all(v.dtype == np.float64 for v in r.scores.values())
    assert run(single()).scores == {} and run(single(scores=None)).scores == {}


def test_batch_rows_with_bad_scores_are_rejected_naming_the_field():
    # NaN is not JSON: written as the literal the decoder's fallback parser reads
    raw = orjson.dumps(batch(6, scores={"a": [0.5, 0.1, 1.5, "x", True, None],
                                        "b": [0.5, 0.9, 0.0, 0.2, 0.3, 1.0]}))  # fmt: skip
    raw = raw.replace(b'"b":[0.5,0.9', b'"b":[0.5,NaN')
    r = decode(raw, now_ms=NOW)
    assert sorted(map(str, r.rejections)) == sorted([
        f"scores.b[1]: {R_NONFINITE}",
        "scores.a[2]: must be <= 1",
        "scores.a[3]: expected a number, got string",
        "scores.a[4]: expected a number, got boolean",
    ])  # fmt: skip
    assert r.rows.tolist() == [0, 5] and r.columns["prediction_id"].tolist() == ["p0", "p5"]
    np.testing.assert_array_equal(r.scores["a"], [0.5, np.nan])  # null: no score that row
    np.testing.assert_array_equal(r.scores["b"], [0.5, 1.0])
    assert decode(orjson.dumps(batch(1, scores={"a": [-0.1]})), now_ms=NOW).rejections == [
        Rejection("must be >= 0", "scores.a", (0,))
    ]


@pytest.mark.parametrize(
    ("scores", "reason", "field"),
    [
        ({"a": 1.2}, "must be <= 1", "scores.a"),
        ({"a": None}, "expected a number, got null", "scores.a"),
        ({"a": [0.1]}, "expected a scalar, got array (single event)", "scores.a"),
        ([0.1, 0.9], "expected an object, got array", "scores"),
        ({"": 0.3}, "empty string", "scores (class name)"),
    ],
)
def test_single_event_faults_reject_the_message(scores, reason, field):
    r = run(single(scores=scores))
    assert r.rejections == [Rejection(reason, field)] and r.n == 0


def test_unequal_score_arrays_reject_the_batch():
    r = run(batch(2, scores={"a": [0.1]}))
    assert r.message_rejected and r.rejections[0].field == "scores.a"


@pytest.mark.parametrize(
    "body",
    [single(scores={"a": 0.7, "b": 0.3}), batch(2, scores={"a": [0.5, None]}), single(scores={})],
)
def test_valid_scores_pass_both_paths(body):
    validate_event(body, now_ms=NOW)
    assert run(body).rejections == []


@pytest.mark.parametrize(
    "body",
    [single(scores={"a": 1.5}), single(scores={"a": True}), single(scores={"": 0.5}),
     single(scores={"a": "0.5"}), batch(1, scores={"a": [2]}), batch(2, scores={"a": [0.1]})],
)  # fmt: skip
def test_invalid_scores_fail_both_paths(body):
    with pytest.raises(ValidationError):
        validate_event(body, now_ms=NOW)
    assert run(body).rejections != []


def test_schema_documents_the_field_and_its_version():
    assert SCHEMA_VERSION == 1 and "prediction.scores" in SCHEMA_HISTORY[-1][1]
    single_props = TypeAdapter(PredictionEvent).json_schema()["properties"]
    batch_props = TypeAdapter(PredictionBatch).json_schema()["properties"]
    number = single_props["scores"]["anyOf"][0]["additionalProperties"]
    assert (number["minimum"], number["maximum"]) == (0, 1)
    assert batch_props["scores"]["anyOf"][0]["additionalProperties"]["type"] == "array"
    assert single_props["score"]["anyOf"][0]["maximum"] == 1  # JSON Schema keywords


# --- streams.scores: against the model's classes ------------------------------------------


def test_binary_scores_come_from_scores_or_score():
    given = {"defect": [None, 0.3, None, None], "ok": [None, None, 0.25, None]}
    r = run(batch(4, score=[0.9, 0.8, None, None], scores=given))
    s = prediction_scores(r, ("ok", "defect"))
    np.testing.assert_allclose(s.values, [0.9, 0.3, 0.75, np.nan])
    assert s.scored.tolist() == [True, True, True, False] and not s.bad.any()


def test_unknown_and_missing_classes_reject_their_rows():
    r = run(batch(3, scores={"a": [0.6, 0.2, 0.3], "b": [0.4, 0.8, None], "z": [None, 0.0, None]}))
    s = prediction_scores(r, ("a", "b", "c"))
    assert sorted(map(str, s.rejections)) == sorted([
        f"scores.z[1]: {R_UNKNOWN_CLASS} ['a', 'b', 'c']",
        f"scores.c[0, 2]: {R_INCOMPLETE}",
        f"scores.b[2]: {R_INCOMPLETE}",
    ])  # fmt: skip
    assert s.bad.tolist() == [True, True, True] and not s.scored.any()
    full = run(batch(2, scores={"a": [0.6, 0.2], "b": [0.3, 0.7], "c": [0.1, 0.1]}))
    s = prediction_scores(full, ("a", "b", "c"))
    assert s.scored.all() and s.rejections == []
    np.testing.assert_allclose(s.values, [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
