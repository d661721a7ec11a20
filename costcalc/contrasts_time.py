"""The sources' contrasts in time: MAC ratios next to predicted and measured time ratios.

Predicted times are the roofline model's (the conventions) on built-in device profiles and on
this machine as calibrated when the measurement was recorded; measured times come only from
that record (costcalc/timing.py), so a report is the same on every machine. Used by the
separable, bottleneck and MobileNet-scaling reports (costcalc/contrasts.py).
"""
from __future__ import annotations

import dataclasses

from . import charts as ch
from .render import table
from .roofline import predict

# Built-in devices the contrast tables predict on: a server CPU, a phone SoC, a datacentre GPU.
DEVICES = ("epyc-9654", "snapdragon-865", "a100-40gb")


@dataclasses.dataclass
class Ctx:
    """What a contrast report body gets: the charts it records and the measurement record."""
    charts: dict
    measured: dict | None


def machine_line(rec) -> str:
    """Where and how the recorded times were measured (one sentence for the reports)."""
    if rec is None:
        return ("No measurement is recorded in this reports folder, so only predicted times are "
                "shown; `costcalc report --measure` adds this machine's measured times (costcalc's"
                " forward pass, and PyTorch's on the same graph when torch is installed).")
    m, d = rec["machine"], rec["device"]
    torch = f"PyTorch {m['torch']}" if m.get("torch") else "no PyTorch"
    return (f"Measured on {m['cpu']} ({rec['date'][:10]}; {m['blas']}; {torch}) by `costcalc "
            f"report --measure`: float32, batch 1, each layer's best of at least "
            f"{rec['repeat']} runs (more for small cases: about {rec['case_seconds']} s of runs "
            "each) after a warm-up, summed; costcalc's forward pass (execute.run, one layer at a"
            " time) and PyTorch's functional ops on the same graph and weights. \"this machine\" predicts with the "
            f"profile calibrated in the same run ({d.peak('float32') / 1e9:,.1f} GFLOP/s, "
            f"{d.bandwidth / 1e9:,.1f} GB/s: attained sgemm and STREAM triad). The record is "
            f"[data/measured.json](data/measured.json).")


def _ratio(a, b):
    return a / b if a and b else None


def _fmt(x):
    return "-" if x is None else f"{x:.2f}x"


def pair_rows(ctx: Ctx, pairs) -> tuple:
    """Rows of time ratios for (label, (key, summary), (key, summary)) pairs: the first over the
    second (the costly design over the cheap one). Returns (headers, rows, chart series)."""
    rec = ctx.measured
    headers = ["case", "MACs ratio"] + [f"predicted {d}" for d in DEVICES]
    if rec:
        headers += ["predicted this machine", "measured costcalc", "measured PyTorch"]
    rows, series = [], {h: [] for h in headers[1:]}
    for label, (ka, a), (kb, b) in pairs:
        vals = [_ratio(a.totals["macs"], b.totals["macs"])]
        vals += [_ratio(predict(a, d).totals["predicted_s"], predict(b, d).totals["predicted_s"])
                 for d in DEVICES]
        if rec:
            from .timing import case_result
            ra, rb = case_result(rec, ka, a), case_result(rec, kb, b)
            vals += [_ratio(ra.totals["predicted_s"], rb.totals["predicted_s"]),
                     _ratio(ra.totals["measured_s"], rb.totals["measured_s"]),
                     _ratio(ra.totals.get("torch_s"), rb.totals.get("torch_s"))]
        rows.append([label] + [_fmt(v) for v in vals])
        for h, v in zip(headers[1:], vals):
            series[h].append(v)
    return headers, rows, [(h, v) for h, v in series.items()]


def pair_section(ctx: Ctx, name: str, title: str, pairs, unit: str) -> list:
    """A table and a bar chart of pair_rows."""
    from .report import chart
    headers, rows, series = pair_rows(ctx, pairs)
    # the chart: MACs, one published device, and this machine predicted and measured (the
    # table has every device)
    drawn = [(h, v) for h, v in series if not any(h == f"predicted {d}" for d in DEVICES[1:])]
    return [table(headers, rows, "markdown"),
            chart(ctx.charts, name, ch.bars(title, [p[0] for p in pairs], drawn, unit))]


def shares(result, groups) -> list:
    """Per (label, layer names) group: its share of MACs, predicted time and measured times
    (percent of the network's totals; None where not measured)."""
    t = result.totals
    by = {x["name"]: x for x in result.layers}
    out = []
    for label, names in groups:
        xs = [by[n] for n in names]
        row = [label, 100 * sum(x["macs"] for x in xs) / t["macs"],
               100 * sum(x["predicted_s"] for x in xs) / t["predicted_s"]]
        if result.measured:
            row.append(100 * sum(x["measured_s"] for x in xs) / t["measured_s"])
            row.append(100 * sum(x["torch_s"] for x in xs) / t["torch_s"]
                       if "torch_s" in t else None)
        out.append(row)
    return out
