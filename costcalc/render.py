"""Turn results into text: aligned tables, GitHub markdown, CSV or JSON.

Tables show exact integers with thousands separators (numbers are the product), with a short
human form (``120.4 M``) only in the totals lines.
"""
from __future__ import annotations

import csv
import io
import json

FORMATS = ("table", "markdown", "csv", "json")


def human(n, unit="") -> str:
    """120422400 -> '120.42 M'."""
    n = float(n)
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".rstrip()


def human_bytes(n) -> str:
    n = float(n)
    for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}"
    return f"{int(n)} B"


def shape_text(shape) -> str:
    return "x".join(str(int(v)) for v in shape)


def _cell(v, fmt):
    if isinstance(v, bool) or v is None:
        return ("-" if fmt in ("table", "markdown") else "") if v is None else str(v)
    if isinstance(v, int) and fmt in ("table", "markdown"):
        return f"{v:,}"
    return v


def table(headers, rows, fmt="table") -> str:
    """Render rows (lists) under headers in one of table / markdown / csv."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(headers)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
        return buf.getvalue().rstrip("\n")
    from tabulate import tabulate
    cells = [[_cell(v, fmt) for v in row] for row in rows]
    align = []
    for k in range(len(headers)):
        numeric = any(isinstance(row[k], (int, float)) and not isinstance(row[k], bool)
                      for row in rows if k < len(row))
        align.append("right" if numeric else "left")
    return tabulate(cells, headers=headers, tablefmt="github" if fmt == "markdown" else "simple",
                    disable_numparse=True, colalign=align)


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=False)


# ----------------------------------------------------------------------------- summary
def summary_dict(s) -> dict:
    return {
        "spec": s.id,
        "title": s.spec.title,
        "source": s.spec.source,
        "file": str(s.spec.path) if s.spec.path else None,
        "params_set": s.model.params,
        "input_shape": list(s.input_shape),
        "output_shape": list(s.output_shape),
        "batch": s.batch,
        "conventions": "MAC = one multiply-accumulate; FLOPs = 2 x MACs + other ops; "
                       "params include biases and batch-norm statistics (see `costcalc ops`)",
        "totals": dict(s.totals),
        "layers": [{
            "name": r.name, "op": r.op, "inputs": r.inputs, "output_shape": list(r.output_shape),
            "params": r.params, "trainable_params": r.trainable_params, "macs": r.macs,
            "flops": r.flops, "other_ops": r.other_ops, "activations": r.activations,
            "line": r.line,
        } for r in s.layers],
    }


def totals_lines(s) -> list[str]:
    t = s.totals
    batch = f", batch {s.batch}" if s.batch != 1 else ""
    return [
        f"Input {shape_text(s.input_shape)} -> output {shape_text(s.output_shape)}{batch}; "
        f"{t['layers']:,} layers",
        f"Total params: {t['params']:,} ({human(t['params'])})  trainable: "
        f"{t['trainable_params']:,}  non-trainable: {t['non_trainable_params']:,}",
        f"MACs: {t['macs']:,} ({human(t['macs'])})  FLOPs: {t['flops']:,} ({human(t['flops'])}) "
        f"= 2 x MACs + {t['other_ops']:,} other ops",
        f"Activations: {t['activations']:,}  peak alive: {t['peak_activations']:,} elements = "
        f"{human_bytes(t['peak_activation_bytes'])} (float32)",
    ]


def render_summary(s, fmt="table") -> str:
    if fmt == "json":
        return dumps(summary_dict(s))
    chained = all(r.inputs == [prev.name] for prev, r in zip(
        [type("P", (), {"name": "input"})] + s.layers, s.layers))
    headers = ["layer", "op", "output (CxHxW)", "params", "MACs", "FLOPs", "activations"]
    if not chained:
        headers.insert(2, "inputs")
    rows = []
    for r in s.layers:
        row = [r.name, r.op, shape_text(r.output_shape), r.params, r.macs, r.flops, r.activations]
        if not chained:
            row.insert(2, ", ".join(r.inputs))
        rows.append(row)
    if fmt == "csv":
        total = ["TOTAL", "", shape_text(s.output_shape), s.totals["params"], s.totals["macs"],
                 s.totals["flops"], s.totals["activations"]]
        if not chained:
            total.insert(2, "")
        return table(headers, rows + [total], "csv")
    title = f"{s.id}: {s.spec.title}"
    out = [f"## {title}" if fmt == "markdown" else title, ""]
    out.append(table(headers, rows, fmt))
    out.append("")
    lines = totals_lines(s)
    out.extend(f"- {line}" for line in lines) if fmt == "markdown" else out.extend(lines)
    out.append("")
    out.append("MAC = one multiply-accumulate; FLOPs = 2 x MACs + other ops; params include "
               "biases and batch-norm statistics. Rules: `costcalc ops`.")
    src = source_text(s.spec.source)
    if src:
        out.append(f"Source: {src}")
    return "\n".join(out)


def source_text(source) -> str:
    if isinstance(source, dict):
        return "; ".join(f"{k}: {v}" for k, v in source.items())
    return str(source or "")


# ----------------------------------------------------------------------------- compare
def ratio_text(this, first) -> str:
    if first == 0 and this == 0:
        return "="
    if first == 0:
        return "n/a"
    r = this / first
    if this == first:
        return "1.00x"
    if this < first:
        return f"{r:.4f} ({first / this:.2f}x fewer)" if this else "0 (none)"
    return f"{r:.4f} ({r:.2f}x more)"


def compare_dict(result) -> dict:
    sums = result["summaries"]
    first = sums[0]
    out = {"specs": [], "breakdown": []}
    for s in sums:
        d = {"spec": s.id, "input_shape": list(s.input_shape),
             "output_shape": list(s.output_shape), "totals": dict(s.totals)}
        d["ratio_to_first"] = {q: (s.totals[q] / first.totals[q] if first.totals[q] else None)
                               for q in ("params", "macs", "flops", "activations")}
        notes = s.spec.data.get("notes")
        if isinstance(notes, list) and notes:
            d["notes"] = [str(n) for n in notes]
        out["specs"].append(d)
    for d, t in zip(out["specs"], result.get("times") or []):
        first_t = result["times"][0]
        d["time"] = {**t, **{f"{k}_ratio_to_first": (t[k] / first_t[k] if t[k] and first_t[k]
                                                     else None)
                             for k in ("predicted_s", "measured_s", "torch_s")}}
    ids = [s.id for s in sums]
    for key, e in result["breakdown"].items():
        out["breakdown"].append({"layer": key, **{
            sid: ({"macs": e["macs"][k], "params": e["params"][k],
                   "output_shape": list(e["shape"][k])} if e["present"][k] else None)
            for k, sid in enumerate(ids)}})
    return out


def render_compare(result, fmt="table") -> str:
    if fmt == "json":
        return dumps(compare_dict(result))
    sums = result["summaries"]
    first = sums[0]
    headers = ["spec", "input", "output", "params", "MACs", "FLOPs", "activations",
               f"MACs vs {first.id}", f"params vs {first.id}"]
    rows = [[s.id, shape_text(s.input_shape), shape_text(s.output_shape), s.totals["params"],
             s.totals["macs"], s.totals["flops"], s.totals["activations"],
             ratio_text(s.totals["macs"], first.totals["macs"]),
             ratio_text(s.totals["params"], first.totals["params"])] for s in sums]
    times = result.get("times")
    if times:
        headers, rows = _time_columns(headers, rows, times, first.id)
    ids = [s.id for s in sums]
    b_headers = ["layer"] + [f"{sid} MACs" for sid in ids] + [f"{sid} params" for sid in ids]
    b_rows = []
    for key, e in result["breakdown"].items():
        b_rows.append([key] + [e["macs"][k] if e["present"][k] else None for k in range(len(ids))]
                      + [e["params"][k] if e["present"][k] else None for k in range(len(ids))])
    if fmt == "csv":
        return table(headers, rows, "csv") + "\n\n" + table(b_headers, b_rows, "csv")
    h = "### " if fmt == "markdown" else ""
    out = [f"{h}Totals (ratios to {first.id})", "", table(headers, rows, fmt), "",
           f"{h}Per layer, aligned by name (- : the spec has no such layer)", "",
           table(b_headers, b_rows, fmt), ""]
    notes = [(s.id, str(n)) for s in sums for n in (s.spec.data.get("notes") or [])
             if isinstance(s.spec.data.get("notes"), list)]
    if notes:     # an imported file says what its import chose (folded batch norm: why params
        out += [f"{h}Notes", ""] + [f"- {sid}: {n}" for sid, n in notes] + [""]   # differ)
    out.append("MAC = one multiply-accumulate; FLOPs = 2 x MACs + other ops. Rules: "
               "`costcalc ops`.")
    if times:
        out.append(f"Time (float32): predicted by the roofline model on {times[0]['device']} "
                   "(`costcalc latency`, conventions)" + (
                       "; measured: the sum of each layer's best of 3 runs of costcalc's forward"
                       " pass (one layer at a time) and of PyTorch's on the same graph"
                       if any(t["measured_s"] for t in times) else "") + ".")
    return "\n".join(out)


def _time_columns(headers, rows, times, first_id):
    """compare's totals with each spec's time and its ratio to the first's, the MAC ratio's
    neighbours: predicted, then measured (costcalc, PyTorch) when measured."""
    f = times[0]
    cols = [("predicted ms", "predicted_s")]
    if any(t["measured_s"] for t in times):
        cols.append(("measured ms", "measured_s"))
    if any(t["torch_s"] for t in times):
        cols.append(("PyTorch ms", "torch_s"))
    at = headers.index(f"MACs vs {first_id}") + 1
    new_h = []
    for label, key in cols:
        new_h += [label, f"{label.split()[0]} vs {first_id}"]
    headers = headers[:at] + new_h + headers[at:]
    out = []
    for row, t in zip(rows, times):
        cells = []
        for _, key in cols:
            v = t[key]
            cells += [None if v is None else round(v * 1e3, 4),
                      ratio_text(v, f[key]) if v and f[key] else None]
        out.append(row[:at] + cells + row[at:])
    return headers, out


# ----------------------------------------------------------------------------- ops
def backward_text(g) -> str:
    """An op's training rule (ops.base.Grad) in one line: MACs, other ops, what it keeps."""
    if g is None:
        return "not declared"
    parts = ["each gradient the forward MACs" if g.macs else "0 MACs"]
    def amount(v):
        return "depends on attributes" if callable(v) else str(v)
    per = {"output": "per output element", "input": "per input element",
           "each input": "per output element and input"}[g.per]
    if g.input or g.extra or g.broadcast:
        parts.append(f"input gradient {amount(g.input)} other ops {per}")
    if g.weight:
        parts.append(f"weight gradients {amount(g.weight)} {per}")
    if g.saves:
        parts.append("keeps its " + " and ".join(g.saves)
                     + (" (for the weight gradient)" if g.saves_when == "weight" else ""))
    return "; ".join(parts) + (f". {g.why}" if g.why else "")


def render_ops(fmt="table") -> str:
    from . import ops
    entries = []
    for op in ops.OPS[1:]:
        attrs = []
        for at in op.attrs:
            attrs.append(at.describe())
        f = op.formulas
        entries.append({"op": op.name, "summary": op.summary, "attributes": attrs,
                        "inputs": (f"{op.min_inputs()}" if op.min_inputs() == op.max_inputs()
                                   else f"{op.min_inputs()}+"),
                        "output": f.get("output", ""), "params": f.get("params", "0"),
                        "trainable": f.get("trainable", "= params"), "macs": f.get("MACs", "0"),
                        "other_ops": f.get("other ops", "0"),
                        "aliases": list(op.aliases),
                        "backward": backward_text(op.grad),
                        "failures": [ops.FAILURES[c].brief for c in op.failures()]})
    if fmt == "json":
        return dumps({"conventions": ops.CONVENTIONS, "ops": entries})
    if fmt == "csv":
        return table(list(entries[0]), [[e[k] if not isinstance(e[k], list) else "; ".join(e[k])
                                          for k in e] for e in entries], "csv")
    out = [ops.CONVENTIONS]
    if fmt == "markdown":
        out = ["```text", ops.CONVENTIONS.rstrip(), "```", ""]
        rows = [[f"`{e['op']}`", e["summary"], "<br>".join(e["attributes"]) or "-", e["output"],
                 e["params"], e["macs"], e["other_ops"]] for e in entries]
        out.append(table(["op", "what", "attributes", "output", "params", "MACs", "other ops"],
                         rows, "markdown"))
        return "\n".join(out)
    for e in entries:
        also = f"; also called {', '.join(e['aliases'])}" if e["aliases"] else ""
        out.append(f"{e['op']}: {e['summary']}  (inputs: {e['inputs']}{also})")
        if e["attributes"]:
            out.append(f"    attributes: {', '.join(e['attributes'])}")
        out.append(f"    output:     {e['output']}")
        out.append(f"    params:     {e['params']}" + (f"   trainable: {e['trainable']}"
                                                      if e["trainable"] != "= params" else ""))
        out.append(f"    MACs:       {e['macs']}")
        out.append(f"    other ops:  {e['other_ops']}")
        out.append(f"    backward:   {e['backward']}")
        if e["failures"]:
            out.append(f"    fails when: {'; '.join(e['failures'])}")
        out.append("")
    return "\n".join(out).rstrip()


# ----------------------------------------------------------------------------- run
def run_dict(r) -> dict:
    return {
        "spec": r.summary.id, "input_shape": list(r.summary.input_shape), "batch": r.batch,
        "dtype": r.dtype, "seed": r.seed, "counting": r.counting, "seconds": r.seconds,
        "macs": r.summary.totals["macs"],
        "executed_macs": (sum(x.executed_macs for x in r.layers) if r.counting else None),
        "peak_activations_measured": r.peak_measured,
        "peak_activations_analytic": r.peak_analytic, "checksum": r.checksum,
        "layers": [{"name": x.name, "op": x.op, "output_shape": list(x.output_shape),
                    "macs": x.macs, "executed_macs": x.executed_macs, "seconds": x.seconds,
                    "fused_into": x.fused_into} for x in r.layers],
    }


def render_run(r, fmt="table") -> str:
    if fmt == "json":
        return dumps(run_dict(r))
    fused = any(x.fused_into for x in r.layers)
    headers = ["layer", "op", "output (CxHxW)", "MACs"] + (["executed MACs"] if r.counting
                                                             else []) + ["ms", "GFLOP/s"]
    headers += ["computed in"] if fused else []
    rows = []
    for x in r.layers:
        row = [x.name, x.op, shape_text(x.output_shape), x.macs]
        if r.counting:
            row.append(x.executed_macs)
        if x.fused_into:          # its time is in the convolution's row
            row += [None, None, x.fused_into]
        else:
            row += [round(x.seconds * 1e3, 3), round(x.gflops, 2) if x.macs else None]
            row += [None] if fused else []
        rows.append(row)
    if fmt == "csv":
        return table(headers, rows, "csv")
    t = r.summary.totals
    gf = 2 * t["macs"] / r.seconds / 1e9 if r.seconds else float("nan")
    lines = [table(headers, rows, fmt), ""]
    lines.append(f"{r.summary.id}: batch {r.batch}, {r.dtype}, seed {r.seed}: "
                 f"{r.seconds * 1e3:.1f} ms, {gf:.2f} GFLOP/s (2 x MACs / time)")
    if r.counting:
        executed = sum(x.executed_macs for x in r.layers)
        verdict = "equal" if executed == t["macs"] else "DIFFER"
        lines.append(f"Executed MACs {executed:,} vs analytic {t['macs']:,}: {verdict}")
    verdict = "equal" if r.peak_measured == r.peak_analytic else "DIFFER"
    if fused:
        lines.append(f"{sum(1 for x in r.layers if x.fused_into)} layers were computed in the "
                     "output pass of an earlier layer (a convolution, or an add for its ReLU: "
                     "\"computed in\", whose row holds their time); --no-fuse runs every layer on "
                     "its own.")
    lines.append(f"Peak live activations (every layer's output stored, in spec order): executor "
                 f"{r.peak_measured:,} vs analytic {r.peak_analytic:,} elements: {verdict}")
    lines.append(f"Output checksum (sum of the output): {r.checksum:.6g}")
    return "\n".join(lines)
