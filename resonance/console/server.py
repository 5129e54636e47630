"""The console's HTTP server: static assets from the package plus six JSON endpoints.

Stdlib only (``http.server``), because the console needs nothing more than GET and
polling, and a threaded server keeps the provider's blocking queries (chDB) off any
event loop the caller may run. The browser polls; there is no push channel to keep
alive, so a slow query only delays one refresh.

Endpoints: ``/`` (the page), ``/static/<file>``, ``/api/consortia``,
``/api/consortium?name=``, ``/api/model?consortium=&model=``,
``/api/estimation?consortium=&model=``, ``/api/health`` and
``/api/deliveries`` (empty unless the demo passes the notifier's delivery log, with
``?alert_id=`` for one alert, through ``extra``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from resonance.console.provider import ConsoleProvider, Payload

log = logging.getLogger(__name__)

STATIC_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def _finite(value: Any) -> Any:
    """Replace NaN/inf by None: JSON has no NaN and the browser's JSON.parse rejects it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _static_file(name: str) -> tuple[bytes, str] | None:
    """Read a packaged asset; plain names of known types (or ``vendor/<name>``, the
    vendored charting library), so no path traversal."""
    parts = name.split("/")
    if parts[:-1] not in ([], ["vendor"]) or "\\" in name or parts[-1].startswith("."):
        return None
    suffix = name[name.rfind(".") :] if "." in name else ""
    if suffix not in STATIC_TYPES:
        return None
    asset = resources.files("resonance.console").joinpath("static", *parts)
    if not asset.is_file():
        return None
    return asset.read_bytes(), STATIC_TYPES[suffix]


def _routes(provider: ConsoleProvider) -> dict[str, Callable[[dict[str, str]], Payload]]:
    """Map each API path to the provider call that answers it."""
    return {
        "/api/consortia": lambda q: provider.consortia(),
        "/api/consortium": lambda q: provider.consortium(q["name"]),
        "/api/model": lambda q: provider.model(q["consortium"], q["model"]),
        "/api/estimation": lambda q: provider.estimation(q["consortium"], q["model"]),
        "/api/health": lambda q: provider.health(),
        # the demo replaces it with the notifier's delivery log; without one, no deliveries
        "/api/deliveries": lambda q: {"deliveries": []},
    }


Route = Callable[[dict[str, str]], Payload]


def make_handler(
    provider: ConsoleProvider, extra: Mapping[str, Route] | None = None
) -> type[BaseHTTPRequestHandler]:
    """Build a request handler class bound to one provider (plus ``extra`` API paths)."""
    routes = {**_routes(provider), **(extra or {})}

    class ConsoleHandler(BaseHTTPRequestHandler):
        server_version = "ResonanceConsole/1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path in ("/", "/index.html"):
                self._static("index.html")
            elif url.path.startswith("/static/"):
                self._static(url.path.removeprefix("/static/"))
            elif url.path in routes:
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                self._api(routes[url.path], query)
            else:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such path {url.path}"})

        def _static(self, name: str) -> None:
            found = _static_file(name)
            if found is None:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such asset {name}"})
                return
            body, content_type = found
            self._send(HTTPStatus.OK, body, content_type)

        def _api(self, call: Callable[[dict[str, str]], Payload], query: dict[str, str]) -> None:
            try:
                payload = call(query)
            except KeyError as exc:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"unknown {exc.args[0]}"})
                return
            except Exception as exc:  # a failing query must not kill the server
                log.exception("console query failed")
                self._send_json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)})
                return
            self._send_json(HTTPStatus.OK, payload)

        def _send_json(self, status: HTTPStatus, payload: Payload) -> None:
            body = json.dumps(_finite(payload), separators=(",", ":")).encode()
            self._send(status, body, "application/json")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the terminal summary readable: requests go to debug logging only."""
            log.debug("console: " + format, *args)

    return ConsoleHandler


class ConsoleServer:
    """A console bound to a provider, served from a daemon thread until :meth:`stop`.

    ``port=0`` picks a free port (tests); :attr:`url` tells which one was bound.
    """

    def __init__(
        self,
        provider: ConsoleProvider,
        host: str = "127.0.0.1",
        port: int = 8050,
        extra: Mapping[str, Route] | None = None,
    ):
        self._httpd = ThreadingHTTPServer((host, port), make_handler(provider, extra))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="resonance-console", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ConsoleServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ConsoleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
