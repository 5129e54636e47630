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
