"""Detection benchmark: the policy's feature_drift alert against River's ADWIN, Page-Hinkley
and KSWIN on the same per-feature streams, in one run.

Streams: models with two numeric features (normal, gamma) and one categorical one,
``--per-window`` samples a window. Every simulator scenario is applied to one feature at
window ``--change`` with the simulator's effect definitions (streams/simulator/effects.py):
sudden shift (+1 std), gradual drift (to +2 std over 20 windows), variance change (x2),
new category (30 % of rows), stuck sensor (the last value repeated), missing values
(50 %). Healthy controls total ``--controls`` model-windows.

Figures per detector: detection delay in windows after the change window (the window in
which the alert fires / the detector first flags the drifted feature), and false alarms
per 1,000 model-windows on the controls (policy: firing transitions; River: detections on
any feature). River is fed every value of the feature (numeric: the value, missing ones
as the reference mean; categorical: 1 when not the reference's top category); KSWIN costs
~3 ms per update (river 0.26), so it sees every ``--kswin-stride``-th value and only
``--kswin-controls`` of the control model-windows.

    python benchmarks/detection.py --json
"""

from __future__ import annotations

import argparse
import json
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


class RiverSet:
    """ADWIN, Page-Hinkley and KSWIN per feature; first detection window per detector."""

    def __init__(
        self, features: list[str], kswin: bool, stride: int, kswin_features: list[str] | None = None
    ) -> None:
        from river import drift

        self.detectors = {
            name: {
                f: make() for f in ((kswin_features or features) if name == "kswin" else features)
            }
            for name, make in (
                ("adwin", drift.ADWIN),
                ("page_hinkley", drift.PageHinkley),
                ("kswin", lambda: drift.KSWIN(seed=1)),
            )
            if kswin or name != "kswin"
        }
        self.stride = stride
        self.hits: dict[str, list[tuple[int, str]]] = {n: [] for n in self.detectors}

    def feed(self, w: int, cols: dict[str, np.ndarray]) -> None:
        for name, per in self.detectors.items():
            for f, det in per.items():
                values = river_values(f, cols[f])
                if name == "kswin":
                    values = values[:: self.stride]
                for v in values:
                    det.update(float(v))
                    if det.drift_detected:
                        self.hits[name].append((w, f))


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--per-window", type=int, default=100)
    p.add_argument("--windows", type=int, default=120, help="windows per scenario stream")
    p.add_argument("--change", type=int, default=40)
    p.add_argument("--controls", type=int, default=10_000, help="healthy model-windows")
    p.add_argument("--control-length", type=int, default=200, help="windows per control")
    p.add_argument("--kswin-stride", type=int, default=10)
    p.add_argument("--kswin-controls", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--policy", metavar="FILE", help="policy YAML (default: built-in)")
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    ref = reference(rng)
    from processors.policy_config import PolicyConfig

    policy = Policy(PolicyConfig.load(args.policy))
    lookback = policy.lookback("", "")
    t0 = time.perf_counter()
    scenarios = {}
    for kind in SCENARIOS:
        target = "g" if kind == "new_category" else "x"
        river = RiverSet(["x", "y", "g"], kswin=True, stride=args.kswin_stride,
                         kswin_features=[target])  # fmt: skip
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
    n_streams = max(1, args.controls // args.control_length)
    policy_alarms = 0
    river_alarms = {"adwin": 0, "page_hinkley": 0, "kswin": 0}
    kswin_windows = 0
    for s in range(n_streams):
        kswin = kswin_windows < args.kswin_controls
        river = RiverSet(["x", "y", "g"], kswin=kswin, stride=args.kswin_stride)
        windows, _ = stream(ref, rng, args.control_length, args.per_window, None, 0, river)
        policy_alarms += len(run_policy(policy, windows, lookback))
        for name, hits in river.hits.items():
            river_alarms[name] += len(hits)
        kswin_windows += args.control_length if kswin else 0
        print(f"controls: {s + 1}/{n_streams}", file=sys.stderr, end="\r")
    model_windows = n_streams * args.control_length
    per_1000 = {"policy": 1000 * policy_alarms / model_windows}
    per_1000["adwin"] = 1000 * river_alarms["adwin"] / model_windows
    per_1000["page_hinkley"] = 1000 * river_alarms["page_hinkley"] / model_windows
    per_1000["kswin"] = 1000 * river_alarms["kswin"] / max(1, kswin_windows)
    result = {
        "per_window": args.per_window,
        "change_window": args.change,
        "policy_version": policy.version,
        "delay_windows": scenarios,
        "controls": {"model_windows": model_windows, "kswin_model_windows": kswin_windows,
                     "policy_alerts": policy_alarms, "false_alarms_per_1000": per_1000},
        "seconds": round(time.perf_counter() - t0, 1),
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
