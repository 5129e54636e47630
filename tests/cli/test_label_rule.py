"""One label rule (processors.labels) at every entry point: the same True/False and integral
values arriving as CSV, Parquet, JSON single events and JSON batches are the same labels."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from processors.accuracy import ClassificationAccuracy
from processors.drift import CategoricalDrift
from processors.reference import ReferenceProfile
from resonance.cli import main
from streams.decode import decode
from tests.cli.conftest import reference_build

NOW = 1_795_946_400_000
TENANCY = {
    "consortium": "steel",
    "member": "baowu",
    "model": "m",
    "model_version": "1",
    "site": "s",
    "hub": "h",
}
COATED = [True, False, True, True, False, True, False, True, True, True] * 20
SHIFT = [1, 2, 3, 1, 2, 3, 1, 1, 2, 3] * 20


def _telemetry(features: dict, batch: bool) -> bytes:
    ts = [NOW] * len(COATED) if batch else NOW
    body = {"schema_version": 1, "kind": "telemetry", "batch": batch, **TENANCY}
    return orjson.dumps(body | {"ts": ts, "features": features})


def _stream_counts(profile: ReferenceProfile, messages: list[bytes]) -> dict[str, list[int]]:
    """What a worker's engines count from decoded messages (every row must be accepted)."""
    engines = {name: CategoricalDrift(profile.features[name]) for name in ("coated", "shift")}
    for raw in messages:
        r = decode(raw, now_ms=NOW)
        assert r.rejections == [], r.rejections
        for name, engine in engines.items():
            engine.update(r.features[name])
    return {name: e.counts.tolist() for name, e in engines.items()}


def test_the_same_values_are_the_same_labels_at_every_entry_point(tmp_path, capsys):
    csv = tmp_path / "ref.csv"  # a CSV column of True/False (pyarrow reads booleans)
    rows = [f"{c},{float(s)}" for c, s in zip(COATED, SHIFT, strict=True)]
    csv.write_text("coated,shift\n" + "\n".join(rows) + "\n")
    profile_path = tmp_path / "ref.json"
    assert main(reference_build(csv, profile_path, "--categorical", "coated,shift")) == 0
    profile = ReferenceProfile.from_json(profile_path.read_text())
    assert set(profile.features["coated"].categories) == {"true", "false"}
    assert set(profile.features["shift"].categories) == {"1", "2", "3"}
    expected = {n: list(profile.features[n].counts) for n in ("coated", "shift")}

    # Parquet: a bool column and integral floats, through `resonance drift`
    parquet = tmp_path / "cur.parquet"
    pq.write_table(pa.table({"coated": COATED, "shift": np.asarray(SHIFT, float)}), parquet)
    capsys.readouterr()
    argv = ["drift", "--profile", str(profile_path), "--current", str(parquet)]
    assert main([*argv, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)["features"]
    for name in ("coated", "shift"):
        assert report[name]["js"] == 0.0 and report[name]["psi"] == 0.0
        assert report[name]["drift"] is False

    # JSON single events: Python's str(bool) ("True"), floats 1.0
    singles = [
        _telemetry({"coated": str(c), "shift": float(s)}, batch=False)
        for c, s in zip(COATED, SHIFT, strict=True)
    ]
    assert _stream_counts(profile, singles) == expected
    # JSON batches: JSON booleans and integers; then upper-case text with surrounding spaces
    batches = [
        _telemetry({"coated": COATED, "shift": SHIFT}, batch=True),
        _telemetry({"coated": [f" {str(c).upper()} " for c in COATED], "shift": SHIFT}, True),
    ]
    doubled = _stream_counts(profile, batches)
    assert doubled == {n: [2 * c for c in counts] for n, counts in expected.items()}

    # the accuracy engine (which the queries rebuild from stored partials) follows the rule
    acc = ClassificationAccuracy([False, True])
    predicted = decode(_telemetry({"p": COATED}, batch=True), now_ms=NOW).features["p"]
    r = acc.update([str(c).upper() for c in COATED], predicted).result()
    assert acc.classes == ("false", "true") and r["accuracy"] == 1.0
