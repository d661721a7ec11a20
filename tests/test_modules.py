"""The seeds' module specs: every row of issue #2's table, derived here by hand."""
import pytest

from costcalc.analysis import compare, summarize


def conv(h, w, cin, cout, k_h, k_w=None):
    """(MACs, weights) of one bias-free convolution with a same-size output."""
    k_w = k_h if k_w is None else k_w
    return h * w * cout * k_h * k_w * cin, k_h * k_w * cin * cout


def total(*convs):
    return sum(c[0] for c in convs), sum(c[1] for c in convs)


CASES = {
    # seeds' worked example: 28x28x192 -> 5x5 same, 32 filters
    "conv5x5": total(conv(28, 28, 192, 32, 5)),
    # 1x1 bottleneck to 16 first
    "conv5x5-bottleneck": total(conv(28, 28, 192, 16, 1), conv(28, 28, 16, 32, 5)),
    # GoogLeNet 3a widths without reductions: 1x1 64, 3x3 128, 5x5 32 (+ max pool: no MACs)
    "inception-naive": total(conv(28, 28, 192, 64, 1), conv(28, 28, 192, 128, 3),
                             conv(28, 28, 192, 32, 5)),
    # GoogLeNet inception (3a): Table 1 columns 64, 96, 128, 16, 32, 32
    "inception-bottleneck": total(conv(28, 28, 192, 64, 1), conv(28, 28, 192, 96, 1),
                                  conv(28, 28, 96, 128, 3), conv(28, 28, 192, 16, 1),
                                  conv(28, 28, 16, 32, 5), conv(28, 28, 192, 32, 1)),
    # MobileNet Table 3: 14x14x512 -> 512, 3x3
    "conv3x3-standard": total(conv(14, 14, 512, 512, 3)),
    # depthwise 3x3 (one filter per channel: Dk*Dk*M*Df*Df) + pointwise 1x1
    "conv3x3-separable": (3 * 3 * 512 * 14 * 14 + 512 * 512 * 14 * 14, 3 * 3 * 512 + 512 * 512),
    # two 3x3 at equal channels replacing a 5x5 (192 -> 192 on 28x28)
    "conv5x5-factorized": total(conv(28, 28, 192, 192, 3), conv(28, 28, 192, 192, 3)),
    # 3x1 then 1x3 replacing a 3x3 (512 -> 512 on 14x14)
    "conv3x3-asymmetric": total(conv(14, 14, 512, 512, 3, 1), conv(14, 14, 512, 512, 1, 3)),
    # 64x64x100 compressed by 20 1x1 filters
    "compress-1x1": total(conv(64, 64, 100, 20, 1)),
}

# The table prints these integers; the derivations above must reproduce them.
PRINTED = {
    "conv5x5": (120_422_400, 153_600), "conv5x5-bottleneck": (12_443_648, 15_872),
    "inception-naive": (303_464_448, 387_072), "inception-bottleneck": (128_049_152, 163_328),
    "conv3x3-standard": (462_422_016, 2_359_296), "conv3x3-separable": (52_283_392, 266_752),
    "compress-1x1": (8_192_000, 2_000),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_module_totals(name):
    s = summarize(name)
    assert (s.totals["macs"], s.totals["params"]) == CASES[name]
    if name in PRINTED:
        assert CASES[name] == PRINTED[name]


def test_output_shapes():
    assert summarize("inception-naive").output_shape == (64 + 128 + 32 + 192, 28, 28)
    assert summarize("inception-bottleneck").output_shape == (64 + 128 + 32 + 32, 28, 28)
    assert summarize("compress-1x1").output_shape == (20, 64, 64)


def test_factorization_ratios_at_equal_channels():
    five = summarize("conv5x5", {"filters": 192})
    two3 = summarize("conv5x5-factorized")
    assert two3.totals["macs"] * 25 == five.totals["macs"] * 18       # (9+9)/25
    assert two3.totals["params"] * 25 == five.totals["params"] * 18
    three = summarize("conv3x3-standard")
    asym = summarize("conv3x3-asymmetric")
    assert asym.totals["macs"] * 9 == three.totals["macs"] * 6        # (3+3)/9
    assert asym.totals["params"] * 9 == three.totals["params"] * 6


def test_separable_ratio_is_one_over_n_plus_one_over_dk2():
    std, sep = summarize("conv3x3-standard"), summarize("conv3x3-separable")
    n, dk = 512, 3
    assert sep.totals["macs"] / std.totals["macs"] == pytest.approx(1 / n + 1 / dk ** 2, rel=1e-12)


def test_compare_ratios_shown():
    r = compare(["conv5x5", "conv5x5-bottleneck"])
    a, b = (s.totals["macs"] for s in r["summaries"])
    assert round(a / b, 1) == 9.7                 # issue: "about 9.7x"
    r = compare(["conv3x3-standard", "conv3x3-separable"])
    a, b = (s.totals["macs"] for s in r["summaries"])
    assert round(a / b, 1) == 8.8                 # issue: "about 8.8x"


def test_compare_breakdown_aligns_branches():
    r = compare(["inception-naive", "inception-bottleneck"])
    b = r["breakdown"]
    assert b["5x5"]["macs"] == [28 * 28 * 32 * 25 * 192, 28 * 28 * 32 * 25 * 16]
    assert b["5x5/reduce"]["present"] == [False, True]
    assert list(b)[:3] == ["1x1", "3x3/reduce", "3x3"]
    by_branch = compare(["inception-naive", "inception-bottleneck"], depth=1)["breakdown"]
    assert by_branch["5x5"]["macs"][1] == 28 * 28 * 16 * 192 + 28 * 28 * 32 * 25 * 16


def test_resnet_blocks():
    ident = summarize("resnet-identity-block")
    # Keras conv2_block2: 1x1 64, 3x3 64, 1x1 256 with biases, batch norm 4 a channel
    convs = (256 * 64 + 64) + (9 * 64 * 64 + 64) + (64 * 256 + 256)
    assert ident.totals["params"] == convs + 4 * (64 + 64 + 256)
    assert ident.totals["macs"] == 56 * 56 * (256 * 64 + 9 * 64 * 64 + 64 * 256)
    proj = summarize("resnet-projection-block")
    assert proj.output_shape == (512, 28, 28)
    assert proj.totals["macs"] == 28 * 28 * (256 * 512 + 256 * 128 + 9 * 128 * 128 + 128 * 512)
    basic, bottle = summarize("resnet-basic-block"), summarize("resnet-bottleneck-block")
    assert basic.totals["macs"] == 2 * 56 * 56 * 64 * 9 * 64
    assert bottle.totals["macs"] == 56 * 56 * (256 * 64 + 9 * 64 * 64 + 64 * 256)
    # He et al. Fig. 5: "similar time complexity" for the 4x wider bottleneck block
    assert 0.9 < bottle.totals["macs"] / basic.totals["macs"] < 1.0
