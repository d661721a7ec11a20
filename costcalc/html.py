"""Interactive HTML reports (issue 14): one self-contained page per spec, an index, and a compare
page for two or more specs.

A page needs no network: its script (``web/app.js``), its styles (``web/style.css``) and the
graph layout library (``web/dagre.min.js``, @dagrejs/dagre vendored with its licence, see
``web/VENDORED.md``) are inlined, and a Content-Security-Policy forbids every fetch. Every number
on a page comes from :func:`costcalc.analysis.summarize` and is embedded as JSON; the script only
formats, sorts, filters and draws them. The arithmetic of a layer's MACs with its own numbers
substituted (``56*56*64*(3*3*64/1) = 115,605,504``) is written here, in Python, from the layer's
attributes and shapes.

    write_html(out_dir, names=None)          # NAME.html for each spec (and variant), index.html
    compare_html(names, path)                # one compare page
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

from . import ops
from .analysis import BYTES_PER_ELEMENT, compare as run_compare, load_spec, summarize
from .errors import CostcalcError, UsageError
from .render import human, human_bytes, ratio_text, shape_text, source_text

WEB = Path(__file__).resolve().parent / "web"
SAFE_INT = 2**53 - 1            # larger integers go to the page as strings (exact digits)
SOURCE_LIMIT = 2 * 1024 * 1024  # a spec's YAML text is embedded up to this size

# The columns of a layer row in the page's JSON (``layers.rows``), in order.
LAYER_COLUMNS = ("name", "op", "inputs", "shape", "params", "trainable", "macs", "other",
                 "flops", "acts", "bytes", "line", "block", "formula")
SUMS = ("params", "trainable", "macs", "other", "flops", "acts", "bytes")

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data:; base-uri 'none'; form-action 'none'")


def _num(v: int):
    """An exact count for JSON: a number when JavaScript holds it exactly, else its digits."""
    v = int(v)
    return v if -SAFE_INT <= v <= SAFE_INT else str(v)


# ----------------------------------------------------------------------------- MAC formulas
def _conv2d(a, x, y):
    kh, kw = a["kernel"]
    return ("H_out*W_out*C_out*(k_h*k_w*C_in/groups)",
            f"{y[1]}*{y[2]}*{y[0]}*({kh}*{kw}*{x[0]}/{a['groups']})")


def _depthwise(a, x, y):
    kh, kw = a["kernel"]
    return ("H_out*W_out*C_in*depth_multiplier*k_h*k_w",
            f"{y[1]}*{y[2]}*{x[0]}*{a['depth_multiplier']}*{kh}*{kw}")


def _separable(a, x, y):
    kh, kw = a["kernel"]
    dm = a["depth_multiplier"]
    return ("H_out*W_out*C_in*dm*k_h*k_w + H_out*W_out*C_in*dm*C_out",
            f"{y[1]}*{y[2]}*{x[0]}*{dm}*{kh}*{kw} + {y[1]}*{y[2]}*{x[0]}*{dm}*{y[0]}")


def _dense(a, x, y):
    if a.get("per_position"):
        return "H*W*C_in*units", f"{y[1]}*{y[2]}*{x[0]}*{a['units']}"
    return "C_in*units", f"{x[0]}*{a['units']}"


def _conv2d_transpose(a, x, y):
    kh, kw = a["kernel"]
    return ("H_in*W_in*C_in*(k_h*k_w*C_out/groups)",
            f"{x[1]}*{x[2]}*{x[0]}*({kh}*{kw}*{a['filters']}/{a['groups']})")


# Every op with MACs (tests/test_html.py checks that each op whose "MACs" formula is not "0"
# has one): (attrs, input shape, output shape) -> (the rule, the rule with the numbers).
MAC_FORMULAS = {"conv2d": _conv2d, "depthwise_conv2d": _depthwise,
                "separable_conv2d": _separable, "dense": _dense,
                "conv2d_transpose": _conv2d_transpose}


def formula(layer, in_shapes, out_shape, macs: int, other: int, batch: int = 1) -> dict:
    """How a layer's MACs and other ops are counted: the op's rule, the rule with this layer's
    numbers (only for the ops with MACs) and the count."""
    op = layer.op
    out = {"other_rule": op.formulas.get("other ops", ""), "other": _num(other),
           "params_rule": op.formulas.get("params", "")}
    make = MAC_FORMULAS.get(op.name)
    if make is not None and in_shapes:
        rule, values = make(layer.attrs, tuple(in_shapes[0]), tuple(out_shape))
        if batch != 1:
            rule, values = f"({rule})*batch", f"({values})*{batch}"
        out.update(macs_rule=rule, macs_values=values, macs=_num(macs),
                   text=f"{rule} = {values} = {macs:,}")
    elif macs:
        out.update(macs_rule=op.formulas.get("MACs", ""), macs=_num(macs))
    return out


def evaluate_formula(values: str) -> int:
    """The integer value of a substituted formula (``56*56*64*(3*3*64/1)``): integers, + * / and
    parentheses, every division exact (tests use this to check the pages)."""
    import ast

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                if b == 0 or a % b:
                    raise ValueError(f"{a}/{b} is not an exact division")
                return a // b
        raise ValueError(f"unexpected element in formula: {ast.dump(node)}")
    return ev(ast.parse(values, mode="eval"))


# ----------------------------------------------------------------------------- blocks
def _name_paths(summary) -> list[list]:
    """Block paths from the layers' name prefixes, for models without blocks (imported ones):
    the first one and two parts of each name split at "/" (ONNX, Keras nested models) or at "/"
    and "_" (Keras: ``conv2`` > ``conv2_block1`` of ``conv2_block1_1_conv``), whichever finds
    more blocks. A prefix is a block only if its layers are consecutive and more than one
    (Keras's automatic names such as ``batch_normalization_3`` share a prefix all over the
    network)."""
    best: list = [[] for _ in summary.layers]
    best_count = 0
    for seps in (("/",), ("/", summary.spec.sep or "_", "_")):
        pattern = "|".join(re.escape(sep) for sep in dict.fromkeys(seps))
        paths = []
        for r in summary.layers:
            cuts = [m.start() for m in re.finditer(pattern, r.name)][:2]
            prefixes = tuple(r.name[:c] for c in cuts if c > 0)
            paths.append([("p",) + prefixes[:k] for k in range(1, len(prefixes) + 1)])
        where: dict = {}
        for i, path in enumerate(paths):
            for key in path:
                where.setdefault(key, []).append(i)
        good = {key for key, idx in where.items()
                if len(idx) > 1 and idx[-1] - idx[0] + 1 == len(idx)}
        if len(good) > best_count:
            best = [[key for key in path if key in good] for path in paths]
            best_count = len(good)
    return best


def blocks(summary) -> tuple[list, list]:
    """The collapsible blocks of a network and each layer's innermost block (-1: none).

    A layer's path is its top-level block row (``Layer.group``, a stage such as ``conv2``) and
    then its enclosing block instances (``Layer.scope``, ``conv2_block1``); for a model without
    blocks, its Keras-style name prefixes. A block of one layer, or with the same layers as its
    parent, is left out. Each block: name, key (the path), parent, depth, its layers' count,
    first and last layer, output shape (its last layer's), block definition, and the sums."""
    model_layers = {layer.name: layer for layer in summary.model.layers}
    paths = []
    for r in summary.layers:
        lay = model_layers[r.name]
        path = []
        if lay.group and not (r.scope and r.scope[0] == lay.group):
            path.append(("g", lay.group))
        path += [("s",) + tuple(r.scope[:k + 1]) for k in range(len(r.scope))]
        paths.append(path)
    if not any(paths):
        paths = _name_paths(summary)
    count: dict = {}
    for path in paths:
        for key in path:
            count[key] = count.get(key, 0) + 1
    index: dict = {}
    out: list = []
    inner = []
    for i, (r, path) in enumerate(zip(summary.layers, paths)):
        kept = []
        for key in path:
            if count[key] > 1 and (not kept or count[key] < count[kept[-1]]):
                kept.append(key)
        parent = -1
        for depth, key in enumerate(kept):
            b = index.get(key)
            if b is None:
                b = index[key] = len(out)
                lay = model_layers[r.name]
                out.append({"name": key[-1], "key": "/".join(key[1:]), "parent": parent,
                            "depth": depth, "n": 0, "first": i, "last": i,
                            "def": lay.block if key[0] == "s" and depth == len(kept) - 1 else "",
                            **{q: 0 for q in SUMS}})
            blk = out[b]
            blk["n"] += 1
            blk["last"] = i
            for q, v in zip(SUMS, _row_sums(r, summary)):
                blk[q] += v
            parent = b
        inner.append(parent)
    for blk in out:
        blk["shape"] = list(summary.layers[blk["last"]].output_shape)
        for q in SUMS:
            blk[q] = _num(blk[q])
    return out, inner


def _row_sums(r, summary):
    return (r.params, r.trainable_params, r.macs, r.other_ops, r.flops, r.activations,
            r.activations * BYTES_PER_ELEMENT["float32"])


# ----------------------------------------------------------------------------- page data
def _spec_file(spec) -> str:
    """The spec's file as shown on the page: ``specs/NAME.yaml`` for the zoo, else its path."""
    if not spec.path:
        return ""
    p = Path(spec.path)
    from .spec import spec_dirs
    for d in spec_dirs():
        try:
            rel = p.resolve().relative_to(Path(d).resolve())
        except (ValueError, OSError):
            continue
        return f"{Path(d).name}/{rel.as_posix()}"
    return str(p)


def _spec_text(spec) -> str:
    if not spec.path or Path(spec.path).suffix.lower() not in (".yaml", ".yml"):
        return ""
    try:
        p = Path(spec.path)
        if p.stat().st_size > SOURCE_LIMIT:
            return ""
        return p.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def page_data(summary) -> dict:
    """Everything one spec's page shows, as JSON-ready data."""
    spec, model = summary.spec, summary.model
    t = summary.totals
    shapes = {model.layers[0].name: tuple(model.input_shape)}
    for r in summary.layers:
        shapes[r.name] = tuple(r.output_shape)
    position = {r.name: i for i, r in enumerate(summary.layers)}
    layer_of = {layer.name: layer for layer in model.layers}
    block_list, inner = blocks(summary)
    rows = []
    used_ops: dict = {}
    for i, r in enumerate(summary.layers):
        lay = layer_of[r.name]
        used_ops.setdefault(r.op, lay.op)
        f = formula(lay, [shapes[n] for n in r.inputs], r.output_shape, r.macs, r.other_ops,
                    summary.batch)
        rows.append([r.name, r.op, [position.get(n, -1) for n in r.inputs],
                     list(r.output_shape), *(_num(v) for v in _row_sums(r, summary)[:6]),
                     _num(r.activations * BYTES_PER_ELEMENT["float32"]), r.line or 0, inner[i],
                     f])
    by_op: dict = {}
    for r in summary.layers:
        e = by_op.setdefault(r.op, [0, 0, 0, 0])
        e[0] += 1
        e[1] += r.params
        e[2] += r.macs
        e[3] += r.flops
    pct = (lambda a, b: f"{100 * a / b:.2f}%" if b else "-")
    op_rows = [[op, n, _num(p), pct(p, t["params"]), _num(m), pct(m, t["macs"]), _num(f)]
               for op, (n, p, m, f) in sorted(by_op.items(),
                                              key=lambda kv: (-kv[1][2], -kv[1][1], kv[0]))]
    batch = f" (batch {summary.batch})" if summary.batch != 1 else ""
    totals_rows = [
        ["input (C x H x W)", shape_text(summary.input_shape)],
        ["output", shape_text(summary.output_shape)],
        ["layers", f"{t['layers']:,}"],
        ["params", f"{t['params']:,} ({human(t['params'])})"],
        ["trainable params", f"{t['trainable_params']:,}"],
        ["non-trainable params", f"{t['non_trainable_params']:,}"],
        ["MACs" + batch, f"{t['macs']:,} ({human(t['macs'])})"],
        ["FLOPs = 2 x MACs + other ops" + batch, f"{t['flops']:,} ({human(t['flops'])})"],
        ["other ops" + batch, f"{t['other_ops']:,}"],
        ["activations (output elements)" + batch, f"{t['activations']:,}"],
        ["peak activation memory" + batch, f"{t['peak_activations']:,} elements = "
                                           f"{human_bytes(t['peak_activation_bytes'])} (float32)"],
    ]
    return {
        "spec": spec.id, "title": spec.title, "description": spec.description or "",
        "source": source_text(spec.source), "kind": spec.kind,
        "file": _spec_file(spec), "text": _spec_text(spec),
        "params_set": {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
                       for k, v in (model.params or {}).items()},
        "input_shape": list(summary.input_shape), "output_shape": list(summary.output_shape),
        "batch": summary.batch,
        "totals": {k: _num(v) for k, v in t.items()},
        "totals_rows": totals_rows,
        "by_op": op_rows,
        "conventions": ops.CONVENTIONS,
        "ops": {name: {"summary": getattr(op, "summary", ""), "formulas": dict(op.formulas)}
                for name, op in used_ops.items()},
        "layers": {"columns": list(LAYER_COLUMNS), "rows": rows},
        "blocks": block_list,
    }


# ----------------------------------------------------------------------------- pages
def _asset(name: str) -> str:
    try:
        return (WEB / name).read_text(encoding="utf-8")
    except OSError as exc:
        raise CostcalcError(f"the HTML report's {name} is missing from {WEB} "
                            f"({exc.strerror}); expected it in the installed package") from None


def _dagre() -> str:
    """dagre.min.js with its licence as a leading comment, without its source-map reference."""
    code = _asset("dagre.min.js")
    code = "\n".join(line for line in code.splitlines()
                     if not line.startswith("//# sourceMappingURL="))
    licence = _asset("LICENSE.dagre").strip().replace("*/", "* /")
    return (f"/*! @dagrejs/dagre 3.1.3 (graph layout), vendored by costcalc (see "
            f"costcalc/web/VENDORED.md). Licence (MIT):\n\n{licence}\n*/\n{code}")


def _script_safe(text: str) -> str:
    """Text that cannot end its <script> element early."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _json(data) -> str:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def page(data: dict, title: str) -> str:
    """A self-contained HTML page of the app with ``data`` embedded."""
    app = _asset("app.js")
    css = _asset("style.css")
    for name, text in (("app.js", app), ("style.css", css)):
        if "</script" in text.lower() or "</style" in text.lower():
            raise CostcalcError(f"costcalc/web/{name} contains a closing tag; it cannot be "
                                "inlined")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"generator\" content=\"costcalc\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n{css}\n</style>\n</head>\n<body>\n"
        "<noscript><p>This report draws its graph and tables with JavaScript; the same numbers "
        "are printed by <code>costcalc summary</code>.</p></noscript>\n"
        "<div id=\"app\"></div>\n"
        f"<script type=\"application/json\" id=\"costcalc-data\">{_json(data)}</script>\n"
        f"<script>\n{_script_safe(_dagre())}\n</script>\n"
        f"<script>\n{app}\n</script>\n</body>\n</html>\n")


def spec_page(summary, index: str | None = "index.html") -> str:
    data = {"kind": "spec", "index": index, "specs": [page_data(summary)]}
    return page(data, f"{summary.id}: {summary.spec.title} (costcalc)")


def compare_data(result) -> dict:
    """The compare section: totals side by side with ratios to the first, and the MACs and
    params breakdown aligned by the first part of the layer names."""
    sums = result["summaries"]
    first = sums[0].totals
    quantities = (("params", "params"), ("trainable_params", "trainable params"),
                  ("macs", "MACs"), ("flops", "FLOPs"), ("other_ops", "other ops"),
                  ("activations", "activations"), ("peak_activation_bytes", "peak memory"),
                  ("layers", "layers"))
    rows = []
    for key, label in quantities:
        rows.append({"key": key, "label": label,
                     "values": [_num(s.totals[key]) for s in sums],
                     "text": [human_bytes(s.totals[key]) if key == "peak_activation_bytes"
                              else f"{s.totals[key]:,}" for s in sums],
                     "ratios": [ratio_text(s.totals[key], first[key]) for s in sums]})
    breakdown = [[key, [_num(v) for v in e["macs"]], [_num(v) for v in e["params"]],
                  e["present"]] for key, e in result["breakdown"].items()]
    return {"ids": [s.id for s in sums], "titles": [s.spec.title for s in sums],
            "inputs": [shape_text(s.input_shape) for s in sums], "totals": rows,
            "breakdown": breakdown}


def compare_page(result, index: str | None = None) -> str:
    ids = [s.id for s in result["summaries"]]
    data = {"kind": "compare", "index": index, "compare": compare_data(result),
            "specs": [page_data(s) for s in result["summaries"]]}
    return page(data, f"compare {' vs '.join(ids)} (costcalc)")


def page_name(spec_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", spec_id) + ".html"


def index_page(entries: list) -> str:
    """index.html: a table of every page with its totals (static HTML, no script)."""
    rows = []
    for fname, s in entries:
        t = s.totals
        rows.append(
            f"<tr><td><a href=\"{html.escape(fname)}\">{html.escape(s.id)}</a></td>"
            f"<td>{html.escape(s.spec.title or '')}</td><td>{s.spec.kind}</td>"
            f"<td class=\"num\">{shape_text(s.input_shape)}</td>"
            f"<td class=\"num\">{t['layers']:,}</td><td class=\"num\">{t['params']:,}</td>"
            f"<td class=\"num\">{t['macs']:,}</td><td class=\"num\">{t['flops']:,}</td>"
            f"<td class=\"num\">{html.escape(human_bytes(t['peak_activation_bytes']))}</td></tr>")
    css = _asset("style.css")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>costcalc reports</title>\n"
        f"<style>\n{css}\n</style>\n</head>\n<body class=\"index\">\n<header><h1>costcalc "
        "reports</h1><p>One page per spec: the layer graph coloured by cost, each layer's "
        "formula with its numbers, a sortable table and the totals. Generated by "
        "<code>costcalc report --html</code>; the numbers are those of <code>costcalc "
        "summary</code> (one sample, float32).</p></header>\n<main>\n"
        "<table class=\"index-table\"><thead><tr><th>spec</th><th>title</th><th>kind</th>"
        "<th class=\"num\">input</th><th class=\"num\">layers</th><th class=\"num\">params</th>"
        "<th class=\"num\">MACs</th><th class=\"num\">FLOPs</th><th class=\"num\">peak "
        "memory</th></tr></thead>\n<tbody>\n" + "\n".join(rows) +
        "\n</tbody></table>\n<h2>Conventions</h2>\n<pre class=\"conventions\">"
        f"{html.escape(ops.CONVENTIONS)}</pre>\n</main>\n</body>\n</html>\n")


# ----------------------------------------------------------------------------- writing
def _prepare_dir(out: Path, what: str = "the HTML reports"):
    from .report import prepare_dir
    prepare_dir(out, what)


def _write_all(files: dict) -> list[Path]:
    """Write {Path: text} all or nothing (report.write_all)."""
    from .report import write_all
    return write_all(files)


def _names(names) -> list:
    if names is None:
        from .spec import available, variants
        return sorted(available()) + sorted(variants())
    if isinstance(names, (str, Path)):
        names = [names]
    names = list(names)
    if not names:
        raise UsageError("no specs given for the HTML reports; expected spec names or paths")
    return names


def write_html(out_dir, names=None, overrides: dict | None = None, input_shape=None,
               batch: int = 1) -> list[Path]:
    """Write NAME.html for each spec (default: every spec of the zoo and every named variant)
    and index.html linking them into ``out_dir`` (created if needed); returns the paths written,
    index.html last. ``overrides`` ({"depth": 1202}) apply to the specs that have the
    parameter (an unknown parameter everywhere is an error), as in ``costcalc compare``.
    Everything is computed before anything is written; any I/O problem is one CostcalcError."""
    out = Path(out_dir)
    specs = [load_spec(n) for n in _names(names)]
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if not any(k in s.defaults for s in specs)]
    if unknown:
        raise UsageError(f"no spec given has a parameter '{unknown[0]}'")
    files: dict = {}
    entries = []
    for spec in specs:
        own = {k: v for k, v in overrides.items() if k in spec.defaults}
        s = summarize(spec, own, input_shape, batch)
        fname = page_name(s.id)
        if out / fname in files:
            raise UsageError(f"two specs would both be written as '{fname}'; give each spec "
                             "once")
        files[out / fname] = spec_page(s)
        entries.append((fname, s))
    files[out / "index.html"] = index_page(entries)
    _prepare_dir(out)
    return _write_all(files)


def compare_html(names, path, overrides: dict | None = None, input_shape=None,
                 batch: int = 1) -> Path:
    """Write one compare page for two or more specs to ``path`` (its folder is created if
    needed): the totals side by side with ratios to the first, the breakdown by block, and each
    spec's graph and layer table. Returns the path."""
    result = run_compare(list(_names(names)), overrides, input_shape, batch, depth=1)
    target = Path(path)
    text = compare_page(result)
    _prepare_dir(target.parent, "the compare page")
    _write_all({target: text})
    return target


def main(argv=None) -> int:
    """Manual runs: ``python -m costcalc.html OUT_DIR [SPEC ...]`` or
    ``python -m costcalc.html --compare OUT.html SPEC SPEC ...`` (``--set k=v`` repeatable)."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m costcalc.html")
    p.add_argument("out")
    p.add_argument("specs", nargs="*")
    p.add_argument("--compare", action="store_true")
    p.add_argument("--set", action="append", default=[])
    a = p.parse_args(argv)
    sets = {}
    for item in a.set:
        k, _, v = item.partition("=")
        sets[k] = int(v) if v.lstrip("-").isdigit() else v
    try:
        if a.compare:
            print(compare_html(a.specs, a.out, sets or None))
        else:
            for f in write_html(a.out, a.specs or None, sets or None):
                print(f)
    except CostcalcError as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
