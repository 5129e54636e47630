"""The engine contract (docs/internals.md), checked once for every engine.

The engines are discovered in processors/ (every class with the Engine shape), so a new
engine without a batch generator here fails ``test_every_engine_has_a_factory``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pickle
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import processors
from processors.accuracy import ClassificationAccuracy, RegressionAccuracy
from processors.base import Engine
from processors.calibration import fit_calibration
from processors.cbpe import CBPE
from processors.drift import CategoricalDrift, NumericDrift
from processors.energy import EnergyMeter
from processors.latency import LatencyHistogram
from processors.reference import fit_categorical, fit_numeric
from processors.volume import VOLUME_FIELDS, Volume

_rng = np.random.default_rng(7)
NUM_REF = fit_numeric(np.r_[_rng.normal(size=2000), [np.nan] * 50], "x")
_CAT_P = [0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05]
CAT_REF = fit_categorical(_rng.choice(list("abcdefg"), 2000, p=_CAT_P), "g", top_k=5)
BINARY = ("ok", "defect")
MULTI = ("a", "b", "c")
_s = _rng.random(2000)
CAL = fit_calibration(_s, np.where(_rng.random(2000) < _s**2, "defect", "ok"), BINARY)
_m = _rng.dirichlet([1, 1, 1], 3000)
CAL_MULTI = fit_calibration(_m, [_rng.choice(MULTI, p=row) for row in _m], MULTI)


def _num(rng: np.random.Generator, n: int) -> tuple:
    x = rng.normal(0.3, 1.5, n)
    x[rng.random(n) < 0.05] = np.nan
    return (x,)


def _cat(rng: np.random.Generator, n: int) -> tuple:
    values = rng.choice(np.array(["a", "b", "c", "f", "zz", None], dtype=object), n)
    return (values,)


def _binary(rng: np.random.Generator, n: int) -> tuple:
    return (rng.choice(BINARY, n), rng.choice(BINARY, n), rng.random(n))


def _multi(rng: np.random.Generator, n: int) -> tuple:
    return (rng.choice(MULTI, n), rng.choice(MULTI, n))


def _estimation(rng: np.random.Generator, n: int) -> tuple:
    return (rng.choice(BINARY, n), rng.random(n))


def _estimation_multi(rng: np.random.Generator, n: int) -> tuple:
    return (rng.choice(MULTI, n), rng.dirichlet([1, 1, 1], n))


def _regression(rng: np.random.Generator, n: int) -> tuple:
    y = rng.normal(10, 3, n)
    return (y, y + rng.normal(0, 1, n))


def _latency(rng: np.random.Generator, n: int) -> tuple:
    return (rng.lognormal(3, 1, n),)


def _energy(rng: np.random.Generator, n: int) -> tuple:
    return (rng.uniform(0, 500, n), rng.integers(0, 100, n), rng.uniform(0.5, 2, n))


def _volume(rng: np.random.Generator, n: int) -> tuple:
    return (rng.integers(0, len(VOLUME_FIELDS), n),)


@dataclass(frozen=True)
class Factory:
    name: str
    make: Callable[[], Any]
    batch: Callable[[np.random.Generator, int], tuple]
    static: dict

    def __repr__(self) -> str:
        return self.name


FACTORIES = [
    Factory("numeric_drift", lambda: NumericDrift(NUM_REF), _num, {"ref": NUM_REF}),
    Factory("categorical_drift", lambda: CategoricalDrift(CAT_REF), _cat, {"ref": CAT_REF}),
    Factory("binary", lambda: ClassificationAccuracy(BINARY), _binary, {"classes": BINARY}),
    Factory("multiclass", lambda: ClassificationAccuracy(MULTI), _multi, {"classes": MULTI}),
    Factory("regression", RegressionAccuracy, _regression, {}),
    Factory("estimation", lambda: CBPE(CAL), _estimation, {"calibration": CAL}),
    Factory(
        "estimation_multi",
        lambda: CBPE(CAL_MULTI),
        _estimation_multi,
        {"calibration": CAL_MULTI},
    ),
    Factory("latency", LatencyHistogram, _latency, {}),
    Factory("energy", EnergyMeter, _energy, {}),
    Factory("volume", Volume, _volume, {}),
]
_MEMBERS = ("update", "merge", "result", "to_dict", "from_dict", "count")


def discovered_engines() -> set[type]:
    """Every class defined in processors/ that has all the members of the Engine protocol."""
    found: set[type] = set()
    for info in pkgutil.walk_packages(processors.__path__, "processors."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            protocol = getattr(cls, "_is_protocol", False)
            if (
                cls.__module__ == info.name
                and not protocol
                and all(hasattr(cls, m) for m in _MEMBERS)
            ):
                found.add(cls)
    return found


def test_every_engine_has_a_factory() -> None:
    covered = {type(f.make()) for f in FACTORIES}
    engines = discovered_engines()
    assert {ClassificationAccuracy, NumericDrift, Volume} <= engines  # the walk itself works
    missing = sorted(c.__name__ for c in engines - covered)
    assert not missing, f"engines without a Factory in this suite: {missing}"


by_engine = pytest.mark.parametrize("f", FACTORIES, ids=repr)


def assert_partials_equal(a: Any, b: Any, path: str = "") -> None:
    """Ints (counts) must match exactly; floats (sums) up to summation-order rounding."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_partials_equal(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_partials_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, int) and not isinstance(a, bool):
        assert isinstance(b, int) and a == b, f"{path}: {a} != {b}"
    else:
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9), path


def _filled(f: Factory, seed: int = 0, n: int = 500) -> Any:
    return f.make().update(*f.batch(np.random.default_rng(seed), n))


@by_engine
def test_is_an_engine_and_update_returns_self(f: Factory) -> None:
    engine = f.make()
    assert isinstance(engine, Engine)
    assert engine.update(*f.batch(np.random.default_rng(0), 10)) is engine
    assert engine.count == 10


@by_engine
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(0, 60), min_size=1, max_size=6), seed=st.integers(0, 2**32 - 1))
def test_merged_windows_equal_the_concatenated_data(f: Factory, sizes: list, seed: int) -> None:
    rng = np.random.default_rng(seed)
    windows = [f.batch(rng, n) for n in sizes]
    merged = f.make().update(*windows[0])
    for w in windows[1:]:
        merged = merged.merge(f.make().update(*w))
    whole = f.make().update(*(np.concatenate(cols) for cols in zip(*windows, strict=True)))
    assert_partials_equal(merged.to_dict(), whole.to_dict())
    assert merged.count == whole.count == sum(sizes)


@by_engine
def test_merge_returns_a_new_engine_and_leaves_inputs_alone(f: Factory) -> None:
    a, b = _filled(f, 1), _filled(f, 2)
    before = (json.dumps(a.to_dict()), json.dumps(b.to_dict()))
    merged = a.merge(b)
    assert merged is not a and merged is not b
    assert (json.dumps(a.to_dict()), json.dumps(b.to_dict())) == before
    assert merged.count == a.count + b.count


@by_engine
def test_partial_round_trips_through_json(f: Factory) -> None:
    engine = _filled(f)
    text = json.dumps(engine.to_dict(), allow_nan=False)
    again = type(engine).from_dict(json.loads(text), **f.static)
    assert again.to_dict() == engine.to_dict()
    assert again.result() == engine.result()


@by_engine
def test_pickles(f: Factory) -> None:
    engine = _filled(f)
    assert pickle.loads(pickle.dumps(engine)).to_dict() == engine.to_dict()


@by_engine
def test_deterministic(f: Factory) -> None:
    assert _filled(f, 3).to_dict() == _filled(f, 3).to_dict()
    assert _filled(f, 3).result() == _filled(f, 3).result()


@by_engine
def test_empty_engine_gives_a_defined_json_result(f: Factory) -> None:
    engine = f.make()
    assert engine.count == 0
    json.dumps(engine.result(), allow_nan=False)
    json.dumps(engine.update(*f.batch(np.random.default_rng(0), 0)).result(), allow_nan=False)
    json.dumps(_filled(f).result(), allow_nan=False)


def test_merging_different_static_state_raises() -> None:
    other_ref = fit_numeric(np.arange(10.0), "y")
    with pytest.raises(ValueError, match="different ref"):
        NumericDrift(NUM_REF).merge(NumericDrift(other_ref))
    with pytest.raises(ValueError, match="different classes"):
        ClassificationAccuracy(BINARY).merge(ClassificationAccuracy(("no", "yes")))
    with pytest.raises(ValueError, match="cannot merge"):
        RegressionAccuracy().merge(EnergyMeter())
    with pytest.raises(ValueError, match="different params"):
        LatencyHistogram().merge(LatencyHistogram(gamma=1.1))


def test_from_dict_rejects_a_partial_of_another_layout() -> None:
    with pytest.raises(ValueError, match="bins"):
        NumericDrift.from_dict({"counts": [1, 2], "sums": [0.0, 0.0], "n_missing": 0}, ref=NUM_REF)
