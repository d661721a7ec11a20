"""Markdown cost reports: one per spec, an index, and the contrast reports.

Everything here is deterministic (no timestamps, no fresh timings), so ``costcalc report --check``
can regenerate the reports in memory and compare them with the committed ones: predicted times
come from the built-in device profiles, measured times only from the recorded measurement
(reports/data/measured.json, written by ``report --measure``: costcalc/timing.py). Charts are
their data (charts/NAME.json, compared) and a picture drawn from it (charts/NAME.svg, checked
to carry the data's digest: costcalc/charts.py). ``reports/performance.md`` is the benchmarks'.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from . import mermaid
from .analysis import summarize
from .errors import CostcalcError
from .render import human_bytes, shape_text, source_text, table
from .spec import available, load
from .verify import DISAGREES, FAIL, verify_spec

CONVENTIONS_NOTE = (
    "Conventions: a MAC is one multiply-accumulate (the papers' \"multiply-adds\"); "
    "FLOPs = 2 x MACs + other ops (bias, batch norm, activations, pooling, adds); params count "
    "every stored number (weights, biases, batch-norm gamma, beta, moving mean and variance), "
    "trainable params leave out the moving statistics; activations are output elements of every "
    "layer, and peak memory is the most float32 elements alive at once. Counts are for one "
    "sample. The full rules: [README](../README.md#counting-conventions) and `costcalc ops`.")

MODULE_GRAPH_LIMIT = 40   # draw the graph of module specs up to this many layers
REPORT_DEVICE = "epyc-9654"   # the device of the network reports' roofline charts (a server CPU:
                              # this machine is a slice of one; every built-in is in the table)
CHARTS = "charts"             # the charts' folder inside the reports folder


def chart(charts: dict, name: str, data: dict) -> str:
    """Record a chart's data under ``name`` (charts/NAME.json, drawn as charts/NAME.svg) and
    return the markdown that shows it."""
    charts[name] = data
    return (f"![{data['title']}]({CHARTS}/{name}.svg)\n\nChart data: "
            f"[{CHARTS}/{name}.json]({CHARTS}/{name}.json).")


def time_section(s, charts: dict) -> list:
    """A network's roofline times on every built-in device, and its charts on REPORT_DEVICE."""
    from . import charts as ch
    from .roofline import MODEL_TEXT, builtin_profiles, load_profile, predict
    rows = []
    ref = None
    for prof in map(load_profile, builtin_profiles()):
        r = predict(s, prof, "float32")
        t = r.totals
        if prof.name == REPORT_DEVICE:
            ref = r
        rows.append([prof.name, prof.kind, f"{t['peak_flops'] / 1e9:,.1f}",
                     f"{t['bandwidth'] / 1e9:,.1f}", f"{t['ridge']:.1f}",
                     f"{t['predicted_s'] * 1e3:.4g}", f"{t['flops'] / t['peak_flops'] * 1e3:.4g}",
                     f"{t['predicted_s'] * t['peak_flops'] / t['flops']:.2f}x" if t["flops"]
                     else "-",
                     f"{t['memory_bound_layers']} of {t['layers']}",
                     f"{100 * t['memory_bound_share']:.1f}%"])
    return ["## Time on a device (roofline model)", "",
            MODEL_TEXT + " Predicted here for float32 at batch 1 on the built-in device profiles "
            "(`costcalc calibrate --list`, each with its sources); \"FLOPs at peak\" is the time "
            "if every layer ran at the device's peak, what a MAC count alone predicts. "
            f"Reproduce with `costcalc latency {s.id} --device DEVICE`; `--measure` adds this "
            "machine's measured time per layer (costcalc's and PyTorch's).", "",
            table(["device", "kind", "peak GFLOP/s", "GB/s", "ridge FLOP/byte", "predicted ms",
                   "FLOPs at peak ms", "predicted / FLOPs at peak", "memory-bound layers",
                   "time memory-bound"], rows, "markdown"), "",
            chart(charts, f"{s.id}-roofline",
                  ch.roofline(ref, f"{s.id}: roofline on {REPORT_DEVICE} (float32, batch 1)",
                              ("predicted",))), "",
            chart(charts, f"{s.id}-time-by-op",
                  ch.shares_by_op(ref, f"{s.id}: share of MACs and of predicted time by op "
                                       f"type on {REPORT_DEVICE} (%)")), ""]


def _pct(part, whole) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


def groups(summary) -> list[tuple[str, list]]:
    """Layers grouped by the spec's top-level rows: each block row (a ResNet stage, an inception
    module) is a group; consecutive top-level op rows form one group named by their ends."""
    out: list = []
    layers = {layer.name: layer for layer in summary.model.layers}
    for row in summary.layers:
        g = layers[row.name].group
        if out and out[-1][0] == g:
            out[-1][1].append(row)
        else:
            out.append((g, [row]))
    named = []
    for g, rows in out:
        if not g:
            g = rows[0].name if len(rows) == 1 else f"{rows[0].name} … {rows[-1].name}"
        named.append((g, rows))
    return named


def verify_status(rows) -> str:
    if not rows:
        return "no published figures"
    failed = sum(r["status"] == FAIL for r in rows)
    dis = sum(r["status"] == DISAGREES for r in rows)
    if failed:
        return f"FAIL ({failed} of {len(rows)})"
    return f"pass ({len(rows)} checks" + (f", {dis} source disagrees)" if dis else ")")


def _value(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, list):
        return shape_text(v)
    return v


def measured_section(s, charts: dict, measured) -> list:
    """A network's recorded measurement: predicted on this machine (as calibrated then) next to
    costcalc's and PyTorch's measured time, per op type, and the measured roofline."""
    from . import charts as ch
    from .contrasts_time import machine_line
    from .roofline import _err
    from .timing import case_result
    r = case_result(measured, s.id, s)
    t = r.totals
    has_torch = "torch_s" in t
    rows = []
    for e in r.by_op:
        row = [e["op"], e["layers"], f"{100 * e['mac_share']:.2f}",
               f"{100 * e['predicted_share']:.2f}", f"{100 * e['measured_share']:.2f}"]
        if has_torch:
            row.append(f"{100 * e['torch_share']:.2f}")
        row += [f"{e['predicted_s'] * 1e3:.4g}", f"{e['measured_s'] * 1e3:.4g}"]
        if has_torch:
            row.append(f"{e['torch_s'] * 1e3:.4g}")
        rows.append(row)
    headers = ["op", "layers", "MACs %", "predicted %", "measured % (costcalc)"]
    headers += ["measured % (PyTorch)"] if has_torch else []
    headers += ["predicted ms", "costcalc ms"] + (["PyTorch ms"] if has_torch else [])
    line = (f"Predicted on this machine {t['predicted_s'] * 1e3:.4g} ms; measured "
            f"{t['measured_s'] * 1e3:.4g} ms with costcalc's forward pass (prediction error "
            f"{100 * t['error']:+.1f}%)")
    if has_torch:
        line += (f" and {t['torch_s'] * 1e3:.4g} ms with PyTorch's (error "
                 f"{100 * _err(t['predicted_s'], t['torch_s']):+.1f}%)")
    return ["### Measured on this machine", "", machine_line(measured), "", line + ".", "",
            table(headers, rows, "markdown"), "",
            chart(charts, f"{s.id}-roofline-measured",
                  ch.roofline(r, f"{s.id}: roofline of this machine, measured (float32, "
                                 "batch 1)")), "",
            chart(charts, f"{s.id}-time-by-op-measured",
                  ch.shares_by_op(r, f"{s.id}: share of MACs and of time by op type, this "
                                     "machine (%)")), ""]


def spec_report(name: str, checks=None, charts: dict | None = None, measured=None) -> str:
    """One spec's report; its charts' data go into ``charts`` ({name: data}); ``measured``: the
    recorded measurement (timing), shown for the networks it has."""
    from .analysis import load_spec
    charts = {} if charts is None else charts
    spec = load_spec(name)
    s = summarize(spec)
    t = s.totals
    checks = verify_spec(spec) if checks is None else checks
    out = [f"# {spec.id}: {spec.title}", ""]
    if spec.description:
        out += [spec.description, ""]
    src = source_text(spec.source)
    if src:
        out += [f"Source: {src}", ""]
    out += [f"Spec: [`specs/{spec.id}.yaml`](../specs/{spec.id}.yaml). Reproduce with "
            f"`costcalc summary {spec.id}`.", ""]
    out += ["## Totals", "", table(["quantity", "value"], [
        ["input (C x H x W)", shape_text(s.input_shape)],
        ["output", shape_text(s.output_shape)],
        ["layers", t["layers"]],
        ["params", t["params"]],
        ["trainable params", t["trainable_params"]],
        ["non-trainable params", t["non_trainable_params"]],
        ["MACs", t["macs"]],
        ["FLOPs", t["flops"]],
        ["other ops", t["other_ops"]],
        ["activations (elements)", t["activations"]],
        ["peak activation memory", f"{t['peak_activations']:,} elements = "
                                   f"{human_bytes(t['peak_activation_bytes'])}"],
    ], "markdown"), "", CONVENTIONS_NOTE, ""]

    grouped = groups(s)
    if len(grouped) > 1:
        out += ["## Cost by stage", "", "Layers grouped by the spec's top-level rows (a block row "
                "is a stage or module; consecutive single layers are grouped by their ends).", ""]
        rows = []
        for g, members in grouped:
            macs = sum(r.macs for r in members)
            params = sum(r.params for r in members)
            rows.append([g, len(members), shape_text(members[-1].output_shape), params,
                         _pct(params, t["params"]), macs, _pct(macs, t["macs"])])
        out += [table(["stage", "layers", "output", "params", "params %", "MACs", "MACs %"], rows,
                      "markdown"), ""]
        if len(grouped) <= 30 and t["macs"]:
            labels = [g if len(g) <= 18 else g[:17] + "…" for g, _ in grouped]
            out += [mermaid.bar_chart(f"{spec.id}: MACs by stage (millions)", labels,
                                      [round(sum(r.macs for r in m) / 1e6, 2) for _, m in grouped],
                                      "MACs (millions)"), ""]

    costly = sorted(s.layers, key=lambda r: (-r.macs, r.name))[:10]
    if costly and costly[0].macs:
        out += ["## The ten costliest layers", "", table(
            ["layer", "op", "output", "params", "MACs", "share of MACs"],
            [[r.name, r.op, shape_text(r.output_shape), r.params, r.macs, _pct(r.macs, t["macs"])]
             for r in costly if r.macs], "markdown"), ""]

    by_op: dict = {}
    for r in s.layers:
        e = by_op.setdefault(r.op, [0, 0, 0])
        e[0] += 1
        e[1] += r.params
        e[2] += r.macs
    ops_sorted = sorted(by_op.items(), key=lambda kv: (-kv[1][2], -kv[1][1], kv[0]))
    out += ["## Shares by op type", "", table(
        ["op", "layers", "params", "params %", "MACs", "MACs %"],
        [[op, n, p, _pct(p, t["params"]), m, _pct(m, t["macs"])] for op, (n, p, m) in ops_sorted],
        "markdown"), ""]
    costed = [(op, v) for op, v in ops_sorted if v[1] or v[2]]
    if len(costed) > 1:
        labels = [op for op, _ in costed]
        out += [mermaid.bar_chart(f"{spec.id}: share of params and MACs by op type (%)",
                                  [f"{op} params" for op in labels] + [f"{op} MACs" for op in labels],
                                  [round(100 * v[1] / t["params"], 2) if t["params"] else 0
                                   for _, v in costed]
                                  + [round(100 * v[2] / t["macs"], 2) if t["macs"] else 0
                                     for _, v in costed], "percent"), ""]

    if spec.kind == "module" and len(s.layers) <= MODULE_GRAPH_LIMIT:
        out += ["## Graph", "", mermaid.flowchart(s), ""]
    if spec.kind == "network":
        out += time_section(s, charts)
        if measured is not None and spec.id in measured["cases"]:
            out += measured_section(s, charts, measured)

    out += ["## Published numbers", ""]
    if checks:
        out += [table(["quantity", "setting", "expected", "computed", "difference", "tolerance",
                       "status", "source"],
                      [[r["quantity"], r["setting"] or "default", _value(r["expected"]),
                        _value(r["computed"]), _value(r["difference"]), r["tolerance"],
                        r["status"], r["source"] + (f" ({r['note']})" if r["note"] else "")]
                       for r in checks], "markdown"), "",
                f"Status: {verify_status(checks)}. \"source disagrees\": the published figure is "
                "known to be wrong; the exact value is shown next to it.", ""]
    else:
        out += ["None recorded.", ""]
    return "\n".join(out).rstrip() + "\n"


def index_report(summaries: dict, statuses: dict, contrast_titles: dict) -> str:
    out = ["# costcalc reports", "",
           "Generated by `costcalc report` from the specs in `specs/`; `costcalc report --check` "
           "(run in CI) fails when they are out of date. Predicted times use the built-in device "
           "profiles; measured times are the benchmarks' ([performance.md](performance.md)) and, "
           "in the separable, bottleneck and MobileNet-scaling reports, those recorded once by "
           "`costcalc report --measure` ([data/measured.json](data/measured.json)).", "", CONVENTIONS_NOTE.replace("../README.md",
                                                                              "../README.md"), ""]
    for kind, title in (("network", "Networks"), ("module", "Modules and blocks")):
        names = [n for n, s in summaries.items() if s.spec.kind == kind]
        if not names:
            continue
        rows = []
        for n in names:
            s = summaries[n]
            t = s.totals
            rows.append([f"[{n}]({n}.md)", shape_text(s.input_shape), t["params"],
                         t["trainable_params"], t["macs"], t["flops"], t["activations"],
                         human_bytes(t["peak_activation_bytes"]), t["layers"], statuses[n]])
        out += [f"## {title}", "", table(["spec", "input", "params", "trainable", "MACs", "FLOPs",
                                          "activations", "peak memory", "layers", "verify"],
                                         rows, "markdown"), ""]
    if contrast_titles:
        out += ["## Contrasts", ""]
        out += [f"- [{title}]({fname})" for fname, title in contrast_titles.items()]
        out.append("")
    out += ["## Pictures", "", "Graphs and count charts are Mermaid blocks, which GitHub "
            "renders in markdown. " + MERMAID_CHECK, "", "Time charts (rooflines, time against "
            "MACs) are SVG pictures in [charts/](charts/), drawn by matplotlib from the data next"
            " to each (charts/NAME.json); `report --check` compares that data and checks that "
            "each picture carries its digest (costcalc/charts.py).", ""]
    return "\n".join(out).rstrip() + "\n"


# How the Mermaid blocks were checked; kept here so the index says it in one place.
MERMAID_CHECK = ("Every block was rendered with mermaid 11.17.2 (the npm package) in headless "
                 "Chromium 156 (Debian 12) by `tools/render_mermaid.sh reports/*.md`, which "
                 "fails on any block that mermaid.render() rejects as a syntax error; all "
                 "rendered. The test suite checks their structure (tests/test_report.py, "
                 "tests/test_contrasts.py).")


def build(names=None, measured=None) -> dict[str, str]:
    """All reports as {file name: text}: the markdown, and each chart's data as
    charts/NAME.json (the pictures are drawn from those by ``pictures``). ``measured``: the
    recorded measurement the contrast reports show (timing.load_measured), or None."""
    from . import charts as ch
    from . import contrasts
    charts: dict = {}
    if names:       # only the named specs' reports; the index and contrasts need every spec
        files = {f"{n}.md": spec_report(n, charts=charts, measured=measured) for n in names}
    else:
        names = sorted(available())
        files = {}
        summaries = {}
        statuses = {}
        for n in names:
            spec = load(n)
            checks = verify_spec(spec)
            statuses[n] = verify_status(checks)
            summaries[n] = summarize(spec)
            files[f"{n}.md"] = spec_report(n, checks, charts, measured)
        titles = {}
        for fname, (title, make) in contrasts.REPORTS.items():
            files[fname] = make(charts, measured)
            titles[fname] = title
        files["README.md"] = index_report(summaries, statuses, titles)
    for name, data in charts.items():
        files[f"{CHARTS}/{name}.json"] = ch.dumps(data)
    return files


def pictures(files: dict) -> dict:
    """The SVG picture of every chart data file in ``files`` (matplotlib)."""
    from . import charts as ch
    out = {}
    for fname, text in files.items():
        if fname.startswith(f"{CHARTS}/") and fname.endswith(".json"):
            out[fname[:-5] + ".svg"] = ch.svg(json.loads(text), text)
    return out


class ReportWriteError(CostcalcError):
    """A report file that cannot be written (read-only folder, a directory in the way, a full
    disk...)."""


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _write_text(path: Path, text: str):
    """One file's bytes (a function of its own so tests can make it fail)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()


def prepare_dir(out: Path, what: str = "the reports") -> None:
    """The output folder, created if needed; a file in the way or an OS error is one clear
    ReportWriteError (the markdown and the HTML reports share this)."""
    try:
        check_target(out, what)
        out.mkdir(parents=True, exist_ok=True)
    except ReportWriteError:
        raise
    except OSError as exc:
        raise ReportWriteError(f"cannot create the folder '{exc.filename or out}': "
                               f"{_os_reason(exc)}; expected a writable place") from None


def check_target(out: Path, what: str = "the reports") -> None:
    """Before a long computation (report --measure): the folder is one prepare_dir() can make
    or use, checked without creating anything (a file in the way, no writable ancestor)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReportWriteError(f"cannot write {what} to '{out}': it is a file, not a folder; "
                               "expected a folder (or a path to create)")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ReportWriteError(f"cannot create the folder '{out}': '{probe}' is not a "
                               "writable folder; expected a writable place")


def write(out_dir, names=None, measure=None) -> list[str]:
    """Write every report, all or nothing: everything is computed first (the charts' pictures
    too), then each file goes to NAME.tmp, and only when every .tmp is complete are they
    renamed over the reports. Any I/O error is one clear error naming the path; no .tmp file
    is left behind. The contrast reports' measured times come from the folder's recorded
    measurement (data/measured.json); ``measure``: a fresh record (timing.measure()) to write
    and use instead."""
    from . import timing
    out = Path(out_dir)
    measured = timing.load_measured(out / timing.MEASURED) if measure is None else measure
    files = build(names, measured)   # everything is computed before anything is written
    files.update(pictures(files))
    if measure is not None:
        files[timing.MEASURED] = timing.dumps(measure)
    prepare_dir(out)
    for folder in {(out / f).parent for f in files}:
        prepare_dir(folder, "the reports")
    write_all({out / fname: text for fname, text in files.items()})
    return sorted(files)


def write_all(files: dict) -> list:
    """Write {Path: text} all or nothing: each to NAME.tmp, and only when every .tmp is complete
    are they renamed over their targets; any I/O error is one ReportWriteError naming the path,
    and no .tmp file is left behind (the markdown and the HTML reports both write this way)."""
    for target in files:
        if target.is_dir() or (target.exists() and not target.is_file()):
            raise ReportWriteError(f"cannot write '{target}': a "
                                   f"{'directory' if target.is_dir() else 'non-regular file'} "
                                   "is in the way; expected a regular file or nothing there")
    written: list = []
    try:
        for target, text in files.items():
            tmp = target.with_name(target.name + ".tmp")
            written.append(tmp)
            try:
                _write_text(tmp, text)
            except OSError as exc:
                raise ReportWriteError(f"cannot write '{tmp}': {_os_reason(exc)}; expected a "
                                       "writable folder with free space") from None
        for target in files:
            tmp = target.with_name(target.name + ".tmp")
            try:
                tmp.replace(target)
            except OSError as exc:
                raise ReportWriteError(f"cannot replace '{target}': {_os_reason(exc)}; "
                                       "expected a writable folder") from None
            written.remove(tmp)
    finally:
        for tmp in written:          # a failure: remove every .tmp this call made
            try:
                tmp.unlink()
            except OSError:
                pass
    return list(files)


def check(out_dir) -> list[str]:
    """Problems (empty if the committed reports equal freshly generated ones): every markdown
    file and chart data file line by line, and every chart picture drawn from its data (the
    digest inside it; pixels are not compared)."""
    from . import charts as ch
    from . import timing
    out = Path(out_dir)
    problems = []
    files = build(None, timing.load_measured(out / timing.MEASURED))
    for fname, text in files.items():
        if fname.startswith(f"{CHARTS}/") and fname.endswith(".json"):
            pic = out / (fname[:-5] + ".svg")
            try:
                drawn = ch.drawn_from(pic.read_text(encoding="utf-8"), text)
            except (OSError, UnicodeDecodeError):
                drawn = None
            if drawn is None:
                problems.append(f"{pic}: missing or unreadable; run `costcalc report`")
            elif not drawn:
                problems.append(f"{pic}: drawn from other data than {out / fname}; run "
                                "`costcalc report`")
    for fname, text in files.items():
        path = out / fname
        if not path.exists():
            problems.append(f"{path}: missing; run `costcalc report`")
            continue
        try:
            old = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = _os_reason(exc) if isinstance(exc, OSError) else "not UTF-8 text"
            problems.append(f"{path}: cannot be read ({reason}); run `costcalc report`")
            continue
        new = text.splitlines()
        for k, (a, b) in enumerate(zip(old, new), start=1):
            if a != b:
                problems.append(f"{path}:{k}: out of date; committed: {a.strip()[:80]!r}, "
                                f"generated: {b.strip()[:80]!r}")
                break
        else:
            if len(old) != len(new):
                k = min(len(old), len(new)) + 1
                problems.append(f"{path}:{k}: out of date; the committed file has {len(old)} "
                                f"lines, the generated one {len(new)}")
    return problems


class ReportsOutOfDate(CostcalcError):
    exit_code = 1
