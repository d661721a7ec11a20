"""Contrast reports of the CNNs after 2017 (issue 11): MobileNet v1 to v3, EfficientNet's
compound scaling, ResNet v1 vs v2, DenseNet's growth rate.

Each report is a ``*_data()`` function that computes every number from the zoo's specs
(``summarize``, ``sweep``) and returns plain data, and a template in costcalc/templates/ that
holds the prose; tests/test_contrasts_2017.py checks the data against formulas and published
figures, not the markdown. The only numbers written here are published figures, each with its
source.
"""
from __future__ import annotations

import re
from pathlib import Path

from . import mermaid
from .analysis import summarize
from .contrasts import contrast, md, mil
from .report import groups
from .sweep import sweep

TEMPLATES = Path(__file__).resolve().parent / "templates"


def fill(template: str, **values) -> list[str]:
    """The template's markdown with the values substituted, as page blocks (split on blank
    lines so tables and charts can be placed by name: a ``{name}`` alone in a paragraph)."""
    text = (TEMPLATES / template).read_text(encoding="utf-8").format(**values)
    return [b.strip() for b in text.split("\n\n") if b.strip()]


def pct(part, whole, digits=1) -> str:
    return f"{100 * part / whole:.{digits}f}%"


def x(a, b, digits=2) -> str:
    return f"{a / b:.{digits}f}x"


# --------------------------------------------------------------------------- MobileNet v1 -> v3
# Published ImageNet top-1 (%) and mult-adds (millions), for the table's context columns.
MOBILENET_STEPS = [
    # (spec, settings, label, what the step changes, top-1, published mult-adds, source)
    ("mobilenet-conv", {}, "Conv MobileNet", "full 3x3 convolutions", 71.7, 4866,
     "Howard et al. 2017, Table 4"),
    ("mobilenet", {}, "MobileNet v1", "depthwise-separable convolutions", 70.6, 569,
     "Howard et al. 2017, Tables 4 and 8"),
    ("mobilenet-v2", {}, "MobileNetV2", "inverted residuals with linear bottlenecks", 72.0, 300,
     "Sandler et al. 2018, Table 4"),
    ("mobilenet-v3-large", {"minimalistic": True}, "MobileNetV3-Large minimalistic",
     "the V3 search's layout, without squeeze-and-excitation, hard-swish or 5x5 kernels", 72.3,
     209, "Keras MobileNetV3 docstring table (keras/src/applications/mobilenet_v3.py)"),
    ("mobilenet-v3-large", {}, "MobileNetV3-Large", "squeeze-and-excitation, hard-swish, 5x5 "
     "depthwise kernels", 75.2, 219, "Howard et al. 2019, Table 3"),
]

ROLES = ("full conv", "depthwise", "1x1 expand", "1x1 project / pointwise", "squeeze-excite",
         "head")


def layer_role(layer, row, in_head: bool) -> str:
    """What a layer of a MobileNet does, by its op, kernel and Keras name: the split of the
    report's MAC table. The head is everything after the last block's projection (v1's
    conv_pw_13, V2's block_16_project, V3's last expanded_conv project): the final 1x1
    convolutions and the classifier; a network without one (Conv MobileNet) has only its
    1x1-output layers there."""
    name, op = row.name, row.op
    if "squeeze_excite" in name or "_se_" in name:
        return "squeeze-excite"
    if op == "depthwise_conv2d" or op == "conv2d" and layer.attrs["groups"] > 1:
        return "depthwise"
    if in_head or op == "dense" or row.output_shape[1:] == (1, 1):
        return "head"
    if layer.attrs["kernel"] != (1, 1):
        return "full conv"
    if name.endswith("_expand"):
        return "1x1 expand"
    return "1x1 project / pointwise"


def by_role(s) -> dict:
    layers = {layer.name: layer for layer in s.model.layers}
    ends = [k for k, row in enumerate(s.layers) if re.search(r"(conv_pw_\d+|_project)$", row.name)]
    last = ends[-1] if ends else len(s.layers)
    out = {r: 0 for r in ROLES}
    for k, row in enumerate(s.layers):
        if row.macs:
            out[layer_role(layers[row.name], row, k > last)] += row.macs
    return out


def other_ops_by_kind(s) -> dict:
    """Other ops (not MACs) by what they are: batch norm, activations (hard-sigmoid's scalar
    pieces included), squeeze-excite pooling and gating, residual adds, the rest."""
    acts = {"relu", "relu6", "hard_swish", "hard_sigmoid", "sigmoid", "swish", "softmax",
            "scalar"}
    out = {"batch norm": 0, "activations": 0, "squeeze-excite": 0, "adds": 0, "rest": 0}
    for row in s.layers:
        if row.op == "batch_norm":
            out["batch norm"] += row.other_ops
        elif row.op in acts:
            out["activations"] += row.other_ops
        elif row.op == "multiply" or "squeeze_excite" in row.name:
            out["squeeze-excite"] += row.other_ops
        elif row.op == "add":
            out["adds"] += row.other_ops
        else:
            out["rest"] += row.other_ops
    return out


def mobilenet_steps_data() -> dict:
    steps = []
    for spec, settings, label, change, top1, madds, source in MOBILENET_STEPS:
        s = summarize(spec, settings)
        steps.append({"spec": spec, "settings": settings, "label": label, "change": change,
                      "top1": top1, "paper_madds_m": madds, "source": source,
                      "params": s.totals["params"], "macs": s.totals["macs"],
                      "other_ops": s.totals["other_ops"], "flops": s.totals["flops"],
                      "activations": s.totals["activations"], "roles": by_role(s),
                      "other_kinds": other_ops_by_kind(s)})
    return {"steps": steps}


@contrast("mobilenet-v1-to-v3.md", "From MobileNet v1 to v3: where the cost moved")
def mobilenet_steps():
    d = mobilenet_steps_data()
    st = d["steps"]
    conv, v1, v2, v3m, v3 = st
    totals = md(["network", "the step", "params", "MACs", "MACs vs previous", "other ops",
                 "FLOPs", "published mult-adds", "published top-1"],
                [[f"{s['label']} (`{s['spec']}`"
                  + "".join(f" --set {k}={str(v).lower()}" for k, v in s["settings"].items())
                  + ")", s["change"], s["params"], s["macs"],
                  "" if k == 0 else x(s["macs"], st[k - 1]["macs"]), s["other_ops"],
                  s["flops"], f"{s['paper_madds_m']}M", f"{s['top1']}% ({s['source']})"]
                 for k, s in enumerate(st)])
    roles = md(["network"] + list(ROLES),
               [[s["label"]] + [f"{s['roles'][r]:,} ({pct(s['roles'][r], s['macs'])})"
                                for r in ROLES] for s in st])
    kinds = list(st[0]["other_kinds"])
    others = md(["network"] + kinds,
                [[s["label"]] + [f"{s['other_kinds'][k]:,}" for k in kinds] for s in st])
    chart = mermaid.bar_chart("MACs (millions) from MobileNet v1 to v3",
                              [s["label"] for s in st[1:]], [mil(s["macs"]) for s in st[1:]],
                              "MACs (M)", zero=True)
    pw = "1x1 project / pointwise"
    return fill(
        "mobilenet-v1-to-v3.md", totals=totals, roles=roles, others=others, chart=chart,
        sep_x=x(conv["macs"], v1["macs"]),
        v1_pw=pct(v1["roles"][pw], v1["macs"]),
        v1_dw=pct(v1["roles"]["depthwise"], v1["macs"]),
        v2_macs=f"{v2['macs']:,}", v2_x=x(v1["macs"], v2["macs"]),
        v2_1x1=pct(v2["roles"]["1x1 expand"] + v2["roles"][pw], v2["macs"]),
        v2_expand=pct(v2["roles"]["1x1 expand"], v2["macs"]),
        v2_dw=pct(v2["roles"]["depthwise"], v2["macs"]),
        v2_params=f"{v2['params']:,}", v1_params=f"{v1['params']:,}",
        v2_act=x(v2["activations"], v1["activations"]),
        v3m_x=x(v2["macs"], v3m["macs"]),
        se_macs=f"{v3['roles']['squeeze-excite']:,}",
        se_share=pct(v3["roles"]["squeeze-excite"], v3["macs"], 2),
        v3_minus=f"{v3['macs'] - v3m['macs']:,}",
        dw_more=f"{v3['roles']['depthwise'] - v3m['roles']['depthwise']:,}",
        v3_more=pct(v3["macs"] - v3m["macs"], v3m["macs"]),
        se_params=f"{v3['params'] - v3m['params']:,}",
        v3_other_x=x(v3["other_ops"], v3m["other_ops"]),
        v3_act_ops=f"{v3['other_kinds']['activations']:,}",
        v3m_act_ops=f"{v3m['other_kinds']['activations']:,}",
        v3_se_ops=f"{v3['other_kinds']['squeeze-excite']:,}",
        v3_other_share=pct(v3["other_ops"], v3["flops"]))


# --------------------------------------------------------------------------- EfficientNet scaling
# Tan & Le 2019, Sec. 3.3, Eq. 3: depth d = alpha^phi, width w = beta^phi, resolution r =
# gamma^phi with alpha = 1.2, beta = 1.1, gamma = 1.15 from a grid search under
# alpha * beta^2 * gamma^2 ~ 2; FLOPs grow as d * w^2 * r^2, so about 2^phi.
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15
PHIS = (0, 1, 2, 3, 4)
# Table 2's B0-B7 FLOPs (billions, multiply-adds); the variants' coefficients are Keras's.
TABLE2_FLOPS = {"b0": 0.39, "b1": 0.70, "b2": 1.0, "b3": 1.8, "b4": 4.2, "b5": 9.9, "b6": 19,
                "b7": 37}


def efficientnet_scaling_data() -> dict:
    base = summarize("efficientnet-b0")
    b0 = base.totals["macs"]

    def curve(**grid):
        r = sweep("efficientnet-b0", {k: v for k, v in grid.items() if k != "resolution"},
                  resolution=grid.get("resolution"), confirm=True)
        return [int(v) for v in r.column("macs")]

    width = [round(BETA ** p, 4) for p in PHIS]
    depth = [round(ALPHA ** p, 4) for p in PHIS]
    res = [round(224 * GAMMA ** p) for p in PHIS]
    rows = {"width": curve(width=width), "depth": curve(depth=depth),
            "resolution": curve(resolution=res)}
    compound = [summarize("efficientnet-b0", {"width": w, "depth": dd, "resolution": r}
                          ).totals["macs"] for w, dd, r in zip(width, depth, res)]
    variants = []
    for b, paper in TABLE2_FLOPS.items():
        s = summarize(f"efficientnet-{b}")
        variants.append({"name": f"efficientnet-{b}", "width": s.model.params["width"],
                         "depth": s.model.params["depth"],
                         "resolution": s.model.params["resolution"],
                         "macs": s.totals["macs"], "params": s.totals["params"],
                         "paper_flops_b": paper})
    return {"b0_macs": b0, "b0_params": base.totals["params"], "phis": list(PHIS),
            "b0_depthwise": sum(r.macs for r in base.layers if r.op == "depthwise_conv2d"),
            "width": width, "depth": depth, "resolution": res, "alone": rows,
            "compound": compound, "variants": variants,
            "flops_factor": ALPHA * BETA ** 2 * GAMMA ** 2}


def _final_side(side: int, strides: int = 5) -> int:
    """The side after EfficientNet's five stride-2 layers ('same' padding: ceil(side / 2))."""
    for _ in range(strides):
        side = -(-side // 2)
    return side


@contrast("efficientnet-scaling.md", "EfficientNet compound scaling: width, depth and resolution "
                                     "alone and together")
def efficientnet_scaling():
    d = efficientnet_scaling_data()
    b0 = d["b0_macs"]
    f = d["flops_factor"]
    scaling = md(["phi", "width (1.1^phi)", "MACs", "x B0", "depth (1.2^phi)", "MACs", "x B0",
                  "resolution (224·1.15^phi)", "MACs", "x B0", "compound MACs", "x B0",
                  "2^phi", f"d·w²·r² = {f:.2f}^phi"],
                 [[p, d["width"][k], d["alone"]["width"][k], x(d["alone"]["width"][k], b0),
                   d["depth"][k], d["alone"]["depth"][k], x(d["alone"]["depth"][k], b0),
                   d["resolution"][k], d["alone"]["resolution"][k],
                   x(d["alone"]["resolution"][k], b0), d["compound"][k],
                   x(d["compound"][k], b0), f"{2 ** p}x", f"{f ** p:.2f}x"]
                  for k, p in enumerate(d["phis"])])
    variants = md(["variant", "width", "depth", "resolution", "params", "MACs", "x B0",
                   "Table 2 FLOPs", "2^phi"],
                  [[v["name"], v["width"], v["depth"], v["resolution"], v["params"], v["macs"],
                    x(v["macs"], b0), f"{v['paper_flops_b']}B", f"{2 ** k}x"]
                   for k, v in enumerate(d["variants"])])
    chart = mermaid.line_chart("EfficientNet-B0 scaled: MACs (millions), compound scaling",
                               [str(p) for p in d["phis"]], [mil(m) for m in d["compound"]],
                               "MACs (M)", "phi")
    last = len(d["phis"]) - 1
    return fill(
        "efficientnet-scaling.md", scaling=scaling, variants=variants, chart=chart,
        b0_macs=f"{b0:,}", factor=f"{f:.4f}", dw_share=pct(d["b0_depthwise"], b0),
        phi=d["phis"][last], w_x=x(d["alone"]["width"][last], b0),
        w_pred=f"{BETA ** (2 * d['phis'][last]):.2f}x",
        d_x=x(d["alone"]["depth"][last], b0), d_pred=f"{ALPHA ** d['phis'][last]:.2f}x",
        r_x=x(d["alone"]["resolution"][last], b0),
        r_pred=f"{(d['resolution'][last] / 224) ** 2:.2f}x",
        r_last=d["resolution"][last], r_side=_final_side(d["resolution"][last]),
        r_side_x=f"{(_final_side(d['resolution'][last]) / 7) ** 2:.2f}x",
        c_x=x(d["compound"][last], b0), c_pred=f"{f ** d['phis'][last]:.2f}x",
        two_phi=f"{2 ** d['phis'][last]}x",
        b7_x=x(d["variants"][-1]["macs"], b0))


# --------------------------------------------------------------------------- ResNet v1 vs v2
def resnet_versions_data() -> dict:
    out = []
    for depth in (50, 101, 152):
        v1, v2 = summarize(f"resnet{depth}"), summarize(f"resnet{depth}-v2")
        stages = []
        for (g1, rows1), (g2, rows2) in zip(groups(v1), groups(v2)):
            stages.append({"v1": g1, "v2": g2, "v1_macs": sum(r.macs for r in rows1),
                           "v2_macs": sum(r.macs for r in rows2),
                           "v1_params": sum(r.params for r in rows1),
                           "v2_params": sum(r.params for r in rows2)})
        out.append({"depth": depth, "v1": v1.totals, "v2": v2.totals, "stages": stages,
                    "v1_bn": sum(r.params for r in v1.layers if r.op == "batch_norm"),
                    "v2_bn": sum(r.params for r in v2.layers if r.op == "batch_norm"),
                    "v1_bias": sum(r.params - _kernel(r, v1) for r in v1.layers
                                   if r.op == "conv2d"),
                    "v2_bias": sum(r.params - _kernel(r, v2) for r in v2.layers
                                   if r.op == "conv2d")})
    return {"nets": out}


def _kernel(row, s) -> int:
    """The kernel's size of a conv row (params without its bias)."""
    layer = next(layer for layer in s.model.layers if layer.name == row.name)
    kh, kw = layer.attrs["kernel"]
    cin = s.layers[[r.name for r in s.layers].index(layer.inputs[0])].output_shape[0] \
        if layer.inputs[0] != "input" else s.model.input_shape[0]
    return kh * kw * cin // layer.attrs["groups"] * row.output_shape[0]


@contrast("resnet-v1-vs-v2.md", "ResNet v1 vs v2 (pre-activation): the same weights, less "
                                "compute")
def resnet_versions():
    d = resnet_versions_data()
    totals = md(["network", "params v1", "params v2", "difference", "MACs v1", "MACs v2",
                 "v2 / v1", "activations v1", "activations v2"],
                [[f"ResNet-{n['depth']}", n["v1"]["params"], n["v2"]["params"],
                  n["v2"]["params"] - n["v1"]["params"], n["v1"]["macs"], n["v2"]["macs"],
                  f"{n['v2']['macs'] / n['v1']['macs']:.4f}", n["v1"]["activations"],
                  n["v2"]["activations"]] for n in d["nets"]])
    r50 = d["nets"][0]
    stages = md(["stage (v1 / v2)", "MACs v1", "MACs v2", "v2 - v1", "params v1", "params v2"],
                [[f"{s['v1']} / {s['v2']}", s["v1_macs"], s["v2_macs"],
                  s["v2_macs"] - s["v1_macs"], s["v1_params"], s["v2_params"]]
                 for s in r50["stages"]])
    moved = [s["v2_macs"] - s["v1_macs"] for s in r50["stages"]]
    body = [s for s in r50["stages"] if s["v1"] == s["v2"]]       # the stages conv2..conv5
    chart = mermaid.bar_chart("ResNet-50 MACs (millions) by stage, v1 and v2",
                              [f"{s['v1']} {v}" for s in body for v in ("v1", "v2")],
                              [mil(s[f"{v}_macs"]) for s in body for v in ("v1", "v2")],
                              "MACs (M)", zero=True)
    return fill(
        "resnet-v1-vs-v2.md", totals=totals, stages=stages, chart=chart,
        v1_macs=f"{r50['v1']['macs']:,}", v2_macs=f"{r50['v2']['macs']:,}",
        saving=pct(r50["v1"]["macs"] - r50["v2"]["macs"], r50["v1"]["macs"]),
        moved=", ".join(f"{-m:,}" for m in moved if m),
        dparams=f"{r50['v1']['params'] - r50['v2']['params']:,}",
        v1_bn=f"{r50['v1_bn']:,}", v2_bn=f"{r50['v2_bn']:,}",
        v1_bias=f"{r50['v1_bias']:,}", v2_bias=f"{r50['v2_bias']:,}")


# --------------------------------------------------------------------------- DenseNet growth rate
GROWTH = (12, 16, 24, 32, 40, 48)
DENSE_KINDS = ("stem 7x7", "1x1 bottlenecks", "3x3 convolutions", "transitions", "classifier")


def densenet_kinds(s) -> dict:
    """MACs of a DenseNet by layer kind, by Keras's names (conv2_block1_1_conv: the 1x1
    bottleneck to 4k, _2_conv: the 3x3 to k, pool2_conv: a transition's 1x1)."""
    out = {k: 0 for k in DENSE_KINDS}
    for r in s.layers:
        if not r.macs:
            continue
        kind = ("classifier" if r.op == "dense" else "stem 7x7" if r.name == "conv1_conv" else
                "transitions" if r.name.startswith("pool") else
                "1x1 bottlenecks" if r.name.endswith("_1_conv") else "3x3 convolutions")
        out[kind] += r.macs
    return out



def densenet_growth_data() -> dict:
    r = sweep("densenet121", {"growth_rate": list(GROWTH)}, confirm=True)
    rows = []
    for k, macs, acts in zip(GROWTH, r.column("macs"), r.column("activations")):
        s = summarize("densenet121", {"growth_rate": k})
        blocks = [(g, rows_[-1].output_shape[0]) for g, rows_ in groups(s)
                  if g.startswith("conv") and g[4:].isdigit()]
        rows.append({"k": k, "macs": int(macs), "activations": int(acts),
                     "params": s.totals["params"], "peak": s.totals["peak_activations"],
                     "block_channels": blocks, "kinds": densenet_kinds(s)})
    ref = summarize("resnet50").totals
    return {"rows": rows, "params_by_sweep": [int(v) for v in r.column("params")],
            "resnet50": ref}


@contrast("densenet-growth.md", "DenseNet's growth rate: cost as k grows")
def densenet_growth():
    d = densenet_growth_data()
    rows = d["rows"]
    k32 = next(r for r in rows if r["k"] == 32)
    table = md(["growth rate k", "channels after each dense block", "params", "x k=32",
                "(k/32)^2", "MACs", "x k=32", "activations", "peak alive"],
               [[r["k"], ", ".join(str(c) for _, c in r["block_channels"]), r["params"],
                 x(r["params"], k32["params"]), f"{(r['k'] / 32) ** 2:.2f}x", r["macs"],
                 x(r["macs"], k32["macs"]), r["activations"], r["peak"]] for r in rows])
    kinds = md(["growth rate k"] + list(DENSE_KINDS),
               [[r["k"]] + [f"{r['kinds'][n]:,} ({pct(r['kinds'][n], r['macs'])})"
                            for n in DENSE_KINDS] for r in rows])
    chart = mermaid.line_chart("DenseNet-121 MACs (millions) vs growth rate",
                               [str(r["k"]) for r in rows], [mil(r["macs"]) for r in rows],
                               "MACs (M)", "k")
    ref = d["resnet50"]
    return fill(
        "densenet-growth.md", table=table, chart=chart, kinds=kinds,
        k32_bottleneck=pct(k32["kinds"]["1x1 bottlenecks"], k32["macs"]),
        k32_3x3=pct(k32["kinds"]["3x3 convolutions"], k32["macs"]),
        k32_params=f"{k32['params']:,}", k32_macs=f"{k32['macs']:,}",
        k32_acts=f"{k32['activations']:,}", r50_params=f"{ref['params']:,}",
        r50_macs=f"{ref['macs']:,}", r50_acts=f"{ref['activations']:,}",
        acts_x=x(k32["activations"], ref["activations"]),
        macs_x=x(k32["macs"], ref["macs"]), params_x=x(k32["params"], ref["params"]))

