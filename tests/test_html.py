"""The HTML reports (costcalc/html.py), without a browser: pages are self-contained, their
embedded JSON is valid and holds one graph node per layer with the counts of `summarize`, the
substituted MAC formulas evaluate to each layer's MACs, the index links every page, and bad
output paths give one clear CostcalcError. tests/test_browser.py drives the pages in Chromium."""
import ast
import json
import re
import textwrap
from pathlib import Path

import pytest

from costcalc import html
from costcalc.analysis import summarize
from costcalc.errors import CostcalcError, UsageError
from costcalc.ops import OPS
from costcalc.spec import available, load_text, variants

SPECS = ["resnet50", "mobilenet", "mobilenet-v2", "xception", "inception-resnet-v2",
         "inception-naive", "convnext", "shufflenet-v2"]

DATA_RE = re.compile(r'<script type="application/json" id="costcalc-data">(.*?)</script>', re.S)


def embedded(text: str) -> dict:
    found = DATA_RE.findall(text)
    assert len(found) == 1, "one embedded data block"
    return json.loads(found[0])


def exact(v) -> int:
    """A count as the page holds it: a JSON number, or a string of digits when above 2^53."""
    assert isinstance(v, (int, str)) and not isinstance(v, bool)
    return int(v)


def arith(text: str) -> int:
    """The test's own evaluator of a substituted formula: integers with + * / ( ) only, every
    division exact."""
    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and type(n.value) is int:
            return n.value
        assert isinstance(n, ast.BinOp), ast.dump(n)
        a, b = ev(n.left), ev(n.right)
        if isinstance(n.op, ast.Add):
            return a + b
        if isinstance(n.op, ast.Mult):
            return a * b
        assert isinstance(n.op, ast.Div) and b and a % b == 0, (text, ast.dump(n))
        return a // b
    return ev(ast.parse(text, mode="eval"))


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    written = html.write_html(out, SPECS)
    return out, written


# ----------------------------------------------------------------------------- self-contained
EXTERNAL = [
    re.compile(r"""\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"""<link\b""", re.I),
    re.compile(r"""<script\b[^>]*\bsrc\s*=""", re.I),
    re.compile(r"""<(?:iframe|img|object|embed)\b""", re.I),
    re.compile(r"""@import|url\(\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"""\bfetch\s*\(|XMLHttpRequest|WebSocket|EventSource|sendBeacon|\bimport\s*\(|"""
               r"""importScripts|new\s+Worker""", re.I),
    re.compile(r"""sourceMappingURL""")
]


def test_pages_are_self_contained(pages):
    out, written = pages
    assert [p.name for p in written] == [html.page_name(n) for n in SPECS] + ["index.html"]
    for path in written:
        text = path.read_text(encoding="utf-8")
        for pattern in EXTERNAL:
            hit = pattern.search(text)
            assert hit is None, f"{path.name}: {hit.group(0)!r} at {hit.start()}"
        # a Content-Security-Policy forbids every fetch the page could still try
        assert "default-src 'none'" in text
        if path.name != "index.html":
            # app.js, style.css and dagre inlined, dagre with its licence
            assert "Permission is hereby granted" in text and "Chris Pettitt" in text
            assert text.count("<script") == 3 and text.count("</script>") == 3


def test_embedded_json_matches_summarize(pages):
    out, _ = pages
    for name in SPECS:
        data = embedded((out / html.page_name(name)).read_text(encoding="utf-8"))
        assert data["kind"] == "spec" and data["index"] == "index.html"
        (d,) = data["specs"]
        s = summarize(name)
        assert d["spec"] == name
        assert {k: exact(v) for k, v in d["totals"].items()} == s.totals
        cols = d["layers"]["columns"]
        rows = [dict(zip(cols, r)) for r in d["layers"]["rows"]]
        # one graph node per layer: the rows are the layers of summarize, in order
        assert [r["name"] for r in rows] == [r.name for r in s.layers]
        assert len({r["name"] for r in rows}) == len(rows)
        index = {r.name: i for i, r in enumerate(s.layers)}
        for r, want in zip(rows, s.layers):
            assert r["op"] == want.op and tuple(r["shape"]) == want.output_shape
            keys = ("params", "trainable", "macs", "other", "flops", "acts")
            assert [exact(r[k]) for k in keys] == [want.params, want.trainable_params, want.macs,
                                                   want.other_ops, want.flops, want.activations]
            assert exact(r["bytes"]) == 4 * want.activations
            assert r["line"] == want.line
            # edges: an input is an earlier layer, or -1 for the graph's input
            assert r["inputs"] == [index.get(n, -1) for n in want.inputs]
            assert all(j < index[want.name] for j in r["inputs"])
        assert d["text"] == Path(s.spec.path).read_text(encoding="utf-8")
        assert d["file"] == f"specs/{Path(s.spec.path).name}"


def test_blocks_partition_the_layers(pages):
    """Each block's count and sums are those of the layers inside it; a block's parent comes
    first; nesting follows the spec's block rows (resnet50: conv2 > conv2_block1)."""
    out, _ = pages
    for name in SPECS:
        (d,) = embedded((out / html.page_name(name)).read_text(encoding="utf-8"))["specs"]
        cols = d["layers"]["columns"]
        rows = [dict(zip(cols, r)) for r in d["layers"]["rows"]]
        blocks = d["blocks"]
        members = [[] for _ in blocks]
        for i, r in enumerate(rows):
            b = r["block"]
            while b >= 0:
                members[b].append(i)
                b = blocks[b]["parent"]
        for k, b in enumerate(blocks):
            assert b["parent"] < k
            assert b["n"] == len(members[k]) > 1
            assert b["parent"] < 0 or b["n"] < blocks[b["parent"]]["n"]
            assert (b["first"], b["last"]) == (members[k][0], members[k][-1])
            for q in ("params", "macs", "flops", "acts"):
                assert exact(b[q]) == sum(exact(rows[i][q]) for i in members[k])
    (d,) = embedded((out / "resnet50.html").read_text(encoding="utf-8"))["specs"]
    by_key = {b["key"]: b for b in d["blocks"]}
    # Keras ResNet50: stages of 3, 4, 6, 3 bottleneck blocks (He et al. Table 1)
    stages = ("conv2", "conv3", "conv4", "conv5")
    assert [sum(1 for b in d["blocks"] if b["parent"] >= 0 and
                d["blocks"][b["parent"]]["key"] == st) for st in stages] == [3, 4, 6, 3]
    assert by_key["conv2_block1"]["def"] == "bottleneck"


# ----------------------------------------------------------------------------- formulas
def test_every_op_with_macs_has_a_substituted_formula():
    with_macs = {op.name for op in OPS if op.formulas.get("MACs", "0") != "0"}
    assert with_macs == set(html.MAC_FORMULAS)


def test_brief_example_resnet50():
    # 56x56 outputs, 64 filters of 3x3 over 64 channels: 56*56*64*576 = 115,605,504
    s = summarize("resnet50")
    d = html.page_data(s)
    cols = d["layers"]["columns"]
    row = dict(zip(cols, next(r for r in d["layers"]["rows"] if r[0] == "conv2_block1_2_conv")))
    assert row["formula"]["text"] == ("H_out*W_out*C_out*(k_h*k_w*C_in/groups) = "
                                      "56*56*64*(3*3*64/1) = 115,605,504")


MIXED = """
title: every op with MACs
input: [6, 17, 13]
layers:
  - {name: grouped, op: conv2d, filters: 12, kernel: [3, 5], strides: [2, 1], groups: 3,
     padding: same}
  - {name: dw, op: depthwise_conv2d, kernel: 3, depth_multiplier: 2, padding: same}
  - {name: sep, op: separable_conv2d, filters: 10, kernel: 3, depth_multiplier: 3}
  - {name: up, op: conv2d_transpose, filters: 4, kernel: 3, strides: 2, padding: 1,
     output_padding: 1, groups: 2}
  - {name: pos, op: dense, units: 7, per_position: true}
  - {name: gap, op: global_avg_pool}
  - {name: fc, op: dense, units: 5, activation: softmax}
"""


@pytest.mark.parametrize("name", SPECS + ["mixed"])
def test_formula_result_equals_macs(name):
    s = summarize(load_text(textwrap.dedent(MIXED), "mixed.yaml") if name == "mixed" else name)
    d = html.page_data(s)
    cols = d["layers"]["columns"]
    checked = 0
    for r, want in zip(d["layers"]["rows"], s.layers):
        f = dict(zip(cols, r))["formula"]
        assert f["other"] == want.other_ops and "other_rule" in f
        if want.macs == 0:
            assert "macs_values" not in f
            continue
        assert arith(f["macs_values"]) == want.macs, (want.name, f["macs_values"])
        assert exact(f["macs"]) == want.macs
        assert f["text"] == f"{f['macs_rule']} = {f['macs_values']} = {want.macs:,}"
        assert html.evaluate_formula(f["macs_values"]) == want.macs
        checked += 1
    assert checked >= 1
    if name == "mixed":
        assert checked == 6


def test_mixed_formulas_by_hand():
    """The substituted numbers of each op, derived here from the layers' attributes."""
    s = summarize(load_text(textwrap.dedent(MIXED), "mixed.yaml"))
    f = {r.name: dict(zip(html.LAYER_COLUMNS, row))["formula"]
         for r, row in zip(s.layers, html.page_data(s)["layers"]["rows"])}
    # same padding, strides 2x1 on 17x13: 9x13 outputs; 12 filters over 6/3 = 2 channels each
    assert f["grouped"]["macs_values"] == "9*13*12*(3*5*6/3)"
    # 12 channels in, multiplier 2: 24 maps of 9x13, 3x3 taps
    assert f["dw"]["macs_values"] == "9*13*12*2*3*3"
    # valid 3x3 on 9x13: 7x11; 24*3 = 72 intermediate maps, then 10 filters
    assert f["sep"]["macs_values"] == "7*11*24*3*3*3 + 7*11*24*3*10"
    # every input element (10 channels of 7x11) times 3x3 taps of 4/2 output channels
    assert f["up"]["macs_values"] == "7*11*10*(3*3*4/2)"
    # (7-1)*2 - 2*1 + (3-1) + 1 + 1 = 14, (11-1)*2 - 2 + 2 + 1 + 1 = 22: 4 channels in, 7 units
    # per position
    assert f["pos"]["macs_values"] == "14*22*4*7"
    assert f["fc"]["macs_values"] == "7*5"
    assert "macs_values" not in f["gap"]


def test_large_counts_are_exact_strings():
    """Counts above 2^53 go to the page as digit strings (JavaScript numbers would round)."""
    spec = load_text("input: [3, 1000000, 1000000]\nlayers:\n"
                     "  - {name: c, op: conv2d, filters: 1000, kernel: 3, padding: same}\n",
                     "big.yaml")
    s = summarize(spec)
    macs = 1000000 * 1000000 * 1000 * 27
    assert macs > 2**53 and s.layers[0].macs == macs
    d = embedded(html.spec_page(s))["specs"][0]
    row = dict(zip(d["layers"]["columns"], d["layers"]["rows"][0]))
    assert row["macs"] == str(macs) and d["totals"]["macs"] == str(macs)
    assert row["params"] == 27 * 1000 + 1000


def test_text_cannot_break_out_of_the_script():
    spec = load_text(textwrap.dedent("""\
        title: "</script><script>alert(1)</script>"
        description: "<!-- </style> & \\u2028"
        input: [3, 8, 8]
        layers:
          - {name: c, op: conv2d, filters: 2, kernel: 3}
        """), "evil.yaml")
    text = html.spec_page(summarize(spec))
    assert text.count("</script>") == 3 and "alert(1)</script>" not in text
    assert "<script>alert" not in text
    d = embedded(text)["specs"][0]
    assert d["title"] == "</script><script>alert(1)</script>"
    assert d["description"].startswith("<!-- </style> &")


def test_pages_are_deterministic(tmp_path):
    a = html.write_html(tmp_path / "a", ["resnet50"])
    b = html.write_html(tmp_path / "b", ["resnet50"])
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


# ----------------------------------------------------------------------------- index, compare
def test_index_links_every_page(tmp_path):
    written = html.write_html(tmp_path)
    every = sorted(available()) + sorted(variants())
    assert len(written) == len(every) + 1 and written[-1].name == "index.html"
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+)">', index)
    assert links == [html.page_name(n) for n in every]
    for link in links:
        assert (tmp_path / link).is_file()
    assert "efficientnet-b3.html" in links
    assert not list(tmp_path.glob("*.tmp"))


def test_overrides_apply_where_the_parameter_exists(tmp_path):
    html.write_html(tmp_path, ["resnet-cifar", "inception-naive"], {"depth": 56})
    (d,) = embedded((tmp_path / "resnet-cifar.html").read_text(encoding="utf-8"))["specs"]
    assert exact(d["totals"]["layers"]) == len(summarize("resnet-cifar", {"depth": 56}).layers)
    assert d["params_set"]["depth"] == 56
    with pytest.raises(UsageError, match="no spec given has a parameter 'width'"):
        html.write_html(tmp_path, ["resnet-cifar"], {"width": 2})


def test_compare_page(tmp_path):
    path = html.compare_html(["resnet50", "mobilenet-v2"], tmp_path / "sub" / "cmp.html")
    text = path.read_text(encoding="utf-8")
    for pattern in EXTERNAL:
        assert pattern.search(text) is None
    data = embedded(text)
    assert data["kind"] == "compare"
    assert [d["spec"] for d in data["specs"]] == ["resnet50", "mobilenet-v2"]
    c = data["compare"]
    macs = next(r for r in c["totals"] if r["key"] == "macs")
    want = [summarize(n).totals["macs"] for n in ("resnet50", "mobilenet-v2")]
    assert [exact(v) for v in macs["values"]] == want
    assert macs["text"] == [f"{v:,}" for v in want]
    # the breakdown's MACs add up to each network's total
    for k, total in enumerate(want):
        assert sum(exact(r[1][k]) for r in c["breakdown"]) == total
    with pytest.raises(UsageError, match="at least two"):
        html.compare_html(["resnet50"], tmp_path / "one.html")


# ----------------------------------------------------------------------------- bad places
def test_bad_output_dirs(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(CostcalcError, match="it is a file, not a folder"):
        html.write_html(a_file, ["inception-naive"])
    with pytest.raises(CostcalcError, match="cannot create the folder"):
        html.write_html(a_file / "sub", ["inception-naive"])
    out = tmp_path / "out"
    (out / "inception-naive.html").mkdir(parents=True)
    with pytest.raises(CostcalcError, match="a directory is in the way"):
        html.write_html(out, ["inception-naive"])
    assert sorted(p.name for p in out.iterdir()) == ["inception-naive.html"]   # nothing else
    with pytest.raises(CostcalcError, match="a directory is in the way"):
        html.compare_html(["inception-naive", "inception-bottleneck"], out / "inception-naive.html")
    with pytest.raises(CostcalcError, match="is a file, not a folder"):
        html.compare_html(["inception-naive", "inception-bottleneck"], a_file / "c.html")
    with pytest.raises(UsageError, match="no specs given"):
        html.write_html(out, [])
    with pytest.raises(CostcalcError, match="unknown spec"):
        html.write_html(out, ["no-such-spec"])


def test_write_failure_leaves_nothing(tmp_path, monkeypatch):
    """A failing write (a full disk) is one CostcalcError and leaves no .tmp and no page."""
    import builtins
    real_open = builtins.open
    calls = []

    def failing_open(path, mode="r", *args, **kwargs):
        if "w" in mode and str(path).endswith(".tmp"):
            calls.append(path)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
        return real_open(path, mode, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", failing_open)
    with pytest.raises(CostcalcError, match="No space left on device"):
        html.write_html(tmp_path, ["inception-naive", "inception-bottleneck"])
    assert list(tmp_path.iterdir()) == []


def test_blocks_from_name_prefixes_without_blocks():
    """A model without block rows (an imported one) gets its blocks from consecutive Keras-style
    name prefixes; a prefix shared by layers far apart (Keras's automatic names) is none."""
    spec = load_text(textwrap.dedent("""\
        input: [3, 16, 16]
        layers:
          - {name: stem_conv, op: conv2d, filters: 4, kernel: 3}
          - {name: stem_relu, op: relu}
          - {name: s1_b1_conv, op: conv2d, filters: 4, kernel: 1}
          - {name: s1_b1_relu, op: relu}
          - {name: s1_b2_conv, op: conv2d, filters: 4, kernel: 1}
          - {name: s1_b2_relu, op: relu}
          - {name: bn_1, op: batch_norm}
          - {name: head, op: global_avg_pool}
          - {name: bn_2, op: batch_norm}
        """), "flat.yaml")
    d = html.page_data(summarize(spec))
    got = {b["key"]: (b["n"], b["parent"] >= 0 and d["blocks"][b["parent"]]["key"])
           for b in d["blocks"]}
    assert got == {"stem": (2, False), "s1": (4, False), "s1/s1_b1": (2, "s1"),
                   "s1/s1_b2": (2, "s1")}
    names = [b["name"] for b in d["blocks"]]
    assert names == ["stem", "s1", "s1_b1", "s1_b2"]
