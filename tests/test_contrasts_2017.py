"""The post-2017 contrast reports (costcalc/contrasts_2017.py): their data, not their markdown,
against formulas written out here, Keras's recorded layer configs (tests/test_keras_2017.py's
keras_macs, which reads nothing of costcalc) and the papers' figures."""
import math
import re

import pytest

from costcalc import contrasts, contrasts_2017 as c
from test_keras_2017 import KERAS, keras_macs


@pytest.fixture(scope="module")
def mobilenet():
    return c.mobilenet_steps_data()["steps"]


@pytest.fixture(scope="module")
def efficientnet():
    return c.efficientnet_scaling_data()


def test_every_new_report_is_registered_and_renders():
    for fname in ("mobilenet-v1-to-v3.md", "efficientnet-scaling.md", "resnet-v1-vs-v2.md",
                  "densenet-growth.md"):
        title, make = contrasts.REPORTS[fname]
        text = make()
        assert text.startswith(f"# {title}\n") and "Conventions:" in text
        assert not re.search(r"\{[a-z_0-9]+\}", text)               # every placeholder filled


# ----------------------------------------------------------------------------- MobileNet v1 -> v3
# MobileNet v1, Howard et al. 2017 Table 1: (input side, C_in, C_out, depthwise stride) of the 13
# separable layers at 224.
V1_TABLE1 = [(112, 32, 64, 1), (112, 64, 128, 2), (56, 128, 128, 1), (56, 128, 256, 2),
             (28, 256, 256, 1), (28, 256, 512, 2)] + [(14, 512, 512, 1)] * 5 + \
            [(14, 512, 1024, 2), (7, 1024, 1024, 1)]


def test_mobilenet_v1_split_is_table1_written_out(mobilenet):
    v1 = next(s for s in mobilenet if s["spec"] == "mobilenet")
    # Keras pads before stride-2 depthwise layers and outputs side/2 (valid 3x3 on side+1)
    dw = sum((h // s) ** 2 * 9 * cin for h, cin, _, s in V1_TABLE1)
    pw = sum((h // s) ** 2 * cin * cout for h, cin, cout, s in V1_TABLE1)
    assert v1["roles"]["depthwise"] == dw
    assert v1["roles"]["1x1 project / pointwise"] == pw
    assert v1["roles"]["full conv"] == 112 * 112 * 9 * 3 * 32        # the 3x3/2 stem
    assert v1["roles"]["head"] == 1024 * 1000                        # the 1x1 classifier
    # Howard et al. Table 2: 1x1 94.86%, depthwise 3.06% of mult-adds
    assert round(100 * pw / v1["macs"], 2) == 94.86
    assert round(100 * dw / v1["macs"], 2) == 3.06


@pytest.mark.parametrize("step", range(5))
def test_mobilenet_roles_add_up_and_match_keras(mobilenet, step):
    s = mobilenet[step]
    assert sum(s["roles"].values()) == s["macs"]                      # every MAC has a role
    assert s["flops"] == 2 * s["macs"] + s["other_ops"]
    assert sum(s["other_kinds"].values()) == s["other_ops"]
    key = {"mobilenet-v2": "mobilenet-v2-1.0-224",
           "mobilenet-v3-large": "mobilenet-v3-large-1.0"
           + ("-minimalistic" if s["settings"].get("minimalistic") else "")}.get(s["spec"])
    if key:
        assert s["macs"] == sum(keras_macs(KERAS[key]["layers"]).values())
        assert s["params"] == KERAS[key]["totals"]["params"]


def test_mobilenet_v3_additions_from_keras_configs(mobilenet):
    """What SE and the 5x5 kernels cost, from Keras's recorded layers of both models."""
    full = keras_macs(KERAS["mobilenet-v3-large-1.0"]["layers"])
    mini = keras_macs(KERAS["mobilenet-v3-large-1.0-minimalistic"]["layers"])
    se = sum(m for n, m in full.items() if "squeeze_excite" in n)
    dw_full = sum(m for n, m in full.items() if n.endswith("_depthwise"))
    dw_mini = sum(m for n, m in mini.items() if n.endswith("_depthwise"))
    v3m, v3 = mobilenet[3], mobilenet[4]
    assert v3["roles"]["squeeze-excite"] == se
    assert v3["roles"]["depthwise"] - v3m["roles"]["depthwise"] == dw_full - dw_mini
    assert v3["macs"] - v3m["macs"] == se + dw_full - dw_mini       # nothing else moved
    # the paper's MAdds (Howard et al. 2019 Table 3: 219M; Keras docstring: 209M minimalistic)
    assert abs(v3["macs"] - 219e6) / 219e6 < 0.02 and round(v3m["macs"] / 1e6) == 209


# ----------------------------------------------------------------------------- EfficientNet
def test_efficientnet_coefficients_are_the_papers(efficientnet):
    # Tan & Le 2019 Sec. 3.3: alpha 1.2 (depth), beta 1.1 (width), gamma 1.15 (resolution)
    phis = efficientnet["phis"]
    assert efficientnet["depth"] == [round(1.2 ** p, 4) for p in phis]
    assert efficientnet["width"] == [round(1.1 ** p, 4) for p in phis]
    assert efficientnet["resolution"] == [round(224 * 1.15 ** p) for p in phis]
    assert math.isclose(efficientnet["flops_factor"], 1.2 * 1.1 ** 2 * 1.15 ** 2)
    assert abs(efficientnet["flops_factor"] - 2) < 0.1                # "approximately 2"


def test_efficientnet_curves_start_at_b0_and_grow(efficientnet):
    b0 = sum(keras_macs(KERAS["efficientnet-b0"]["layers"]).values())
    assert efficientnet["b0_macs"] == b0
    for curve in (*efficientnet["alone"].values(), efficientnet["compound"]):
        assert curve[0] == b0 and all(a <= b for a, b in zip(curve, curve[1:]))
    # each compound step costs about alpha * beta^2 * gamma^2 ~ 1.92 more (within rounding)
    comp = efficientnet["compound"]
    for a, b in zip(comp, comp[1:]):
        assert 1.6 < b / a < 2.7
    # resolution alone: between r^2 and the last stage's positions ratio, where each of the five
    # stride-2 layers rounds the side up ('same' padding: ceil(side / 2))
    for r, m in zip(efficientnet["resolution"], efficientnet["alone"]["resolution"]):
        side = r
        for _ in range(5):
            side = -(-side // 2)
        assert (r / 224) ** 2 <= m / b0 <= (side / 7) ** 2


def test_efficientnet_variants_are_keras(efficientnet):
    for v in efficientnet["variants"]:
        key = v["name"]
        assert v["macs"] == sum(keras_macs(KERAS[key]["layers"]).values())
        assert v["params"] == KERAS[key]["totals"]["params"]


# ----------------------------------------------------------------------------- ResNet v1 vs v2
def test_resnet_v2_saves_three_quarters_of_each_last_unit():
    """v2 strides in a stage's last unit (its 3x3 and 1x1 expansion at the next stage's side),
    v1 in the next stage's first 1x1: per stage -(3/4) * H^2 * (9f^2 + 4f^2), H the stage's
    side and f its bottleneck width (H^2 f^2 is the same for conv2..conv4); nothing else moves."""
    d = c.resnet_versions_data()
    for net in d["nets"]:
        diffs = [s["v2_macs"] - s["v1_macs"] for s in net["stages"]]
        expect = [0] + [-(3 * h * h * 13 * f * f) // 4 for h, f in ((56, 64), (28, 128),
                                                                     (14, 256))] + [0, 0]
        assert diffs == expect, net["depth"]
        assert net["v1"]["macs"] - net["v2"]["macs"] == 3 * 125_239_296
    r50 = d["nets"][0]
    # Keras ResNet50 25,636,712 (REFERENCES.md) and ResNet50V2 as recorded
    assert r50["v1"]["params"] == 25_636_712
    assert r50["v2"]["params"] == KERAS["resnet50-v2"]["totals"]["params"]
    assert r50["v2"]["macs"] == sum(keras_macs(KERAS["resnet50-v2"]["layers"]).values())


# ----------------------------------------------------------------------------- DenseNet
def test_densenet_channels_and_keras_point():
    d = c.densenet_growth_data()
    for row in d["rows"]:
        k, ch, want = row["k"], 64, []
        for n in (6, 12, 24, 16):                       # DenseNet-121's blocks, theta 0.5
            ch += n * k
            want.append(ch)
            ch //= 2
        assert [c_ for _, c_ in row["block_channels"]] == want
    k32 = next(r for r in d["rows"] if r["k"] == 32)
    assert k32["params"] == KERAS["densenet121"]["totals"]["params"] == 8_062_504
    assert k32["macs"] == sum(keras_macs(KERAS["densenet121"]["layers"]).values())
    assert d["params_by_sweep"] == [r["params"] for r in d["rows"]]   # sweep == summary


def test_densenet_3x3_and_bottleneck_macs_by_formula():
    """DenseNet-121's 3x3 convolutions: every layer maps 4k channels to k at its block's side
    (56, 28, 14, 7), so sum n_b * side^2 * 9 * 4k * k; the 1x1 bottlenecks read c0 + i*k."""
    d = c.densenet_growth_data()
    for row in d["rows"]:
        k, ch, three, one = row["k"], 64, 0, 0
        for n, side in zip((6, 12, 24, 16), (56, 28, 14, 7)):
            for i in range(n):
                three += side * side * 9 * 4 * k * k
                one += side * side * (ch + i * k) * 4 * k
            ch = (ch + n * k) // 2
        assert row["kinds"]["3x3 convolutions"] == three
        assert row["kinds"]["1x1 bottlenecks"] == one
        assert sum(row["kinds"].values()) == row["macs"]
