"""Every dashboard, for every scope: what ``resonance dashboards build`` writes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import energy, model_detail, overview, reviewer
from dashboards.scope import DEFAULT_CONSORTIA, Scope, all_scopes

BUILDERS: tuple[Callable[[Scope], Dashboard], ...] = (
    overview.build,
    model_detail.build,
    energy.build,
    reviewer.build,
)


def dashboards(consortia: tuple[str, ...] = DEFAULT_CONSORTIA) -> Iterator[tuple[Scope, dict]]:
    """(scope, dashboard JSON model) for each folder and dashboard."""
    for scope in all_scopes(consortia):
        for build in BUILDERS:
            yield scope, to_json(build(scope))


def to_json(dashboard: Dashboard) -> dict:
    """The SDK model as plain JSON (through the SDK's encoder)."""
    return json.loads(JSONEncoder().encode(dashboard.build()))


def dumps(model: dict) -> str:
    """Stable text: sorted keys, 2-space indent, trailing newline (diff-friendly)."""
    return json.dumps(model, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
