"""Tenant isolation on the ClickHouse side: one reader role + user per consortium.

``resonance db tenants`` prints (or writes) the SQL an administrator runs on the
ClickHouse *server* (chDB has no access control). Per consortium ``c``:

- ``CREATE ROLE resonance_<c>_reader`` and ``GRANT SELECT`` on every tenant table
  (one by one, never ``resonance.*``: a table added later stays invisible until it
  is granted and given a policy) plus the shared reference tables without tenancy;
- ``CREATE ROW POLICY resonance_<c> ON resonance.<table> FOR SELECT USING
  consortium = '<c>' TO resonance_<c>_reader`` on every table with a
  ``consortium`` column (the DLQ too: the worker writes the message's validated
  tenancy into its record, migration 0003), so the reader sees only its
  consortium's rows;
- ``CREATE USER resonance_<c>`` (the Grafana viewer datasource logs in as it),
  ``readonly = 2`` via the ``resonance_reader`` profile, then granted the reader
  role (granted roles are default roles unless told otherwise).

Nothing user-supplied is formatted into SQL unchecked: consortium names must
match :data:`IDENTIFIER`, identifiers are back-quoted and string literals escaped
anyway (defence in depth). Passwords never appear in clear: either a query
parameter ``{password_<c>:String}`` that ``clickhouse-client --param_password_<c>=...``
fills at run time, or (``--hash-passwords``) a salted SHA-256 computed here from
``RESONANCE_TENANT_PASSWORD_<C>``, emitted as hex.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from errors import UsageError

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
DATABASE = "resonance"
MIGRATIONS = Path(__file__).with_name("migrations")
PASSWORD_ENV = "RESONANCE_TENANT_PASSWORD_{}"
READER_PROFILE = "resonance_reader"
TENANT_COLUMN = "consortium"


def validate_consortium(name: str) -> str:
    """A consortium name usable in role, user and policy names, or UsageError naming it."""
    if not IDENTIFIER.fullmatch(name):
        raise UsageError(
            f"consortium {name!r}: must match {IDENTIFIER.pattern} "
            "(lower-case letter, then letters, digits or _)"
        )
    return name


def quote_ident(name: str) -> str:
    """Back-quote an identifier (dotted names part by part) after validating it."""
    parts = name.split(".")
    if not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) for p in parts):
        raise UsageError(f"identifier {name!r}: only letters, digits and _ are allowed")
    return ".".join(f"`{p}`" for p in parts)


def quote_string(value: str) -> str:
    """ClickHouse string literal: backslash and quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def role_name(consortium: str) -> str:
    return f"resonance_{validate_consortium(consortium)}_reader"


def user_name(consortium: str) -> str:
    return f"resonance_{validate_consortium(consortium)}"


def password_env(consortium: str) -> str:
    """The environment variable holding a consortium reader's password."""
    return PASSWORD_ENV.format(validate_consortium(consortium).upper())


@dataclass(frozen=True)
class TenantTables:
    """Tables readers may select: ``tenant`` ones get a row policy, ``shared`` do not."""

    tenant: tuple[str, ...]
    shared: tuple[str, ...] = ()


def identification(
    consortium: str, password: str | None, salt: Callable[[], str] = lambda: secrets.token_hex(16)
) -> str:
    """``IDENTIFIED ...`` clause without the password in clear.

    With a password: ``sha256_hash BY '<hex(sha256(password || salt))>' SALT '<salt>'``
    (hex only, so nothing to escape). Without: a ``{password_<c>:String}`` query
    parameter the server binds at run time.
    """
    if password is None:
        parameter = f"{{password_{validate_consortium(consortium)}:String}}"
        return f"IDENTIFIED WITH sha256_password BY {parameter}"
    if not password:
        raise UsageError(f"{password_env(consortium)} is empty; set a password or unset it")
    salt_hex = salt()
    digest = hashlib.sha256((password + salt_hex).encode()).hexdigest()
    return f"IDENTIFIED WITH sha256_hash BY {quote_string(digest)} SALT {quote_string(salt_hex)}"


def tenant_statements(
    consortium: str,
    tables: TenantTables,
    *,
    database: str = DATABASE,
    password: str | None = None,
    salt: Callable[[], str] = lambda: secrets.token_hex(16),
) -> list[str]:
    """All statements isolating one consortium (idempotent: IF NOT EXISTS / OR REPLACE)."""
    role, user = quote_ident(role_name(consortium)), quote_ident(user_name(consortium))
    stmts = [f"CREATE ROLE IF NOT EXISTS {role}"]
    for table in sorted(tables.tenant):
        target = quote_ident(f"{database}.{table}")
        stmts.append(
            f"CREATE ROW POLICY OR REPLACE {quote_ident(user_name(consortium))} ON {target} "
            f"FOR SELECT USING {tenant_condition(table, consortium)} TO {role}"
        )
    for table in sorted({*tables.tenant, *tables.shared}):
        stmts.append(f"GRANT SELECT ON {quote_ident(f'{database}.{table}')} TO {role}")
    stmts.append(
        f"CREATE USER OR REPLACE {user} {identification(consortium, password, salt)} "
        f"DEFAULT DATABASE {quote_ident(database)} SETTINGS PROFILE {quote_string(READER_PROFILE)}"
    )
    stmts.append(f"GRANT {role} TO {user}")
    return stmts


def tenants_sql(
    consortia: Iterable[str],
    tables: TenantTables,
    *,
    database: str = DATABASE,
    passwords: Mapping[str, str | None] | None = None,
    salt: Callable[[], str] = lambda: secrets.token_hex(16),
) -> str:
    """The whole script, one statement per line, each ending in ``;``."""
    names = sorted({validate_consortium(c) for c in consortia})
    if not names:
        raise UsageError("no consortium given")
    if not tables.tenant:
        raise UsageError("no tenant table (with a consortium column) found")
    lines = [
        "-- Generated by `resonance db tenants`: run on the ClickHouse server as an admin.",
        f"-- Tenant tables: {', '.join(sorted(tables.tenant))}",
    ]
    for c in names:
        lines.append(f"-- consortium {c}")
        lines += [
            s + ";"
            for s in tenant_statements(
                c, tables, database=database, password=(passwords or {}).get(c), salt=salt
            )
        ]
    lines.append(f"-- operators (Grafana operators folder): every row, read-only, user {OPERATOR}")
    pw = (passwords or {}).get(OPERATOR)
    lines += [s + ";" for s in operator_statements(tables, database=database, password=pw)]
    return "\n".join(lines) + "\n"


#: The operators' ClickHouse user (Grafana's operators datasource): reads every row.
OPERATOR = "resonance_operator"


def operator_statements(
    tables: TenantTables, *, database: str = DATABASE, password: str | None = None
) -> list[str]:
    """The operators' read-only user: SELECT on the Resonance tables and nothing else.

    A row policy ``USING 1`` per tenant table (once a table has row policies, a user
    without one sees no rows), the ``resonance_reader`` profile (``readonly = 2``: no
    writes, no DDL), and no other grant: no ``CREATE TEMPORARY TABLE`` and no source
    privileges, so table functions such as ``url()``, ``file()`` or ``remote()`` fail.
    """
    role, user = quote_ident(f"{OPERATOR}_reader"), quote_ident(OPERATOR)
    stmts = [f"CREATE ROLE IF NOT EXISTS {role}"]
    for table in sorted(tables.tenant):
        stmts.append(
            f"CREATE ROW POLICY OR REPLACE {user} ON {quote_ident(f'{database}.{table}')} "
            f"FOR SELECT USING 1 TO {role}"
        )
    for table in sorted({*tables.tenant, *tables.shared}):
        stmts.append(f"GRANT SELECT ON {quote_ident(f'{database}.{table}')} TO {role}")
    if password is None:
        ident = "IDENTIFIED WITH sha256_password BY {password_operator:String}"
    else:
        ident = identification("operator", password)
    stmts.append(
        f"CREATE USER OR REPLACE {user} {ident} DEFAULT DATABASE {quote_ident(database)} "
        f"SETTINGS PROFILE {quote_string(READER_PROFILE)}"
    )
    stmts.append(f"GRANT {role} TO {user}")
    return stmts


# ------------------------------------------------------------------ table discovery

#: Tables without a ``consortium`` column that carry tenancy elsewhere (none since the
#: DLQ got tenancy columns in migration 0003; a message too broken to name a valid
#: consortium has ``consortium = ''`` and is visible to operators only).
TENANT_EXPRESSIONS: dict[str, str] = {}
#: Reference data every tenant may read in full.
SHARED_TABLES = ("hubs",)

_ADD_COLUMN = re.compile(
    r"ALTER\s+TABLE\s+`?(\w+)`?\s+ADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?",
    re.IGNORECASE,
)
_DROP = re.compile(r"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?`?(\w+)`?", re.IGNORECASE)
_CREATE = re.compile(
    r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?\s*(?:\((.*?)\)\s*ENGINE|AS\s+`?(\w+)`?)",
    re.IGNORECASE | re.DOTALL,
)


def migration_tables(migrations: Path = MIGRATIONS) -> dict[str, set[str]]:
    """Table → column names, parsed from the migrations (``CREATE TABLE t AS u`` copies u,
    ``ALTER TABLE t ADD COLUMN c`` adds c, ``DROP TABLE t`` removes t)."""
    tables: dict[str, set[str]] = {}
    for path in sorted(migrations.glob("*.sql")):
        text = path.read_text()
        for name, body, like in _CREATE.findall(text):
            if like:
                tables[name] = set(tables.get(like, set()))
                continue
            defs = [line.strip() for line in body.splitlines() if line.strip()]
            tables[name] = {
                d.split()[0].strip("`,") for d in defs if not d.upper().startswith("INDEX")
            }
        for name, column in _ADD_COLUMN.findall(text):
            tables.setdefault(name, set()).add(column)
        for name in _DROP.findall(text):
            tables.pop(name, None)
    return tables


def discover_tables(migrations: Path = MIGRATIONS) -> TenantTables:
    """Tenant tables (a ``consortium`` column, or a :data:`TENANT_EXPRESSIONS` entry) and
    the shared ones, from the migration files (the schema's source of truth), so the
    generator needs no running ClickHouse. The tests cross-check the result against
    ``system.columns`` after a real ``db migrate`` on chDB."""
    tables = migration_tables(migrations)
    tenant = {t for t, cols in tables.items() if TENANT_COLUMN in cols or t in TENANT_EXPRESSIONS}
    shared = {t for t in SHARED_TABLES if t in tables}
    return TenantTables(tuple(sorted(tenant)), tuple(sorted(shared)))


def tenant_condition(table: str, consortium: str) -> str:
    """The row-policy condition limiting ``table`` to one consortium's rows."""
    column = TENANT_EXPRESSIONS.get(table, quote_ident(TENANT_COLUMN))
    return f"{column} = {quote_string(validate_consortium(consortium))}"


def passwords_from_env(consortia: Sequence[str], env: Mapping[str, str] = os.environ) -> dict:
    """Reader passwords from ``RESONANCE_TENANT_PASSWORD_<C>`` (missing ones stay None)."""
    out: dict[str, str | None] = {}
    for c in consortia:
        var = password_env(c)
        if var not in env:
            raise UsageError(f"--hash-passwords: {var} is not set for consortium {c!r}")
        out[c] = env[var]
    return out


# ------------------------------------------------------------------------------ CLI


def register_tenants(db_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``tenants`` under ``resonance db`` (the db command module wires this in)."""
    p = db_subparsers.add_parser(
        "tenants",
        help="print the ClickHouse roles, users and row policies isolating each consortium",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("consortia", nargs="+", metavar="CONSORTIUM", help="consortium names")
    p.add_argument("--database", default=DATABASE, help="ClickHouse database (default resonance)")
    p.add_argument(
        "--hash-passwords",
        action="store_true",
        help="embed salted SHA-256 of RESONANCE_TENANT_PASSWORD_<C> instead of "
        "{password_<c>:String} query parameters",
    )
    p.add_argument("--out", type=Path, help="write the SQL here instead of stdout")
    p.set_defaults(func=run_tenants)
    return p


def run_tenants(args: argparse.Namespace) -> int:
    consortia = [validate_consortium(c) for c in args.consortia]
    passwords = passwords_from_env(consortia) if args.hash_passwords else None
    sql = tenants_sql(consortia, discover_tables(), database=args.database, passwords=passwords)
    if args.out:
        args.out.write_text(sql)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(sql)
    return 0
