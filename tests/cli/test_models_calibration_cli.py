"""`resonance models register --predictions FILE ...`: the score calibration of estimation.

The recorded ECE is checked against an independent computation: sklearn's
``IsotonicRegression`` fitted on one of the two folds and graded on the other, with ECE
written out here by its definition (docs/estimation.md: ten equal-width bins, a value
``p`` in bin ``min(floor(10 p), 9)``; isotonic outputs sit on bin edges often, so the
convention matters: sklearn's ``calibration_curve`` puts an edge in the lower bin).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.isotonic import IsotonicRegression

from processors.calibration import Calibration
from resonance.cli import main
from streams.registry import read_registry
from streams.settings import StreamSettings
from tests.cli.conftest import fails
from tests.cli.test_models_cli import bootstrap, register, snapshot  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

N = 3000


def reference_ece(prob: np.ndarray, positive: np.ndarray, bins: int = 10) -> float:
    """Σ_b n_b/N · |mean prob_b − positive rate_b| over the bins that hold rows."""
    ids = np.minimum(np.floor(prob * bins), bins - 1)
    total = 0.0
    for b in np.unique(ids):
        rows = ids == b
        total += rows.sum() * abs(prob[rows].mean() - positive[rows].mean())
    return float(total / prob.size)


def overconfident(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Scores of a model that overstates P(defect): the true rate is score²."""
    rng = np.random.default_rng(seed)
    s = np.round(rng.random(N), 6)
    return s, rng.random(N) < s**2


def write_csv(path, header: str, rows) -> None:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


def binary_args(path, *extra: str) -> list[str]:
    return ["--target", "binary", "--classes", "ok,defect", "--predictions", str(path),
            "--score-column", "p_defect", "--label-column", "actual", *extra]  # fmt: skip


def entry(bootstrap_: str, version: str):
    return read_registry(StreamSettings(kafka_bootstrap=bootstrap_)).get("steel", "strip", version)


def test_register_fits_stores_and_prints_the_calibration(bootstrap, tmp_path, capsys):  # noqa: F811
    s, y = overconfident()
    labels = np.where(y, "defect", "ok")
    path = tmp_path / "ref_predictions.csv"
    write_csv(path, "p_defect,actual", zip(s.tolist(), labels.tolist(), strict=True))
    assert main(register(bootstrap, "1", *binary_args(path))) == 0
    out = capsys.readouterr().out.splitlines()
    stored = entry(bootstrap, "1")
    cal = Calibration.from_dict(stored.calibration)
    assert stored.score_calibration == cal and cal.classes == ("ok", "defect")
    assert cal.method == "isotonic" and cal.n == N

    # independent: sklearn isotonic fitted on one fold, ECE on the other, size-weighted
    fold = np.random.default_rng(0).permutation(N) % 2 == 0
    held_out = 0.0
    for train in (fold, ~fold):
        iso = IsotonicRegression(out_of_bounds="clip").fit(s[train], y[train])
        held_out += reference_ece(iso.predict(s[~train]), y[~train]) * (~train).sum() / N
    assert cal.ece == pytest.approx(held_out, abs=1e-12)
    assert cal.ece_raw == pytest.approx(reference_ece(s, y), abs=1e-12)
    assert cal.ece_raw > 0.1 > 0.03 > cal.ece  # the raw scores overstate P(defect)
    full = IsotonicRegression(out_of_bounds="clip").fit(s, y)
    grid = np.linspace(0, 1, 101)
    np.testing.assert_allclose(cal.calibrate(grid), full.predict(grid), atol=1e-12)

    realised = float(np.mean((s >= 0.5) == y))
    assert out[1] == (
        f"calibration: isotonic on {N} labelled reference rows, ECE {cal.ece:.4f}"
        f" (raw scores {cal.ece_raw:.4f}); reference accuracy {realised:.3f},"
        f" estimated {out[1].rsplit(' ', 1)[1]}"
    )
    assert abs(float(out[1].rsplit(" ", 1)[1]) - realised) < 0.02  # CBPE on its own reference

    assert main(["models", "show", "--bootstrap", bootstrap, "steel/strip/1"]) == 0
    shown = capsys.readouterr().out
    assert f'"ece": {cal.ece}' in shown and '"maps"' not in shown

    # an update without --predictions keeps the calibration; a new target needs a refit
    assert main(register(bootstrap, "1", "--target", "binary", "--classes", "ok,defect",
                         "--baseline", "accuracy=0.8")) == 0  # fmt: skip
    assert entry(bootstrap, "1").calibration == stored.calibration
    capsys.readouterr()
    before = snapshot(bootstrap)
    fails(capsys, register(bootstrap, "1", "--target", "binary", "--classes", "good,bad"),
          "--target", "calibration", "--predictions")  # fmt: skip
    assert snapshot(bootstrap) == before


def test_prediction_column_and_missing_labels(bootstrap, tmp_path, capsys):  # noqa: F811
    s, y = overconfident(seed=3)
    predicted = np.where(s >= 0.3, "defect", "ok")  # a lower threshold than 0.5
    labels = np.where(y, "defect", "ok").astype(object)
    labels[:500] = ""  # labels never arrived for 500 rows: they are left out
    path = tmp_path / "ref.csv"
    write_csv(path, "p_defect,actual,pred", zip(s, labels, predicted, strict=True))
    assert main(register(bootstrap, "2", *binary_args(path, "--prediction-column", "pred"))) == 0
    line = capsys.readouterr().out.splitlines()[1]
    cal = entry(bootstrap, "2").score_calibration
    assert cal.n == N - 500
    realised = float(np.mean(predicted[500:] == labels[500:]))
    assert f"reference accuracy {realised:.3f}," in line
    assert realised != pytest.approx(float(np.mean((s[500:] >= 0.5) == y[500:])), abs=1e-3)


def test_multiclass_from_parquet(bootstrap, tmp_path, capsys):  # noqa: F811
    rng = np.random.default_rng(11)
    raw = rng.dirichlet([1.0, 1.0, 1.0], size=N)
    sharp = raw**2 / (raw**2).sum(axis=1, keepdims=True)  # true probabilities, sharper
    actual = np.array([rng.choice(["a", "b", "c"], p=row) for row in sharp])
    path = tmp_path / "ref.parquet"
    cols = {"pa": raw[:, 0], "pb": raw[:, 1], "pc": raw[:, 2], "y": actual}
    pq.write_table(pa.table(cols), path)
    argv = register(bootstrap, "3", "--target", "multiclass", "--classes", "a,b,c",
                    "--predictions", str(path), "--score-column", "c=pc,a=pa,b=pb",
                    "--label-column", "y")  # fmt: skip
    assert main(argv) == 0
    cal = entry(bootstrap, "3").score_calibration
    assert cal.classes == ("a", "b", "c") and cal.class_counts == tuple(
        int((actual == c).sum()) for c in "abc"
    )
    assert cal.ece < cal.ece_raw
    assert f"ECE {cal.ece:.4f}" in capsys.readouterr().out


def test_bad_predictions_change_nothing(bootstrap, tmp_path, capsys):  # noqa: F811
    s, y = overconfident()
    labels = np.where(y, "defect", "ok")
    good = tmp_path / "good.csv"
    write_csv(good, "p_defect,actual", zip(s, labels, strict=True))
    assert main(register(bootstrap, "1", *binary_args(good))) == 0
    capsys.readouterr()
    before = snapshot(bootstrap)
    unlabelled = tmp_path / "unlabelled.csv"
    write_csv(unlabelled, "p_defect,actual", ((v, "") for v in s[:100]))
    logits = tmp_path / "logits.csv"
    write_csv(logits, "p_defect,actual", zip([*s[:99], 1.7], labels[:100], strict=True))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header = tmp_path / "header.csv"
    header.write_text("p_defect,actual\n")
    few = tmp_path / "few.csv"
    write_csv(few, "p_defect,actual", zip(s[:200], ["ok"] * 195 + ["defect"] * 5, strict=True))
    other = tmp_path / "other.csv"
    write_csv(other, "p_defect,actual", zip(s[:100], ["ok", "scrap"] * 50, strict=True))
    cases = [
        (binary_args(unlabelled), ("--label-column", "'actual'", "no labels", "unlabelled.csv")),
        (binary_args(logits), ("--score-column", "'p_defect'", "outside [0, 1]", "1.7",
                               "logits.csv")),
        (binary_args(empty), ("empty.csv", "empty file")),
        (binary_args(header), ("header.csv", "no rows")),
        (binary_args(good, "--score-column", "score"), ("--score-column", "'score'",
                                                        "no such column", "good.csv")),
        (binary_args(good, "--label-column", "y"), ("--label-column", "'y'", "good.csv")),
        (binary_args(good, "--prediction-column", "p"), ("--prediction-column", "'p'")),
        (binary_args(few), ("few.csv", "class 'defect' has 5 reference rows")),
        (binary_args(other), ("other.csv", "'scrap'", "not one of")),
        (binary_args(tmp_path / "nope.csv"), ("nope.csv", "no such file")),
        (["--target", "regressor", "--predictions", str(good), "--score-column", "p_defect",
          "--label-column", "actual"], ("--predictions", "classifier")),
        (["--target", "binary", "--classes", "ok,defect", "--score-column", "p"],
         ("--score-column", "only with --predictions")),
        (["--target", "binary", "--classes", "ok,defect", "--predictions", str(good),
          "--label-column", "actual"], ("--score-column", "required")),
    ]  # fmt: skip
    for extra, needles in cases:
        fails(capsys, register(bootstrap, "2", *extra), *needles)
    assert snapshot(bootstrap) == before
