"""`resonance query estimated` on a chDB directory: formats, and usage errors in one line."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from processors.calibration import fit_calibration
from processors.cbpe import CBPE, calibration_descriptor
from processors.volume import VOLUME_FIELDS, Volume
from resonance.cli import main
from warehouse.estimation_queries import COLUMNS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, helpers):
    from warehouse.backend import ChdbBackend
    from warehouse.migrate import migrate
    from warehouse.sink import PartialWriter

    rng = np.random.default_rng(1)
    s = rng.random(3000)
    cal = fit_calibration(s, (rng.random(3000) < s).astype(int))
    ts = helpers.T0 + np.sort(rng.integers(0, 3 * 3600, 3000))
    score = rng.random(ts.size)
    pred = np.where(score >= 0.5, "1", "0")
    raw = helpers.Raw("estimation", helpers.TENANCY, calibration_descriptor(cal), ts,
                      (pred, score), lambda: CBPE(cal))  # fmt: skip
    # every prediction is counted too (the worker's volume partial: known models)
    codes = np.full(ts.size, VOLUME_FIELDS.index("predictions"))
    volume = helpers.Raw("volume", helpers.TENANCY, "", ts, (codes,), Volume)
    path = tmp_path_factory.mktemp("cli-est") / "wh"
    backend = ChdbBackend(path)
    try:
        migrate(backend, minute_ttl_days=0, log=lambda _m: None)
        parts = [p.to_dict() for r in (raw, volume) for p in helpers.to_partials(r)]
        PartialWriter(backend).write(parts)
    finally:
        backend.close()
    return path, CBPE(cal).update(pred, score)


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def base(data_dir, helpers):
    return ["query", "estimated", "--consortium", "steel", "--from", str(helpers.T0),
            "--to", str(helpers.T0 + 3 * 3600), "--data-dir", str(data_dir[0])]  # fmt: skip


def test_formats(capsys, data_dir, helpers):
    engine = data_dir[1]
    code, out, _ = run(capsys, *base(data_dir, helpers), "--format", "json")
    (row,) = json.loads(out)
    assert code == 0 and list(row) == list(COLUMNS)
    assert row["n"] == engine.count == 3000
    assert row["estimated_accuracy"] == pytest.approx(engine.result()["estimated_accuracy"])
    assert row["realised_accuracy"] is None and row["reliable"] is True
    code, out, _ = run(capsys, *base(data_dir, helpers), "--format", "csv", "--step", "1h")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 3 and sum(int(r["n"]) for r in rows) == 3000
    code, out, _ = run(capsys, *base(data_dir, helpers), "--step", "1h")
    assert code == 0 and out.splitlines()[0].split()[:4] == [
        "bucket",
        "model",
        "model_version",
        "n",
    ]
    late = ["--from", str(helpers.T0 + 86400), "--to", str(helpers.T0 + 2 * 86400)]
    code, out, err = run(capsys, *base(data_dir, helpers), *late, "--format", "json")
    assert code == 0 and json.loads(out) == [] and "no rows" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--member", "baowu"], "--member"),
        (["--by", "site"], "--by"),
        (["--step", "10s"], "--step"),
        (["--from", "tomorrow-ish"], "ISO-8601"),
        (["--model", "nope"], "--model nope: unknown"),
    ],
)
def test_usage_errors_are_one_line(capsys, data_dir, argv, message):
    code, _, err = run(capsys, "query", "estimated", "--consortium", "steel", *argv,
                       "--data-dir", str(data_dir[0]))  # fmt: skip
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
