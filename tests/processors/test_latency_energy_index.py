"""Latency quantile error bound, energy arithmetic and the Resonance index."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.energy import EnergyMeter
from processors.latency import LatencyHistogram
from processors.resonance_index import data_fit, model_quality, resonance_index, service_health


@pytest.mark.parametrize("seed", range(3))
def test_latency_quantiles_are_within_the_stated_relative_error(seed: int) -> None:
    x = np.random.default_rng(seed).lognormal(np.log(40), 1.2, 100_000)
    h = LatencyHistogram().update(x)
    r = h.result()
    bound = h.relative_error
    assert bound < 0.02
    for key, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        exact = np.quantile(x, q, method="inverted_cdf")  # the order statistic we estimate
        assert abs(r[key] - exact) <= bound * exact * (1 + 1e-9)
        assert r[key] == pytest.approx(np.quantile(x, q), rel=0.02)
    assert r["mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert abs(r["max"] - x.max()) <= bound * x.max() and r["count"] == x.size


def test_latency_open_buckets_and_errors() -> None:
    r = LatencyHistogram().update([0.0, 0.001, 5e6]).result()
    assert r["p50"] == 0.01 and r["max"] >= 1e6
    with pytest.raises(ValueError, match="non-negative"):
        LatencyHistogram().update([-1.0])
    with pytest.raises(ValueError, match="non-negative"):
        LatencyHistogram().update([np.nan])


def test_energy_arithmetic_is_exact() -> None:
    m = EnergyMeter().update([1000.0, 2600.0], [40, 60], [10.0, 8.0])
    r = m.result(grid_gco2_per_kwh=581.0, pue=1.25)
    assert r["joules"] == 3600.0 and r["inferences"] == 100 and r["readings"] == 2
    assert r["it_kwh"] == 3600.0 / 3.6e6
    assert r["facility_kwh"] == r["kwh"] == 3600.0 * 1.25 / 3.6e6
    assert r["gco2e"] == 3600.0 * 1.25 / 3.6e6 * 581.0
    assert r["j_per_inference"] == 36.0 and r["avg_power_w"] == 200.0
    assert EnergyMeter().result()["gco2e"] is None
    assert EnergyMeter().result(grid_gco2_per_kwh=500.0)["j_per_inference"] is None


@pytest.mark.parametrize(
    "args",
    [([-1.0], [1], [1.0]), ([1.0], [0.5], [1.0]), ([1.0], [1], [0.0]), ([1.0, 2.0], [1], [1.0])],
)
def test_energy_rejects_bad_readings(args: tuple) -> None:
    with pytest.raises(ValueError):
        EnergyMeter().update(*args)


component = st.one_of(st.none(), st.floats(0, 1))


@settings(max_examples=300, deadline=None)
@given(
    comps=st.tuples(component, component, component),
    which=st.integers(0, 2),
    bump=st.floats(0, 1),
    weights=st.tuples(*[st.floats(0, 10)] * 3),
)
def test_resonance_index_is_monotone_and_bounded(comps, which, bump, weights) -> None:
    base = resonance_index(*comps, weights=weights)
    if base is None:
        return
    assert 0.0 <= base <= 100.0
    if comps[which] is None:
        return
    raised = list(comps)
    raised[which] = min(1.0, comps[which] + bump)
    assert resonance_index(*raised, weights=weights) >= base - 1e-9


def test_resonance_index_values_and_errors() -> None:
    assert resonance_index(1.0, 1.0, 1.0) == 100.0
    assert resonance_index(0.0, 0.0, 0.0) == 0.0
    assert resonance_index(None, 0.5, None) == 50.0
    assert resonance_index(None, None, None) is None
    with pytest.raises(ValueError, match="model_quality"):
        resonance_index(1.0, 1.5, 1.0)
    with pytest.raises(ValueError, match="weights"):
        resonance_index(1.0, 1.0, 1.0, weights=(1.0, -1.0, 1.0))


def test_component_helpers() -> None:
    assert data_fit([True, False]) == 0.5
    assert data_fit({"a": True, "b": False}, importance={"b": 0.0}) == 0.0
    assert model_quality(0.95, 0.9) == 1.0
    assert model_quality(None, 0.9) is None
    assert model_quality(0.0, 3.0, higher_is_better=False) == 1.0
    assert service_health(0.0, 100.0, 200.0) == 1.0
    assert service_health(0.1, 400.0, 200.0) == pytest.approx(0.45)
    assert service_health(None, None, None) is None
    assert service_health(None, 400.0, 200.0) == 0.5
