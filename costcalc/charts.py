"""Charts for the reports: a roofline per network and bars of time against MACs.

A chart is two things. Its data, a dict computed here from costcalc's numbers (tested, written
as reports/charts/NAME.json, and what `report --check` compares); and its picture, drawn from
that dict alone by matplotlib (an optional dependency: `pip install 'costcalc[charts]'`) and
written next to it as NAME.svg with the data's digest inside, so the check can tell a picture
drawn from other data without comparing pixels.

Kinds of chart (the dict's "chart" key):
- "roofline": log-log, x = arithmetic intensity (FLOPs per byte moved, the bytes model in the
  conventions), y = attained FLOP/s (a layer's FLOPs over its time); the roof is
  min(peak, intensity x bandwidth) of the device; one point a layer with FLOPs, coloured by op
  type, one marker per series (predicted, measured by costcalc, measured by PyTorch).
  Predicted points lie on the roof by definition (the roofline model's time); measured ones
  show how far below it a layer runs.
- "bars": horizontal grouped bars, one group per category (op type, or a contrast's case),
  one bar per series, values in the chart's unit.
"""
from __future__ import annotations

import hashlib
import json

from .errors import UsageError

DIGITS = 6          # significant digits kept in chart data (enough for any axis, and stable)
DIGEST_TAG = "costcalc-chart-data sha256:"


def _g(x):
    """A float kept to DIGITS significant digits (chart data compares as text)."""
    return float(f"{x:.{DIGITS}g}")


def _attained(flops, seconds):
    return _g(flops / seconds) if seconds else None


def roofline(result, title: str, series=("predicted", "measured", "torch")) -> dict:
    """A roofline chart of a latency/predict result (roofline.LatencyResult): every layer with
    FLOPs as a point per series present. Layers with no FLOPs (reshapes, concatenations) have
    no intensity on a log axis; the chart says how many were left out."""
    keys = {"predicted": ("predicted_s", f"predicted ({result.profile.name})"),
            "measured": ("measured_s", "measured (costcalc)"),
            "torch": ("torch_s", "measured (PyTorch)")}
    out = []
    costed = [x for x in result.layers if x["flops"] > 0]
    for name in series:
        key, label = keys[name]
        pts = [[x["name"], x["op"], _g(x["intensity"]), _attained(x["flops"], x.get(key))]
               for x in costed if x.get(key)]
        if pts:
            out.append({"label": label, "points": pts})
    t = result.totals
    return {"chart": "roofline", "title": title, "device": result.profile.name,
            "dtype": result.dtype, "peak_flops": _g(t["peak_flops"]),
            "bandwidth": _g(t["bandwidth"]), "x_label": "arithmetic intensity (FLOP/byte)",
            "y_label": "attained FLOP/s", "omitted": len(result.layers) - len(costed),
            "series": out}


def bars(title: str, categories, series, unit: str) -> dict:
    """Grouped bars: ``series`` is [(label, [value per category])]; None: no bar."""
    for label, values in series:
        if len(values) != len(categories):
            raise ValueError(f"series '{label}': {len(values)} values for "
                             f"{len(categories)} categories")
    return {"chart": "bars", "title": title, "unit": unit, "categories": list(categories),
            "series": [{"label": label, "values": [None if v is None else _g(v) for v in values]}
                       for label, values in series]}


def shares_by_op(result, title: str) -> dict:
    """Bars per op type: its share of MACs, of predicted time and (when measured) of measured
    time, in percent; op types with neither MACs nor time are left out."""
    rows = [e for e in result.by_op if e["macs"] or e["predicted_s"]]
    series = [("MACs", [100 * e["mac_share"] for e in rows]),
              (f"predicted time ({result.profile.name})",
               [100 * e["predicted_share"] for e in rows])]
    if result.measured:
        series.append(("measured time (costcalc)", [100 * e["measured_share"] for e in rows]))
        if "torch_share" in rows[0]:
            series.append(("measured time (PyTorch)", [100 * e["torch_share"] for e in rows]))
    return bars(title, [e["op"] for e in rows], series, "percent")


def dumps(data: dict) -> str:
    """The chart data as stored (reports/charts/NAME.json): sorted keys, one line per point."""
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- pictures
def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UsageError("the reports' charts are drawn with matplotlib, which is not "
                         "installed; expected `pip install 'costcalc[charts]'` (or matplotlib)"
                         ) from None
    matplotlib.use("Agg", force=True)
    matplotlib.rcParams.update({"svg.hashsalt": "costcalc", "svg.fonttype": "none",
                                "font.size": 9, "axes.titlesize": 10})
    import matplotlib.pyplot as plt
    return plt


def _color_of(names):
    """A colour per name in order of first appearance (tab10, then tab20's lighter ones)."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
               "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]
    order = list(dict.fromkeys(names))
    return {n: palette[i % len(palette)] for i, n in enumerate(order)}


def _draw_roofline(plt, data):
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    pts = [p for s in data["series"] for p in s["points"] if p[3]]
    xs = [p[2] for p in pts] or [1.0]
    peak, bw = data["peak_flops"], data["bandwidth"]
    lo, hi = min(min(xs), peak / bw) / 2, max(max(xs), peak / bw) * 2
    grid = [lo * (hi / lo) ** (k / 200) for k in range(201)]
    ax.plot(grid, [min(peak, x * bw) for x in grid], color="black", lw=1.2,
            label=f"roof: {peak / 1e9:,.0f} GFLOP/s, {bw / 1e9:,.0f} GB/s")
    ax.axvline(peak / bw, color="grey", lw=0.6, ls=":")
    colors = _color_of(p[1] for s in data["series"] for p in s["points"])
    markers = ["o", "x", "^", "s"]
    for k, s in enumerate(data["series"]):
        for op in dict.fromkeys(p[1] for p in s["points"]):
            mine = [p for p in s["points"] if p[1] == op and p[3]]
            ax.scatter([p[2] for p in mine], [p[3] for p in mine], s=14,
                       marker=markers[k % len(markers)], color=colors[op],
                       alpha=0.8 if k else 0.45, linewidths=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(data["x_label"])
    ax.set_ylabel(data["y_label"])
    ax.set_title(data["title"])
    handles = [plt.Line2D([], [], color="black", lw=1.2)]
    labels = [f"roof ({data['device']}, {data['dtype']}): {peak / 1e9:,.0f} GFLOP/s, "
              f"{bw / 1e9:,.0f} GB/s"]
    for k, s in enumerate(data["series"]):
        handles.append(plt.Line2D([], [], ls="", marker=markers[k % len(markers)],
                                  color="black"))
        labels.append(s["label"])
    for op, c in colors.items():
        handles.append(plt.Line2D([], [], ls="", marker="s", color=c))
        labels.append(op)
    ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              framealpha=0.85)
    if data.get("omitted"):
        ax.text(0.01, 0.99, f"{data['omitted']} layers with no FLOPs not shown",
                transform=ax.transAxes, va="top", fontsize=7)
    return fig


def _draw_bars(plt, data):
    cats, series = data["categories"], data["series"]
    n = len(series)
    fig, ax = plt.subplots(figsize=(8.5, 1.3 + 0.12 * n * len(cats) + 0.1 * len(cats)))
    height = 0.8 / n
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
              "#7f7f7f"]
    for k, s in enumerate(series):
        ys = [i + (k - (n - 1) / 2) * height for i in range(len(cats))]
        vals = [v if v is not None else 0.0 for v in s["values"]]
        ax.barh(ys, vals, height=height * 0.95, color=colors[k % len(colors)], label=s["label"])
        for y, v in zip(ys, s["values"]):
            if v is not None:
                ax.text(v, y, f" {v:.3g}", va="center", fontsize=6)
    ax.set_yticks(range(len(cats)), cats)
    ax.invert_yaxis()
    ax.set_xlabel(data["unit"])
    ax.set_title(data["title"])
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.85)
    ax.margins(x=0.12, y=0.01)
    return fig


def svg(data: dict, text: str | None = None) -> str:
    """The picture of a chart as SVG text, with the digest of its stored data (``text``:
    dumps(data)) in the SVG's metadata. Deterministic for one matplotlib version."""
    import io
    plt = _pyplot()
    text = dumps(data) if text is None else text
    draw = {"roofline": _draw_roofline, "bars": _draw_bars}[data["chart"]]
    fig = draw(plt, data)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "costcalc (matplotlib)",
                                             "Identifier": DIGEST_TAG + digest(text)})
    plt.close(fig)
    return buf.getvalue()


def drawn_from(svg_text: str, data_text: str) -> bool:
    """Whether a stored picture was drawn from this stored data (its digest is inside)."""
    return (DIGEST_TAG + digest(data_text)) in svg_text
