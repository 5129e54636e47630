"""`resonance db|query` end to end on a chDB directory (in process, one chDB at a time)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from resonance.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, helpers):
    """A migrated directory holding a small world plus its reference profile file."""
    from warehouse.backend import ChdbBackend
    from warehouse.migrate import migrate

    path = tmp_path_factory.mktemp("cli")
    world = helpers.build_world(seed=2, per_window=3, members=("a",))
    backend = ChdbBackend(path / "wh")
    try:
        migrate(backend, minute_ttl_days=0, log=lambda _m: None)
        helpers.load_world(backend, world)
    finally:
        backend.close()
    (path / "ref.json").write_text(world.profile.to_json())
    return path


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_query_formats(capsys, data_dir, helpers):
    lo, hi = str(helpers.T0), str(helpers.T0 + 30 * helpers.DAY)
    base = [
        "query",
        "drift",
        "--consortium",
        "steel",
        "--from",
        lo,
        "--to",
        hi,
        "--data-dir",
        str(data_dir / "wh"),
    ]
    code, out, _ = run(capsys, *base, "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert {r["feature"] for r in rows} == {"strip_temp_c", "speed_mps", "grade"}
    code, out, _ = run(capsys, *base, "--format", "csv")
    assert code == 0
    assert len(list(csv.DictReader(io.StringIO(out)))) == 3
    code, out, _ = run(capsys, *base, "--step", "1d")
    assert code == 0
    assert out.splitlines()[0].split()[:4] == ["bucket", "model", "model_version", "feature"]
    assert len(out.splitlines()) == 1 + 30 * 3


def test_db_commands(capsys, data_dir):
    wh = ["--data-dir", str(data_dir / "wh")]
    code, out, _ = run(capsys, "db", "migrate", "--minute-ttl-days", "0", *wh)
    assert code == 0 and "up to date" in out
    code, out, _ = run(
        capsys, "db", "reference", str(data_dir / "ref.json"), "--consortium", "steel", *wh
    )
    assert code == 0 and "stored" in out
    code, out, _ = run(capsys, "db", "status", *wh)
    assert code == 0 and "0001_init: applied" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "tomorrow-ish"], "ISO-8601"),
        (["--step", "10s"], "--step"),
        (["--by", "password"], "--by"),
        (["--from", "now-99999999d"], "outside 1970-01-01"),
        (["--from", "0001-01-01"], "outside 1970-01-01"),
        (["--to", "99999999999999999999"], "outside 1970-01-01"),
    ],
)
def test_query_usage_errors_are_one_line(capsys, data_dir, argv, message):
    code, _, err = run(
        capsys, "query", "drift", "--consortium", "steel", *argv, "--data-dir", str(data_dir / "wh")
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err


def test_unreachable_server_is_one_line(capsys):
    code, _, err = run(
        capsys, "query", "drift", "--consortium", "steel", "--clickhouse-url", "http://127.0.0.1:9/"
    )
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "unavailable" in err


READERS = [
    ["query", "drift", "--consortium", "steel"],
    ["query", "resonance", "--consortium", "steel"],
    ["db", "status"],
    ["db", "reference", "REF", "--consortium", "steel"],
    ["db", "load-references", "DIR"],
    ["alerts", "list"],
    ["alerts", "show", "0123456789abcdef0123"],
    ["alerts", "ack", "0123456789abcdef0123", "--by", "me"],
    ["report", "--consortium", "steel", "--month", "2026-11"],
]


@pytest.mark.parametrize("argv", READERS, ids=[" ".join(a[:2]) for a in READERS])
def test_a_mistyped_data_dir_is_one_line_and_creates_nothing(capsys, data_dir, tmp_path, argv):
    typo = tmp_path / "resonanse-data"
    (tmp_path / "references").mkdir()
    real = {"REF": str(data_dir / "ref.json"), "DIR": str(tmp_path)}
    code, _, err = run(capsys, *(real.get(a, a) for a in argv), "--data-dir", str(typo))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "DB::Exception" not in err
    assert f"--data-dir {typo}: no warehouse there" in err
    assert not typo.exists()


def test_db_migrate_creates_the_data_dir(capsys, tmp_path):
    new = tmp_path / "new-warehouse"
    code, out, _ = run(capsys, "db", "migrate", "--data-dir", str(new))
    assert code == 0 and "applied 0001" in out
    assert (new / "clickhouse").is_dir()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--consortium", "stel"], "--consortium stel: unknown; known: steel"),
        (["--consortium", "steel", "--model", "strip"], "--model strip: unknown in steel; known: "),
    ],
)
def test_unknown_names_list_the_known_ones(capsys, data_dir, argv, message):
    code, _, err = run(capsys, "query", "drift", *argv, "--data-dir", str(data_dir / "wh"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err


def test_by_is_refused_on_query_resonance(capsys, data_dir):
    code, _, err = run(capsys, "query", "resonance", "--consortium", "steel", "--by", "site",
                       "--data-dir", str(data_dir / "wh"))  # fmt: skip
    assert code == 2
    assert err.strip() == (
        "resonance query: error: --by: not for `query resonance` (the index is decided per model)"
    )


@pytest.mark.parametrize("metric", ["drift", "accuracy", "latency", "energy", "resonance"])
def test_csv_columns_are_fixed_whatever_the_data(capsys, data_dir, helpers, metric):
    """The header of a range with rows equals the header of a range without any."""
    wh = ["--data-dir", str(data_dir / "wh"), "--format", "csv"]
    full = ["--from", str(helpers.T0), "--to", str(helpers.T0 + 30 * helpers.DAY)]
    empty = ["--from", str(helpers.T0 - 10 * helpers.DAY), "--to", str(helpers.T0 - helpers.DAY)]
    headers, rows = [], {}
    for span in (full, empty):
        code, out, _ = run(capsys, "query", metric, "--consortium", "steel", *span, *wh)
        assert code == 0
        headers.append(out.splitlines()[0])
        rows[span is full] = len(out.splitlines()) - 1
    assert headers[0] == headers[1]
    assert headers[0].startswith("bucket,model")
    assert rows[False] == 0 and (rows[True] > 0 or metric not in ("drift", "accuracy"))
