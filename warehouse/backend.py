"""One interface, two engines: embedded chDB (default) and a ClickHouse server.

Both run the same SQL with ClickHouse-native parameters (``{name:Type}``): the
values travel separately from the statement and are parsed by ClickHouse as
data, so nothing a user types is ever formatted into SQL.

chDB allows one process per data directory (and one directory per process).
We take an OS lock (``fcntl.flock``) on ``<data_dir>/.resonance.lock`` before
starting the engine, so a second process gets a one-line error naming the
directory instead of chDB's "Another server instance" stack trace.
"""

from __future__ import annotations

import ctypes
import fcntl
import io
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from errors import SinkFenced, UsageError, WarehouseError, WarehouseUnavailable
from warehouse.settings import DEFAULT_DATABASE, WarehouseSettings

LOCK_NAME = ".resonance.lock"


@dataclass(frozen=True)
class InsertGuard:
    """A condition ClickHouse checks inside the INSERT itself (``INSERT ... SELECT ... WHERE
    condition``), evaluated once when the statement starts: the sink fence
    (:mod:`warehouse.sink.fence`) makes a zombie's insert fail instead of landing."""

    condition: str  # a SQL boolean expression with {name:Type} parameters
    params: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """What the migrator, the sink and the queries need from ClickHouse."""

    database: str

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a SELECT; the result as an Arrow table."""

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement without a result (DDL, INSERT ... SELECT)."""

    def insert_arrow(
        self,
        table: str,
        data: pa.Table,
        dedup_token: str | None = None,
        guard: InsertGuard | None = None,
    ) -> int:
        """Insert an Arrow table (columns by name) into ``table``; returns rows written.

        ``dedup_token`` (hex): the insert's ``insert_deduplication_token``; a second
        insert with the same token into a table with a deduplication window is dropped.
        ``guard``: the insert runs as ``INSERT ... SELECT ... WHERE guard`` (raises
        :class:`~errors.SinkFenced` when the sink fence's ``throwIf`` fires)."""

    def release_memory(self) -> bool:
        """Hand freed memory back to the OS; True if it ran. Embedded chDB does it
        (rate-limited, after each sink batch); a ClickHouse server does its own."""

    def close(self) -> None:
        """Release the engine (and, for chDB, the directory lock)."""


def rows(result: pa.Table) -> list[dict[str, Any]]:
    """Arrow result → list of dicts (small results only)."""
    return result.to_pylist()


def format_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Render values in ClickHouse's escaped text format for ``{name:Type}``.

    chDB passes parameter values as text and ClickHouse parses them as the
    declared type; backslashes, tabs and quotes must be escaped or a value such
    as ``a\\b`` is rejected. clickhouse-connect's own formatter does exactly that
    (and is what the server backend uses), so both backends agree.
    """
    from clickhouse_connect.driver.binding import format_bind_value

    return {k: format_bind_value(v) for k, v in (params or {}).items()}


# --------------------------------------------------------------------------- chDB


class DirectoryLock:
    """Exclusive, non-blocking OS lock on a data directory (released on close or exit)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None

    def acquire(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UsageError(
                f"data directory {self.directory} is in use by another process (pid {holder}); "
                "stop that process or pass another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


#: each of chDB's caches, MiB (WarehouseSettings.chdb_cache_mb; docs/warehouse.md, "Memory")
DEFAULT_CHDB_CACHE_MB = 64
#: the server settings ``cache_mb`` sets; ClickHouse's defaults are 5 GiB each but the
#: last (100 MiB)
CHDB_CACHES = (
    "mark_cache_size",
    "primary_index_cache_size",
    "index_mark_cache_size",
    "query_condition_cache_size",
)


#: seconds between two :meth:`ChdbBackend.release_memory` (each takes about 1-2 ms)
RELEASE_INTERVAL_S = 5.0
#: merges chDB runs at once per background-pool thread (ClickHouse's default: 2, with
#: 2 pool threads here: 4 merges). A merge of a minute table holds about 2 MiB of read
#: and write buffers per column stream and part (100-146 MiB for drift_minute's 5-7-part
#: merges in a soak): 4 at once could hold ~400-500 MB (docs/warehouse.md, "Memory").
CHDB_MERGES_PER_THREAD = 1


def chdb_connection(path: Path, cache_mb: int, max_memory_mb: int = 0) -> str:
    """chDB's connection string: the directory plus server settings as start-up args.

    >>> chdb_connection(Path("/d"), 64).split("&")[0]
    '/d?mark_cache_size=67108864'
    >>> "max_server_memory_usage=1073741824" in chdb_connection(Path("/d"), 64, 1024)
    True
    >>> "background_merges_mutations_concurrency_ratio=1" in chdb_connection(Path("/d"), 64)
    True
    """
    if "?" in str(path):
        raise UsageError(f"data directory {path.parent}: a '?' would start chDB's settings")
    args = {name: cache_mb << 20 for name in CHDB_CACHES}
    args["background_merges_mutations_concurrency_ratio"] = CHDB_MERGES_PER_THREAD
    if max_memory_mb:
        args["max_server_memory_usage"] = max_memory_mb << 20
    return f"{path}?" + "&".join(f"{k}={v}" for k, v in args.items())


class ChdbBackend:
    """Embedded ClickHouse (chDB) persisted in ``data_dir``; owns the directory while open.

    One chDB connection runs one statement at a time (a query during a streaming insert
    fails), so every call holds ``_serial``: callers on other threads wait their turn.
    """

    def __init__(
        self,
        data_dir: str | Path,
        database: str = DEFAULT_DATABASE,
        cache_mb: int = DEFAULT_CHDB_CACHE_MB,
        max_memory_mb: int = 0,
        release_s: float = RELEASE_INTERVAL_S,
    ) -> None:
        """``release_s``: the least seconds between two :meth:`release_memory` (0: it
        never runs)."""
        self.data_dir = Path(data_dir).resolve()
        self.release_s = release_s
        self.database = database
        self._serial = threading.Lock()
        self._released = float("-inf")
        self.releases = 0  # release_memory runs so far
        self._lock = DirectoryLock(self.data_dir)
        self._lock.acquire()
        try:
            from chdb.session import Session

            self._session = Session(
                chdb_connection(self.data_dir / "clickhouse", cache_mb, max_memory_mb)
            )
            self._session.query(f"CREATE DATABASE IF NOT EXISTS {_ident(database)}")
            self._session.query(f"USE {_ident(database)}")
        except Exception as exc:
            self._lock.release()
            reason = _first_line(exc)
            raise WarehouseError(f"cannot open chDB in {self.data_dir}: {reason}") from exc

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        try:
            with self._serial:
                return self._session.query(sql, "ArrowTable", params=format_params(params))
        except Exception as exc:
            raise WarehouseError(_first_line(exc)) from exc

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            with self._serial:
                self._session.query(sql, "CSV", params=format_params(params))
        except Exception as exc:
            raise WarehouseError(_first_line(exc)) from exc

    def insert_arrow(
        self,
        table: str,
        data: pa.Table,
        dedup_token: str | None = None,
        guard: InsertGuard | None = None,
    ) -> int:
        if data.num_rows == 0:
            return 0
        if guard is not None:
            return self._guarded_insert(table, data, dedup_token, guard)
        buf = io.BytesIO()
        with pa.ipc.new_stream(buf, data.schema) as writer:
            writer.write_table(data)
        columns = ", ".join(_ident(c) for c in data.column_names)
        try:
            with (
                self._serial,
                self._session._conn.send_insert(
                    f"INSERT INTO {_ident(table)} ({columns}){_dedup_settings(dedup_token)}",
                    "ArrowStream",
                ) as ins,
            ):
                ins.append(buf.getvalue())
                return int(ins.finish().rows_written)
        except Exception as exc:
            raise WarehouseUnavailable(_first_line(exc)) from exc

    def _guarded_insert(
        self, table: str, data: pa.Table, dedup_token: str | None, guard: InsertGuard
    ) -> int:
        """``INSERT ... SELECT ... FROM Python(rows) WHERE guard``: chDB's ``send_insert``
        refuses INSERT ... SELECT, its Python() table function reads the local Arrow table."""
        rows = data  # noqa: F841 -- read by name by chDB's Python() table function
        columns = ", ".join(_ident(c) for c in data.column_names)
        sql = (
            f"INSERT INTO {_ident(table)} ({columns}) SELECT {columns} FROM Python(rows) "
            f"WHERE {guard.condition}{_dedup_settings(dedup_token)}"
        )
        try:
            with self._serial:
                self._session.query(sql, "CSV", params=format_params(guard.params))
        except Exception as exc:
            raise _insert_error(exc) from exc
        return data.num_rows

    def release_memory(self) -> bool:
        """Hand freed memory back to the OS, at most once per ``release_s``: chDB's
        jemalloc purges its dirty pages (``SYSTEM JEMALLOC PURGE``; otherwise they decay
        over 5 s), and glibc's ``malloc_trim(0)`` returns the free pages inside its heaps
        (Python's and other libraries' malloc: free chunks in the middle of a heap stay
        resident otherwise). True if it ran.
        A ClickHouse server does its own (its MemoryWorker); the sink calls this after
        each batch (docs/warehouse.md, "Memory")."""
        now = time.monotonic()
        if not self.release_s or now - self._released < self.release_s:
            return False
        self._released = now
        try:
            with self._serial:
                if self._session is None:
                    return False
                self._session.query("SYSTEM JEMALLOC PURGE", "CSV")
        except Exception:  # an engine without jemalloc: nothing to purge
            pass
        malloc_trim()
        self.releases += 1
        return True

    def close(self) -> None:
        with self._serial:
            session, self._session = getattr(self, "_session", None), None
            if session is not None:
                session.close()
        self._lock.release()


def malloc_trim() -> bool:
    """glibc's ``malloc_trim(0)``: give the free pages inside its heaps back to the OS.
    False where there is no glibc (macOS, musl): nothing done."""
    global _TRIM
    if _TRIM is None:
        try:
            _TRIM = ctypes.CDLL(None).malloc_trim
            _TRIM.argtypes, _TRIM.restype = [ctypes.c_size_t], ctypes.c_int
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM is False:
        return False
    _TRIM(0)
    return True


_TRIM: Any = None


# ------------------------------------------------------------------ ClickHouse server


class ServerBackend:
    """ClickHouse server over HTTP(S) with clickhouse-connect (production path).

    One client holds one HTTP session, and ClickHouse refuses two queries at once in a
    session; the sink's evaluator thread and its writer share the backend, so every
    call takes a lock.
    """

    def __init__(
        self,
        url: str,
        user: str | None = None,
        password: str | None = None,
        database: str = DEFAULT_DATABASE,
        secure: bool | None = None,
    ) -> None:
        import clickhouse_connect

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"--clickhouse-url {_redact(url)}: expected http(s)://[user:pass@]host[:port]"
            )
        self.database = database
        self._lock = threading.Lock()
        is_tls = parts.scheme == "https" if secure is None else secure
        try:
            # Connect without a database first: it may not exist before `db migrate`.
            self._client = clickhouse_connect.get_client(
                host=parts.hostname,
                port=parts.port or (8443 if is_tls else 8123),
                username=user or unquote(parts.username or "") or "default",
                password=password if password is not None else unquote(parts.password or ""),
                secure=is_tls,
                compress=False,
            )
            self._client.command(f"CREATE DATABASE IF NOT EXISTS {_ident(database)}")
            self._client.database = database
        except Exception as exc:
            raise WarehouseUnavailable(
                f"ClickHouse at {_redact(url)} unavailable: {_first_line(exc)}"
            ) from exc

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        try:
            with self._lock:
                return self._client.query_arrow(
                    sql, parameters=dict(params or {}), use_strings=True
                )
        except Exception as exc:
            raise _server_error(exc) from exc

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            with self._lock:
                self._client.command(sql, parameters=dict(params or {}) or None)
        except Exception as exc:
            raise _server_error(exc) from exc

    def insert_arrow(
        self,
        table: str,
        data: pa.Table,
        dedup_token: str | None = None,
        guard: InsertGuard | None = None,
    ) -> int:
        if data.num_rows == 0:
            return 0
        settings = None if dedup_token is None else {"insert_deduplication_token": dedup_token}
        try:
            if guard is not None:
                structure = self._structure(table, data.column_names)
                self._guarded_insert(table, data, structure, guard, settings)
            else:
                with self._lock:
                    self._client.insert_arrow(table, data, settings=settings)
        except Exception as exc:
            raise _insert_error(exc) from exc
        return data.num_rows

    def _structure(self, table: str, columns: list[str]) -> str:
        """``name Type, ...`` of these columns of ``table`` (input()'s structure argument)."""
        types = {
            r["name"]: r["type"]
            for r in self.query(
                "SELECT name, type FROM system.columns "
                "WHERE database = currentDatabase() AND table = {table:String}",
                {"table": table},
            ).to_pylist()
        }
        return ", ".join(f"{_ident(c)} {types[c]}" for c in columns)

    def _guarded_insert(
        self,
        table: str,
        data: pa.Table,
        structure: str,
        guard: InsertGuard,
        settings: dict[str, Any] | None,
    ) -> None:
        """``INSERT ... SELECT ... FROM input(structure) WHERE guard FORMAT Arrow``, the
        Arrow data in the request body."""
        buf = io.BytesIO()
        with pa.ipc.new_file(buf, data.schema) as writer:
            writer.write_table(data)
        columns = ", ".join(_ident(c) for c in data.column_names)
        literal = structure.replace("\\", "\\\\").replace("'", "\\'")
        sql = (
            f"INSERT INTO {_ident(table)} ({columns}) SELECT {columns} "
            f"FROM input('{literal}') WHERE {guard.condition} FORMAT Arrow"
        )
        with self._lock:
            self._client.command(
                sql, parameters=dict(guard.params), data=buf.getvalue(), settings=settings
            )

    def release_memory(self) -> bool:
        """Nothing here: the server's MemoryWorker purges its own jemalloc pages."""
        return False

    def close(self) -> None:
        with self._lock:
            self._client.close()


# -------------------------------------------------------------------------- factory


def open_backend(
    settings: WarehouseSettings | None = None,
    *,
    data_dir: str | Path | None = None,
    clickhouse_url: str | None = None,
) -> Backend:
    """The backend the settings (overridden by explicit flags) ask for."""
    s = settings or WarehouseSettings()
    url = clickhouse_url or (None if data_dir else s.clickhouse_url)
    if url:
        password = s.clickhouse_password.get_secret_value() if s.clickhouse_password else None
        return ServerBackend(
            url, s.clickhouse_user, password, s.clickhouse_database, s.clickhouse_secure
        )
    return ChdbBackend(
        data_dir or s.data_dir,
        s.clickhouse_database,
        s.chdb_cache_mb,
        s.chdb_max_memory_mb,
        s.chdb_release_s,
    )


def _dedup_settings(token: str | None) -> str:
    """`` SETTINGS insert_deduplication_token = '<hex>'`` (hex only: nothing to escape)."""
    if token is None:
        return ""
    if not re.fullmatch(r"[0-9a-f]{1,128}", token):
        raise ValueError(f"dedup token must be lower-case hex, got {token[:40]!r}")
    return f" SETTINGS insert_deduplication_token = '{token}'"


def _ident(name: str) -> str:
    """Quote an identifier we chose ourselves (table, column, database) with backticks."""
    if not name.replace("_", "").replace(".", "").isalnum():
        raise WarehouseError(f"refusing identifier {name!r}")
    return ".".join(f"`{part}`" for part in name.split("."))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _insert_error(exc: Exception) -> WarehouseError:
    """A fenced insert (the guard's throwIf fired) is final; any other failure is retryable."""
    if SinkFenced.MARK in str(exc):
        return SinkFenced(_first_line(exc))
    return WarehouseUnavailable(_first_line(exc))


def _server_error(exc: Exception) -> WarehouseError:
    """Connection problems are retryable; anything else is a statement error."""
    name = type(exc).__name__
    if "Operational" in name or "Connection" in name or "Timeout" in name:
        return WarehouseUnavailable(_first_line(exc))
    return WarehouseError(_first_line(exc))
