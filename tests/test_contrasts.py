"""Contrast reports (issue #5): every key number against a hand-derived formula or a published
table, written out here; plus the shape of each report (tables, Mermaid blocks)."""
import re
from pathlib import Path

import pytest

import test_report      # its Mermaid structure check, reused on the generated text
from costcalc import contrasts

ROOT = Path(__file__).resolve().parent.parent
FILES = ["bottleneck.md", "separable.md", "factorization.md", "residual.md",
         "mobilenet-scaling.md", "xception-vs-inception.md",
         # the CNNs after 2017 (their numbers: tests/test_contrasts_2017.py)
         "mobilenet-v1-to-v3.md", "efficientnet-scaling.md", "resnet-v1-vs-v2.md",
         "densenet-growth.md",
         # training costs (its numbers: tests/test_training.py)
         "transfer-learning.md"]


@pytest.fixture(scope="module")
def reports():
    return {fname: make() for fname, (_, make) in contrasts.REPORTS.items()}


def n(v) -> str:
    """An integer as the reports print it."""
    return f"{v:,}"


def table_rows(text) -> list[list[str]]:
    """Cells of every markdown table row (header and separator rows included; links unwrapped)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.append([re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", c) for c in cells])
    return rows


def row(text, *lead) -> list[str]:
    """The one table row whose first cells are ``lead``."""
    found = [r for r in table_rows(text) if r[:len(lead)] == list(lead)]
    assert len(found) == 1, (lead, found)
    return found[0]


def section(text, heading) -> str:
    """The text from a '## heading' to the next '## '."""
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


# ----------------------------------------------------------------------------- every report
def test_the_registry_names_the_six_reports():
    assert list(contrasts.REPORTS) == FILES


@pytest.mark.parametrize("fname", FILES)
def test_report_is_produced_with_tables_and_pictures(reports, fname, tmp_path):
    text = reports[fname]
    title = contrasts.REPORTS[fname][0]
    assert text.startswith(f"# {title}\n")
    assert len(re.findall(r"^\|[-|]+\|$", text, re.M)) >= 2             # at least two tables
    assert "Conventions: a MAC is one multiply-accumulate" in text
    assert "xychart-beta" in text                                      # a chart in every report
    assert "DIFFER" not in text
    # the structural check of tests/test_report.py, on the generated text
    path = tmp_path / fname
    path.write_text(text)
    test_report.test_mermaid_blocks_are_well_formed(path)
    # module reports draw their modules' graphs
    if fname not in ("mobilenet-scaling.md", "xception-vs-inception.md", "mobilenet-v1-to-v3.md",
                     "efficientnet-scaling.md", "resnet-v1-vs-v2.md", "densenet-growth.md",
                     "transfer-learning.md"):
        assert "```mermaid\nflowchart" in text


def test_index_links_every_contrast():
    index = (ROOT / "reports" / "README.md").read_text()
    for fname, (title, _) in contrasts.REPORTS.items():
        assert f"- [{title}]({fname})" in index
    assert "mermaid 11" in index and "tools/render_mermaid.sh" in index


# ----------------------------------------------------------------------------- bottleneck.md
def test_bottleneck_5x5(reports):
    text = reports["bottleneck.md"]
    plain = 28 * 28 * 32 * 5 * 5 * 192                 # seeds: "120M"
    reduce_, conv = 28 * 28 * 16 * 192, 28 * 28 * 32 * 5 * 5 * 16   # seeds: "2.4M + 10.0M"
    assert row(text, "conv5x5", "5x5")[3:6] == [n(5 * 5 * 192), n(28 * 28 * 32), n(plain)]
    assert row(text, "conv5x5-bottleneck", "5x5/reduce")[5] == n(reduce_)
    assert row(text, "conv5x5-bottleneck", "5x5")[3:6] == [n(5 * 5 * 16), n(28 * 28 * 32),
                                                            n(conv)]
    total = row(text, "conv5x5-bottleneck", "192x28x28")
    assert total[4] == n(reduce_ + conv) == n(12443648)
    assert abs((reduce_ + conv) - 12.4e6) / 12.4e6 < 0.005            # seeds: "12.4M"
    assert total[7] == f"{(reduce_ + conv) / plain:.4f} ({plain / (reduce_ + conv):.2f}x fewer)"
    # break-even width: 28*28*r*(192 + 25*32) = 28*28*32*25*192
    even = 25 * 192 * 32 / (192 + 25 * 32)
    assert f"below {even:.1f} channels" in text
    assert row(text, "154")[1] == n(28 * 28 * 154 * (192 + 25 * 32))
    assert "fewer" in row(text, "154")[3] and "more" in row(text, "155")[3]


def test_bottleneck_inception_branches(reports):
    text = section(reports["bottleneck.md"], "Naive vs bottleneck")
    hw = 28 * 28
    assert row(text, "1x1")[3:5] == [n(hw * 192 * 64)] * 2
    assert row(text, "3x3")[3:5] == [n(hw * 9 * 192 * 128), n(hw * (192 * 96 + 9 * 96 * 128))]
    assert row(text, "5x5")[3:5] == [n(hw * 25 * 192 * 32), n(hw * (192 * 16 + 25 * 16 * 32))]
    assert row(text, "pool")[3:6] == ["0", n(hw * 192 * 32), "added"]
    # the pool branch keeps 192 channels: 64 + 128 + 32 + 192 = 416 against 256 (Table 1, 3a)
    assert row(text, "concat")[1:3] == [f"{64 + 128 + 32 + 192}x28x28", "256x28x28"]
    naive = hw * (192 * 64 + 9 * 192 * 128 + 25 * 192 * 32)
    reduced = hw * (192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32)
    assert row(text, "inception-bottleneck", "192x28x28")[4] == n(reduced)
    assert f"costs {n(naive)} MACs; with them {n(reduced)}" in text
    assert abs(reduced - 128e6) / 128e6 < 0.005                     # GoogLeNet Table 1: 128M


# ----------------------------------------------------------------------------- separable.md
def test_separable_ratio_is_one_over_n_plus_one_over_dk_squared(reports):
    text = reports["separable.md"]
    assert (512, 512, 3, 14) in contrasts.SEPARABLE_CASES         # MobileNet Table 3's layer
    for m, nn, k, f in contrasts.SEPARABLE_CASES:
        std = k * k * m * nn * f * f                               # Eq. 2
        sep = k * k * m * f * f + m * nn * f * f                   # Eq. 5
        r = row(text, n(m), n(nn), str(k), str(f))
        assert r[4:10] == [n(std), n(sep), f"{sep / std:.6f}", f"{1 / nn + 1 / k ** 2:.6f}",
                           "exact", f"{std / sep:.3f}"]
    assert row(text, "512", "72", "3", "14")[9] == "8.000"         # 1/72 + 1/9 = 1/8


def test_separable_table3_and_table4(reports):
    text = reports["separable.md"]
    std, sep = 3 * 3 * 512 * 512 * 14 * 14, 3 * 3 * 512 * 14 * 14 + 512 * 512 * 14 * 14
    assert row(text, "conv3x3-standard", n(std))[2:5] == ["462M", n(9 * 512 * 512), "2.36M"]
    assert row(text, "conv3x3-separable", n(sep))[2:5] == ["52.3M", n(9 * 512 + 512 * 512),
                                                           "0.27M"]
    assert round(std / 1e6) == 462 and round(sep / 1e5) / 10 == 52.3   # MobileNet Table 3
    mob, full = mobilenet_macs(), mobilenet_macs(separable=False)
    assert row(text, "mobilenet")[1:5] == [n(mob), "569M", n(mobilenet_weights()), "4.2M"]
    assert row(text, "mobilenet-conv")[1:5] == [n(full), "4866M",
                                                n(mobilenet_weights(separable=False)), "29.3M"]
    assert round(mob / 1e6) == 569 and abs(full - 4866e6) / 4866e6 < 0.0003   # Table 4
    # Table 2: pointwise 94.86% of mult-adds, depthwise 3.06%, FC 0.18%; the stem is printed
    # 1.19% but is 112*112*3*3*3*32 / total = 1.91%
    stem = 112 * 112 * 3 * 3 * 3 * 32
    assert row(text, "Conv 3x3 (stem)")[1:3] == [f"{100 * stem / mob:.2f}", "1.19"]
    assert f"{100 * stem / mob:.2f}" == "1.91"
    assert row(text, "Conv 1x1 (pointwise)")[1:3] == ["94.86", "94.86"]
    fc = 1024 * 1000
    assert row(text, "Fully connected (1x1 conv)")[1:5] == [
        f"{100 * fc / mob:.2f}", "0.18", f"{100 * fc / mobilenet_weights():.2f}", "24.33"]


# MobileNet Table 1 as (stride, pointwise filters) per separable block, after the 3x3/2 stem
# with 32 filters; the 7x7 block before the last has stride 1 (Table 1's "s2" is a misprint).
MOBILENET_BLOCKS = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512)] + \
    [(1, 512)] * 5 + [(2, 1024), (1, 1024)]


def mobilenet_layers(alpha=1.0, res=224):
    """(map side, C_in, C_out) of every 3x3 block of MobileNet (Table 1), and the stem side."""
    side, cin, out = res // 2, int(32 * alpha), []
    for stride, f in MOBILENET_BLOCKS:
        side //= stride
        out.append((side, cin, int(f * alpha)))
        cin = int(f * alpha)
    return res // 2, out


def mobilenet_macs(alpha=1.0, res=224, separable=True):
    """Eq. 2 for the stem and (separable=False) every block, Eq. 5 otherwise, + FC 1024a*1000."""
    stem, blocks = mobilenet_layers(alpha, res)
    macs = stem * stem * 3 * 3 * 3 * int(32 * alpha)
    for s, cin, cout in blocks:
        macs += s * s * (9 * cin + cin * cout) if separable else s * s * 9 * cin * cout
    return macs + blocks[-1][2] * 1000


def mobilenet_weights(alpha=1.0, separable=True):
    _, blocks = mobilenet_layers(alpha)
    w = 3 * 3 * 3 * int(32 * alpha)
    for _, cin, cout in blocks:
        w += 9 * cin + cin * cout if separable else 9 * cin * cout
    return w + blocks[-1][2] * 1000


# ----------------------------------------------------------------------------- factorization.md
def test_factorization_of_a_5x5(reports):
    text = section(reports["factorization.md"], "Replacing a 5x5")
    out, c = 28 * 28 * 192, 192
    assert row(text, "one 5x5")[5] == n(out * 25 * c)         # 28*28*192 outputs x 5*5*192
    # Szegedy et al. 2015, Sec. 3.1: (9+9)/25, "a relative gain of 28%"
    cases = {"one 5x5": (1, 25), "two 3x3": (2, 9), "two 3x1 + 1x3 pairs": (4, 3),
             "5x1 then 1x5": (2, 5)}
    for label, (layers, taps) in cases.items():
        r = row(text, label)
        assert r[2:8] == [str(layers), "5x5", n(layers * taps * c * c), n(out * layers * taps * c),
                          f"{layers * taps / 25:.4f}", n(out * layers)]
    assert row(text, "two 3x3")[6] == "0.7200"


def test_factorization_of_a_3x3(reports):
    text = section(reports["factorization.md"], "Replacing a 3x3")
    out, c = 14 * 14 * 512, 512
    assert row(text, "one 3x3")[5] == n(out * 9 * c)
    assert row(text, "3x1 then 1x3")[5:7] == [n(out * 2 * 3 * c), f"{6 / 9:.4f}"]   # "33% cheaper"
    assert row(text, "two 2x2")[5:7] == [n(out * 2 * 4 * c), f"{8 / 9:.4f}"]        # "saves 11%"


def test_factorization_with_unequal_channels(reports):
    text = section(reports["factorization.md"], "When channel counts differ")
    for f in (32, 96, 192, 384):
        one, two = 28 * 28 * f * 25 * 192, 28 * 28 * (9 * 192 * f + 9 * f * f)
        ratio = f"{9 * (192 + f) / (25 * 192):.4f}"
        assert row(text, str(f)) == [str(f), n(one), n(two), ratio, ratio]
    assert row(text, "384")[3] == "1.0800"          # F > 16/9 * C_in: factorizing costs more


# ----------------------------------------------------------------------------- residual.md
def test_shortcut_costs(reports):
    text = section(reports["residual.md"], "Identity vs projection")
    identity = 56 * 56 * (256 * 64 + 9 * 64 * 64 + 64 * 256)
    r = row(text, "identity")
    assert r[5:11] == ["0", "0", n(71552), n(identity), "0.00%", n(256 * 56 * 56)]
    # option C at conv2_block2: a 1x1 256 -> 256 projection with bias and batch norm (Keras)
    proj_c = 56 * 56 * 256 * 256
    r = row(text, "projection, stride 1")
    assert r[5:7] == [n(256 * 256 + 256 + 4 * 256), n(proj_c)]
    assert r[8] == n(identity + proj_c)
    # conv3_block1: strided projection 256 -> 512 on 28x28 (He et al. option B)
    proj_b = 28 * 28 * 256 * 512
    block = 28 * 28 * (256 * 512 + 256 * 128 + 9 * 128 * 128 + 128 * 512)
    r = row(text, "projection, stride 2")
    assert r[5:10] == [n(256 * 512 + 512 + 4 * 512), n(proj_b), n(383232), n(block),
                       f"{100 * proj_b / block:.2f}%"]
    r50 = 56 * 56 * 64 * 256 + 28 * 28 * 256 * 512 + 14 * 14 * 512 * 1024 + 7 * 7 * 1024 * 2048
    assert f"4 projection convolutions, {n(r50)} MACs" in reports["residual.md"]


def test_basic_vs_bottleneck_block(reports):
    text = section(reports["residual.md"], "Basic vs bottleneck")
    basic, bneck = 2 * 56 * 56 * 64 * 9 * 64, 56 * 56 * (256 * 64 + 9 * 64 * 64 + 64 * 256)
    assert row(text, "resnet-basic-block", "64x56x56")[4] == n(basic)
    assert row(text, "resnet-bottleneck-block", "256x56x56")[4] == n(bneck)
    assert row(text, "conv1")[3:7] == [n(56 * 56 * 64 * 9 * 64), n(56 * 56 * 256 * 64),
                                       n(9 * 64 * 64), n(256 * 64)]
    assert row(text, "conv3")[3:5] == ["-", n(56 * 56 * 64 * 256)]
    assert abs(bneck / basic - 1) < 0.06             # Fig. 5: "similar time complexity"


def cifar_macs(depth):
    """6n+2 CIFAR ResNet (option A): conv1, 3 stages of n basic blocks, FC 64*10. Every block
    costs 2*32*32*16*16*9 MACs except the first of stages 2 and 3, whose strided first conv
    reads half the channels."""
    k = (depth - 2) // 6
    block = 2 * 32 * 32 * 16 * 16 * 9
    first = 16 * 16 * 32 * 9 * 16 + 16 * 16 * 32 * 9 * 32
    return 32 * 32 * 16 * 3 * 9 + 3 * k * block - 2 * block + 2 * first + 64 * 10


def test_cost_against_depth(reports):
    text = section(reports["residual.md"], "Cost against depth")
    for stage, shape in (("stage1_block2", "16x32x32"), ("stage2_block2", "32x16x16"),
                         ("stage3_block2", "64x8x8")):
        c = int(shape.split("x")[0])
        assert row(text, stage) == [stage, shape, n(2 * 32 * 32 * 16 * 16 * 9),
                                    n(2 * 9 * c * c + 2 * 4 * c)]
    assert f"adds {n(3 * 2 * 32 * 32 * 16 * 16 * 9)} MACs and {n(97664)} params" in text
    # He et al. 2015, Table 6 params (weights + BN scale and shift) and exact MACs
    for depth, paper in ((20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7),
                         (1202, 19.4)):
        r = row(text, "resnet-cifar", str(depth))
        digits = 2 if paper < 1 else 1
        assert round(int(r[3].replace(",", "")) / 1e6, digits) == paper
        assert r[6] == n(cifar_macs(depth))
    # He et al. 2015, Table 1: FLOPs (multiply-adds) printed to 0.1e9
    for name, paper in (("resnet18", 1.8), ("resnet34", 3.6), ("resnet50", 3.8),
                        ("resnet101", 7.6), ("resnet152", 11.3)):
        macs = int(row(text, name)[5].replace(",", ""))
        assert abs(macs - paper * 1e9) < 0.1e9, name
    # He et al. 2016, Table 4: pre-activation ResNet-1001, 10.2M (weights only)
    assert round(int(row(text, "preact-resnet-cifar", "1001")[4].replace(",", "")) / 1e5) == 102


# ----------------------------------------------------------------------------- mobilenet-scaling.md
def test_table6_width_multiplier(reports):
    text = section(reports["mobilenet-scaling.md"], "Table 6")
    paper = {1.0: (569, 4.2), 0.75: (325, 2.6), 0.5: (149, 1.3), 0.25: (41, 0.5)}   # Table 6
    for alpha, (madds, params) in paper.items():
        macs, w = mobilenet_macs(alpha), mobilenet_weights(alpha)
        assert round(macs / 1e6) == madds and round(w / 1e5) / 10 == params
        r = row(text, str(alpha))
        assert r[1:8] == [f"{madds}M", n(macs), f"{macs / mobilenet_macs():.4f}",
                          f"{alpha ** 2:.4f}", n(macs), f"{params}M", n(w)]
    # only the pointwise layers scale as alpha^2
    _, blocks = mobilenet_layers()
    pointwise = sum(s * s * cin * cout for s, cin, cout in blocks)
    assert f"{n(pointwise)}·alpha^2 + {n(mobilenet_macs() - pointwise)}·alpha" in \
        reports["mobilenet-scaling.md"]


def test_table7_resolution_multiplier(reports):
    text = section(reports["mobilenet-scaling.md"], "Table 7")
    paper = {224: 569, 192: 418, 160: 290, 128: 186}                  # Table 7
    for res, madds in paper.items():
        macs = mobilenet_macs(res=res)
        rho = res / 224
        r = row(text, str(res))
        assert r[2:5] == [f"{madds}M", n(macs), f"{macs / mobilenet_macs():.4f}"]
        assert r[7] == n(round((mobilenet_macs() - 1024000) * rho ** 2 + 1024000)) == n(macs)
        # the paper's figures follow 569M * rho^2; the exact count differs only at 160
        assert round(569 * rho ** 2) == madds
        assert (round(macs / 1e6) == madds) == (res != 160)


def test_table3_multipliers_on_one_layer(reports):
    text = section(reports["mobilenet-scaling.md"], "Table 3")
    assert row(text, "alpha 0.75 (384 channels)")[2:6] == [
        n(14 * 14 * (9 * 384 + 384 * 384)), "29.6M", n(9 * 384 + 384 * 384), "0.15M"]
    assert row(text, "alpha 0.75, rho 0.714 (10x10)")[2:4] == [
        n(10 * 10 * (9 * 384 + 384 * 384)), "15.1M"]


# ----------------------------------------------------------------------------- xception-vs-inception.md
def test_xception_vs_inception(reports):
    text = reports["xception-vs-inception.md"]
    # Keras Applications table, and Chollet 2016 Table 3 (trainable, exact for Xception)
    assert row(text, "params (Keras total)")[1:4] == [n(22910480), n(23851784),
                                                      f"{22910480 / 23851784:.4f}"]
    assert row(text, "trainable params")[1] == n(22855952)
    assert row(text, "published: Chollet 2016, Table 3")[1:3] == ["22,855,952", "23,626,728"]
    # the middle flow: 8 blocks x 3 separable convs (3x3 depthwise + 728 -> 728 pointwise)
    middle = 8 * 3 * 19 * 19 * (9 * 728 + 728 * 728)
    assert f"costs {n(middle)} MACs" in text
    macs = row(text, "MACs")
    assert float(macs[3]) > 1.4                      # "same parameters", not the same cost
    assert float(row(text, "params (Keras total)")[3]) > 0.95
