"""Bootstrap a reference from production: the first N samples (or T hours) of a model.

A model registered without a reference (or not registered at all, with
``RESONANCE_BOOTSTRAP_SAMPLES``/``_HOURS`` set) collects its first telemetry rows here, in
partition order; once enough are in, :meth:`BootstrapBuffer.fit` fits the reference with
the same :func:`processors.reference.fit_reference` an offline ``resonance reference
build`` uses on those rows, and the worker records it in the registry with its provenance
(the rows' offsets and event-time range). Drift starts with the next message.

Pure (no Kafka). Memory: at most ``max_samples`` rows per model being bootstrapped.

>>> from streams.registry import Bootstrap
>>> buf = BootstrapBuffer(Bootstrap(samples=10))
>>> buf.add({"t": np.arange(6.0)}, np.arange(6), 0, 5)
False
>>> buf.add({"t": np.arange(6.0, 12.0)}, np.arange(6, 12), 0, 6)
True
>>> prof, prov = buf.fit("m", "1")
>>> prof.features["t"].n, prov["samples"], prov["last_offset"]
(10, 10, 6)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from processors.reference import ReferenceProfile, fit_reference
from streams.registry import Bootstrap


class BootstrapBuffer:
    """The first rows of one model's telemetry, until the bootstrap spec is met."""

    def __init__(self, spec: Bootstrap) -> None:
        self.spec = spec
        self.columns: list[dict[str, np.ndarray]] = []
        self.ts: list[np.ndarray] = []
        self.n = 0
        self.first_ts: int | None = None
        self.first_offset: int | None = None
        self.last_offset: int | None = None
        self.partition: int | None = None
        self.done = False

    @property
    def limit(self) -> int:
        return self.spec.samples if self.spec.samples is not None else self.spec.max_samples

    def add(self, columns: dict[str, np.ndarray], ts_ms: np.ndarray, partition: int,
            offset: int) -> bool:  # fmt: skip
        """Take this message's rows up to the limit; True once the reference can be fitted."""
        if self.done or ts_ms.size == 0:
            return self.done
        if self.first_ts is None:
            self.first_ts, self.first_offset, self.partition = int(ts_ms[0]), offset, partition
        take = min(ts_ms.size, self.limit - self.n)
        if self.spec.hours is not None:
            horizon = self.first_ts + int(self.spec.hours * 3_600_000)
            inside = np.flatnonzero(ts_ms >= horizon)
            if inside.size and inside[0] < take:
                take = int(inside[0])
                self.done = True  # event time passed the first T hours
        if take > 0:
            self.columns.append({k: v[:take] for k, v in columns.items()})
            self.ts.append(ts_ms[:take])
            self.n += take
            self.last_offset = offset
        if self.n >= self.limit:
            self.done = True
        self.done = self.done and self.n > 0
        return self.done

    def rows(self) -> dict[str, np.ndarray]:
        """The collected rows per feature (object arrays where any message held text)."""
        names: list[str] = []
        for cols in self.columns:
            names += [n for n in cols if n not in names]
        out: dict[str, np.ndarray] = {}
        for name in names:
            pairs = zip(self.columns, self.ts, strict=True)
            parts = [c.get(name, np.full(len(t), np.nan)) for c, t in pairs]
            if any(p.dtype == object for p in parts):
                parts = [p.astype(object) for p in parts]
            out[name] = np.concatenate(parts)
        return out

    def fit(self, model: str, version: str) -> tuple[ReferenceProfile, dict[str, Any]]:
        """The reference and its provenance (what ``reference build`` would fit on these rows).

        Features that cannot be fitted (every value missing) are left out of the profile.
        """
        rows = self.rows()
        cats = {n for n, v in rows.items() if v.dtype == object} | set(self.spec.categorical)
        usable = {}
        for name, values in rows.items():
            if values.dtype == object:
                ok = any(v is not None and v == v for v in values.tolist())  # not None/NaN
            else:
                ok = bool(np.isfinite(values).any())
            if ok:
                usable[name] = values
        profile = fit_reference(
            usable, model=model, version=version, categorical=cats & set(usable)
        )
        ts = np.concatenate(self.ts)
        provenance = {
            "source": "bootstrap",
            "samples": self.n,
            "first_ts": int(ts.min()),
            "last_ts": int(ts.max()),
            "topic": "telemetry",
            "partition": self.partition,
            "first_offset": self.first_offset,
            "last_offset": self.last_offset,
            "spec": self.spec.model_dump(exclude_none=True),
        }
        return profile, provenance
