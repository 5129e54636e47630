"""A ClickHouse dataquery variant for grafana-foundation-sdk.

The SDK ships builders for Prometheus, Loki, Athena, ... but none for the official
ClickHouse plugin (``grafana-clickhouse-datasource``). Panels and alert rules take any
``cogvariants.Dataquery``, so a small model + builder is enough; registering it as a
variant makes ``Dashboard.from_json`` decode our targets back into this class instead
of the SDK's ``UnknownDataquery`` bag, which is what the round-trip test relies on.

The JSON shape follows the plugin's ``src/types/sql.ts``: ``format`` must be a
*number* (0 time series, 1 table); older plugin backends reject strings.
"""

from __future__ import annotations

import enum
from typing import Any, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

PLUGIN_ID = "grafana-clickhouse-datasource"
DATASOURCE_UID = "resonance-clickhouse"


class Format(enum.IntEnum):
    """The plugin's ``format`` numbers (``src/types/sql.ts``)."""

    TIME_SERIES = 0
    TABLE = 1


def datasource_ref(uid: str = DATASOURCE_UID) -> DataSourceRef:
    """Reference to a provisioned ClickHouse datasource by its fixed uid."""
    return DataSourceRef(type_val=PLUGIN_ID, uid=uid)


class ClickHouseQuery(cogvariants.Dataquery):
    """One raw-SQL target of the ClickHouse plugin."""

    def __init__(
        self,
        raw_sql: str = "",
        format_val: Format = Format.TABLE,
        ref_id: str = "A",
        datasource: DataSourceRef | None = None,
        hide: bool | None = None,
    ) -> None:
        self.raw_sql = raw_sql
        self.format_val = Format(format_val)
        self.ref_id = ref_id
        self.datasource = datasource
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "editorType": "sql",
            "format": int(self.format_val),
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        if self.hide is not None:
            payload["hide"] = self.hide
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        datasource = data.get("datasource")
        return cls(
            raw_sql=data.get("rawSql", ""),
            format_val=Format(data.get("format", Format.TABLE)),
            ref_id=data.get("refId", "A"),
            datasource=DataSourceRef.from_json(datasource) if datasource else None,
            hide=data.get("hide"),
        )


class ClickHouseQueryBuilder(cogbuilder.Builder[ClickHouseQuery]):
    """Fluent builder, same style as the SDK's generated builders."""

    def __init__(self, raw_sql: str = "") -> None:
        self._internal = ClickHouseQuery(raw_sql=raw_sql)

    def build(self) -> ClickHouseQuery:
        return self._internal

    def raw_sql(self, raw_sql: str) -> Self:
        self._internal.raw_sql = raw_sql
        return self

    def format(self, format_val: Format) -> Self:
        self._internal.format_val = Format(format_val)
        return self

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def datasource(self, datasource: DataSourceRef) -> Self:
        self._internal.datasource = datasource
        return self

    def hide(self, hide: bool) -> Self:
        self._internal.hide = hide
        return self


def register() -> None:
    """Teach the SDK runtime to decode ClickHouse targets (idempotent)."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=PLUGIN_ID, from_json_hook=ClickHouseQuery.from_json)
    )


register()
