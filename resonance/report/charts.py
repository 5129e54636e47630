"""The report's charts, drawn with matplotlib (Agg) to PNG bytes.

Only where a trend or a distribution reads better than a table: the daily
resonance index, daily accuracy against the baseline, the month's histograms
against the reference for the features drifting most, and each model's gCO2e
at the hub where it ran next to the greenest hub. Every chart is a pure
function of report tables, so the same data draws the same picture.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from resonance.report.data import MonthData

DPI = 130
WIDTH_IN = 7.2
MAX_LINES = 12  # panels (or bars) per chart before it stops being readable
LABELLED = 8  # coloured, labelled lines per axes
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#ad494a",
)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 8,
            "axes.titlesize": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.hashsalt": "resonance",
        }
    )
    return plt


def _small_multiples(count: int, row_in: float, pad_in: float) -> tuple[Any, list[Any]]:
    """A figure of ``count`` panels sharing the time axis, three a row (fewer when there
    are fewer), the spare cells hidden; ``row_in`` inches a row plus ``pad_in`` for the
    title."""
    cols = min(count, 3)
    rows_n = -(-count // cols)
    fig, axes = _plt().subplots(
        rows_n, cols, figsize=(WIDTH_IN, row_in * rows_n + pad_in), squeeze=False, sharex=True
    )
    for ax in axes.flat[count:]:
        ax.axis("off")
    return fig, list(axes.flat[:count])


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


def charts(data: MonthData) -> dict[str, bytes]:
    """Chart name → PNG bytes (a chart with nothing to draw is left out)."""
    out = {
        "resonance_daily": resonance_daily(data.tables["resonance_daily"].rows),
        "accuracy_daily": accuracy_daily(
            data.tables["accuracy"].rows, data.tables["accuracy_monthly"].rows
        ),
        "estimation_daily": estimation_daily(data.tables["estimation"].rows),
        "drift_histograms": drift_histograms(data.histograms),
        "hub_carbon": hub_carbon(data.tables["hubs"].rows),
    }
    return {name: png for name, png in out.items() if png}


def _series(rows: Sequence[dict[str, Any]], key: str, value: str) -> dict[str, list]:
    series: dict[str, list] = defaultdict(list)
    for r in rows:
        if r.get(value) is not None:
            series[r[key]].append(r)
    return dict(sorted(series.items()))


def _days(rows: list[dict[str, Any]]) -> list[Any]:
    from datetime import date

    return [date.fromisoformat(r["day"]) for r in rows]


def _date_axis(ax: Any) -> None:
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.DayLocator(bymonthday=(1, 8, 15, 22, 29)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.grid(axis="y", alpha=0.3)


def resonance_daily(rows: Sequence[dict[str, Any]]) -> bytes | None:
    """One line per model: the daily resonance index (0-100)."""
    series = _series(rows, "model", "resonance_index")
    if not series:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 2.8))
    # many models: the lowest (worst) month minimum in colour, the rest as grey context
    worst = sorted(series, key=lambda m: (min(r["resonance_index"] for r in series[m]), m))
    shown = set(worst[:LABELLED])
    for model, items in series.items():
        if model not in shown:
            days, values = _days(items), [r["resonance_index"] for r in items]
            ax.plot(days, values, linewidth=0.6, color="#c4cad1", zorder=1)
    for i, model in enumerate(sorted(shown)):
        items = series[model]
        ax.plot(
            _days(items),
            [r["resonance_index"] for r in items],
            marker="o",
            markersize=2.5,
            linewidth=1.2,
            color=PALETTE[i % len(PALETTE)],
            label=model,
            zorder=2,
        )
    low = min(r["resonance_index"] for items in series.values() for r in items)
    ax.set_ylim(max(0.0, min(low - 5, 90.0)), 100.5)
    ax.set_ylabel("resonance index")
    rest = len(series) - len(shown)
    extra = f" (grey: {rest} more models)" if rest else ""
    ax.set_title(f"Resonance index per day: the {len(shown)} lowest in colour{extra}")
    _date_axis(ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=7)
    return _png(fig)


def accuracy_daily(
    daily: Sequence[dict[str, Any]], monthly: Sequence[dict[str, Any]]
) -> bytes | None:
    """Small multiples, one per model: daily accuracy (or MAE) and the baseline, dashed."""
    monthly_by = {(r["model"], r["model_version"]): r for r in monthly}
    panels = []
    for key, m in sorted(monthly_by.items()):
        metric = m["baseline_metric"]
        items = [
            r
            for r in daily
            if (r["model"], r["model_version"]) == key and r.get(metric) is not None
        ]
        if items:
            panels.append((key, metric, items, m))
    panels = panels[:9]
    if not panels:
        return None
    fig, axes = _small_multiples(len(panels), row_in=1.7, pad_in=0.3)
    for ax, ((model, version), metric, items, m) in zip(axes, panels, strict=True):
        ax.plot(_days(items), [r[metric] for r in items], color=PALETTE[0], linewidth=1.2)
        ax.axhline(m[metric], color=PALETTE[2], linewidth=0.9, label="month")
        if m.get("baseline") is not None:
            ax.axhline(m["baseline"], color=PALETTE[3], linestyle="--", linewidth=0.9)
        ax.set_title(f"{model} v{version} · {metric}", fontsize=7.5)
        ax.tick_params(labelsize=6.5)
        _date_axis(ax)
    fig.suptitle(
        "Daily accuracy (MAE for regressors); green: month, red dashed: baseline",
        fontsize=8.5,
    )
    fig.tight_layout()
    return _png(fig)


def estimation_daily(daily: Sequence[dict[str, Any]]) -> bytes | None:
    """Small multiples, one per estimated model: the daily estimate (line) with its band
    (shaded), the realised accuracy (dots) and the days flagged unreliable (red)."""
    per: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in daily:
        if r.get("estimated_accuracy") is not None:
            per[(r["model"], r["model_version"])].append(r)
    panels = sorted(per.items())[:9]
    if not panels:
        return None
    fig, axes = _small_multiples(len(panels), row_in=1.8, pad_in=0.35)
    for ax, ((model, version), items) in zip(axes, panels, strict=True):
        days = _days(items)
        lo = [r["band_lo"] if r["band_lo"] is not None else r["estimated_accuracy"] for r in items]
        hi = [r["band_hi"] if r["band_hi"] is not None else r["estimated_accuracy"] for r in items]
        ax.fill_between(days, lo, hi, color=PALETTE[0], alpha=0.18, linewidth=0)
        ax.plot(days, [r["estimated_accuracy"] for r in items], color=PALETTE[0], linewidth=1.2)
        real = [
            (d, r) for d, r in zip(days, items, strict=True) if r["realised_accuracy"] is not None
        ]
        ax.plot([d for d, _ in real], [r["realised_accuracy"] for _, r in real], "o",
                color="#1d2733", markersize=2.5)  # fmt: skip
        bad = [(d, r) for d, r in zip(days, items, strict=True) if not r["reliable"]]
        for d, _ in bad:
            ax.axvline(d, color=PALETTE[3], alpha=0.45, linewidth=3, zorder=0)
        flagged = f", {len(bad)} unreliable" if bad else ""
        ax.set_title(f"{model} v{version}{flagged}", fontsize=7.5)
        ax.tick_params(labelsize=6.5)
        _date_axis(ax)
    fig.suptitle(
        "Estimated accuracy before labels (line, band shaded) vs realised (dots); red: unreliable",
        fontsize=8.5,
    )
    fig.tight_layout()
    return _png(fig)


def drift_histograms(hists: Sequence[dict[str, Any]]) -> bytes | None:
    """The month's merged histogram against the reference, per top drifting feature."""
    if not hists:
        return None
    plt = _plt()
    cols = 2 if len(hists) > 1 else 1
    rows_n = -(-len(hists) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(WIDTH_IN, 2.1 * rows_n), squeeze=False)
    for ax in axes.flat[len(hists) :]:
        ax.axis("off")
    for ax, h in zip(axes.flat, hists, strict=False):
        x = list(range(len(h["labels"])))
        width = 0.42
        left, right = [i - width / 2 for i in x], [i + width / 2 for i in x]
        ax.bar(left, h["reference"], width, color="#9aa5b1", label="reference")
        ax.bar(right, h["current"], width, color=PALETTE[0], label="month")
        verdict = "drift" if h["drift"] else "no drift"
        title = f"{h['model']} · {h['feature']}  (PSI {h['psi']:.3f}, {verdict})"
        ax.set_title(title, fontsize=7.5)
        step = max(1, -(-len(x) // 7))
        ax.set_xticks(x[::step])
        ax.set_xticklabels(h["ticks"][::step], rotation=0, fontsize=6)
        ax.set_xlabel(h["axis"], fontsize=6.5)
        ax.tick_params(axis="y", labelsize=6.5)
        ax.set_ylabel("share", fontsize=7)
    axes.flat[0].legend(fontsize=6.5, frameon=False)
    fig.tight_layout()
    return _png(fig)


def hub_carbon(rows: Sequence[dict[str, Any]]) -> bytes | None:
    """Per model: gCO2e at the hub where it ran, and at the greenest national hub."""
    per: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get("gco2e") is not None:
            per[(r["model"], r["model_version"], r["ran_at"])].append(r)
    if not per:
        return None
    items = sorted(per.items())[: 2 * MAX_LINES]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.32 * len(items) + 0.9))
    labels, actual, best, best_hub = [], [], [], []
    for (model, version, ran), alts in items:
        here = next(a for a in alts if a["actual"])
        green = min(alts, key=lambda a: (a["gco2e"], a["hub"]))
        labels.append(f"{model} v{version} @ {ran}")
        actual.append(here["gco2e"] / 1000)
        best.append(green["gco2e"] / 1000)
        best_hub.append(green["hub"])
    y = list(range(len(items)))
    ax.barh([i - 0.2 for i in y], actual, 0.38, color=PALETTE[3], label="where it ran")
    ax.barh([i + 0.2 for i in y], best, 0.38, color=PALETTE[2], label="greenest hub")
    for i, hub in enumerate(best_hub):
        at = (best[i], i + 0.2)
        ax.annotate(hub, at, xytext=(3, 0), textcoords="offset points", va="center", fontsize=6)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=6.5)
    ax.invert_yaxis()
    ax.set_xlabel("kg CO2e this month")
    ax.set_title("Carbon where each model ran vs the greenest national hub")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
