"""Push the generated dashboards to a Grafana over its HTTP API (grafana-client).

Idempotent: one folder per scope, looked up by its fixed uid and renamed in place
if its title changed, created otherwise; dashboards are saved with
``overwrite=True`` under their fixed uids, so pushing twice changes nothing but
Grafana's version counter. Alert rules stay file-provisioned (provisioning/alerting).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException
from pydantic import SecretStr

from errors import UsageError

FOLDER_PREFIX = "resonance-"


@dataclass(frozen=True)
class Pushed:
    folders_created: int
    folders_updated: int
    dashboards: int


def connect(url: str, token: SecretStr | None, timeout: float = 10.0) -> GrafanaApi:
    """A Grafana client for ``url``; the token is unwrapped only here."""
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url {url!r}: expected http(s)://host[:port]")
    credential = token.get_secret_value() if token is not None else None
    return GrafanaApi.from_url(url, credential=credential or None, timeout=timeout)


def ensure_folder(api: GrafanaApi, uid: str, title: str) -> bool:
    """Create the folder or fix its title; True when it was created."""
    try:
        folder = api.folder.get_folder(uid)
    except GrafanaClientError as exc:
        if getattr(exc, "status_code", None) != 404:
            raise
        api.folder.create_folder(title, uid=uid)
        return True
    if folder.get("title") != title:
        api.folder.update_folder(uid, title=title, overwrite=True)
    return False


def load(directory: Path) -> dict[str, list[dict]]:
    """Folder name → dashboard models, from ``<directory>/<folder>/*.json``."""
    if not directory.is_dir():
        raise UsageError(f"--dir {directory}: no such directory (run `resonance dashboards build`)")
    out: dict[str, list[dict]] = {}
    for path in sorted(directory.glob("*/*.json")):
        out.setdefault(path.parent.name, []).append(json.loads(path.read_text()))
    if not out:
        raise UsageError(f"--dir {directory}: no dashboards found in its sub-directories")
    return out


def push(
    api: GrafanaApi, directory: Path, *, url: str, log: Callable[[str], None] | None = None
) -> Pushed:
    say = log or (lambda msg: print(msg, file=sys.stderr))
    created = updated = count = 0
    try:
        for folder, models in load(directory).items():
            uid = FOLDER_PREFIX + folder
            if ensure_folder(api, uid, folder):
                created += 1
            else:
                updated += 1
            for model in models:
                body = {k: v for k, v in model.items() if k != "id"}
                api.dashboard.update_dashboard(
                    {
                        "dashboard": body,
                        "folderUid": uid,
                        "overwrite": True,
                        "message": "resonance dashboards push",
                    }
                )
                count += 1
            say(f"{folder}: {len(models)} dashboards")
    except GrafanaException as exc:
        raise UsageError(f"Grafana at {url} (--url/--token): {exc}") from exc
    except OSError as exc:  # connection refused, DNS, TLS
        raise UsageError(f"Grafana at {url} (--url) unreachable: {exc}") from exc
    return Pushed(created, updated, count)
