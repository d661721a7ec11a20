"""Contrast reports: short arguments with exact numbers (bottleneck, separable, ...).

``REPORTS`` maps a file name under reports/ to (title, function returning markdown). Every count
in a report is computed here through costcalc's public functions (``summarize``, ``compare``,
``verify.measure``) from the specs in specs/ or from small in-memory specs; the only numbers
written in are published figures, each next to its source (see /work/shared/REFERENCES.md).
"""
from __future__ import annotations

import inspect
import json
from fractions import Fraction

from . import mermaid
from .contrasts_time import Ctx, machine_line, pair_section, shares
from .analysis import compare, summarize
from .render import human, human_bytes, ratio_text, shape_text, table
from .report import CONVENTIONS_NOTE, groups
from .spec import load_text
from .verify import measure

REPORTS: dict = {}


def contrast(fname: str, title: str):
    """Register a report body (a function returning markdown blocks) under ``fname``. A body
    with a parameter gets a contrasts_time.Ctx (the charts it records, the measurement
    record); REPORTS[fname] is (title, make(charts=None, measured=None) -> markdown)."""
    def register(body):
        takes_ctx = bool(inspect.signature(body).parameters)

        def make(charts=None, measured=None):
            ctx = Ctx({} if charts is None else charts, measured)
            return page(title, body(ctx) if takes_ctx else body())
        REPORTS[fname] = (title, make)
        return body
    return register


def page(title: str, blocks) -> str:
    return "\n\n".join([f"# {title}", *blocks, CONVENTIONS_NOTE]).rstrip() + "\n"


def md(headers, rows) -> str:
    return table(headers, rows, "markdown")


def link(spec_id: str) -> str:
    return f"[{spec_id}]({spec_id}.md)"


def times(a, b) -> str:
    """a/b as a factor: '9.68x'."""
    return f"{a / b:.2f}x"


def pct(part, whole) -> str:
    return f"{100 * part / whole:.2f}%"


def mil(n, digits=2) -> float:
    """Millions, rounded for a chart (mermaid plots the number as written)."""
    return round(n / 1e6, digits)


def totals_table(rows) -> str:
    """Totals of (label, summary) pairs with MAC and param ratios to the first."""
    first = rows[0][1].totals
    return md(["spec", "input", "output", "params", "MACs", "activations", "peak memory",
               f"MACs vs {rows[0][0]}", f"params vs {rows[0][0]}"],
              [[link(label) if label == s.id else label, shape_text(s.input_shape),
                shape_text(s.output_shape), s.totals["params"],
                s.totals["macs"], s.totals["activations"],
                human_bytes(s.totals["peak_activation_bytes"]),
                ratio_text(s.totals["macs"], first["macs"]),
                ratio_text(s.totals["params"], first["params"])] for label, s in rows])


def graph(label: str, s, direction="TD") -> str:
    return f"Graph of {label} (shapes C x H x W, MACs on the nodes):\n\n" + \
        mermaid.flowchart(s, direction)


def inline_spec(title: str, input_shape, layers):
    """A module spec held in memory (rows written as JSON, which is YAML), for settings the
    repo's specs do not parameterize (kernel sizes, longer chains)."""
    text = "\n".join([f"title: {json.dumps(title)}", "kind: module",
                      f"input: {json.dumps(list(input_shape))}", "layers:"]
                     + [f"  - {json.dumps(row)}" for row in layers])
    return load_text(text, f"<{title}>")


def inline(title: str, input_shape, layers):
    """Summary of inline_spec(...)."""
    return summarize(inline_spec(title, input_shape, layers))


def conv(name: str, filters: int, kernel) -> dict:
    return {"name": name, "op": "conv2d", "filters": filters, "kernel": kernel,
            "padding": "same", "bias": False}


def per_output(row) -> int:
    """Multiplies for one output value (the seeds' k*k*C_in): MACs / output elements."""
    return row.macs // row.activations


# --------------------------------------------------------------------------- bottleneck.md
@contrast("bottleneck.md", "1x1 bottlenecks: 5x5 vs bottlenecked 5x5, naive vs bottleneck "
                           "inception")
def bottleneck(ctx):
    plain, reduced = summarize("conv5x5"), summarize("conv5x5-bottleneck")
    pm, rm = plain.totals["macs"], reduced.totals["macs"]
    big, small = plain.layers[0], reduced.layers[-1]
    # bottlenecked MACs are linear in the reduction width: MACs(r) = r * MACs(1)
    unit = summarize("conv5x5-bottleneck", {"reduce": 1}).totals["macs"]
    widths = sorted({4, 8, 16, 32, 64, 128, 192, pm // unit, pm // unit + 1})  # around break-even
    sweep = [(r, summarize("conv5x5-bottleneck", {"reduce": r}).totals) for r in widths]
    out = [
        "The seeds' computation-cost example (deeplearning.ai, *Convolutional Neural Networks*, "
        "week 2, \"Inception network motivation\"): a 5x5 \"same\" convolution with 32 filters on "
        "a 28x28x192 map needs \"120M\" multiplies; a 1x1 convolution with 16 filters in front of "
        "it brings this to \"2.4M + 10.0M = 12.4M\", about ten times less. Szegedy et al. (2014, "
        "\"Going deeper with convolutions\", Sec. 4 and Figure 2) make the same move for a whole "
        "inception module: 1x1 reductions before its 3x3 and 5x5 convolutions and after its "
        "pooling branch.",
        f"Exact counts agree: {pm:,} MACs without and {rm:,} with the bottleneck, "
        f"{ratio_text(rm, pm)}. A convolution costs its outputs times the multiplies per output, "
        f"and the bottleneck attacks the second factor: the 5x5 layer's multiplies per output "
        f"fall from {per_output(big):,} to {per_output(small):,} because it reads "
        f"{reduced.layers[0].output_shape[0]} channels instead of {plain.input_shape[0]}. The 1x1 "
        f"layer adds {reduced.layers[0].macs:,} MACs and a "
        f"{shape_text(reduced.layers[0].output_shape)} intermediate map; the output "
        f"({shape_text(reduced.output_shape)}) is the same. Since the pair's cost is linear in "
        f"the reduction width ({unit:,} MACs a channel), any width below {pm / unit:.1f} "
        "channels is cheaper than the plain 5x5.",
        "## 5x5 with and without a 1x1 bottleneck",
        totals_table([("conv5x5", plain), ("conv5x5-bottleneck", reduced)]),
        "Per layer, MACs = outputs x multiplies per output:",
        md(["spec", "layer", "output", "multiplies per output", "outputs", "MACs", "params"],
           [[link(s.id), r.name, shape_text(r.output_shape), per_output(r), r.activations,
             r.macs, r.params] for s in (plain, reduced) for r in s.layers]),
        "The reduction width decides the saving (`costcalc summary conv5x5-bottleneck --set "
        "reduce=R`):",
        md(["reduce", "MACs", "params", "MACs vs conv5x5"],
           [[r, t["macs"], t["params"], ratio_text(t["macs"], pm)] for r, t in sweep]),
        graph("conv5x5", plain, "LR"),
        graph("conv5x5-bottleneck", reduced, "LR"),
    ]
    from .roofline import predict
    naive, incb = summarize("inception-naive"), summarize("inception-bottleneck")
    dev = "epyc-9654"
    on = predict(reduced, dev)
    red, five = on.layers[0], on.layers[-1]
    ridge = on.totals["ridge"]
    return out + inception_contrast() + [
        "## In time: the same contrasts on devices",
        "MACs count multiplies; time also pays for the bytes each layer moves (the roofline "
        "model, conventions). The bottleneck's 1x1 layer does few multiplies for the bytes it "
        f"moves: it reads the whole {shape_text(plain.input_shape)} map to write "
        f"{reduced.layers[0].output_shape[0]} channels, {red['intensity']:.1f} FLOPs per byte "
        f"(float32), below {dev}'s ridge of {ridge:.1f}, so it is memory-bound there and takes "
        f"{100 * red['share']:.1f}% of the pair's predicted time for "
        f"{pct(reduced.layers[0].macs, rm)} of its MACs, while the 5x5 layer after it "
        f"({five['intensity']:.1f} FLOPs per byte) is compute-bound. That is why the time saved "
        "is smaller than the MACs saved on devices with a high ridge, and close to it on the "
        "phone SoC, whose ridge is low. Ratios: the costly design's time over the cheap one's "
        "(higher: the bottleneck saves more).",
        machine_line(ctx.measured),
        *pair_section(ctx, "bottleneck-time",
                      "Costly / cheap design: MACs against predicted and measured time (x)",
                      [("5x5 / bottlenecked 5x5", ("conv5x5", plain),
                        ("conv5x5-bottleneck", reduced)),
                       ("naive / bottleneck inception", ("inception-naive", naive),
                        ("inception-bottleneck", incb))], "times (costly / cheap)"),
    ]


def inception_contrast():
    result = compare(["inception-naive", "inception-bottleneck"], depth=1)
    naive, reduced = result["summaries"]
    nm, rm = naive.totals["macs"], reduced.totals["macs"]
    branches = result["breakdown"]
    b3, b5, pool = branches["3x3"], branches["5x5"], branches["pool"]
    widths = naive.output_shape[0], reduced.output_shape[0]
    rows = []
    for key, e in branches.items():
        shapes = [shape_text(sh) if sh else "-" for sh in e["shape"]]
        change = "added" if e["macs"][1] and not e["macs"][0] else \
            ratio_text(e["macs"][1], e["macs"][0])
        rows.append([key, *shapes, e["macs"][0], e["macs"][1], change, e["params"][0],
                     e["params"][1]])
    costed = [k for k, e in branches.items() if any(e["macs"])]
    return [
        "## Naive vs bottleneck inception module, branch by branch",
        f"Inception (3a)'s widths on its 28x28x192 input (GoogLeNet Table 1). Without reductions "
        f"the module costs {nm:,} MACs; with them {rm:,}, {ratio_text(rm, nm)}. The 3x3 branch "
        f"falls from {b3['macs'][0]:,} to {b3['macs'][1]:,} MACs "
        f"({times(b3['macs'][0], b3['macs'][1])} fewer) and the 5x5 branch from "
        f"{b5['macs'][0]:,} to {b5['macs'][1]:,} "
        f"({times(b5['macs'][0], b5['macs'][1])} fewer). The pooling branch is the one that gets "
        f"dearer ({pool['macs'][0]:,} -> {pool['macs'][1]:,} MACs for its 1x1 projection), and it "
        f"is the one Szegedy et al. worry about: max pooling keeps all {naive.input_shape[0]} "
        f"input channels, so the naive module's output is {widths[0]} channels wide against "
        f"{widths[1]}, and every convolution of the next module would read "
        f"{widths[0] / widths[1]:.3f} times as many channels; stacked, the naive design's cost "
        "grows from module to module. (`costcalc compare inception-naive inception-bottleneck "
        "--depth 1`.)",
        totals_table([("inception-naive", naive), ("inception-bottleneck", reduced)]),
        "Per branch (a branch is every layer whose name starts with it: `3x3` holds `3x3/reduce` "
        "and `3x3`; `-`: no such layer):",
        md(["branch", "naive output", "bottleneck output", "naive MACs", "bottleneck MACs",
            "bottleneck vs naive", "naive params", "bottleneck params"], rows),
        mermaid.bar_chart("MACs by branch (millions)",
                          [f"{k} {tag}" for k in costed for tag in ("naive", "bneck")],
                          [mil(branches[k]["macs"][i]) for k in costed for i in (0, 1)],
                          "MACs (millions)", zero=True),
        mermaid.bar_chart("Share of module MACs by branch (%)",
                          [f"{k} {tag}" for k in costed for tag in ("naive", "bneck")],
                          [round(100 * branches[k]["macs"][i] / (nm, rm)[i], 2)
                           for k in costed for i in (0, 1)], "percent", zero=True),
        graph("inception-naive", naive),
        graph("inception-bottleneck", reduced),
    ]


# --------------------------------------------------------------------------- separable.md
# MobileNet Table 2 ("Resource per layer type"): mult-adds and parameters, percent. The 3x3
# stem's 1.19% is a misprint of 1.91% (REFERENCES.md; specs/mobilenet.yaml).
MOBILENET_TABLE2 = [  # (type, scope for measure(), paper mult-adds %, paper params %)
    ("Conv 1x1 (pointwise)", "conv_pw", 94.86, 74.59),
    ("Conv DW 3x3", "op:depthwise_conv2d", 3.06, 1.06),
    ("Conv 3x3 (stem)", "conv1", 1.19, 0.02),
    ("Fully connected (1x1 conv)", "conv_preds", 0.18, 24.33),
]
# (M, N, Dk, Df): input channels, output channels, kernel, map size. Dk = 3 rows follow
# MobileNet's own layers (Table 1 widths); N = 72 is where 1/N + 1/9 is exactly 1/8.
SEPARABLE_CASES = [(32, 64, 3, 112), (128, 128, 3, 56), (256, 256, 3, 28), (512, 512, 3, 14),
                   (1024, 1024, 3, 7), (512, 16, 3, 14), (512, 72, 3, 14), (512, 512, 5, 14),
                   (512, 512, 7, 14), (512, 512, 1, 14)]
SEPARABLE_SWEEP_N = (16, 32, 64, 128, 256, 512, 1024)     # the chart: M = 512, Dk = 3, Df = 14


def separable_specs(m, n, k, f):
    """(standard, separable) specs of one layer: M -> N channels, Dk x Dk, Df x Df map."""
    std = inline_spec(f"standard {k}x{k}", (m, f, f), [conv("conv", n, k)])
    sep = inline_spec(f"separable {k}x{k}", (m, f, f), [
        {"name": "depthwise", "op": "depthwise_conv2d", "kernel": k, "padding": "same",
         "bias": False}, conv("pointwise", n, 1)])
    return std, sep


def separable_pair(m, n, k, f):
    """(standard, separable) summaries of separable_specs(...)."""
    std, sep = separable_specs(m, n, k, f)
    return summarize(std), summarize(sep)


@contrast("separable.md", "Standard vs depthwise-separable convolution: 1/N + 1/Dk^2, and "
                          "MobileNet vs Conv MobileNet")
def separable(ctx):
    std, sep = summarize("conv3x3-standard"), summarize("conv3x3-separable")
    cases = []
    for m, n, k, f in SEPARABLE_CASES:
        a, b = separable_pair(m, n, k, f)
        measured = Fraction(b.totals["macs"], a.totals["macs"])
        formula = Fraction(1, n) + Fraction(1, k * k)
        cases.append([m, n, k, f, a.totals["macs"], b.totals["macs"], f"{float(measured):.6f}",
                      f"{float(formula):.6f}", "exact" if measured == formula else "DIFFER",
                      f"{a.totals['macs'] / b.totals['macs']:.3f}"])
    sweep = [separable_pair(512, n, 3, 14) for n in SEPARABLE_SWEEP_N]
    at72 = next(r for r in cases if r[1] == 72)
    out = [
        "Howard et al. 2017 (\"MobileNets\", Sec. 3.1) split a standard convolution, "
        "Dk·Dk·M·N·Df·Df multiply-adds (Eq. 2), into a depthwise Dk x Dk convolution (one filter "
        "a channel) and a 1x1 pointwise convolution, Dk·Dk·M·Df·Df + M·N·Df·Df (Eq. 5), so the "
        "cost ratio is 1/N + 1/Dk^2, and \"MobileNet uses 3 × 3 depthwise separable "
        "convolutions which uses between 8 to 9 times less computation than standard "
        "convolutions\". Table 3 gives one layer (14x14, 512 -> 512): 462M mult-adds and 2.36M "
        "parameters standard, 52.3M and 0.27M separable.",
        f"costcalc's exact counts for that layer are {std.totals['macs']:,} and "
        f"{sep.totals['macs']:,} MACs ({times(std.totals['macs'], sep.totals['macs'])} fewer) and "
        f"{std.totals['params']:,} and {sep.totals['params']:,} weights. Over ten layer shapes "
        "the measured ratio equals 1/N + 1/Dk^2 exactly (compared as fractions): it does not "
        "depend on M or Df, only on the output channels and the kernel. \"8 to 9 times\" holds "
        f"for N >= 72 (N = 72 gives exactly {at72[-1]}x); MobileNet's first pointwise layer, "
        f"with N = 64, saves {cases[0][-1]}x, and with a 1x1 kernel the \"separable\" version "
        "costs more than the convolution it replaces. What the saving does not cover: the "
        f"depthwise output is an extra tensor, so the separable layer writes "
        f"{sep.totals['activations']:,} activations against {std.totals['activations']:,}.",
        "## One layer: MobileNet Table 3",
        totals_table([("conv3x3-standard", std), ("conv3x3-separable", sep)]),
        md(["spec", "MACs", "paper mult-adds", "params", "paper params"],
           [[link("conv3x3-standard"), std.totals["macs"], "462M", std.totals["params"], "2.36M"],
            [link("conv3x3-separable"), sep.totals["macs"], "52.3M", sep.totals["params"],
             "0.27M"]]),
        "Paper figures: Howard et al. 2017, Table 3 (rows \"Conv 3x3\" and \"Depthwise Separable "
        "Conv\").",
        "## The ratio against 1/N + 1/Dk^2",
        "One layer M -> N channels with a Dk x Dk kernel on a Df x Df map ('same' padding, stride "
        "1), as two in-memory specs: a conv2d, and a depthwise_conv2d followed by a 1x1 conv2d.",
        md(["M", "N", "Dk", "Df", "standard MACs", "separable MACs", "measured ratio",
            "1/N + 1/Dk^2", "as fractions", "standard / separable"], cases),
        mermaid.line_chart("Saving of a separable 3x3 layer vs N (standard / separable MACs)",
                           [str(n) for n in SEPARABLE_SWEEP_N],
                           [round(a.totals["macs"] / b.totals["macs"], 3) for a, b in sweep],
                           "times fewer MACs", "N (output channels)"),
        graph("conv3x3-standard", std, "LR"),
        graph("conv3x3-separable", sep, "LR"),
    ]
    return out + separable_time(ctx, std, sep) + mobilenet_contrast(ctx)


def separable_time(ctx, std, sep):
    from .roofline import builtin_profiles, load_profile, predict
    dev = "epyc-9654"
    conv_l, (dw_l, pw_l) = predict(std, dev).layers[0], predict(sep, dev).layers
    low, low_name = min((load_profile(d).ridge("float32"), d) for d in builtin_profiles())
    pairs = [("Table 3 layer (512 -> 512, 14x14)", ("conv3x3-standard", std),
              ("conv3x3-separable", sep))]
    for m, n, k, f in SEPARABLE_CASES:
        a, b = separable_pair(m, n, k, f)
        pairs.append((f"M {m}, N {n}, Dk {k}, Df {f}", (f"standard-{m}-{n}-{k}-{f}", a),
                      (f"separable-{m}-{n}-{k}-{f}", b)))
    return [
        "## In time: 8-9x fewer MACs is not 8-9x faster",
        "MACs count multiplies, but a layer also has to move its bytes (the roofline model, "
        "conventions: time = max(FLOPs / peak, bytes / bandwidth)). A depthwise convolution does "
        "Dk^2 multiply-adds per element it reads and writes, so its arithmetic intensity is low "
        f"at any width: in Table 3's layer (float32) the depthwise part does "
        f"{dw_l['intensity']:.2f} FLOPs per byte, the pointwise part {pw_l['intensity']:.1f} and "
        f"the standard convolution {conv_l['intensity']:.1f}. " + (
            f"Every built-in device's ridge point (peak / bandwidth, `costcalc calibrate "
            f"--list`; the lowest is {low:.1f}, {low_name}) lies above the depthwise intensity, "
            "so the depthwise half is memory-bound everywhere" if low > dw_l["intensity"] else
            f"The depthwise half is memory-bound on the devices whose ridge point (peak / "
            f"bandwidth) is above {dw_l['intensity']:.2f}") +
        " and costs more time than its MACs say (ShuffleNet V2, Ma et al. 2018, Sec. 2, make "
        "the same point with measured times). Ratios: standard time over separable time.",
        machine_line(ctx.measured),
        *pair_section(ctx, "separable-time",
                      "Standard / separable: MACs against predicted and measured time (x)",
                      pairs, "times (standard / separable)"),
    ]


def mobilenet_contrast(ctx):
    mob, full = summarize("mobilenet"), summarize("mobilenet-conv")
    mm, fm = mob.totals["macs"], full.totals["macs"]
    shares = [(label, measure(mob, "mac_share", scope),
               100 * measure(mob, "weights", scope) / measure(mob, "weights"), pm, pp)
              for label, scope, pm, pp in MOBILENET_TABLE2]
    return [
        "## A whole network: MobileNet vs Conv MobileNet",
        "Table 4 of the paper compares MobileNet with the same network built from full 3x3 "
        "convolutions: 569M vs 4866M mult-adds, 4.2M vs 29.3M parameters (weights only). "
        f"Exactly: {mm:,} vs {fm:,} MACs, {times(fm, mm)} fewer, a little less than a single "
        "layer's 8-9x because the 3x3 stem convolution and the classifier are the same in both. "
        f"(The paper's 4866M is {human(fm - 4866e6)} below the exact count, more than rounding "
        "explains; see specs/mobilenet-conv.yaml.)",
        md(["spec", "MACs", "paper mult-adds", "weights", "paper params", "params (Keras)",
            "activations", "peak memory"],
           [[link(s.id), s.totals["macs"], paper_m, measure(s, "weights"), paper_p,
             s.totals["params"], s.totals["activations"],
             human_bytes(s.totals["peak_activation_bytes"])]
            for s, paper_m, paper_p in ((mob, "569M", "4.2M"), (full, "4866M", "29.3M"))]),
        "Paper figures: Howard et al. 2017, Table 4. \"weights\": convolution and classifier "
        "kernels, the paper's parameters; \"params (Keras)\" adds biases and batch norm.",
        "Where MobileNet's cost goes: separable convolution moves almost all of it into the 1x1 "
        f"pointwise layers ({shares[0][1]:.2f}% of MACs, {shares[0][2]:.2f}% of weights), while "
        f"the depthwise layers, which do all the spatial filtering, are {shares[1][1]:.2f}% of "
        f"MACs. The table reproduces the paper's Table 2 (weights only); its {shares[2][3]}% for "
        f"the stem is a misprint of the exact {shares[2][1]:.2f}%.",
        md(["layer type", "MACs %", "paper mult-adds %", "weights %", "paper params %"],
           [[label, f"{m:.2f}", f"{pm:.2f}", f"{p:.2f}", f"{pp:.2f}"]
            for label, m, p, pm, pp in shares]),
        mermaid.bar_chart("MobileNet: share of MACs and weights by layer type (%)",
                          [f"{lab.split(' (')[0]} {q}" for q in ("MACs", "weights")
                           for lab, *_ in shares],
                          [round(v[i], 2) for i in (1, 2) for v in shares], "percent",
                          zero=True),
    ] + mobilenet_time(ctx, mob, full)


def mobilenet_time(ctx, mob, full):
    """MobileNet vs Conv MobileNet in time, and Table 2's shares as shares of time."""
    from . import charts as ch
    from .report import chart
    from .roofline import predict
    from .verify import _scoped
    rec = ctx.measured
    dev = "epyc-9654"
    groups, seen = [], set()
    short = {"conv_pw": "1x1 pointwise", "op:depthwise_conv2d": "3x3 depthwise",
             "conv1": "3x3 stem", "conv_preds": "classifier (1x1 conv)"}
    for _, scope, *_ in MOBILENET_TABLE2:
        names = [r.name for r in _scoped(mob, scope)]
        label = short[scope]
        seen.update(names)
        groups.append((label, names))
    groups.append(("everything else (batch norm, ReLU6, padding, pooling, softmax)",
                   [r.name for r in mob.layers if r.name not in seen]))
    on_dev = predict(mob, dev)
    base = shares(on_dev, groups)
    here = None
    if rec:
        from .timing import case_result
        here = case_result(rec, "mobilenet", mob)
        mine = shares(here, groups)
    headers = ["layer type", "MACs %", f"predicted time % ({dev})"]
    rows = []
    for k, row in enumerate(base):
        cells = [row[0], f"{row[1]:.2f}", f"{row[2]:.2f}"]
        if rec:
            cells += [f"{v:.2f}" if v is not None else "-" for v in mine[k][2:]]
        rows.append(cells)
    if rec:
        headers += ["predicted time % (this machine)", "measured time % (costcalc)",
                    "measured time % (PyTorch)"]
    pw = base[0]
    text = (f"Table 2's \"95% of the computation in 1x1 convolutions\" is a share of MACs "
            f"({pw[1]:.2f}% exactly). As a share of time it is smaller: the roofline model gives "
            f"the pointwise layers {pw[2]:.2f}% of the predicted time on {dev}, because the "
            "layers with few or no MACs (depthwise, batch norm, ReLU6, padding) move as many "
            "bytes as the convolutions around them.")
    if rec:
        text += (f" Measured on this machine, the 1x1 layers took {mine[0][3]:.2f}% of "
                 "costcalc's forward pass" + (f" and {mine[0][4]:.2f}% of PyTorch's"
                                             if mine[0][4] is not None else "") + ".")
    result = here if rec else on_dev
    where = "this machine, measured" if rec else dev
    return [
        "### MobileNet in time",
        machine_line(rec),
        *pair_section(ctx, "mobilenet-conv-time",
                      "Conv MobileNet / MobileNet: MACs against predicted and measured time (x)",
                      [("Conv MobileNet / MobileNet", ("mobilenet-conv", full),
                        ("mobilenet", mob))], "times (Conv MobileNet / MobileNet)"),
        text,
        md(headers, rows),
        chart(ctx.charts, "mobilenet-time-shares",
              ch.shares_by_op(result, f"MobileNet: share of MACs and of time by op type "
                                      f"({where}, %)")),
        chart(ctx.charts, "mobilenet-roofline",
              ch.roofline(result, f"MobileNet: roofline ({where}, float32, batch 1)")),
    ]


# --------------------------------------------------------------------------- factorization.md
# Chains replacing one 5x5 on conv5x5's 28x28x192 map, every layer with `filters` filters.
FIVE_BY_FIVE_CHAINS = [
    ("two 3x1 + 1x3 pairs", [[3, 1], [1, 3], [3, 1], [1, 3]]),
    ("5x1 then 1x5", [[5, 1], [1, 5]]),
]


def receptive_field(s) -> str:
    """Receptive field of a chain of stride-1 convolutions: 1 + sum(k - 1) on each axis."""
    kernels = [layer.attrs["kernel"] for layer in s.model.layers if "kernel" in layer.attrs]
    return "x".join(str(1 + sum(k[axis] - 1 for k in kernels)) for axis in (0, 1))


def in_memory(kernels) -> str:
    return "in memory: " + ", ".join(f"{kh}x{kw}" for kh, kw in kernels)


def chain(label, kernels, filters, input_shape):
    return inline(label, input_shape, [conv(f"{kh}x{kw}_{i}", filters, [kh, kw])
                                       for i, (kh, kw) in enumerate(kernels, start=1)])


@contrast("factorization.md", "Factorized convolutions: 5x5 vs two 3x3 vs 3x1 + 1x3")
def factorization():
    c = summarize("conv5x5-factorized").model.params["filters"]
    five = summarize("conv5x5", {"filters": c})
    variants = [("one 5x5", "conv5x5 --set filters=%d" % c, five),
                ("two 3x3", "conv5x5-factorized", summarize("conv5x5-factorized"))]
    variants += [(label, in_memory(ks), chain(label, ks, c, five.input_shape))
                 for label, ks in FIVE_BY_FIVE_CHAINS]
    fm = five.totals["macs"]
    three, asym = summarize("conv3x3-standard"), summarize("conv3x3-asymmetric")
    twos = [[2, 2], [2, 2]]
    two2 = chain("two 2x2", twos, three.model.params["filters"], three.input_shape)
    small = [("one 3x3", "conv3x3-standard", three), ("3x1 then 1x3", "conv3x3-asymmetric", asym),
             ("two 2x2", in_memory(twos), two2)]
    cin = five.input_shape[0]
    widths = (32, 96, 192, 384)
    unequal = [(f, summarize("conv5x5", {"filters": f}), summarize("conv5x5-factorized",
                                                                  {"filters": f}))
               for f in widths]
    two = variants[1][2]

    def rows(items, base):
        return [[label, spec, len(s.layers), receptive_field(s), s.totals["params"],
                 s.totals["macs"], f"{s.totals['macs'] / base:.4f}", s.totals["activations"]]
                for label, spec, s in items]

    headers = ["variant", "spec", "layers", "receptive field", "params", "MACs", "MACs vs first",
               "activations"]
    return [
        "Szegedy et al. 2015 (\"Rethinking the Inception Architecture for Computer Vision\", "
        "Sec. 3.1) replace a 5x5 convolution by two stacked 3x3 convolutions with the same "
        "receptive field: \"we end up with a net (9+9)/25 × reduction of computation, resulting "
        "in a relative gain of 28% by this factorization\". Sec. 3.2 goes further: a 3x3 becomes "
        "a 3x1 followed by a 1x3, 33% cheaper, while two 2x2 convolutions would save only 11%.",
        f"With {c} filters in and out (equal channels), the exact counts reproduce these ratios: "
        f"two 3x3 cost {two.totals['macs']:,} MACs against {fm:,}, "
        f"{two.totals['macs'] / fm:.4f} of the 5x5; 3x1 then 1x3 is "
        f"{asym.totals['macs'] / three.totals['macs']:.4f} of a 3x3 and two 2x2 "
        f"{two2.totals['macs'] / three.totals['macs']:.4f}. Factoring each 3x3 again gives four "
        f"layers at {variants[2][2].totals['macs'] / fm:.4f} of the 5x5, and 5x1 then 1x5 "
        f"{variants[3][2].totals['macs'] / fm:.4f}, all with the same 5x5 receptive field. The "
        "saving is paid in depth and memory: every extra layer writes another map "
        f"({two.totals['activations']:,} activations for two 3x3 against "
        f"{five.totals['activations']:,}).",
        "The 28% is a property of equal channel counts. With C_in input channels and F filters "
        "in both 3x3 layers the ratio is 9·(C_in + F) / (25·C_in): on conv5x5's own setting "
        f"(F = {widths[0]}) two 3x3 cost only "
        f"{unequal[0][2].totals['macs'] / unequal[0][1].totals['macs']:.4f} of the 5x5, and once "
        f"F passes 16/9·C_in the factorization is dearer (F = {widths[-1]}: "
        f"{unequal[-1][2].totals['macs'] / unequal[-1][1].totals['macs']:.4f}).",
        f"## Replacing a 5x5 ({shape_text(five.input_shape)} input, {c} filters)",
        md(headers, rows(variants, fm)),
        mermaid.bar_chart("MACs relative to one 5x5 (%)", [v[0] for v in variants],
                          [round(100 * s.totals["macs"] / fm, 2) for _, _, s in variants],
                          "percent of the 5x5", zero=True),
        f"## Replacing a 3x3 ({shape_text(three.input_shape)} input, "
        f"{three.model.params['filters']} filters)",
        md(headers, rows(small, three.totals["macs"])),
        "## When channel counts differ",
        f"One 5x5 vs two 3x3 on the {shape_text(five.input_shape)} map with F filters "
        "(`costcalc compare conv5x5 conv5x5-factorized --set filters=F`):",
        md(["F", "one 5x5 MACs", "two 3x3 MACs", "measured ratio", "9(C_in + F)/(25 C_in)"],
           [[f, a.totals["macs"], b.totals["macs"], f"{b.totals['macs'] / a.totals['macs']:.4f}",
             f"{9 * (cin + f) / (25 * cin):.4f}"] for f, a, b in unequal]),
        mermaid.line_chart("Two 3x3 vs one 5x5: MAC ratio against F",
                           [str(f) for f in widths],
                           [round(b.totals["macs"] / a.totals["macs"], 4) for _, a, b in unequal],
                           "two 3x3 / one 5x5", "F (filters)"),
        graph("conv5x5-factorized", two, "LR"),
        graph("conv3x3-asymmetric", asym, "LR"),
    ]


# --------------------------------------------------------------------------- residual.md
# He et al. 2015, Table 1 "FLOPs" row (multiply-adds, x10^9), and the block type per depth.
RESNET_IMAGENET = [("resnet18", 18, "basic", 1.8), ("resnet34", 34, "basic", 3.6),
                   ("resnet50", 50, "bottleneck", 3.8), ("resnet101", 101, "bottleneck", 7.6),
                   ("resnet152", 152, "bottleneck", 11.3)]
# He et al. 2015, Table 6 (CIFAR-10, option A): params in millions; He et al. 2016 ("Identity
# Mappings"), Table 4: pre-activation bottleneck ResNet-164 and -1001.
RESNET_CIFAR = [(20, "0.27M"), (32, "0.46M"), (44, "0.66M"), (56, "0.85M"), (110, "1.7M"),
                (1202, "19.4M")]
PREACT_CIFAR = [(164, "1.7M"), (1001, "10.2M")]


def shortcut_row(label, spec, s):
    """A block's shortcut cost: the layers named <block>_0_* (Keras's projection conv + BN)."""
    block = s.layers[0].scope[0]
    names = {r.name for r in s.layers}
    has = f"{block}_0_conv" in names
    sp = measure(s, "params", f"{block}_0") if has else 0
    sm = measure(s, "macs", f"{block}_0") if has else 0
    return [label, spec, shape_text(s.input_shape), shape_text(s.output_shape),
            "projection (1x1 conv + BN)" if has else "identity", sp, sm, s.totals["params"],
            s.totals["macs"], pct(sm, s.totals["macs"]),
            measure(s, "other_ops", f"{block}_add")]


@contrast("residual.md", "Residual blocks: identity vs projection shortcuts, basic vs "
                         "bottleneck, cost against depth")
def residual():
    ident = summarize("resnet-identity-block")
    option_c = summarize("resnet-projection-block", {"filters": 64, "strides": 1})
    proj = summarize("resnet-projection-block")
    shortcut_rows = [
        shortcut_row("identity", "resnet-identity-block", ident),
        shortcut_row("projection, stride 1", "resnet-projection-block --set filters=64 "
                                             "--set strides=1", option_c),
        shortcut_row("projection, stride 2", "resnet-projection-block", proj)]
    r50 = summarize("resnet50")
    projections = [r for r in r50.layers if r.name.endswith("_0_conv")]
    pmacs = sum(r.macs for r in projections)
    return [
        "He et al. 2015 (\"Deep Residual Learning for Image Recognition\", Sec. 3.2): \"The "
        "shortcut connections in Eqn.(1) introduce neither extra parameter nor computation "
        "complexity.\" Where shapes change, a 1x1 projection matches them (option B), and the "
        "paper does not project everywhere (option C) \"to reduce memory/time complexity and "
        "model sizes\". In its bottleneck block (Fig. 5) \"the 1×1 layers are responsible for "
        "reducing and then increasing (restoring) dimensions\", and it has \"similar time "
        "complexity\" to the two-3x3 basic block with a quarter of its channels.",
        f"The identity shortcut is free indeed: 0 params and 0 MACs; its only cost is the add "
        f"({shortcut_rows[0][-1]:,} other ops, not MACs). A projection on the same block "
        f"(ResNet-50's conv2_block2 with a 1x1 256 -> 256 shortcut, option C) adds "
        f"{shortcut_rows[1][6]:,} MACs and {shortcut_rows[1][5]:,} params: the block costs "
        f"{times(option_c.totals['macs'], ident.totals['macs'])} the identity block, and the "
        f"shortcut is {shortcut_rows[1][-2]} of it. In the downsampling block (conv3_block1) the "
        f"projection is {shortcut_rows[2][-2]} of the MACs. ResNet-50 (option B) projects in four "
        f"blocks only: {len(projections)} projection convolutions, {pmacs:,} MACs, "
        f"{pct(pmacs, r50.totals['macs'])} of the network.",
        "## Identity vs projection shortcuts",
        md(["shortcut", "spec", "input", "output", "kind", "shortcut params", "shortcut MACs",
            "block params", "block MACs", "shortcut share of MACs", "add: other ops"],
           shortcut_rows),
        graph("resnet-identity-block", ident),
        graph("resnet-projection-block", proj),
    ] + basic_vs_bottleneck() + depth_section()


def basic_vs_bottleneck():
    result = compare(["resnet-basic-block", "resnet-bottleneck-block"])
    basic, bneck = result["summaries"]
    convs = [[k, *(shape_text(sh) if sh else "-" for sh in e["shape"]),
              *(m if p else None for m, p in zip(e["macs"], e["present"])),
              *(v if p else None for v, p in zip(e["params"], e["present"]))]
             for k, e in result["breakdown"].items() if any(e["macs"])]
    return [
        "## Basic vs bottleneck block (He et al. Figure 5)",
        f"On 56x56 maps, the basic block (64 channels) costs {basic.totals['macs']:,} MACs and "
        f"{basic.totals['params']:,} params; the bottleneck block carries four times the channels "
        f"(256) through three layers for {bneck.totals['macs']:,} MACs "
        f"({ratio_text(bneck.totals['macs'], basic.totals['macs'])}) and "
        f"{bneck.totals['params']:,} params: \"similar time complexity\" holds to within "
        f"{abs(1 - bneck.totals['macs'] / basic.totals['macs']):.1%}. Its 3x3 layer reads and "
        "writes 64 channels, and the 1x1 layers do the widening. The price is memory: the "
        f"bottleneck block writes {bneck.totals['activations']:,} activations against "
        f"{basic.totals['activations']:,} "
        f"({times(bneck.totals['activations'], basic.totals['activations'])}).",
        totals_table([("resnet-basic-block", basic), ("resnet-bottleneck-block", bneck)]),
        md(["layer", "basic output", "bottleneck output", "basic MACs", "bottleneck MACs",
            "basic params", "bottleneck params"], convs),
        graph("resnet-basic-block", basic),
        graph("resnet-bottleneck-block", bneck),
    ]


def depth_section():
    imagenet = [(spec, depth, kind, paper, summarize(spec))
                for spec, depth, kind, paper in RESNET_IMAGENET]
    cifar = [(d, paper, summarize("resnet-cifar", {"depth": d})) for d, paper in RESNET_CIFAR]
    preact = [(d, paper, summarize("preact-resnet-cifar", {"depth": d}))
              for d, paper in PREACT_CIFAR]
    # one more block per stage (6 more layers): the cost of a block, the same in every stage
    step_m = summarize("resnet-cifar", {"depth": 26}).totals["macs"] - cifar[0][2].totals["macs"]
    step_p = summarize("resnet-cifar", {"depth": 26}).totals["params"] - \
        cifar[0][2].totals["params"]
    r34, r50 = imagenet[1][4].totals, imagenet[2][4].totals
    first = cifar[0][2]
    stages = [[block, shape_text(measure(first, "output_shape", block)),
               measure(first, "macs", block), measure(first, "params", block)]
              for block in ("stage1_block2", "stage2_block2", "stage3_block2")]
    deepest, preact_deep = cifar[-1][2].totals, preact[-1][2].totals
    return [
        "## Cost against depth",
        "He et al. keep the cost of a layer constant across stages: \"if the feature map size is "
        "halved, the number of filters is doubled so as to preserve the time complexity per "
        "layer\" (Sec. 3.3). So on CIFAR a basic block costs the same MACs in each of the three "
        f"stages ({stages[0][2]:,}) while its params grow fourfold from stage to stage, and "
        f"adding one block to each stage (6 layers) adds {step_m:,} MACs and {step_p:,} params: "
        f"both grow linearly with depth. ResNet-1202 reaches {deepest['macs']:,} MACs and "
        f"{deepest['params']:,} params. The pre-activation ResNet-1001 uses bottleneck units and "
        f"stays at {preact_deep['macs']:,} MACs and {preact_deep['params']:,} params. On "
        f"ImageNet, going from 34 basic to 50 bottleneck layers adds "
        f"{pct(r50['macs'] - r34['macs'], r34['macs'])} MACs "
        f"({r34['macs']:,} -> {r50['macs']:,}).",
        "### ImageNet (224x224, 1000 classes; Keras-style params with biases and batch norm)",
        md(["network", "depth", "block", "params", "weights", "MACs",
            "He et al. Table 1 FLOPs (multiply-adds)"],
           [[link(spec), depth, kind, s.totals["params"], measure(s, "weights"),
             s.totals["macs"], f"{paper} x 10^9"] for spec, depth, kind, paper, s in imagenet]),
        mermaid.line_chart("ImageNet ResNets: MACs (billions) vs depth",
                           [str(d) for _, d, *_ in imagenet],
                           [round(s.totals["macs"] / 1e9, 3) for *_, s in imagenet],
                           "GMACs", "depth"),
        mermaid.line_chart("ImageNet ResNets: params (millions) vs depth",
                           [str(d) for _, d, *_ in imagenet],
                           [mil(s.totals["params"]) for *_, s in imagenet], "params (M)",
                           "depth"),
        "### CIFAR-10 (32x32, 10 classes)",
        f"One identity basic block in each stage of resnet-cifar (depth {cifar[0][0]}):",
        md(["block", "output", "MACs", "params"], stages),
        "resnet-cifar: 6n+2 layers of basic blocks, option A shortcuts (He et al. 2015, Sec. 4.2); "
        "preact-resnet-cifar: 9n+2 layers of pre-activation bottleneck units (He et al. 2016). "
        "The papers count weights plus batch-norm scale and shift (Table 6, our \"trainable\") "
        "and weights only (2016, Table 4); specs/resnet-cifar.yaml and "
        "specs/preact-resnet-cifar.yaml explain which rounding matches.",
        md(["spec", "depth", "params", "trainable", "weights", "paper params", "MACs",
            "MACs / depth"],
           [[link(s.id), str(d), s.totals["params"], s.totals["trainable_params"],
             measure(s, "weights"), paper, s.totals["macs"], s.totals["macs"] // d]
            for d, paper, s in cifar + preact]),
        "Depths on the x axes below are categories, evenly spaced (20 to 1202).",
        mermaid.line_chart("CIFAR ResNets (6n+2): MACs (millions) vs depth",
                           [str(d) for d, *_ in cifar],
                           [mil(s.totals["macs"]) for *_, s in cifar], "MACs (M)", "depth"),
        mermaid.line_chart("CIFAR ResNets (6n+2): params (millions) vs depth",
                           [str(d) for d, *_ in cifar],
                           [mil(s.totals["params"]) for *_, s in cifar], "params (M)", "depth"),
    ]


# --------------------------------------------------------------------------- mobilenet-scaling.md
# Howard et al. 2017, Table 6 (width multiplier, 224x224) and Table 7 (resolution, alpha 1.0):
# mult-adds and parameters in millions as printed.
TABLE6 = [(1.0, 569, 4.2), (0.75, 325, 2.6), (0.5, 149, 1.3), (0.25, 41, 0.5)]
TABLE7 = [(224, 569, 4.2), (192, 418, 4.2), (160, 290, 4.2), (128, 186, 4.2)]


@contrast("mobilenet-scaling.md", "MobileNet width and resolution multipliers (Tables 6 and 7 "
                                  "reproduced)")
def mobilenet_scaling(ctx):
    base = summarize("mobilenet")
    bm = base.totals["macs"]
    widths = [(a, pm, pp, summarize("mobilenet", {"alpha": a})) for a, pm, pp in TABLE6]
    sizes = [(r, pm, pp, summarize("mobilenet", {"resolution": r})) for r, pm, pp in TABLE7]
    pw = measure(base, "macs", "conv_pw")          # pointwise: alpha^2
    fc = measure(base, "macs", "conv_preds")       # classifier: does not scale with resolution
    lin = bm - pw                                  # stem, depthwise, classifier: alpha^1
    quarter = widths[-1][3].totals["macs"]
    r160 = sizes[2][3].totals["macs"]
    return [
        "Howard et al. 2017 (\"MobileNets\", Sec. 3.3-3.4) shrink the network with a width "
        "multiplier alpha (every layer's channels times alpha), which has \"the effect of "
        "reducing computational cost and the number of parameters quadratically by roughly "
        "α²\", and a resolution multiplier rho (the input side times rho), which reduces the "
        "computational cost by ρ². "
        "Tables 6 and 7 print the resulting mult-adds and parameters; costcalc reproduces them "
        "with `costcalc summary mobilenet --set alpha=A` and `--set resolution=R` (Keras rounds "
        "channels with int(filters*alpha), exact for these alphas).",
        f"The alpha^2 rule is a lower bound: only the pointwise layers ({pct(pw, bm)} of MACs) "
        "scale as alpha^2; the stem convolution (3 input channels), the depthwise layers and "
        f"the classifier scale as alpha. So MACs(alpha) = {pw:,}·alpha^2 + {lin:,}·alpha "
        f"exactly, and at alpha 0.25 the network costs {quarter / bm:.4f} of the full one, not "
        f"0.0625. Resolution is cleaner: every convolution scales as rho^2 and only the "
        f"{fc:,}-MAC classifier does not, so MACs(rho) = {bm - fc:,}·rho^2 + {fc:,}. The "
        f"printed 290M at 160x160 is the rule applied to 569M (569·(160/224)^2 = "
        f"{569 * (160 / 224) ** 2:.1f}); the exact {r160:,} would print as {r160 / 1e6:.0f}M. "
        "Parameters do not depend on resolution at all.",
        "## Table 6: width multiplier (224x224)",
        md(["alpha", "paper mult-adds", "MACs", "MACs / alpha 1.0", "alpha^2",
            "pointwise·alpha^2 + rest·alpha", "paper params", "weights", "params (Keras)"],
           [[str(a), f"{pm}M", s.totals["macs"], f"{s.totals['macs'] / bm:.4f}",
             f"{a * a:.4f}", round(pw * a * a + lin * a), f"{pp}M", measure(s, "weights"),
             s.totals["params"]] for a, pm, pp, s in widths]),
        mermaid.line_chart("MobileNet MACs (millions) vs width multiplier",
                           [str(a) for a, *_ in widths],
                           [mil(s.totals["macs"]) for *_, s in widths], "MACs (M)", "alpha"),
        "## Table 7: resolution multiplier (alpha 1.0)",
        md(["resolution", "rho", "paper mult-adds", "MACs", "MACs / 224", "rho^2",
            "569M·rho^2", "convs·rho^2 + classifier", "paper params", "weights"],
           [[r, f"{r / 224:.4f}", f"{pm}M", s.totals["macs"], f"{s.totals['macs'] / bm:.4f}",
             f"{(r / 224) ** 2:.4f}", f"{569 * (r / 224) ** 2:.1f}M",
             round((bm - fc) * (r / 224) ** 2 + fc), f"{pp}M", measure(s, "weights")]
            for r, pm, pp, s in sizes]),
        mermaid.line_chart("MobileNet MACs (millions) vs input resolution",
                           [str(r) for r, *_ in sizes],
                           [mil(s.totals["macs"]) for *_, s in sizes], "MACs (M)", "resolution"),
        "Paper figures: Howard et al. 2017, Tables 6 and 7 (parameters are weights only). "
        "\"weights\": convolution and classifier kernels; \"params (Keras)\" adds biases and batch "
        "norm (Keras's MobileNet at alpha 1.0: 4,253,864).",
    ] + table3_rows() + scaling_time(ctx, base, widths, sizes)


def scaling_key(what, value):
    """The measured case of a multiplier value (timing.cases: the base network is 'mobilenet')."""
    return "mobilenet" if value in (1.0, 224) else f"mobilenet-{what}-{value}"


def scaling_time(ctx, base, widths, sizes):
    pairs = [(f"alpha {a}", ("mobilenet", base), (scaling_key("alpha", a), s))
             for a, _, _, s in widths if a != 1.0]
    pairs += [(f"resolution {r}", ("mobilenet", base), (scaling_key("resolution", r), s))
              for r, _, _, s in sizes if r != 224]
    from .roofline import predict
    dev = "epyc-9654"
    full = predict(base, dev).totals
    quarter = predict(widths[-1][3], dev).totals
    return [
        "## In time: what the multipliers buy",
        "The multipliers' saving in time (full MobileNet's time over the scaled one's) next to "
        "the saving in MACs. The resolution multiplier scales every layer's FLOPs and its "
        "activation bytes alike by rho^2, so predicted time follows the MACs. The width "
        "multiplier does not: the pointwise layers' MACs fall as alpha^2 but the activations "
        "they read and write only as alpha, so narrow layers become memory-bound. On "
        f"{dev}, {full['memory_bound_layers']} of MobileNet's {full['layers']} layers are "
        f"memory-bound at alpha 1.0 ({100 * full['memory_bound_share']:.1f}% of the predicted "
        f"time) and {quarter['memory_bound_layers']} at alpha 0.25 "
        f"({100 * quarter['memory_bound_share']:.1f}%), and the quarter-width network is "
        f"predicted {full['predicted_s'] / quarter['predicted_s']:.2f}x faster for "
        f"{base.totals['macs'] / widths[-1][3].totals['macs']:.2f}x fewer MACs.",
        machine_line(ctx.measured),
        *pair_section(ctx, "mobilenet-scaling-time",
                      "Full MobileNet / scaled: MACs against predicted and measured time (x)",
                      pairs, "times (alpha 1.0, 224 / scaled)"),
    ]


def table3_rows():
    """Table 3's layer-level rows: the 14x14x512 separable layer at alpha 0.75 and rho 0.714."""
    rows = [("separable, 512 channels, 14x14", {}, None, "52.3M", "0.27M"),
            ("alpha 0.75 (384 channels)", {"filters": 384}, "384x14x14", "29.6M", "0.15M"),
            ("alpha 0.75, rho 0.714 (10x10)", {"filters": 384}, "384x10x10", "15.1M", "0.15M")]
    return [
        "## Table 3: the same multipliers on one layer",
        "`costcalc summary conv3x3-separable --set filters=N --input NxSxS`; paper figures from "
        "Howard et al. 2017, Table 3.",
        md(["row", "input", "MACs", "paper mult-adds", "params", "paper params"],
           [[label, shape_text(s.input_shape), s.totals["macs"], pm, s.totals["params"], pp]
            for label, s, pm, pp in ((label, summarize("conv3x3-separable", o, i), pm, pp)
                                     for label, o, i, pm, pp in rows)]),
    ]


# ------------------------------------------------------------------ xception-vs-inception.md
# Published: Keras Applications table (total params) and Chollet 2016, Table 3 (parameter count;
# its Inception V3 figure matches no public framework's count, REFERENCES.md).
PUBLISHED = {"xception": ("22,910,480", "22,855,952"), "inception-v3": ("23,851,784", "23,626,728")}


def by_grid(s) -> list:
    """[H x W, layers, params, MACs] of the layers with each output map size, largest first."""
    grids: dict = {}
    for r in s.layers:
        e = grids.setdefault(tuple(r.output_shape[1:]), [0, 0, 0])
        e[0] += 1
        e[1] += r.params
        e[2] += r.macs
    return [[shape_text(hw), *e] for hw, e in sorted(grids.items(), reverse=True)]


@contrast("xception-vs-inception.md", "Xception vs Inception V3: \"the same number of "
                                      "parameters\", checked")
def xception_vs_inception():
    x, i = summarize("xception"), summarize("inception-v3")
    xt, it = x.totals, i.totals
    middle = next(rows for g, rows in groups(x) if g == "middle")
    mid_macs = sum(r.macs for r in middle)
    top = {s.id: max(by_grid(s), key=lambda g: g[3]) for s in (x, i)}
    quantities = [("params (Keras total)", "params", "params"),
                  ("trainable params", "trainable_params", "trainable"), ("MACs", "macs", "MACs"),
                  ("FLOPs", "flops", "FLOPs"), ("activations", "activations", "activations"),
                  ("peak activations (elements)", "peak_activations", "peak memory"),
                  ("layers", "layers", "layers")]
    return [
        "Chollet 2016 (\"Xception: Deep Learning with Depthwise Separable Convolutions\", "
        "abstract): \"Since the Xception architecture has the same number of parameters as "
        "Inception V3, the performance gains are not due to increased capacity but rather to a "
        "more efficient use of model parameters.\" Table 3 of the paper lists 22,855,952 "
        "parameters for Xception and 23,626,728 for Inception V3.",
        f"The parameter claim holds to a few percent: Keras builds Xception with "
        f"{xt['params']:,} params and Inception V3 with {it['params']:,} "
        f"({xt['params'] / it['params']:.4f}, {pct(it['params'] - xt['params'], it['params'])} "
        f"fewer); trainable, {xt['trainable_params']:,} (exactly the paper's Xception figure) "
        f"against {it['trainable_params']:,}. The paper's 23,626,728 for Inception V3 matches no "
        "public framework's count (Keras's trainable count is "
        f"{it['trainable_params'] - 23626728:,} higher), so it is shown but not used. The cost "
        f"of running the two is not the same: at 299x299 Xception needs {xt['macs']:,} MACs "
        f"against {it['macs']:,} ({times(xt['macs'], it['macs'])}), writes "
        f"{times(xt['activations'], it['activations'])} the activations and needs "
        f"{times(xt['peak_activations'], it['peak_activations'])} the peak memory. Its middle "
        f"flow alone, eight blocks of three separable convolutions on 19x19x728 maps, costs "
        f"{mid_macs:,} MACs ({pct(mid_macs, xt['macs'])} of the network). Inception V3's "
        f"costliest grid is {top['inception-v3'][0]}, with "
        f"{pct(top['inception-v3'][3], it['macs'])} of its MACs; Xception's is "
        f"{top['xception'][0]}, with {pct(top['xception'][3], xt['macs'])}. Equal parameter "
        "counts are equal capacity in weights, not in computation.",
        "## Totals",
        md(["quantity", "xception", "inception-v3", "xception / inception-v3"],
           [[q, xt[k], it[k], f"{xt[k] / it[k]:.4f}"] for q, k, _ in quantities]
           + [["weights (kernels only)", measure(x, "weights"), measure(i, "weights"),
               f"{measure(x, 'weights') / measure(i, 'weights'):.4f}"],
              ["published: Keras Applications total params", *published(0), ""],
              ["published: Chollet 2016, Table 3", *published(1), ""]]),
        mermaid.bar_chart("Xception relative to Inception V3 (x)", [q[2] for q in quantities],
                          [round(xt[k] / it[k], 3) for _, k, _ in quantities],
                          "xception / inception-v3",
                          zero=True),
        "## Where the MACs are, by output grid",
        "Layers grouped by the size of their output map (input 299x299):",
        md(["network", "grid", "layers", "params", "MACs", "MACs %"],
           [[link(s.id), g, n, p, m, pct(m, s.totals["macs"])]
            for s in (x, i) for g, n, p, m in by_grid(s)]),
        "## Shares by op type",
        md(["network", "op", "params", "params %", "MACs", "MACs %"],
           [[link(s.id), op, measure(s, "params", f"op:{op}"),
             pct(measure(s, "params", f"op:{op}"), s.totals["params"]),
             measure(s, "macs", f"op:{op}"), pct(measure(s, "macs", f"op:{op}"), s.totals["macs"])]
            for s in (x, i) for op in costed_ops(s)]),
        mermaid.bar_chart("MACs by op type (billions)",
                          [f"{tag} {op}" for s, tag in ((x, "X"), (i, "I3"))
                           for op in costed_ops(s)],
                          [round(measure(s, "macs", f"op:{op}") / 1e9, 3)
                           for s in (x, i) for op in costed_ops(s)], "GMACs", zero=True),
        "Sources: Keras Applications table (keras.io/api/applications) for the total params; "
        "Chollet 2016, Table 3; shared REFERENCES.md notes that the paper's Inception V3 figure "
        "matches no framework.",
    ]


def published(k) -> list:
    return [PUBLISHED["xception"][k], PUBLISHED["inception-v3"][k]]


def costed_ops(s) -> list[str]:
    """Op types with MACs, costliest first."""
    macs: dict = {}
    for r in s.layers:
        if r.macs:
            macs[r.op] = macs.get(r.op, 0) + r.macs
    return sorted(macs, key=lambda op: -macs[op])


# The reports of the CNNs after 2017 register themselves here too (one REPORTS for every page).
from . import contrasts_2017, contrasts_training  # noqa: E402,F401
