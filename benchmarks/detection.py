"""Detection benchmark: the policy's feature_drift alert against River's ADWIN, Page-Hinkley
and KSWIN on the same per-feature streams, in one run.

Streams: models with two numeric features (normal, gamma) and one categorical one,
``--per-window`` samples a window. Every simulator scenario is applied to one feature at
window ``--change`` with the simulator's effect definitions (simulator/effects.py):
sudden shift (+1 std), gradual drift (to +2 std over 20 windows), variance change (x2),
new category (30 % of rows), stuck sensor (the last value repeated), missing values
(50 %). Healthy controls total ``--controls`` model-windows.

Figures per detector: detection delay in windows after the change window (the window in
which the alert fires / the detector first flags the drifted feature), and false alarms
per 1,000 model-windows on the controls (policy: firing transitions; River: detections on
any feature). River is fed every value of the feature (numeric: the value, missing ones
as the reference mean; categorical: 1 when not the reference's top category) with river's
defaults; ``page_hinkley_calibrated`` is Page-Hinkley on standardised values at the
smallest threshold that raises no alarm on the controls (calibrated on them, in-sample:
the best case for it), i.e. at the policy's false-alarm rate. KSWIN costs
~3 ms per update (river 0.26), so it sees every ``--kswin-stride``-th value and only
``--kswin-controls`` of the control model-windows.

    python benchmarks/detection.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

from processors.alert_lifecycle import advance
from processors.drift import drift_engine
from processors.policy import Policy, WindowStats
from processors.reference import fit_reference

SCENARIOS = ("sudden_shift", "gradual_drift", "variance_change", "new_category",
             "stuck_sensor", "missing_values")  # fmt: skip
CATS = ["a", "b", "c", "d"]
P_CATS = [0.5, 0.25, 0.15, 0.1]


def reference(rng: np.random.Generator) -> Any:
    n = 20_000
    return fit_reference(
        {"x": rng.normal(0, 1, n), "y": rng.gamma(2.0, 3.0, n), "g": rng.choice(CATS, n, p=P_CATS)},
        model="bench", version="1", categorical=["g"],
    )  # fmt: skip


def healthy(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {"x": rng.normal(0, 1, n), "y": rng.gamma(2.0, 3.0, n),
            "g": rng.choice(CATS, n, p=P_CATS).astype(object)}  # fmt: skip


def inject(kind: str, cols: dict[str, np.ndarray], w: int, change: int, rng) -> str:
    """Apply one scenario to window ``w``; returns the affected feature."""
    if kind == "new_category":
        if w >= change:
            cols["g"][rng.random(cols["g"].size) < 0.3] = "zz-new"
        return "g"
    x = cols["x"]
    if w < change:
        return "x"
    if kind == "sudden_shift":
        x += 1.0
    elif kind == "gradual_drift":
        x += 2.0 * min(1.0, (w - change + 1) / 20)
    elif kind == "variance_change":
        x *= 2.0
    elif kind == "stuck_sensor":
        x[:] = STUCK
    elif kind == "missing_values":
        x[rng.random(x.size) < 0.5] = np.nan
    return "x"


STUCK = 0.3127  # the value the stuck sensor repeats (its last good reading)


def river_values(feature: str, values: np.ndarray) -> np.ndarray:
    if feature == "g":
        return (values != CATS[0]).astype(float)
    v = values.astype(float)
    return np.where(np.isnan(v), 0.0 if feature == "x" else 6.0, v)


def standardised(feature: str, values: np.ndarray, ref: Any) -> np.ndarray:
    """River's input on the reference's scale: (value − mean) / std (categorical: the
    indicator against its reference share), so one threshold fits every feature."""
    v = river_values(feature, values)
    if feature == "g":
        p = 1.0 - P_CATS[0]
        return (v - p) / np.sqrt(p * (1 - p))
    r = ref.features[feature]
    return (v - r.mean) / r.std


def page_hinkley_statistic() -> Any:
    """Page-Hinkley (river) that also records the largest test statistic it saw: with a
    threshold above it, the same run raises no alarm (nothing resets), so the largest
    statistic over the controls is the smallest zero-false-alarm threshold."""
    from river import drift

    class Recording(drift.PageHinkley):
        peak = 0.0

        def update(self, x: float) -> None:
            super().update(x)
            if self._x_mean.n >= self.min_instances:
                up = self._sum_increase - self._min_increase
                down = self._max_decrease - self._sum_decrease
                self.peak = max(self.peak, up, down)

    return Recording


class RiverSet:
    """ADWIN, Page-Hinkley and KSWIN per feature (river defaults, raw values), plus
    Page-Hinkley on standardised values at a calibrated threshold (``ph_threshold``:
    inf records the statistic only); first detection window per detector."""

    def __init__(
        self,
        features: list[str],
        kswin: bool,
        stride: int,
        kswin_features: list[str] | None = None,
        *,
        ref: Any = None,
        ph_threshold: float | None = None,
    ) -> None:
        from river import drift

        makers: list[tuple[str, Any]] = [
            ("adwin", drift.ADWIN),
            ("page_hinkley", drift.PageHinkley),
            ("kswin", lambda: drift.KSWIN(seed=1)),
        ]
        if ph_threshold is not None:
            recording = page_hinkley_statistic()
            makers.append(("page_hinkley_calibrated", lambda: recording(threshold=ph_threshold)))
        self.detectors = {
            name: {
                f: make() for f in ((kswin_features or features) if name == "kswin" else features)
            }
            for name, make in makers
            if kswin or name != "kswin"
        }
        self.ref = ref
        self.stride = stride
        self.hits: dict[str, list[tuple[int, str]]] = {n: [] for n in self.detectors}

    def feed(self, w: int, cols: dict[str, np.ndarray]) -> None:
        for name, per in self.detectors.items():
            for f, det in per.items():
                if name == "page_hinkley_calibrated":
                    values = standardised(f, cols[f], self.ref)
                else:
                    values = river_values(f, cols[f])
                if name == "kswin":
                    values = values[:: self.stride]
                for v in values:
                    det.update(float(v))
                    if det.drift_detected:
                        self.hits[name].append((w, f))

    def peak(self) -> float:
        """The largest calibrated Page-Hinkley statistic seen on any feature."""
        per = self.detectors.get("page_hinkley_calibrated", {})
        return max((d.peak for d in per.values()), default=0.0)


def _median(delays: list[int | None]) -> float | None:
    """Median delay, an undetected stream counting as infinitely late."""
    values = sorted(float("inf") if d is None else float(d) for d in delays)
    if not values:
        return None
    m = float(np.median(values))
    return None if m == float("inf") else m


def run_policy(policy: Policy, windows: list[WindowStats], lookback: int) -> list[int]:
    """Windows in which the feature_drift alert fires."""
    rule = policy.rules("", "").feature_drift
    state: dict[str, Any] = {}
    fired = []
    for i in range(len(windows)):
        v = policy.evaluate("", "", windows[max(0, i - lookback + 1) : i + 1])
        step = advance(
            state, v.conditions["feature_drift"], i, rule.for_windows, rule.clear_windows
        )
        if step is not None and step[0] == "firing":
            fired.append(i)
    return fired


def stream(ref, rng, n_windows: int, per_window: int, kind: str | None, change: int,
           river: RiverSet | None) -> tuple[list[WindowStats], str | None]:  # fmt: skip
    out, affected = [], None
    for w in range(n_windows):
        cols = healthy(rng, per_window)
        if kind is not None:
            affected = inject(kind, cols, w, change, rng)
        engines = {f: drift_engine(ref.features[f]).update(cols[f]) for f in cols}
        out.append(WindowStats(w, drift=engines))
        if river is not None:
            river.feed(w, cols)
    return out, affected


NILE = "tests/data/nile.csv"  # Nile at Aswan 1871-1970, change point 1898 (Cobb 1978)
NILE_POLICY = {"feature_drift": {"horizon": 10, "max_horizon": 10, "min_samples": 10,
                                 "alpha": 0.001, "for": 1}}  # fmt: skip


def nile_section() -> dict[str, Any]:
    """Real data with a documented change point: the policy's feature verdict on the
    Nile's annual flow (one window a year, reference 1871-1885, the annual policy of
    tests/processors/test_real_change_points.py) next to river's ADWIN and Page-Hinkley
    (defaults) fed the same years, standardised by the reference."""
    import csv
    from pathlib import Path

    from river import drift

    from processors.policy_config import PolicyConfig

    with (Path(__file__).parents[1] / NILE).open() as f:
        years = {int(r["year"]): float(r["volume"]) for r in csv.DictReader(f)}
    ref_years = [y for y in years if y < 1886]
    prof = fit_reference({"flow": np.array([years[y] for y in ref_years])}, model="nile",
                         version="1")  # fmt: skip
    ref = prof.features["flow"]
    stream_years = [y for y in sorted(years) if y >= 1886]
    windows = [WindowStats(y, drift={"flow": drift_engine(ref).update([years[y]])})
               for y in stream_years]  # fmt: skip
    policy = Policy(PolicyConfig.from_mapping({"defaults": NILE_POLICY}))
    fired = [stream_years[i] for i in run_policy(policy, windows, policy.lookback("", ""))]
    out: dict[str, Any] = {"change_point": 1898, "policy_alerts": fired}
    for name, det in (("adwin", drift.ADWIN()), ("page_hinkley", drift.PageHinkley())):
        hits = []
        for y in stream_years:
            det.update((years[y] - ref.mean) / ref.std)
            if det.drift_detected:
                hits.append(y)
        out[name] = hits
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--per-window", type=int, default=100)
    p.add_argument("--windows", type=int, default=120, help="windows per scenario stream")
    p.add_argument("--change", type=int, default=40)
    p.add_argument("--controls", type=int, default=10_000, help="healthy model-windows")
    p.add_argument("--control-length", type=int, default=200, help="windows per control")
    p.add_argument("--kswin-stride", type=int, default=10)
    p.add_argument("--kswin-controls", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=10, help="extra sudden/gradual streams")
    p.add_argument("--policy", metavar="FILE", help="policy YAML (default: built-in)")
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    ref = reference(rng)
    from processors.policy_config import PolicyConfig

    policy = Policy(PolicyConfig.load(args.policy))
    lookback = policy.lookback("", "")
    t0 = time.perf_counter()
    # controls first: they also calibrate Page-Hinkley (standardised values) to the
    # smallest threshold with no false alarm on them (in-sample: the best case for it)
    n_streams = max(1, args.controls // args.control_length)
    policy_alarms = 0
    river_alarms = {"adwin": 0, "page_hinkley": 0, "kswin": 0}
    kswin_windows = 0
    ph_peak = 0.0
    for s in range(n_streams):
        kswin = kswin_windows < args.kswin_controls
        river = RiverSet(["x", "y", "g"], kswin=kswin, stride=args.kswin_stride, ref=ref,
                         ph_threshold=float("inf"))  # fmt: skip
        windows, _ = stream(ref, rng, args.control_length, args.per_window, None, 0, river)
        policy_alarms += len(run_policy(policy, windows, lookback))
        for name in river_alarms:
            river_alarms[name] += len(river.hits.get(name, []))
        ph_peak = max(ph_peak, river.peak())
        kswin_windows += args.control_length if kswin else 0
        print(f"controls: {s + 1}/{n_streams}", file=sys.stderr, end="\r")
    ph_threshold = float(np.nextafter(ph_peak, np.inf))
    scenarios = {}
    for kind in SCENARIOS:
        target = "g" if kind == "new_category" else "x"
        river = RiverSet(["x", "y", "g"], kswin=True, stride=args.kswin_stride,
                         kswin_features=[target], ref=ref, ph_threshold=ph_threshold)  # fmt: skip
        windows, affected = stream(ref, rng, args.windows, args.per_window, kind, args.change,
                                   river)  # fmt: skip
        fired = run_policy(policy, windows, lookback)
        after = [w for w in fired if w >= args.change]
        row: dict[str, Any] = {
            "feature": affected,
            "policy": None if not after else after[0] - args.change,
            "policy_false_before_change": len([w for w in fired if w < args.change]),
        }
        for name, hits in river.hits.items():
            first = [w for w, f in hits if f == affected and w >= args.change]
            row[name] = None if not first else first[0] - args.change
        scenarios[kind] = row
    # one stream is one draw: the sudden and gradual delays again on --repeats fresh
    # streams each (KSWIN left out: ~3 ms per update), medians reported
    repeats: dict[str, dict[str, Any]] = {}
    for kind in ("sudden_shift", "gradual_drift"):
        per: dict[str, list[int | None]] = {}
        for _ in range(args.repeats):
            river = RiverSet(["x", "y", "g"], kswin=False, stride=args.kswin_stride, ref=ref,
                             ph_threshold=ph_threshold)  # fmt: skip
            windows, _ = stream(ref, rng, args.windows, args.per_window, kind, args.change,
                                river)  # fmt: skip
            after = [w for w in run_policy(policy, windows, lookback) if w >= args.change]
            per.setdefault("policy", []).append(after[0] - args.change if after else None)
            for name, hits in river.hits.items():
                first = [w for w, f in hits if f == "x" and w >= args.change]
                per.setdefault(name, []).append(first[0] - args.change if first else None)
        repeats[kind] = {name: {"delays": d, "median": _median(d)} for name, d in per.items()}
    model_windows = n_streams * args.control_length
    per_1000 = {"policy": 1000 * policy_alarms / model_windows}
    per_1000["adwin"] = 1000 * river_alarms["adwin"] / model_windows
    per_1000["page_hinkley"] = 1000 * river_alarms["page_hinkley"] / model_windows
    per_1000["kswin"] = 1000 * river_alarms["kswin"] / max(1, kswin_windows)
    per_1000["page_hinkley_calibrated"] = 0.0  # by construction, on these controls
    result = {
        "per_window": args.per_window,
        "change_window": args.change,
        "policy_version": policy.version,
        "delay_windows": scenarios,
        "repeats": repeats,
        "real_data": {"nile": nile_section()},
        "controls": {"model_windows": model_windows, "kswin_model_windows": kswin_windows,
                     "policy_alerts": policy_alarms, "false_alarms_per_1000": per_1000,
                     "page_hinkley_calibrated_threshold": round(ph_threshold, 3)},
        "seconds": round(time.perf_counter() - t0, 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for kind, row in scenarios.items():
            print(kind, row)
        print(result["controls"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
