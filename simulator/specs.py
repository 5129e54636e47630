"""Typed building blocks of the simulator catalogue (hubs, features, targets, profiles).

Numeric features are drawn from a standard normal ``z`` and mapped to their
distribution, so shared process factors can correlate them:

>>> f = Numeric("strip_temp_c", "°C", "normal", 910.0, 12.0)
>>> float(f.from_z(np.array([1.0]))[0]), f.mean, f.std
(922.0, 910.0, 12.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.special import ndtr

Distribution = Literal["normal", "lognormal", "uniform"]
TargetKind = Literal["regressor", "binary", "multiclass"]


@dataclass(frozen=True)
class Hub:
    """A national compute hub and the accelerators that serve inference there."""

    slug: str
    title: str
    accelerator: str
    energy_factor: float  # joules multiplier relative to the model's reference hardware
    network_ms: float  # median round trip from the plants it serves


@dataclass(frozen=True)
class Numeric:
    """A numeric sensor. ``a, b``: normal mean/std, lognormal median/sigma, uniform lo/hi."""

    name: str
    unit: str
    dist: Distribution
    a: float
    b: float
    decimals: int = 2
    corr: float = 0.0  # loading on the model's shared process factor, in [-1, 1]
    lo: float = -math.inf  # physical clip of the undrifted process
    hi: float = math.inf

    @property
    def mean(self) -> float:
        if self.dist == "normal":
            return self.a
        if self.dist == "lognormal":
            return self.a * math.exp(self.b**2 / 2)
        return (self.a + self.b) / 2

    @property
    def std(self) -> float:
        if self.dist == "normal":
            return self.b
        if self.dist == "lognormal":
            return self.mean * math.sqrt(math.expm1(self.b**2))
        return (self.b - self.a) / math.sqrt(12)

    def from_z(self, z: np.ndarray) -> np.ndarray:
        """Map standard-normal draws to this feature's distribution (clipped, not rounded)."""
        if self.dist == "normal":
            x = self.a + self.b * z
        elif self.dist == "lognormal":
            x = self.a * np.exp(self.b * z)
        else:
            x = self.a + (self.b - self.a) * ndtr(z)
        return np.clip(x, self.lo, self.hi)


@dataclass(frozen=True)
class Categorical:
    """A categorical attribute (grade, shift, supplier) with its category shares."""

    name: str
    probs: Mapping[str, float]
    unit: str = ""

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.probs)

    @property
    def p(self) -> np.ndarray:
        w = np.array(list(self.probs.values()), dtype=float)
        return w / w.sum()


Feature = Numeric | Categorical
Coef = float | tuple[float, ...]


@dataclass(frozen=True)
class Target:
    """What the model predicts and the ground truth it approximates.

    Outputs are linear in the standardised features (``weights``, per std) plus
    categorical ``effects``; a regressor has one output, a classifier one logit
    per class (a float coefficient applies to the positive/last class only).
    The truth bends each term by ``curvature``: ``z + curvature * (z² - 1) / 2``,
    so the linear model is good in the training range and degrades under drift.
    Categories the model never saw add ``unseen_effect`` in the truth.
    """

    kind: TargetKind
    unit: str = ""
    classes: tuple[str, ...] = ()
    bias: Coef = 0.0
    weights: Mapping[str, Coef] = field(default_factory=dict)
    effects: Mapping[str, Mapping[str, Coef]] = field(default_factory=dict)
    noise: float = 0.0  # regressors: residual std of the truth, target units
    curvature: float = 0.15
    unseen_effect: float = 0.0
    lo: float = -math.inf
    hi: float = math.inf
    decimals: int = 3

    @property
    def n_outputs(self) -> int:
        return 1 if self.kind == "regressor" else len(self.classes)

    def vector(self, coef: Coef) -> np.ndarray:
        """Coefficient per output: a float hits the last output (regression / positive class)."""
        if isinstance(coef, tuple):
            return np.asarray(coef, dtype=float)
        out = np.zeros(self.n_outputs)
        out[-1] = coef
        return out


@dataclass(frozen=True)
class Latency:
    """Lognormal serving latency (ms) and the share of requests served with an error."""

    median_ms: float
    sigma: float = 0.35
    error_rate: float = 0.002


@dataclass(frozen=True)
class Energy:
    """Joules per inference on the reference hardware, idle draw, and the reading interval."""

    joules_per_inference: float
    idle_watts: float = 40.0
    interval_s: float = 10.0
    cv: float = 0.05  # lognormal noise of a reading


@dataclass(frozen=True)
class LabelDelay:
    """Lognormal delay until ground truth is observed, clipped to ``[min_s, max_s]``."""

    median_s: float
    sigma: float = 0.8
    min_s: float = 60.0
    max_s: float = 7 * 86400.0
    fraction: float = 1.0  # share of predictions that ever get a label


@dataclass(frozen=True)
class Model:
    """One deployed model: tenancy, input features, target and service profiles."""

    name: str
    version: str
    title: str
    consortium: str
    member: str
    site: str
    hub: str
    features: tuple[Feature, ...]
    target: Target
    latency: Latency
    energy: Energy
    labels: LabelDelay

    @property
    def tenancy(self) -> dict[str, str]:
        return {
            "consortium": self.consortium,
            "member": self.member,
            "model": self.name,
            "model_version": self.version,
            "site": self.site,
            "hub": self.hub,
        }

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if isinstance(f, Categorical))


@dataclass(frozen=True)
class Consortium:
    """An industry consortium: members (companies) with their sites (plant/line)."""

    name: str
    title: str
    members: Mapping[str, tuple[str, ...]]  # member slug -> site slugs
