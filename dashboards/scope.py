"""Who a generated dashboard copy is for: the operators (all consortia) or one consortium.

Grafana folders are per consortium and every consortium's copy queries through
that consortium's *viewer datasource* (a ClickHouse user limited by row policies,
see warehouse/tenants.py), so a viewer who edits the ``consortium`` variable still
sees only their rows. Dashboard uids must be unique per Grafana org, hence the
per-copy uid suffix. Operators get one more folder with the admin datasource, a
multi-value consortium variable and the pipeline-wide DLQ panels.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboards.query import DATASOURCE_UID
from warehouse.tenants import validate_consortium

#: The consortia the simulator and the committed provisioning know about.
DEFAULT_CONSORTIA = ("automotive", "electronics", "petrochemical", "steel")
OPERATORS_FOLDER = "operators"


@dataclass(frozen=True)
class Scope:
    """One folder of dashboards."""

    folder: str  # folder uid, folder title and directory name under dashboards/generated/
    datasource_uid: str
    consortium: str | None  # None: all consortia (operators)

    @property
    def operators(self) -> bool:
        return self.consortium is None

    @property
    def folder_uid(self) -> str:
        """Grafana folder uid (the folder title is ``folder``, as file provisioning names
        folders after their directory)."""
        return f"resonance-{self.folder}"

    def uid(self, stem: str) -> str:
        """Dashboard uid, <= 40 chars: ``res-<stem>-<folder>``."""
        return f"res-{stem}-{self.folder}"[:40]


def tenant_datasource_uid(consortium: str) -> str:
    return f"{DATASOURCE_UID}-{validate_consortium(consortium)}"


def operators_scope() -> Scope:
    return Scope(OPERATORS_FOLDER, DATASOURCE_UID, None)


def consortium_scope(consortium: str) -> Scope:
    c = validate_consortium(consortium)
    return Scope(c, tenant_datasource_uid(c), c)


def all_scopes(consortia: tuple[str, ...] = DEFAULT_CONSORTIA) -> list[Scope]:
    return [operators_scope(), *(consortium_scope(c) for c in sorted(consortia))]
