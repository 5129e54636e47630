"""`resonance db tenants`: the generated ClickHouse SQL parses, covers every tenant table,
and formats nothing unsafe.

chDB has no access control (CREATE USER / ROW POLICY do not execute embedded), so
each statement is checked with ClickHouse's own parser: ``formatQuery(stmt)`` parses
without executing and fails on a syntax error. Executing the script and proving the
isolation needs a ClickHouse server (docs/production.md, "Tenant isolation").
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Iterator

import pytest

from errors import UsageError
from warehouse.backend import ChdbBackend, WarehouseError
from warehouse.migrate import migrate
from warehouse.tenants import (
    SHARED_TABLES,
    TENANT_EXPRESSIONS,
    TenantTables,
    discover_tables,
    register_tenants,
    tenants_sql,
    validate_consortium,
)

pytestmark = pytest.mark.integration

CONSORTIA = ("automotive", "electronics", "petrochemical", "steel")


@pytest.fixture(scope="module")
def chdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbBackend]:
    backend = ChdbBackend(tmp_path_factory.mktemp("tenants"))
    migrate(backend, log=lambda _msg: None)
    yield backend
    backend.close()


def statements(sql: str) -> list[str]:
    return [
        line.removesuffix(";") for line in sql.splitlines() if line and not line.startswith("--")
    ]


def parses(chdb: ChdbBackend, statement: str) -> str:
    """ClickHouse's canonical form of ``statement`` (raises WarehouseError on bad syntax)."""
    rows = chdb.query("SELECT formatQuerySingleLine({q:String}) AS f", {"q": statement})
    return rows.to_pylist()[0]["f"]


def test_every_statement_parses(chdb: ChdbBackend) -> None:
    for mode in ({}, {c: f"pw-{c}" for c in CONSORTIA}):
        sql = tenants_sql(CONSORTIA, discover_tables(), passwords=mode or None)
        for stmt in statements(sql):
            canonical = parses(chdb, stmt)
            assert canonical.split()[0] in {"CREATE", "GRANT"}, canonical


def test_the_parser_check_has_teeth(chdb: ChdbBackend) -> None:
    with pytest.raises(WarehouseError):
        parses(chdb, "CREATE ROW POLICY p ON resonance.t FOR SELECT USNG consortium = 'x' TO r")


def test_tables_match_the_migrated_schema(chdb: ChdbBackend) -> None:
    """The parsed migrations give the same tenant tables as ClickHouse after `db migrate`."""
    rows = chdb.query(
        "SELECT DISTINCT table FROM system.columns WHERE database = currentDatabase() "
        "AND name = 'consortium' AND table IN (SELECT name FROM system.tables "
        "WHERE database = currentDatabase() AND engine LIKE '%MergeTree')"
    ).to_pylist()
    with_column = {r["table"] for r in rows}
    tables = discover_tables()
    assert set(tables.tenant) == with_column | set(TENANT_EXPRESSIONS)
    existing = {r["name"] for r in chdb.query("SELECT name FROM system.tables").to_pylist()}
    assert set(tables.shared) == set(SHARED_TABLES) and set(tables.shared) <= existing


def test_every_tenant_table_gets_a_policy_and_a_grant() -> None:
    tables = discover_tables()
    sql = tenants_sql(CONSORTIA, tables)
    for c in CONSORTIA:
        for table in tables.tenant:
            target = f"ON `resonance`.`{table}`"
            policies = [
                s
                for s in statements(sql)
                if s.startswith("CREATE ROW POLICY")
                and target in s
                and s.endswith(f"TO `resonance_{c}_reader`")
            ]
            assert len(policies) == 1, (c, table)
            assert f"= '{c}'" in policies[0]
        for table in {*tables.tenant, *tables.shared}:
            assert f"GRANT SELECT ON `resonance`.`{table}` TO `resonance_{c}_reader`" in sql
    assert "resonance`.*" not in sql and "dlq" in tables.tenant


@pytest.mark.parametrize(
    "name", ["Steel", "steel'; DROP TABLE resonance.alerts; --", "1steel", "", "a-b", "x" * 49]
)
def test_consortium_names_are_validated(name: str) -> None:
    with pytest.raises(UsageError, match="consortium"):
        validate_consortium(name)
    with pytest.raises(UsageError):
        tenants_sql([name], TenantTables(("drift_minute",)))


def test_passwords_never_appear_in_clear() -> None:
    tables = TenantTables(("drift_minute",))
    hashed = tenants_sql(["steel"], tables, passwords={"steel": "s3cr'et"}, salt=lambda: "ab12")
    digest = hashlib.sha256(b"s3cr'etab12").hexdigest()
    assert f"IDENTIFIED WITH sha256_hash BY '{digest}' SALT 'ab12'" in hashed
    assert "s3cr" not in hashed
    param = tenants_sql(["steel"], tables)
    assert "IDENTIFIED WITH sha256_password BY {password_steel:String}" in param


def test_cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser()
    register_tenants(parser.add_subparsers())
    args = parser.parse_args(["tenants", "steel", "automotive"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "`resonance_steel_reader`" in out and "`resonance_automotive`" in out
    args = parser.parse_args(["tenants", "steel", "--hash-passwords"])
    monkeypatch.delenv("RESONANCE_TENANT_PASSWORD_STEEL", raising=False)
    with pytest.raises(UsageError, match="RESONANCE_TENANT_PASSWORD_STEEL"):
        args.func(args)
