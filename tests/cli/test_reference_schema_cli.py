"""`resonance reference build|show`, `resonance schema export` and file reading."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from errors import UsageError
from processors.reference import DEFAULT_BINS, ReferenceProfile
from resonance.cli import main
from resonance.io import read_table, split_columns
from resonance.sample_data import REFERENCE
from tests.cli.conftest import SAMPLE_FEATURES, fails, reference_build


def test_reference_build_and_show(tmp_path, capsys):
    out = tmp_path / "ref.json"
    extra = ("--categorical", "grade", "--top-k", "2")
    assert main(reference_build(REFERENCE, out, *extra, model="strip-defect", version="3")) == 0
    err = capsys.readouterr().err
    assert "5 numeric and 1 categorical features from 2000 rows" in err
    assert "skipping text columns not named with --categorical: coil_id" in err
    profile = ReferenceProfile.from_json(out.read_text())
    assert (profile.model, profile.version, profile.n_bins, profile.top_k) == (
        "strip-defect",
        "3",
        DEFAULT_BINS,
        2,
    )
    assert list(profile.features) == SAMPLE_FEATURES
    assert profile.features["grade"].categories == ("Q235", "Q345")
    assert profile.features["strip_temp_c"].n == 2000
    assert main(["reference", "show", str(out)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == "model strip-defect version 3 (6 features, bins 50, top-k 2)"
    assert shown[1].split()[:2] == ["grade", "categorical"]


def test_reference_build_bins(tmp_path, capsys):
    data = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": np.arange(1000.0)}), data)
    out = tmp_path / "r.json"
    assert main(reference_build(data, out, "--bins", "10")) == 0
    feature = json.loads(out.read_text())["features"]["x"]
    # 10 quantile groups + the bin holding max + 2 open bins, each cut into fine bins
    assert len(feature["group_ends"]) == 13 and feature["group_ends"][-1] == len(feature["counts"])
    assert len(feature["edges"]) == 42  # 40 fine quantile edges, max, the closing edge


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--bins", "0"], "--bins must be >= 1"),
        (["--top-k", "0"], "--top-k must be >= 1"),
        (["--categorical", "nope"], "--categorical column 'nope'"),
    ],
)
def test_reference_build_errors(tmp_path, capsys, extra, needle):
    fails(capsys, reference_build(REFERENCE, tmp_path / "r.json", *extra), needle)


def test_reference_build_bad_out_dir(tmp_path, capsys):
    fails(capsys, reference_build(REFERENCE, tmp_path / "no" / "r.json"), "does not exist")


def test_reference_show_errors(tmp_path, capsys):
    (tmp_path / "e.json").write_text("")
    fails(capsys, ["reference", "show", str(tmp_path / "e.json")], "empty file")
    (tmp_path / "j.json").write_text("[1]")
    fails(
        capsys, ["reference", "show", str(tmp_path / "j.json")], "j.json: not a reference profile"
    )


def test_schema_export(tmp_path, capsys):
    target = tmp_path / "schemas"
    assert main(["schema", "export", str(target)]) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 8
    for path in target.iterdir():
        assert json.loads(path.read_text())["type"] == "object"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    fails(capsys, ["schema", "export", str(blocker / "sub")], "cannot write")


def test_help_texts_have_examples(capsys):
    for argv in (["reference", "build", "--help"], ["schema", "export", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "example" in capsys.readouterr().out


def test_read_table_types(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d\n1,x,,true\n2.5,,,false\n")
    cols = read_table(path)
    assert cols["a"].dtype == np.float64 and cols["a"].tolist() == [1.0, 2.5]
    assert cols["b"].tolist() == ["x", None]
    assert np.isnan(cols["c"]).all()
    assert cols["d"].tolist() == ["true", "false"]
    pq.write_table(pa.table({"i": [1, None], "s": ["u", "v"]}), tmp_path / "t.bin")
    cols = read_table(tmp_path / "t.bin")  # Parquet found by its magic bytes
    np.testing.assert_array_equal(cols["i"], [1.0, np.nan])


def test_read_table_errors(tmp_path):
    with pytest.raises(UsageError, match="is a directory"):
        read_table(tmp_path)
    (tmp_path / "dup.csv").write_text("a,a\n1,2\n")
    with pytest.raises(UsageError, match="duplicate column 'a'"):
        read_table(tmp_path / "dup.csv")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(UsageError, match="ragged.csv: cannot read as CSV"):
        read_table(tmp_path / "ragged.csv")


def test_split_columns():
    cols = {
        "t": np.array([1.0]),
        "g": np.array(["a"], dtype=object),
        "id": np.array(["c1"], dtype=object),
    }
    assert split_columns(cols, ["g"], "f.csv") == (["t"], ["g"], ["id"])
