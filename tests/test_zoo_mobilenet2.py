"""MobileNetV2 and MobileNetV3 (specs/mobilenet-v2.yaml, specs/mobilenet-v3.yaml) against hand
derivations that share no code with costcalc.

- one inverted residual block's MACs written out (expand 1x1: H*W*Cin*t*Cin, depthwise 3x3:
  H'*W'*9*t*Cin, project 1x1: H'*W'*t*Cin*Cout), on costcalc's scope of that block, also at an
  odd size where Keras's correct_pad pads (1, 1) instead of (0, 1);
- the squeeze-and-excite block of MobileNetV3 (two 1x1 convs with bias on a 1x1 map);
- the whole MobileNetV2 from the rows of the paper's Table 2 (t, c, n, s), at every recorded
  Keras alpha/resolution, with Keras's _make_divisible written out here from its source;
- the papers' MAdds claims at the precision they print (MobileNetV2 Table 4, MobileNetV3
  Table 3, the TF-slim checkpoint tables Keras quotes);
- Keras's own recorded totals (tests/data/keras_layers_2017.json): alpha=0.35 at 96 has the
  params Keras reports for alpha=0.35 (params do not depend on the resolution: Keras's 1.0-96
  and 1.0-224 records agree);
- `--input 3xHxH` is `resolution=H` for MobileNetV2 (the test_keras_2017 check, without an
  explicit resolution next to --input).
"""
import json
import math
from pathlib import Path

import pytest

from costcalc.analysis import summarize
from costcalc.verify import measure

KERAS = json.loads((Path(__file__).parent / "data" / "keras_layers_2017.json").read_text())


def keras_filters(key, layer):
    """The filters Keras itself built for a layer (recorded config), not a copy of its code."""
    row = next(r for r in KERAS[key]["layers"] if r[0] == layer)
    return row[3]["config"]["filters"]


def macs(name, values=None, scope=None, input_shape=None):
    return measure(summarize(name, values or {}, input_shape=input_shape), "macs", scope)


# ----------------------------------------------------------------------- one block, by hand
def inverted_residual_macs(h, w, cin, t, cout, stride, k=3, expand=True):
    """MACs of one MobileNetV2 block on an h x w x cin input: the output size is ceil(h/s)
    (TF 'same', which Keras's correct_pad + 'valid' reproduces)."""
    ho, wo = math.ceil(h / stride), math.ceil(w / stride)
    e = t * cin
    return ((h * w * cin * e if expand else 0)       # expand 1x1: H*W*Cin*tCin
            + ho * wo * k * k * e                     # depthwise kxk: H'*W'*k*k*tCin
            + ho * wo * e * cout)                     # project 1x1: H'*W'*tCin*Cout


def test_v2_strided_block_macs():
    # block_3: input 56x56x24, t=6, stride 2, 32 out (Table 2 row "6, 32, 3, 2", first repeat)
    want = 56 * 56 * 24 * 144 + 28 * 28 * 9 * 144 + 28 * 28 * 144 * 32
    assert want == inverted_residual_macs(56, 56, 24, 6, 32, 2) == 10_838_016 + 1_016_064 + 3_612_672
    assert macs("mobilenet-v2", scope="block_3") == want


def test_v2_residual_block_macs_and_add():
    # block_2: 56x56x24 -> 56x56x24, stride 1: identity shortcut; the add costs no MACs and
    # one other op per output element
    want = 56 * 56 * (24 * 144 + 9 * 144 + 144 * 24)
    assert macs("mobilenet-v2", scope="block_2") == want == inverted_residual_macs(56, 56, 24, 6, 24, 1)
    s = summarize("mobilenet-v2", {})
    add = next(r for r in s.layers if r.name == "block_2_add")
    assert (add.macs, add.other_ops, tuple(add.inputs)) == (0, 56 * 56 * 24, ("block_1_project_BN", "block_2_project_BN"))


def test_v2_block_at_odd_size_pads_like_keras():
    # 225x225 input: Conv1 ('same', stride 2) gives 113x113; correct_pad(113) = (1, 1) on each
    # axis (115 wide), so the 3x3/2 'valid' depthwise gives 57 = ceil(113/2).
    s = summarize("mobilenet-v2", {}, input_shape="3x225x225")
    pad = next(r for r in s.layers if r.name == "block_1_pad")
    assert tuple(pad.output_shape) == (96, 115, 115)
    want = 113 * 113 * 16 * 96 + 57 * 57 * 9 * 96 + 57 * 57 * 96 * 24
    assert measure(s, "macs", "block_1") == want == inverted_residual_macs(113, 113, 16, 6, 24, 2)
    # and at 224: correct_pad(112) = (0, 1)
    pad224 = next(r for r in summarize("mobilenet-v2", {}).layers if r.name == "block_1_pad")
    assert tuple(pad224.output_shape) == (96, 113, 113)


# ------------------------------------------------------------ whole MobileNetV2, by Table 2
TABLE2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1)]          # Sandler et al. Table 2: t, c, n, s


FIRST_BLOCK = ["expanded_conv", "block_1", "block_3", "block_6", "block_10", "block_13",
               "block_16"]                        # Keras's block ids of each Table 2 row


def v2_macs_by_hand(key, res, classes=1000):
    """Table 2's rows with the widths Keras chose for this alpha (its make_divisible rounding,
    read from the recorded layers)."""
    h = math.ceil(res / 2)                                      # conv2d 3x3/2
    cin = keras_filters(key, "Conv1")
    total = h * h * 3 * 3 * 3 * cin
    for row, (t, c, n, s) in enumerate(TABLE2):
        cout = keras_filters(key, FIRST_BLOCK[row] + "_project")
        for i in range(n):
            stride = s if i == 0 else 1
            total += inverted_residual_macs(h, h, cin, t, cout, stride, expand=row > 0)
            h, cin = math.ceil(h / stride), cout
    last = keras_filters(key, "Conv_1")
    return total + h * h * cin * last + last * classes        # conv2d 1x1, avgpool, dense


V2_KEYS = sorted(k for k in KERAS if k.startswith("mobilenet-v2-"))


@pytest.mark.parametrize("key", V2_KEYS)
def test_v2_whole_network_macs_by_hand(key):
    alpha, res = float(key.split("-")[2]), int(key.split("-")[3])
    assert macs("mobilenet-v2", {"alpha": alpha, "resolution": res}) == v2_macs_by_hand(key, res)


def test_v2_whole_network_macs_at_odd_size():
    assert macs("mobilenet-v2", {"alpha": 0.75}, input_shape="3x161x161") == \
        v2_macs_by_hand("mobilenet-v2-0.75-224", 161)


# ------------------------------------------------------------------ squeeze-and-excite
def test_v3_squeeze_excite_block():
    # MobileNetV3-Small expanded_conv_3: exp = _depth(24 * 4) = 96 on a 14x14 map; SE squeezes
    # to _depth(96 / 4) = 24: conv 96 -> 24 and 24 -> 96 on the pooled 1x1 map (with bias).
    s = summarize("mobilenet-v3-small", {})
    assert measure(s, "macs", "expanded_conv_3_squeeze_excite") == 96 * 24 + 24 * 96
    assert measure(s, "params", "expanded_conv_3_squeeze_excite") == (96 * 24 + 24) + (24 * 96 + 96)
    keras = {n: p for n, _, p, _ in KERAS["mobilenet-v3-small-1.0"]["layers"]}
    assert keras["expanded_conv_3_squeeze_excite_conv"] == 96 * 24 + 24
    assert keras["expanded_conv_3_squeeze_excite_conv_1"] == 24 * 96 + 96
    mul = next(r for r in s.layers if r.name == "expanded_conv_3_squeeze_excite_mul")
    assert tuple(mul.output_shape) == (96, 14, 14) and mul.other_ops == 14 * 14 * 96


def test_v3_block_with_se_by_hand():
    # MobileNetV3-Large expanded_conv_3: 56x56x24 in, exp 72, 5x5 depthwise stride 2, SE to 24,
    # 40 out (Table 1 row "bneck 5x5, 72, 40, SE, RE, 2")
    want = (56 * 56 * 24 * 72 + 28 * 28 * 25 * 72 + (72 * 24 + 24 * 72) + 28 * 28 * 72 * 40)
    assert macs("mobilenet-v3-large", scope="expanded_conv_3") == want
    # correct_pad(56, 5) = (1, 2): 56 + 3 = 59, then (59 - 5) // 2 + 1 = 28
    pad = next(r for r in summarize("mobilenet-v3-large", {}).layers
               if r.name == "expanded_conv_3_depthwise_pad")
    assert tuple(pad.output_shape) == (72, 59, 59)


def test_v3_minimalistic_has_no_se_no_hard_swish_and_3x3():
    s = summarize("mobilenet-v3-large", {"minimalistic": True})
    ops = {r.op for r in s.layers}
    assert "hard_swish" not in ops and "multiply" not in ops
    assert not any("squeeze_excite" in r.name for r in s.layers)
    # Large block 3 then has a 3x3 depthwise: 28*28*9*72 MACs, and no SE
    want = 56 * 56 * 24 * 72 + 28 * 28 * 9 * 72 + 28 * 28 * 72 * 40
    assert measure(s, "macs", "expanded_conv_3") == want


# ------------------------------------------------------------------ published figures
@pytest.mark.parametrize("name,values,low,high,source", [
    # printed truncated: the exact count lies in [value, value + 1M)
    ("mobilenet-v2", {}, 300e6, 301e6, "Sandler et al. 2018 Table 4: 300M MAdds"),
    ("mobilenet-v2", {"alpha": 0.35, "resolution": 96}, 11e6, 12e6, "TF-slim table: 0.35_96, 11M"),
    ("mobilenet-v2", {"alpha": 1.4}, 582e6, 583e6, "TF-slim table: 1.4_224, 582M"),
    ("mobilenet-v3-small", {}, 56e6, 57e6, "Howard et al. 2019 Table 3: V3-Small 1.0, 56M"),
    # printed rounded: within half a unit
    ("mobilenet-v3-large", {}, 216.5e6, 217.5e6, "Keras MobileNetV3 docstring (TF-slim): Large 1.0, 217M"),
    ("mobilenet-v3-large", {"alpha": 0.75}, 154.5e6, 155.5e6, "Howard et al. Table 3: V3-Large 0.75, 155M"),
    ("mobilenet-v3-large", {"minimalistic": True}, 208.5e6, 209.5e6, "Keras MobileNetV3 docstring: Large minimalistic, 209M"),
])
def test_published_madds(name, values, low, high, source):
    assert low <= macs(name, values) < high, source


def test_v2_alpha_035_at_96_has_keras_params():
    # Keras's records: params do not depend on the input size (1.0 at 96 == 1.0 at 224)
    assert KERAS["mobilenet-v2-1.0-96"]["totals"] == KERAS["mobilenet-v2-1.0-224"]["totals"]
    want = KERAS["mobilenet-v2-0.35-224"]["totals"]
    t = summarize("mobilenet-v2", {"alpha": 0.35, "resolution": 96}).totals
    assert (t["params"], t["trainable_params"], t["non_trainable_params"]) == \
        (want["params"], want["trainable"], want["non_trainable"]) == (1_691_208, 1_677_128, 14_080)


def test_v2_widths_follow_keras_make_divisible():
    # alpha 0.35: stem _make_divisible(11.2) = 16, block 0 projects to _make_divisible(int(5.6))
    # = 8 (no shortcut: 16 != 8), the last conv stays 1280 (alpha <= 1)
    s = summarize("mobilenet-v2", {"alpha": 0.35})
    shape = {r.name: tuple(r.output_shape) for r in s.layers}
    key = "mobilenet-v2-0.35-224"
    assert shape["Conv1"][0] == keras_filters(key, "Conv1") == 16
    assert shape["expanded_conv_project"][0] == keras_filters(key, "expanded_conv_project") == 8
    assert "expanded_conv_add" not in shape and shape["Conv_1"][0] == 1280
    # alpha 1.4 widens the last conv: _make_divisible(1792) = 1792
    assert next(r for r in summarize("mobilenet-v2", {"alpha": 1.4}).layers
                if r.name == "Conv_1").output_shape[0] == 1792


@pytest.mark.parametrize("alpha", [0.35, 1.0, 1.3])
def test_v2_input_equals_resolution(alpha):
    by_input = summarize("mobilenet-v2", {"alpha": alpha}, input_shape="3x225x225")
    by_set = summarize("mobilenet-v2", {"alpha": alpha, "resolution": 225})
    assert [(r.name, r.output_shape, r.params, r.macs) for r in by_input.layers] == \
        [(r.name, r.output_shape, r.params, r.macs) for r in by_set.layers]
