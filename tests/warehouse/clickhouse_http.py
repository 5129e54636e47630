"""A localhost ClickHouse HTTP interface backed by chDB, so the server backend is tested.

No ClickHouse server binary exists on the build machines, but chDB is the real engine.
This process speaks enough of the HTTP interface for clickhouse-connect: the statement in
the ``query`` parameter (plus the body, as ClickHouse appends it) or a multipart form,
``database``,
``default_format``, ``param_<name>`` bound values, ``INSERT ... FORMAT <fmt>`` with the
data in the body, ``INSERT ... SELECT ... FROM input('structure') ... FORMAT Arrow`` (the
guarded insert of the sink fence: chDB reads the body through its Python() table
function, bound values included), and errors as HTTP 500 with ``X-ClickHouse-Exception-Code``. Other
settings (session_id, query_id, progress headers) are accepted and ignored.

It runs as its own process (``python clickhouse_http.py DATA_DIR``) because chDB allows one
data directory per process, and prints ``port N`` once it listens.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


class ClickHouseHandler(BaseHTTPRequestHandler):
    session = None  # chdb.session.Session, set by serve()
    lock = threading.Lock()  # one statement at a time, like one chDB connection

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size else b""
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):  # long queries: fields, no body
            params |= _form_fields(content_type, body)
            body = b""
        sql = params.get("query", "")
        fmt = params.get("default_format", "TabSeparated")
        bound = {k.removeprefix("param_"): v for k, v in params.items() if k.startswith("param_")}
        written = 0
        try:
            with self.lock:
                self.session.query(f"USE `{params.get('database') or 'default'}`")
                if _INPUT.search(sql) and body:
                    written = _insert_select(self.session, sql, body, bound)
                    out = b""
                elif sql.lstrip().upper().startswith("INSERT") and " FORMAT " in sql and body:
                    head, _, data_format = sql.rpartition(" FORMAT ")
                    with self.session._conn.send_insert(head, data_format.strip()) as ins:
                        ins.append(body)
                        written = int(ins.finish().rows_written)
                    out = b""
                else:
                    text = "\n".join(p for p in (sql, body.decode()) if p)
                    out = self.session.query(text, fmt, params=bound).bytes()
        except Exception as exc:
            self._reply(500, str(exc).encode(), {"X-ClickHouse-Exception-Code": "1"})
            return
        summary = json.dumps({"read_rows": "0", "written_rows": str(written)})
        headers = {
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Timezone": "UTC",
            "X-ClickHouse-Summary": summary,
        }
        self._reply(200, out, headers)

    def _reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


_INPUT = re.compile(r"\binput\('(?:[^'\\]|\\.)*'\)")


def _insert_select(session, sql: str, body: bytes, bound: dict[str, str]) -> int:
    """``INSERT ... SELECT ... FROM input('...') WHERE ... FORMAT Arrow`` + an Arrow body."""
    import pyarrow as pa

    rows = pa.ipc.open_file(pa.BufferReader(body)).read_all()  # read by name: Python(rows)
    head, _, _fmt = sql.rpartition(" FORMAT ")
    session.query(_INPUT.sub("Python(rows)", head), "CSV", params=bound)
    return rows.num_rows


def _form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a multipart/form-data body (clickhouse-connect sends long queries so)."""
    message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True).decode()
        for part in message.get_payload()
    }


def serve(data_dir: str) -> None:
    from chdb.session import Session

    ClickHouseHandler.session = Session(data_dir)
    server = ThreadingHTTPServer(("127.0.0.1", 0), ClickHouseHandler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1])
