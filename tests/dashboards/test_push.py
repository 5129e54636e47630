"""`resonance dashboards push` against a small in-process Grafana HTTP API double.

The double implements the four endpoints push uses (folder get/create/update,
dashboard save) with Grafana's status codes, so grafana-client's real HTTP path runs.
Pushing twice must create each folder once and save every dashboard with overwrite.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dashboards.build import GENERATED
from resonance.cli import main

TOKEN = "glsa_test-token"


class FakeGrafana(BaseHTTPRequestHandler):
    folders: dict[str, dict] = {}
    dashboards: dict[str, dict] = {}
    calls: list[tuple[str, str]] = []

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.reply(401, {"message": "invalid API key"})
            return False
        return True

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path))
        if not self.authorised():
            return
        uid = self.path.removeprefix("/api/folders/")
        if uid in self.folders:
            self.reply(200, self.folders[uid])
        else:
            self.reply(404, {"message": "folder not found"})

    def do_POST(self) -> None:
        self.calls.append(("POST", self.path))
        if not self.authorised():
            return
        body = self.body()
        if self.path == "/api/folders":
            if body["uid"] in self.folders:
                self.reply(409, {"message": "a folder with the same uid already exists"})
                return
            self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
            self.reply(200, self.folders[body["uid"]])
        elif self.path == "/api/dashboards/db":
            uid = body["dashboard"]["uid"]
            if uid in self.dashboards and not body.get("overwrite"):
                self.reply(412, {"message": "version-mismatch"})
                return
            if body.get("folderUid") not in self.folders:
                self.reply(400, {"message": "folder not found"})
                return
            self.dashboards[uid] = body
            self.reply(200, {"uid": uid, "status": "success", "version": 1})
        else:
            self.reply(404, {"message": "not found"})

    def do_PUT(self) -> None:
        self.calls.append(("PUT", self.path))
        if not self.authorised():
            return
        uid = self.path.removeprefix("/api/folders/")
        self.folders[uid] |= {"title": self.body()["title"]}
        self.reply(200, self.folders[uid])


@pytest.fixture
def grafana() -> Iterator[str]:
    FakeGrafana.folders, FakeGrafana.dashboards, FakeGrafana.calls = {}, {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGrafana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_push_is_idempotent(grafana: str) -> None:
    expected = {p.stem for p in GENERATED.rglob("*.json")}
    folders = {p.name for p in GENERATED.iterdir() if p.is_dir()}
    assert main(["dashboards", "push", "--url", grafana, "--token", TOKEN]) == 0
    assert set(FakeGrafana.dashboards) == expected
    assert {f["title"] for f in FakeGrafana.folders.values()} == folders
    creates = [c for c in FakeGrafana.calls if c == ("POST", "/api/folders")]
    assert len(creates) == len(folders)

    FakeGrafana.folders["resonance-steel"]["title"] = "renamed by hand"
    assert main(["dashboards", "push", "--url", grafana, "--token", TOKEN]) == 0
    creates = [c for c in FakeGrafana.calls if c == ("POST", "/api/folders")]
    assert len(creates) == len(folders), "second push must not create folders again"
    assert FakeGrafana.folders["resonance-steel"]["title"] == "steel"
    for body in FakeGrafana.dashboards.values():
        assert body["overwrite"] is True and "id" not in body["dashboard"]
        folder = body["folderUid"].removeprefix("resonance-")
        assert (GENERATED / folder / f"{body['dashboard']['uid']}.json").exists()


def test_push_reads_grafana_token_from_the_environment(
    grafana: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    assert main(["dashboards", "push", "--url", grafana]) == 0
    assert set(FakeGrafana.dashboards) == {p.stem for p in GENERATED.rglob("*.json")}
    monkeypatch.setenv("GRAFANA_TOKEN", "wrong")
    assert main(["dashboards", "push", "--url", grafana]) == 2


def test_push_errors_name_the_setting(grafana: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["dashboards", "push", "--url", grafana, "--token", "wrong"]) == 2
    err = capsys.readouterr().err
    assert grafana in err and "--token" in err and err.count("\n") == 1


def test_push_unreachable_url(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"
    assert main(["dashboards", "push", "--url", url, "--token", TOKEN]) == 2
    assert url in capsys.readouterr().err
    assert main(["dashboards", "push", "--url", url, "--dir", str(tmp_path / "none")]) == 2
    assert "--dir" in capsys.readouterr().err
