"""Compatibility re-export: the carbon factors live in :mod:`warehouse.carbon`."""

from warehouse.carbon import EAST_PUE, HUBS, WEST_PUE, HubFactor, hub_factors, provincial_emissions

__all__ = ["EAST_PUE", "HUBS", "WEST_PUE", "HubFactor", "hub_factors", "provincial_emissions"]
