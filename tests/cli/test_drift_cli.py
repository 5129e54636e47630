"""`resonance drift`: the JSON contract, accuracy against scipy, and every edge case."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from resonance.cli import main
from resonance.sample_data import CURRENT, REFERENCE
from tests.cli.conftest import SAMPLE_FEATURES, fails, reference_build

FEATURE_TYPES = {
    "kind": (str,),
    "psi": (float,),
    "js": (float,),
    "ks": (float, type(None)),
    "wasserstein": (float, type(None)),
    "chi2_pvalue": (float, type(None)),
    "missing_rate": (float,),
    "drift": (bool,),
}


def write_csv(path, columns: dict[str, list]) -> str:
    names = list(columns)
    rows = zip(*(columns[n] for n in names), strict=True)
    lines = [",".join(names)] + [",".join("" if v is None else str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def write_parquet(path, columns: dict[str, np.ndarray]) -> str:
    pq.write_table(pa.table(columns), path)
    return str(path)


def drift_json(capsys, *argv: str) -> dict:
    assert main(["drift", *argv, "--format", "json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)


# --- contract --------------------------------------------------------------------------------


def test_json_contract_on_sample_data(capsys):
    report = drift_json(
        capsys, "--reference", str(REFERENCE), "--current", str(CURRENT), "--categorical", "grade"
    )
    assert set(report) == {"features", "drift_share", "n_reference", "n_current"}
    assert type(report["drift_share"]) is float
    assert type(report["n_reference"]) is int and report["n_reference"] == 2000
    assert type(report["n_current"]) is int and report["n_current"] == 2000
    assert list(report["features"]) == SAMPLE_FEATURES
    for name, feature in report["features"].items():
        assert set(feature) == set(FEATURE_TYPES), name
        for key, types in FEATURE_TYPES.items():
            assert type(feature[key]) in types, (name, key, feature[key])
        numeric = feature["kind"] == "numeric"
        assert (feature["ks"] is None, feature["wasserstein"] is None) == (not numeric,) * 2
        assert (feature["chi2_pvalue"] is None) == numeric
        assert 0.0 <= feature["js"] <= 1.0
    verdicts = {n: f["drift"] for n, f in report["features"].items()}
    assert verdicts == {
        "grade": True,
        "strip_temp_c": True,
        "coil_speed_mps": True,
        "thickness_mm": False,
        "rolling_force_kn": False,
        "cooling_water_m3h": True,
    }
    assert report["drift_share"] == pytest.approx(4 / 6)
    lines = CURRENT.read_text().splitlines()[1:]
    empty = sum(line.endswith(",") for line in lines)
    assert report["features"]["cooling_water_m3h"]["missing_rate"] == empty / 2000 == 0.1395


def test_table_format(capsys):
    assert main(["drift", "--reference", str(REFERENCE), "--current", str(CURRENT)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "feature",
        "kind",
        "psi",
        "js",
        "ks",
        "wasserstein",
        "chi2_p",
        "missing",
        "verdict",
    ]
    assert out[1].split()[0] == "strip_temp_c" and out[1].split()[-1] == "DRIFT"
    assert len({len(line) for line in out[:6]}) == 1  # aligned
    assert out[-1] == (
        "drift in 3 of 5 features (drift share 0.60); reference 2000 rows, current 2000 rows"
    )


def test_subprocess_smoke(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "resonance.cli",
            "drift",
            "--reference",
            str(REFERENCE),
            "--current",
            str(CURRENT),
            "--categorical",
            "grade",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_current"] == 2000
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "resonance.cli",
            "drift",
            "--reference",
            str(tmp_path / "nope.csv"),
            "--current",
            str(CURRENT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        f"resonance drift: error: {tmp_path / 'nope.csv'}: no such file"
    ]


def test_profile_replaces_fitting(tmp_path, capsys):
    profile = tmp_path / "ref.json"
    build = reference_build(
        REFERENCE, profile, "--categorical", "grade", model="strip-defect", version="3"
    )
    assert main(build) == 0
    capsys.readouterr()
    fitted = drift_json(
        capsys, "--reference", str(REFERENCE), "--current", str(CURRENT), "--categorical", "grade"
    )
    stored = drift_json(capsys, "--profile", str(profile), "--current", str(CURRENT))
    both = drift_json(
        capsys,
        "--reference",
        "ignored.csv",
        "--profile",
        str(profile),
        "--current",
        str(CURRENT),
        "--categorical",
        "grade",
    )
    assert stored == fitted == both


# --- accuracy against scipy ------------------------------------------------------------------

N = 100_000


def _datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(42)

    def bimodal(shift: float) -> np.ndarray:
        pick = rng.random(N) < 0.3
        return np.where(pick, rng.normal(-3 + shift, 0.5, N), rng.normal(2 + shift, 1.0, N))

    return {
        "normal": (rng.normal(0, 1, N), rng.normal(0, 1, N)),
        "normal_scale": (rng.normal(0, 1, N), rng.normal(0, 1.5, N)),
        "heavy_tailed": (rng.standard_t(2, N), rng.standard_t(2, N) * 1.2),
        "lognormal": (rng.lognormal(0, 1, N), rng.lognormal(0.1, 1, N)),
        "bimodal": (bimodal(0.0), bimodal(0.4)),
        "discrete": (
            rng.poisson(3, N).astype(float),
            rng.poisson(3.5, N).astype(float),
        ),
        "shifted": (rng.normal(10, 2, N), rng.normal(11, 2, N)),
        "shifted_out_of_range": (rng.uniform(0, 1, N), rng.uniform(0.5, 1.5, N)),
    }


DATASETS = _datasets()


@pytest.fixture(scope="module")
def accuracy_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("accuracy")
    ref = write_parquet(tmp / "ref.parquet", {k: v[0] for k, v in DATASETS.items()})
    cur = write_parquet(tmp / "cur.parquet", {k: v[1] for k, v in DATASETS.items()})
    argv = ["drift", "--reference", ref, "--current", cur, "--format", "json"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return json.loads(out.getvalue())


@pytest.mark.parametrize("name", list(DATASETS))
def test_ks_and_wasserstein_match_scipy(accuracy_report, name):
    ref, cur = DATASETS[name]
    feature = accuracy_report["features"][name]
    ks = stats.ks_2samp(ref, cur).statistic
    w = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert abs(feature["ks"] - ks) <= 0.01, (feature["ks"], ks)
    assert abs(feature["wasserstein"] - w) <= max(0.02 * w, 0.01), (feature["wasserstein"], w)
    assert 0.0 <= feature["js"] <= 1.0


def test_verdicts_on_accuracy_data(accuracy_report):
    """The policy's feature verdict: the bimodal shift (W1/std 0.16) is significant at
    n = 100,000 but below the default effect gate 0.2; a policy file at 0.1 flags it."""
    verdicts = {n: f["drift"] for n, f in accuracy_report["features"].items()}
    assert verdicts["normal"] is False
    for name in ("normal_scale", "shifted", "shifted_out_of_range", "discrete"):
        assert verdicts[name] is True, name
    bimodal = accuracy_report["features"]["bimodal"]
    assert 0.1 < bimodal["wasserstein"] < 0.2 and bimodal["drift"] is False


def test_policy_file_changes_the_verdict(tmp_path, capsys):
    rng = np.random.default_rng(5)
    ref = write_csv(tmp_path / "ref.csv", {"x": list(rng.normal(0, 1, 4000))})
    cur = write_csv(tmp_path / "cur.csv", {"x": list(rng.normal(0.15, 1, 4000))})
    loose = tmp_path / "loose.yaml"
    loose.write_text("consortia:\n  steel:\n    feature_drift: {wasserstein: 0.1}\n")
    base = ["--reference", ref, "--current", cur]
    w = drift_json(capsys, *base)["features"]["x"]
    assert 0.1 < w["wasserstein"] < 0.2 and w["drift"] is False
    got = drift_json(capsys, *base, "--policy", str(loose), "--consortium", "steel")
    assert got["features"]["x"]["drift"] is True and got["drift_share"] == 1.0
    assert drift_json(capsys, *base, "--policy", str(loose))["features"]["x"]["drift"] is False
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults: {feature_drift: {alfa: 1}}\n")
    fails(capsys, ["drift", *base, "--policy", str(bad)], "defaults.feature_drift.alfa")


# --- edge cases ------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    ref = write_csv(tmp_path / "ref.csv", {"t": [1.0, 2.0, 3.0, 4.0], "g": ["a", "b", "a", "b"]})
    cur = write_csv(tmp_path / "cur.csv", {"t": [1.5, 2.5, 3.5, 9.0], "g": ["a", "c", "c", None]})
    return tmp_path, ref, cur


def test_missing_file(files, capsys):
    tmp, ref, _ = files
    fails(
        capsys,
        ["drift", "--reference", ref, "--current", str(tmp / "x.csv")],
        "x.csv",
        "no such file",
    )


def test_empty_file(files, capsys):
    tmp, ref, _ = files
    (tmp / "empty.csv").write_text("")
    fails(
        capsys,
        ["drift", "--reference", ref, "--current", str(tmp / "empty.csv")],
        "empty.csv",
        "empty file",
    )
    (tmp / "header.csv").write_text("t,g\n")
    fails(
        capsys,
        ["drift", "--reference", str(tmp / "header.csv"), "--current", ref],
        "header.csv",
        "no rows",
    )


def test_unreadable_file(files, capsys):
    tmp, ref, _ = files
    (tmp / "bad.parquet").write_bytes(b"not parquet at all")
    fails(
        capsys,
        ["drift", "--reference", ref, "--current", str(tmp / "bad.parquet")],
        "bad.parquet",
        "cannot read as Parquet",
    )


def test_no_shared_columns(files, capsys):
    tmp, ref, _ = files
    other = write_csv(tmp / "other.csv", {"u": [1, 2], "g": ["a", "b"]})
    line = fails(capsys, ["drift", "--reference", ref, "--current", other], "no shared columns")
    assert "shared text columns: g" in line


def test_text_in_numeric_column(files, capsys):
    tmp, ref, _ = files
    cur = write_csv(tmp / "text.csv", {"t": [1.0, "hot", 3.0, 4.0], "g": ["a"] * 4})
    fails(
        capsys,
        ["drift", "--reference", ref, "--current", cur],
        "text.csv",
        "'t'",
        "'hot'",
        "--categorical",
    )
    cur = write_csv(tmp / "alltext.csv", {"t": ["x", "y", "z", "w"]})
    fails(capsys, ["drift", "--reference", ref, "--current", cur], "alltext.csv", "'t'", "text 'x'")


def test_unknown_categorical_column(files, capsys):
    _, ref, cur = files
    fails(
        capsys,
        ["drift", "--reference", ref, "--current", cur, "--categorical", "g,nope"],
        "--categorical column 'nope'",
        "ref.csv",
    )
    fails(
        capsys,
        ["drift", "--reference", ref, "--current", cur, "--categorical", "g,"],
        "--categorical: empty column name",
    )


def test_all_nan_column(files, capsys):
    tmp, ref, cur = files
    nan_ref = write_csv(tmp / "nanref.csv", {"t": [None, None, None], "g": ["a", "b", "a"]})
    fails(
        capsys,
        ["drift", "--reference", nan_ref, "--current", cur],
        "nanref.csv",
        "'t'",
        "all 3 missing",
    )
    nan_cur = write_csv(tmp / "nancur.csv", {"t": [None, None], "g": ["a", "b"]})
    fails(
        capsys,
        ["drift", "--reference", ref, "--current", nan_cur],
        "nancur.csv",
        "'t'",
        "all 2 missing",
    )


def test_single_row_gives_a_defined_result(tmp_path, capsys):
    one = write_csv(tmp_path / "one.csv", {"t": [5.0]})
    ref = write_csv(tmp_path / "ref.csv", {"t": [1.0, 2.0, 3.0, 4.0]})
    same = drift_json(capsys, "--reference", one, "--current", one)
    assert same["features"]["t"] | {"kind": "numeric"} == {
        "kind": "numeric",
        "psi": 0.0,
        "js": 0.0,
        "ks": 0.0,
        "wasserstein": 0.0,
        "chi2_pvalue": None,
        "missing_rate": 0.0,
        "drift": False,
    }
    assert (same["n_reference"], same["n_current"]) == (1, 1)
    far = drift_json(capsys, "--reference", ref, "--current", one)["features"]["t"]
    assert far["ks"] == 1.0 and far["js"] == 1.0
    assert far["wasserstein"] == pytest.approx(2.5 / np.std([1.0, 2.0, 3.0, 4.0]))


def test_constant_column_gives_a_defined_result(tmp_path, capsys):
    ref = write_csv(tmp_path / "ref.csv", {"c": [7.0] * 50})
    same = drift_json(capsys, "--reference", ref, "--current", ref)["features"]["c"]
    assert (same["psi"], same["js"], same["ks"], same["wasserstein"], same["drift"]) == (
        0.0,
        0.0,
        0.0,
        0.0,
        False,
    )
    moved = write_csv(tmp_path / "cur.csv", {"c": [9.0] * 50})
    far = drift_json(capsys, "--reference", ref, "--current", moved)["features"]["c"]
    # 50 rows: below the policy's min_samples (200), never tested, never flagged
    assert far["ks"] == 1.0 and far["drift"] is False
    assert far["wasserstein"] == pytest.approx(2 / 7)  # constant: W1 / |mean|
    ref = write_csv(tmp_path / "ref250.csv", {"c": [7.0] * 250})
    moved = write_csv(tmp_path / "cur250.csv", {"c": [9.0] * 250})
    far = drift_json(capsys, "--reference", ref, "--current", moved)["features"]["c"]
    assert far["ks"] == 1.0 and far["drift"] is True


def test_unseen_categories_go_to_other(files, capsys):
    _, ref, cur = files
    g = drift_json(capsys, "--reference", ref, "--current", cur, "--categorical", "g")["features"][
        "g"
    ]
    assert g["kind"] == "categorical" and g["missing_rate"] == 0.25
    # reference a:b = 1:1 over (a, b, other); current a:other = 1:2 -> JS distance
    p, q = np.array([0.5, 0.5, 0.0]), np.array([1 / 3, 0.0, 2 / 3])
    m = (p + q) / 2
    kl = lambda a: np.sum(a[a > 0] * np.log2(a[a > 0] / m[a > 0]))  # noqa: E731
    assert g["js"] == pytest.approx(np.sqrt((kl(p) + kl(q)) / 2))


def test_numeric_codes_named_categorical(tmp_path, capsys):
    ref = write_csv(tmp_path / "ref.csv", {"line": [1, 2, 1, 2]})
    cur = write_csv(tmp_path / "cur.csv", {"line": [1, 1, 1, 1]})
    f = drift_json(capsys, "--reference", ref, "--current", cur, "--categorical", "line")
    assert f["features"]["line"]["kind"] == "categorical"


def test_profile_errors(files, capsys):
    tmp, ref, cur = files
    (tmp / "bad.json").write_text('{"profile_version": 99}')
    fails(
        capsys,
        ["drift", "--profile", str(tmp / "bad.json"), "--current", cur],
        "bad.json",
        "not a reference profile",
    )
    fails(
        capsys,
        ["drift", "--profile", str(tmp / "none.json"), "--current", cur],
        "none.json",
        "no such file",
    )
    fails(capsys, ["drift", "--current", cur], "--reference")


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["drift", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--profile" in out and "--format json" in out
