"""Carbon factors per national compute hub ("East Data, West Computing").

Grid intensity (gCO2/kWh) comes from codecarbon's copy of China's official 2023 provincial
average electricity CO2 emission factors (MEE & NBS, Announcement 2025 No. 47; CO2 only,
location-based): ``codecarbon/data/private_infra/2023/china_provincial_emissions.json``.
A hub's grid intensity is the **unweighted mean** over the provinces it spans (Hong Kong and
Macao are not in the official table, so ``guangdong-hk-macao`` uses Guangdong alone).

Default PUE is the target of the 2021 hub plan (NDRC, CAC, MIIT, NEA: "Implementation plan
for the computing hubs of the national integrated big-data-centre system", May 2021): new
data centres in the eastern hub clusters at most 1.25, in the western ones (Inner Mongolia,
Guizhou, Gansu, Ningxia) at most 1.2. These are policy targets, not measurements: override
them with your operator's figures.

>>> f = hub_factors({"guizhou": {"pue": 1.4}})
>>> f["guizhou"].provinces, f["guizhou"].grid_gco2_per_kwh, f["guizhou"].pue
(('CN-GZ',), 568.3, 1.4)
>>> round(hub_factors()["chengdu-chongqing"].grid_gco2_per_kwh, 2)  # (156.4 + 558.1) / 2
357.25
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from errors import UsageError

EMISSIONS_RESOURCE = "data/private_infra/2023/china_provincial_emissions.json"
EAST_PUE = 1.25
WEST_PUE = 1.2

#: slug -> (display name, province codes in codecarbon's table, default PUE)
HUBS: dict[str, tuple[str, tuple[str, ...], float]] = {
    "beijing-tianjin-hebei": ("Beijing-Tianjin-Hebei", ("CN-BJ", "CN-TJ", "CN-HE"), EAST_PUE),
    "yangtze-river-delta": (
        "Yangtze River Delta",
        ("CN-SH", "CN-JS", "CN-ZJ", "CN-AH"),
        EAST_PUE,
    ),
    "guangdong-hk-macao": ("Guangdong-Hong Kong-Macao Greater Bay Area", ("CN-GD",), EAST_PUE),
    "chengdu-chongqing": ("Chengdu-Chongqing", ("CN-SC", "CN-CQ"), EAST_PUE),
    "inner-mongolia": ("Inner Mongolia", ("CN-NM",), WEST_PUE),
    "guizhou": ("Guizhou", ("CN-GZ",), WEST_PUE),
    "gansu": ("Gansu", ("CN-GS",), WEST_PUE),
    "ningxia": ("Ningxia", ("CN-NX",), WEST_PUE),
}
OVERRIDABLE = ("grid_gco2_per_kwh", "pue")

__all__ = ["HUBS", "HubFactor", "hub_factors", "provincial_emissions"]


@dataclass(frozen=True, slots=True)
class HubFactor:
    """Everything needed to turn a hub's joules into gCO2e."""

    hub: str
    name: str
    provinces: tuple[str, ...]
    grid_gco2_per_kwh: float
    pue: float
    source: str

    def gco2(self, joules: float) -> float:
        """Grams CO2 for ``joules`` of IT energy (PUE applied). 3.6e6 J = 1 kWh.

        >>> HubFactor("h", "H", (), 500.0, 1.2, "").gco2(3.6e6)
        600.0
        """
        return joules / 3.6e6 * self.pue * self.grid_gco2_per_kwh


@lru_cache(maxsize=1)
def provincial_emissions() -> dict[str, float]:
    """Province code (``CN-BJ``...) → gCO2/kWh, read from codecarbon's data file."""
    path = resources.files("codecarbon").joinpath(EMISSIONS_RESOURCE)
    data = json.loads(path.read_text(encoding="utf-8"))
    return {code: float(row["emission_factor"]) for code, row in data["data"].items()}


def hub_factors(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, HubFactor]:
    """Factors for every hub, with optional per-hub overrides of ``grid_gco2_per_kwh``/``pue``.

    Raises :class:`UsageError` for an unknown hub or key, or an out-of-range value.
    """
    grid = provincial_emissions()
    out: dict[str, HubFactor] = {}
    for slug, (name, provinces, pue) in HUBS.items():
        intensity = sum(grid[p] for p in provinces) / len(provinces)
        out[slug] = HubFactor(slug, name, provinces, intensity, pue, "MEE/NBS 2023 via codecarbon")
    for slug, values in (overrides or {}).items():
        out[slug] = _override(out, slug, values)
    return out


def _override(factors: dict[str, HubFactor], slug: str, values: Mapping[str, Any]) -> HubFactor:
    if slug not in factors:
        raise UsageError(f"carbon override: unknown hub {slug!r} (known: {', '.join(HUBS)})")
    base = factors[slug]
    fields = {"grid_gco2_per_kwh": base.grid_gco2_per_kwh, "pue": base.pue}
    for key, value in values.items():
        if key not in OVERRIDABLE:
            raise UsageError(
                f"carbon override for {slug}: unknown key {key!r} (use grid_gco2_per_kwh, pue)"
            )
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UsageError(f"carbon override for {slug}.{key}: not a number: {value!r}") from None
        low = 1.0 if key == "pue" else 0.0
        if not (math.isfinite(number) and number >= low):
            raise UsageError(f"carbon override for {slug}.{key}: out of range: {value!r}")
        fields[key] = number
    return HubFactor(
        slug, base.name, base.provinces, fields["grid_gco2_per_kwh"], fields["pue"], "override"
    )
