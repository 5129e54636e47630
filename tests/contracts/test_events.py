"""Pydantic event contracts, their JSON Schemas, and agreement with the hot-path decoder."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from streams.decode import decode
from streams.events import (
    BATCH,
    SINGLE,
    EnergyEvent,
    PredictionBatch,
    TelemetryEvent,
    export_json_schemas,
    validate_event,
)
from tests.contracts.conftest import NOW, TENANCY, YEAR_MS

ENVELOPE = {"schema_version": 1, **TENANCY}

VALID = [
    {"kind": "telemetry", "ts": NOW, "features": {"t": 912.4, "grade": "Q235", "s": None}},
    {
        "kind": "prediction",
        "ts": "2026-11-29T10:00:00Z",
        "prediction_id": "p",
        "prediction": 1,
        "score": 0.3,
        "latency_ms": 4.2,
    },
    {"kind": "outcome", "ts": NOW, "prediction_id": "p", "actual": "defect"},
    {"kind": "energy", "ts": NOW, "joules": 1200.0, "inferences": 40, "duration_s": 60},
    {"kind": "telemetry", "batch": True, "ts": [NOW, NOW], "features": {"t": [1.0, None]}},
    {
        "kind": "prediction",
        "batch": True,
        "ts": [NOW],
        "prediction_id": ["p"],
        "prediction": ["ok"],
        "score": [None],
        "latency_ms": [1],
        "error": [True],
    },
    {"kind": "outcome", "batch": True, "ts": [NOW], "prediction_id": ["p"], "actual": [0.5]},
    {
        "kind": "energy",
        "batch": True,
        "ts": [NOW],
        "joules": [0],
        "inferences": [0],
        "duration_s": [0.5],
    },
    {"kind": "telemetry", "ts": NOW, "features": {"t": True}},  # a label: "true"
]

INVALID = [
    {"kind": "telemetry", "ts": NOW + 10 * YEAR_MS, "features": {}},
    {"kind": "telemetry", "ts": NOW - 10 * YEAR_MS, "features": {}},
    {
        "kind": "prediction",
        "ts": NOW,
        "prediction_id": "p",
        "prediction": 1,
        "score": 1.5,
        "latency_ms": 1,
    },
    {"kind": "prediction", "ts": NOW, "prediction_id": "", "prediction": 1, "latency_ms": 1},
    {"kind": "prediction", "ts": NOW, "prediction_id": "p", "prediction": None, "latency_ms": 1},
    {"kind": "outcome", "ts": NOW, "prediction_id": "p"},
    {"kind": "energy", "ts": NOW, "joules": -1, "inferences": 1, "duration_s": 1},
    {"kind": "energy", "ts": NOW, "joules": 1, "inferences": 1, "duration_s": 0},
    {"kind": "energy", "ts": NOW, "joules": 1, "inferences": 1.5, "duration_s": 1},
    {"kind": "telemetry", "batch": True, "ts": [NOW, NOW], "features": {"t": [1.0]}},
    {"kind": "telemetry", "ts": NOW, "features": {}, "unknown": 1},
    {"kind": "telemetry", "ts": NOW, "features": {}, "schema_version": 2},
    {"kind": "telemetry", "ts": NOW, "features": {}, "site": ""},
]


@pytest.mark.parametrize("event", VALID, ids=lambda e: f"{e['kind']}-{e.get('batch', False)}")
def test_valid_events_pass_both_paths(event):
    body = {**ENVELOPE, **event}
    validate_event(body, now_ms=NOW)
    result = decode(orjson.dumps(body), now_ms=NOW)
    assert result.rejections == []
    assert result.n == (len(event["ts"]) if event.get("batch") else 1)


@pytest.mark.parametrize("event", INVALID)
def test_invalid_events_fail_both_paths(event):
    body = {**ENVELOPE, **event}
    with pytest.raises(ValidationError):
        validate_event(body, now_ms=NOW)
    assert decode(orjson.dumps(body), now_ms=NOW).rejections != []


def test_timestamps_normalise_to_utc():
    ev = TelemetryEvent.model_validate(
        {**ENVELOPE, "kind": "telemetry", "ts": "2026-11-29T18:00:00+08:00", "features": {}},
        context={"now_ms": NOW},
    )
    assert ev.ts == datetime(2026, 11, 29, 10, tzinfo=UTC)


def test_validation_errors_carry_the_field_path():
    with pytest.raises(ValidationError) as info:
        validate_event(
            {
                **ENVELOPE,
                "kind": "energy",
                "ts": NOW,
                "joules": 1,
                "inferences": 1,
                "duration_s": 0,
            },
            now_ms=NOW,
        )
    (error,) = info.value.errors()
    assert error["loc"] == ("duration_s",)
    with pytest.raises(ValidationError) as info:
        PredictionBatch.model_validate(
            {
                **ENVELOPE,
                "kind": "prediction",
                "batch": True,
                "ts": [NOW, NOW],
                "prediction_id": ["a", "b"],
                "prediction": [1, 2],
                "latency_ms": [1, -1],
            },
            context={"now_ms": NOW},
        )
    assert info.value.errors()[0]["loc"] == ("latency_ms", 1)


def test_energy_rejects_non_finite():
    with pytest.raises(ValidationError):
        EnergyEvent.model_validate(
            {
                **ENVELOPE,
                "kind": "energy",
                "ts": NOW,
                "joules": float("inf"),
                "inferences": 1,
                "duration_s": 1,
            },
            context={"now_ms": NOW},
        )


def test_export_json_schemas_writes_loadable_schemas(tmp_path):
    paths = export_json_schemas(tmp_path / "schemas")
    names = sorted(p.name for p in paths)
    expected = sorted(f"{k}.{f}.schema.json" for k in SINGLE for f in ("single", "batch"))
    assert names == expected and len(BATCH) == 4
    for path in paths:
        schema = json.loads(path.read_text())
        kind = path.name.split(".")[0]
        assert schema["properties"]["kind"]["const"] == kind
        assert set(TENANCY) <= set(schema["required"])
        assert schema["properties"]["schema_version"]["const"] == 1
        assert ("batch" in schema["required"]) == (".batch." in path.name)


def test_schemas_accept_the_valid_examples(tmp_path):
    import jsonschema  # a dev dependency: missing is a failure, never a skip

    export_json_schemas(tmp_path)
    for event in VALID:
        form = "batch" if event.get("batch") else "single"
        schema = json.loads((tmp_path / f"{event['kind']}.{form}.schema.json").read_text())
        jsonschema.validate({**ENVELOPE, **event}, schema)


def _doc_blocks() -> list[dict]:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_docs_examples_are_valid():
    blocks = _doc_blocks()
    events = [b for b in blocks if "schema_version" in b]
    assert sorted((e["kind"], e.get("batch", False)) for e in events) == sorted(
        (k, b) for k in SINGLE for b in (False, True)
    )
    for event in events:
        validate_event(event, now_ms=NOW)
        assert decode(orjson.dumps(event), now_ms=NOW).rejections == []
    (dlq,) = [b for b in blocks if "reason" in b]
    assert set(dlq) == {"reason", "field", "rows", "source", "raw", "received_at"}
