"""EfficientNet (specs/efficientnet.yaml) and EfficientNetV2 (specs/efficientnet-v2.yaml),
checked against derivations written out here, not against costcalc's own output:

- the channels and layer counts of every stage: the paper's Table 1 (V1) / Keras's stage tables
  (V2) times each variant's coefficients, rounded by Keras's round_filters / round_repeats as
  written out below (V1 has a "not more than 10% down" rule, V2 has none);
- the MACs of every MBConv / Fused-MBConv block from its formula (expansion 1x1, depthwise kxk,
  squeeze-and-excitation as two dense layers on the pooled vector, projection 1x1), on the
  feature-map sizes derived here (each stride-2 stage gives ceil(h / 2), which Keras's
  correct_pad + 'valid' and V2's 'same' both give), and from them the whole network's MACs;
- the compound-scaling claim (Tan and Le 2019, Sec. 3.3): FLOPs grow by about 2^phi, with
  alpha * beta^2 * gamma^2 ~ 2 (alpha 1.2, beta 1.1, gamma 1.15).
"""
import math
import re

import pytest

from costcalc.analysis import summarize
from costcalc.verify import measure

# ----------------------------------------------------------------------------- EfficientNet V1
# Keras efficientnet.py EfficientNetB0..B7 (= the paper's Table 2 models):
# (width_coefficient, depth_coefficient, default_size)
V1 = {
    "efficientnet-b0": (1.0, 1.0, 224), "efficientnet-b1": (1.0, 1.1, 240),
    "efficientnet-b2": (1.1, 1.2, 260), "efficientnet-b3": (1.2, 1.4, 300),
    "efficientnet-b4": (1.4, 1.8, 380), "efficientnet-b5": (1.6, 2.2, 456),
    "efficientnet-b6": (1.8, 2.6, 528), "efficientnet-b7": (2.0, 3.1, 600),
}
# Table 1 (EfficientNet-B0), stages 2-8: (expand ratio, kernel, stride, channels, #layers);
# stage 1 is the 3x3/2 stem with 32 channels, stage 9 the 1x1 conv to 1280.
TABLE1 = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]


def v1_round_filters(f, width):
    """Keras efficientnet.py round_filters: nearest multiple of 8 (at least 8), plus 8 when
    that is more than 10% below f * width."""
    x = f * width
    new = max(8, int(x + 4) // 8 * 8)
    return new + 8 if new < 0.9 * x else new


def round_repeats(r, depth):
    return int(math.ceil(depth * r))


# ----------------------------------------------------------------------------- EfficientNet V2
# Keras efficientnet_v2.py: (stage table, width, depth, default_size)
V2_B = [  # DEFAULT_BLOCKS_ARGS["efficientnetv2-b0"] (b1..b3 the same):
    # (fused?, expand, stride, in, out, repeats, se)
    (True, 1, 1, 32, 16, 1, 0), (True, 4, 2, 16, 32, 2, 0), (True, 4, 2, 32, 48, 2, 0),
    (False, 4, 2, 48, 96, 3, 0.25), (False, 6, 1, 96, 112, 5, 0.25),
    (False, 6, 2, 112, 192, 8, 0.25)]
V2_S = [  # DEFAULT_BLOCKS_ARGS["efficientnetv2-s"] = EfficientNetV2 paper Table 4
    (True, 1, 1, 24, 24, 2, 0), (True, 4, 2, 24, 48, 4, 0), (True, 4, 2, 48, 64, 4, 0),
    (False, 4, 2, 64, 128, 6, 0.25), (False, 6, 1, 128, 160, 9, 0.25),
    (False, 6, 2, 160, 256, 15, 0.25)]
V2 = {
    "efficientnet-v2-b0": (V2_B, 1.0, 1.0, 224), "efficientnet-v2-b1": (V2_B, 1.0, 1.1, 240),
    "efficientnet-v2-b2": (V2_B, 1.1, 1.2, 260), "efficientnet-v2-b3": (V2_B, 1.2, 1.4, 300),
    "efficientnet-v2-s": (V2_S, 1.0, 1.0, 384),
}


def v2_round_filters(f, width):
    """Keras efficientnet_v2.py round_filters: nearest multiple of 8, at least min_depth 8; no
    10% rule."""
    return max(8, int(f * width + 4) // 8 * 8)


# ----------------------------------------------------------------------------- helpers
def stage_blocks(summary, stage):
    """Block names of stage `stage` (block2a, block2b, ...) in network order."""
    seen = []
    for r in summary.layers:
        m = re.match(rf"^(block{stage}[a-z]+)_", r.name)
        if m and m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


def channels(summary, name):
    return next(r.output_shape[0] for r in summary.layers if r.name == name)


def letters(n):
    return [chr(ord("a") + j) for j in range(n)]


def down(h, stride):
    return -(-h // stride)          # ceil(h / stride): correct_pad + valid, or 'same'


def mbconv_macs(h, w, cin, cout, expand, k, stride, se_ratio):
    """MACs of one MBConv block on an h x w x cin input (Sandler et al. / Tan and Le):
    1x1 expansion (skipped for expand 1), kxk depthwise with the stride, SE squeeze (a dense
    layer ce -> max(1, int(cin * se_ratio)) on the pooled vector) and excite (back to ce), 1x1
    projection."""
    ho, wo, ce = down(h, stride), down(w, stride), cin * expand
    macs = h * w * cin * ce if expand != 1 else 0
    macs += ho * wo * ce * k * k
    if se_ratio:
        se = max(1, int(cin * se_ratio))
        macs += ce * se + se * ce
    return macs + ho * wo * ce * cout


def fused_macs(h, w, cin, cout, expand, k, stride):
    """MACs of a Fused-MBConv block (EfficientNetV2 Fig. 2): a kxk conv with the stride to
    cin * expand, then a 1x1 projection; with expand 1 the one kxk conv to cout."""
    ho, wo = down(h, stride), down(w, stride)
    if expand == 1:
        return ho * wo * cout * k * k * cin
    return ho * wo * cin * expand * k * k * cin + ho * wo * cin * expand * cout


# ----------------------------------------------------------------------------- V1 tests
@pytest.mark.parametrize("name", sorted(V1))
def test_v1_stage_widths_and_depths_are_table1_times_coefficients(name):
    width, depth, _ = V1[name]
    s = summarize(name, {})
    assert channels(s, "stem_conv") == v1_round_filters(32, width)
    for stage, (_, _, _, c, layers) in enumerate(TABLE1, start=1):
        blocks = stage_blocks(s, stage)
        assert blocks == [f"block{stage}{x}" for x in letters(round_repeats(layers, depth))]
        for b in blocks:
            assert channels(s, f"{b}_project_conv") == v1_round_filters(c, width)
    assert channels(s, "top_conv") == v1_round_filters(1280, width)


def test_v1_rounding_written_out():
    # B3 (width 1.2, depth 1.4), by hand: 32*1.2 = 38.4 -> 40; 16*1.2 = 19.2 -> 16, more than
    # 10% below, so 24; 24 -> 28.8 -> 32; 40 -> 48; 80 -> 96; 112 -> 134.4 -> 136;
    # 192 -> 230.4 -> 232; 320 -> 384; 1280 -> 1536. Layers ceil(1.4 * (1,2,2,3,3,4,1)) =
    # 2,3,3,5,5,6,2.
    s = summarize("efficientnet-b3", {})
    assert channels(s, "stem_conv") == 40
    assert [channels(s, f"block{i}a_project_conv") for i in range(1, 8)] == \
        [24, 32, 48, 96, 136, 232, 384]
    assert channels(s, "top_conv") == 1536
    assert [len(stage_blocks(s, i)) for i in range(1, 8)] == [2, 3, 3, 5, 5, 6, 2]
    # B7 (width 2.0, depth 3.1): every width doubles; ceil(3.1 * (1,2,2,3,3,4,1)) =
    # 4,7,7,10,10,13,4 = 55 blocks
    s = summarize("efficientnet-b7", {})
    assert [channels(s, f"block{i}a_project_conv") for i in range(1, 8)] == \
        [32, 48, 80, 160, 224, 384, 640]
    assert channels(s, "stem_conv") == 64 and channels(s, "top_conv") == 2560
    assert [len(stage_blocks(s, i)) for i in range(1, 8)] == [4, 7, 7, 10, 10, 13, 4]


def v1_macs_by_formula(width, depth, h, w, classes=1000):
    """(total MACs, {block name: MACs}) of EfficientNet from Table 1 and the block formula."""
    h, w = down(h, 2), down(w, 2)
    cin = v1_round_filters(32, width)
    total = h * w * cin * 3 * 3 * 3                       # stem 3x3/2, 3 -> 32
    per_block = {}
    for stage, (e, k, stride, c, layers) in enumerate(TABLE1, start=1):
        cout = v1_round_filters(c, width)
        for j, x in enumerate(letters(round_repeats(layers, depth))):
            st = stride if j == 0 else 1
            m = mbconv_macs(h, w, cin, cout, e, k, st, 0.25)
            per_block[f"block{stage}{x}"] = m
            total += m
            h, w, cin = down(h, st), down(w, st), cout
    top = v1_round_filters(1280, width)
    total += h * w * cin * top + top * classes           # top 1x1 conv, classifier
    return total, per_block


@pytest.mark.parametrize("name,size", [("efficientnet-b0", None), ("efficientnet-b0", (225, 231)),
                                       ("efficientnet-b3", None), ("efficientnet-b3", (301, 299)),
                                       ("efficientnet-b7", None)])
def test_v1_block_and_network_macs_by_formula(name, size):
    width, depth, res = V1[name]
    h, w = size or (res, res)
    s = summarize(name, {}, input_shape=f"3x{h}x{w}") if size else summarize(name, {})
    total, per_block = v1_macs_by_formula(width, depth, h, w)
    for block, macs in per_block.items():
        assert measure(s, "macs", block) == macs, block
    assert s.totals["macs"] == total


def test_v1_one_block_by_hand():
    # B0 block2a: 112x112x16 -> 56x56x24, expand 6 (96), 3x3 depthwise stride 2, SE 4
    expand = 112 * 112 * 16 * 96
    depthwise = 56 * 56 * 96 * 3 * 3
    squeeze, excite = 96 * 4, 4 * 96
    project = 56 * 56 * 96 * 24
    s = summarize("efficientnet-b0", {})
    assert measure(s, "macs", "block2a") == expand + depthwise + squeeze + excite + project \
        == 29_203_200
    # the SE layers are 1x1 convs on a 1x1 map: MACs of a dense layer
    assert measure(s, "macs", "block2a_se_reduce") == squeeze
    assert measure(s, "macs", "block2a_se_expand") == excite


def test_v1_flops_grow_about_2_to_the_phi():
    # Sec. 3.3: depth alpha^phi, width beta^phi, resolution gamma^phi with
    # alpha * beta^2 * gamma^2 ~ 2, so FLOPs grow by about 2^phi. Keras's B1..B7 coefficients
    # are rounded values of that (phi = 1..7), so check loosely: B_phi costs between 2^(phi-1)
    # and 2^phi times B0 (plus 10%), each step between 2^0.5 and 2^1.5 times the previous.
    alpha, beta, gamma = 1.2, 1.1, 1.15
    assert abs(alpha * beta ** 2 * gamma ** 2 - 2) < 0.1
    macs = [summarize(f"efficientnet-b{phi}", {}).totals["macs"] for phi in range(8)]
    flops = [summarize(f"efficientnet-b{phi}", {}).totals["flops"] for phi in range(8)]
    for series in (macs, flops):
        for phi in range(1, 8):
            ratio = series[phi] / series[0]
            assert 2 ** (phi - 1) <= ratio <= 1.1 * 2 ** phi, (phi, ratio)
            step = math.log2(series[phi] / series[phi - 1])
            assert 0.5 <= step <= 1.5, (phi, step)


# ----------------------------------------------------------------------------- V2 tests
@pytest.mark.parametrize("name", sorted(V2))
def test_v2_stage_widths_and_depths(name):
    table, width, depth, _ = V2[name]
    s = summarize(name, {})
    assert channels(s, "stem_conv") == v2_round_filters(table[0][3], width)
    for stage, (fused, _, _, _, c, layers, _) in enumerate(table, start=1):
        blocks = stage_blocks(s, stage)
        assert blocks == [f"block{stage}{x}" for x in letters(round_repeats(layers, depth))]
        for b in blocks:
            assert channels(s, f"{b}_project_conv") == v2_round_filters(c, width)
            assert any(r.name == f"{b}_dwconv2" for r in s.layers) == (not fused)
    assert channels(s, "top_conv") == v2_round_filters(1280, width)


def test_v2_rounding_has_no_ten_percent_rule():
    # width 1.2: 16 * 1.2 = 19.2 -> int(23.2) // 8 * 8 = 16 (V1's rule would add 8: 16 < 17.28)
    assert v2_round_filters(16, 1.2) == 16 and v1_round_filters(16, 1.2) == 24
    s = summarize("efficientnet-v2-b3", {})
    assert channels(s, "block1a_project_conv") == 16
    assert channels(s, "stem_conv") == 40          # 32 * 1.2 = 38.4 -> 40


def v2_macs_by_formula(table, width, depth, h, w, classes=1000):
    h, w = down(h, 2), down(w, 2)
    cin = v2_round_filters(table[0][3], width)
    total = h * w * cin * 3 * 3 * 3
    per_block = {}
    for stage, (fused, e, stride, _, c, layers, se) in enumerate(table, start=1):
        cout = v2_round_filters(c, width)
        for j, x in enumerate(letters(round_repeats(layers, depth))):
            st = stride if j == 0 else 1
            m = fused_macs(h, w, cin, cout, e, 3, st) if fused else \
                mbconv_macs(h, w, cin, cout, e, 3, st, se)
            per_block[f"block{stage}{x}"] = m
            total += m
            h, w, cin = down(h, st), down(w, st), cout
    top = v2_round_filters(1280, width)
    return total + h * w * cin * top + top * classes, per_block


@pytest.mark.parametrize("name,size", [("efficientnet-v2-b0", None),
                                       ("efficientnet-v2-b3", (301, 297)),
                                       ("efficientnet-v2-s", None),
                                       ("efficientnet-v2-s", (385, 383))])
def test_v2_block_and_network_macs_by_formula(name, size):
    table, width, depth, res = V2[name]
    h, w = size or (res, res)
    s = summarize(name, {}, input_shape=f"3x{h}x{w}") if size else summarize(name, {})
    total, per_block = v2_macs_by_formula(table, width, depth, h, w)
    for block, macs in per_block.items():
        assert measure(s, "macs", block) == macs, block
    assert s.totals["macs"] == total


def test_v2_fused_block_by_hand():
    # V2-S block2a: 192x192x24 -> 96x96x48, fused 3x3/2 expansion to 96, 1x1 projection
    s = summarize("efficientnet-v2-s", {})
    assert measure(s, "macs", "block2a") == 96 * 96 * 96 * 3 * 3 * 24 + 96 * 96 * 96 * 48
    # block1a: expand 1, one 3x3 conv 24 -> 24 at 192x192, then swish (no 1x1 projection)
    assert measure(s, "macs", "block1a") == 192 * 192 * 24 * 3 * 3 * 24
