"""Benchmark performance estimation (CBPE) against realised metrics and NannyML's CBPE.

A binary classifier whose raw scores are overconfident is calibrated on a labelled
reference. Three scenarios of CHUNKS analysis chunks each, the drift growing chunk by
chunk:

* ``covariate_shift``: the inputs move, P(label | inputs) stays (CBPE's assumption holds);
* ``label_shift``: the positive rate moves, P(inputs | label) stays (P(label | inputs)
  changes with it, so CBPE is biased);
* ``concept_drift``: the inputs stay, P(label | inputs) changes (CBPE cannot see it).

Per chunk: realised accuracy and ROC AUC (sklearn, exact), Resonance's estimate with its
band and guardrails, and NannyML's CBPE estimate on the same chunks, run in this
process when ``nannyml`` is importable (``pip install -e '.[bench]'``). Per scenario:
the mean absolute error of each estimate and the share of chunks inside the band.

``--json`` prints exactly one JSON object on stdout; progress goes to stderr.

    python benchmarks/estimation.py --json
    python benchmarks/estimation.py --chunks 20 --chunk-size 2000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processors.calibration import fit_calibration
from processors.cbpe import CBPE, out_of_range_shares
from processors.drift import NumericDrift
from processors.reference import fit_numeric

FEATURES = ("x1", "x2")
METRICS = ("accuracy", "roc_auc")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def true_logit(x: np.ndarray, concept: float = 0.0) -> np.ndarray:
    """The world: P(y=1 | x). ``concept`` > 0 turns x2's effect around (concept drift)."""
    return 1.5 * x[:, 0] + (1.0 - 2 * concept) * x[:, 1] - 0.5


def model_score(x: np.ndarray) -> np.ndarray:
    """The model: right direction, under-weights x2, overconfident (not calibrated)."""
    return _sigmoid(2.2 * (1.5 * x[:, 0] + 0.7 * x[:, 1] - 0.5) + 0.4)


def draw(rng: np.random.Generator, n: int, shift: float = 0.0, concept: float = 0.0):
    x = rng.normal(size=(n, 2))
    x[:, 0] += shift
    y = (rng.random(n) < _sigmoid(true_logit(x, concept))).astype(int)
    return x, y


def draw_label_shift(rng: np.random.Generator, n: int, positive_rate: float):
    """Resample a base population by label: P(x | y) fixed, P(y) = ``positive_rate``."""
    x, y = draw(rng, 6 * n)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    k = int(round(n * positive_rate))
    rows = np.r_[rng.choice(pos, k, replace=False), rng.choice(neg, n - k, replace=False)]
    rng.shuffle(rows)
    return x[rows], y[rows]


def scenario_chunks(name: str, rng: np.random.Generator, chunks: int, size: int, base_rate: float):
    for i in range(chunks):
        f = i / max(chunks - 1, 1)
        if name == "covariate_shift":
            yield draw(rng, size, shift=1.2 * f)
        elif name == "label_shift":
            yield draw_label_shift(rng, size, base_rate + (0.75 - base_rate) * f)
        else:
            yield draw(rng, size, concept=0.8 * f)


def run_nannyml(reference: dict, analysis: list[dict], size: int) -> list[dict] | None:
    """NannyML CBPE on the same chunks; None when nannyml is not installed."""
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # no network calls from a benchmark
    try:
        import nannyml as nml
        import pandas as pd
    except ImportError:
        return None
    est = nml.CBPE(
        y_pred_proba="score",
        y_pred="pred",
        y_true="y",
        problem_type="classification_binary",
        metrics=list(METRICS),
        chunk_size=size,
    )
    est.fit(pd.DataFrame(reference))
    frame = pd.DataFrame({k: np.concatenate([a[k] for a in analysis]) for k in ("score", "pred")})
    out = est.estimate(frame).to_df()
    out = out[out[("chunk", "period")] == "analysis"]  # to_df() lists the reference chunks too
    if len(out) != len(analysis):
        raise RuntimeError(f"nannyml returned {len(out)} analysis chunks, expected {len(analysis)}")
    return [{m: float(out[(m, "value")].iloc[i]) for m in METRICS} for i in range(len(analysis))]


def run(chunks: int, size: int, reference_rows: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x_ref, y_ref = draw(rng, reference_rows)
    s_ref = model_score(x_ref)
    pred_ref = (s_ref >= 0.5).astype(int)
    t0 = time.perf_counter()
    cal = fit_calibration(s_ref, y_ref)
    fit_s = time.perf_counter() - t0
    profiles = {f: fit_numeric(x_ref[:, k], f) for k, f in enumerate(FEATURES)}
    reference = {"score": s_ref, "pred": pred_ref, "y": y_ref}
    out: dict[str, Any] = {
        "config": {
            "chunks": chunks,
            "chunk_size": size,
            "reference_rows": reference_rows,
            "seed": seed,
            "calibration": {"method": cal.method, "ece_raw": cal.ece_raw, "ece": cal.ece},
            "calibration_fit_s": fit_s,
            "load_average_1m": round(os.getloadavg()[0], 1),  # timings on a shared machine
        },
        "scenarios": {},
    }
    try:
        import nannyml

        out["config"]["nannyml"] = nannyml.__version__
    except ImportError:
        out["config"]["nannyml"] = None
    base_rate = float(y_ref.mean())
    for name in ("covariate_shift", "label_shift", "concept_drift"):
        log(f"{name} ...")
        data = list(scenario_chunks(name, rng, chunks, size, base_rate))
        rows, analysis = [], []
        t0 = time.perf_counter()
        for x, y in data:
            s = model_score(x)
            pred = (s >= 0.5).astype(int)
            analysis.append({"score": s, "pred": pred})
            drift = {f: NumericDrift(profiles[f]).update(x[:, k]) for k, f in enumerate(FEATURES)}
            engine = CBPE(cal).update(pred.astype(str), s)
            before = engine.result(out_of_range=out_of_range_shares(drift))
            realised = {"accuracy": float(np.mean(pred == y)), "roc_auc": roc_auc_score(y, s)}
            after = engine.result(
                out_of_range=out_of_range_shares(drift), realised_accuracy=realised["accuracy"]
            )
            rows.append(
                {
                    "positive_rate": float(y.mean()),
                    "realised": realised,
                    "resonance": {
                        "accuracy": before["estimated_accuracy"],
                        "accuracy_band": before["estimated_accuracy_band"],
                        "roc_auc": before["estimated_roc_auc"],
                        "roc_auc_band": before["estimated_roc_auc_band"],
                        "reliable": before["reliable"],
                        "reasons": before["reasons"],
                        "reliable_after_labels": after["reliable"],
                    },
                }
            )
        resonance_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        nml_rows = run_nannyml(reference, analysis, size)
        nannyml_s = time.perf_counter() - t0
        for row, nml_row in zip(rows, nml_rows or [None] * len(rows), strict=True):
            row["nannyml"] = nml_row
        out["scenarios"][name] = {"chunks": rows, **summarise(rows)}
        out["scenarios"][name]["seconds"] = {"resonance": resonance_s, "nannyml": nannyml_s}
    return out


def summarise(rows: list[dict]) -> dict[str, Any]:
    mae: dict[str, dict[str, float | None]] = {"resonance": {}, "nannyml": {}}
    gap: dict[str, float | None] = {}
    within: dict[str, float] = {}
    for m in METRICS:
        real = np.array([r["realised"][m] for r in rows])
        ours = np.array([r["resonance"][m] for r in rows])
        mae["resonance"][m] = float(np.mean(np.abs(ours - real)))
        theirs = [r["nannyml"][m] for r in rows if r["nannyml"] is not None]
        mae["nannyml"][m] = (
            float(np.mean(np.abs(np.array(theirs) - real))) if len(theirs) == len(rows) else None
        )
        gap[m] = (
            float(np.max(np.abs(np.array(theirs) - ours))) if len(theirs) == len(rows) else None
        )
        bands = np.array([r["resonance"][f"{m}_band"] for r in rows])
        within[m] = float(np.mean((bands[:, 0] <= real) & (real <= bands[:, 1])))
    return {
        "mae": mae,
        "within_band": within,
        "max_abs_gap_to_nannyml": gap,
        "reliable_share": float(np.mean([r["resonance"]["reliable"] for r in rows])),
        "reliable_after_labels_share": float(
            np.mean([r["resonance"]["reliable_after_labels"] for r in rows])
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--chunk-size", type=int, default=2000)
    ap.add_argument("--reference-rows", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args(argv)
    out = run(args.chunks, args.chunk_size, args.reference_rows, args.seed)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"calibration: {out['config']['calibration']}  nannyml {out['config']['nannyml']}")
    for name, sc in out["scenarios"].items():
        print(
            f"\n{name}: within band {sc['within_band']}  reliable {sc['reliable_share']:.0%}"
            f" (after labels {sc['reliable_after_labels_share']:.0%})"
        )
        for who, mae in sc["mae"].items():
            print(
                f"  MAE {who:9s} "
                + "  ".join(f"{m} {v:.4f}" if v is not None else f"{m} -" for m, v in mae.items())
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
