"""ResNet v2, DenseNet and ConvNeXt specs against derivations written out here.

Each expected number is a formula from the papers' and Keras's definitions (Huang et al. 2017
Table 1 and Sec. 3; Liu et al. 2022 Fig. 4; keras/src/applications/{resnet,densenet,convnext}.py),
or Keras's own recorded count (tests/data/keras_layers_2017.json, REFERENCES.md); never costcalc's
output.
"""
import json
from pathlib import Path

import pytest

from costcalc.analysis import summarize
from costcalc.verify import measure

KERAS = json.loads((Path(__file__).parent / "data" / "keras_layers_2017.json").read_text())


def bn(c):
    """Keras BatchNormalization on c channels: (params, trainable) = gamma, beta + moving stats."""
    return 4 * c, 2 * c


def scope_sum(s, instance, field):
    return sum(getattr(r, field) for r in s.layers if instance in r.scope)


def layer(s, name):
    (row,) = [r for r in s.layers if r.name == name]
    return row


# ----------------------------------------------------------------------------- DenseNet

DENSE_BLOCKS = {"densenet121": (6, 12, 24, 16), "densenet169": (6, 12, 32, 32),
                "densenet201": (6, 12, 48, 32)}


def densenet_channels(blocks, k=32, k0=64, theta=0.5):
    """Channels after each dense block (k0 + n*k, Huang et al. Sec. 3 'growth rate') and after
    each transition (floor(theta * c), Keras int(c * reduction))."""
    out, c = [], k0
    for j, n in enumerate(blocks):
        c = c + n * k
        out.append(("dense", c))
        if j < len(blocks) - 1:
            c = int(c * theta)
            out.append(("transition", c))
    return out


def test_densenet121_channels_by_hand():
    # written out: 64 + 6*32 = 256 -> 128 -> 128 + 12*32 = 512 -> 256 -> 256 + 24*32 = 1024
    # -> 512 -> 512 + 16*32 = 1024 (the classifier's 1024 inputs)
    assert densenet_channels(DENSE_BLOCKS["densenet121"]) == [
        ("dense", 256), ("transition", 128), ("dense", 512), ("transition", 256),
        ("dense", 1024), ("transition", 512), ("dense", 1024)]


@pytest.mark.parametrize("k, theta", [(32, 0.5), (12, 0.5), (24, 0.5), (48, 0.5), (32, 0.7),
                                      (20, 0.3)])
def test_densenet_channels_follow_k0_plus_nk(k, theta):
    blocks = DENSE_BLOCKS["densenet121"]
    s = summarize("densenet121", {"growth_rate": k, "reduction": theta})
    expected = densenet_channels(blocks, k=k, theta=theta)
    got = []
    for j, n in enumerate(blocks):
        got.append(("dense", layer(s, f"conv{j + 2}_block{n}_concat").output_shape[0]))
        if j < 3:
            got.append(("transition", layer(s, f"pool{j + 2}_pool").output_shape[0]))
    assert got == expected
    # every conv_block adds exactly k channels: its 3x3 conv has k filters
    assert {layer(s, f"conv3_block{i}_2_conv").output_shape[0] for i in range(1, 13)} == {k}
    # and its bottleneck 1x1 conv has 4k (Sec. 3: "each 1x1 convolution produce 4k feature-maps")
    assert layer(s, "conv4_block7_1_conv").output_shape[0] == 4 * k


def conv_block_params(c, k):
    """One Keras conv_block on c input channels: BN(c) + 1x1 c->4k (no bias) + BN(4k) + 3x3
    4k->k (no bias)."""
    return 4 * c + c * 4 * k + 4 * (4 * k) + 9 * (4 * k) * k


@pytest.mark.parametrize("name, c", [("conv2_block1", 64), ("conv2_block6", 64 + 5 * 32),
                                     ("conv3_block1", 128), ("conv4_block10", 256 + 9 * 32),
                                     ("conv5_block16", 512 + 15 * 32)])
def test_densenet_conv_block_params_formula(name, c):
    s = summarize("densenet121")
    assert scope_sum(s, name, "params") == conv_block_params(c, 32)
    # Keras's own rows of that block say the same
    rows = [r for r in KERAS["densenet121"]["layers"] if r[0].startswith(name + "_")]
    assert sum(r[2] for r in rows) == conv_block_params(c, 32)


def test_densenet121_total_params_by_formula():
    """Whole DenseNet-121 from the block formula: stem 7*7*3*64 + BN(64), the conv_blocks,
    transitions BN(c) + c*floor(c/2), final BN(1024) and the 1024*1000 + 1000 classifier."""
    total, c = 7 * 7 * 3 * 64 + 4 * 64, 64
    for j, n in enumerate(DENSE_BLOCKS["densenet121"]):
        for _ in range(n):
            total += conv_block_params(c, 32)
            c += 32
        if j < 3:
            total += 4 * c + c * (c // 2)
            c //= 2
    total += 4 * c + c * 1000 + 1000
    assert total == KERAS["densenet121"]["totals"]["params"] == 8062504
    assert summarize("densenet121").totals["params"] == total


# ----------------------------------------------------------------------------- ConvNeXt

def convnext_block_params(c):
    """Depthwise 7x7 (49c + c bias) + LayerNorm 2c + Dense c->4c (4c^2 + 4c) + Dense 4c->c
    (4c^2 + c) + LayerScale c = 8c^2 + 58c."""
    return (49 * c + c) + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c) + c


def convnext_block_macs(c, h, w):
    """7x7 depthwise h*w*c*49, then the two pointwise Dense layers of 4x width, h*w*c*4c each."""
    return h * w * c * 49 + h * w * c * (4 * c) + h * w * (4 * c) * c


def test_convnext_block_formulas_written_out():
    assert convnext_block_params(96) == 8 * 96 ** 2 + 58 * 96 == 79296
    assert convnext_block_macs(96, 56, 56) == 14751744 + 2 * 115605504


@pytest.mark.parametrize("variant, prefix, widths", [
    ("convnext-tiny", "convnext_tiny", (96, 192, 384, 768)),
    ("convnext-base", "convnext_base", (128, 256, 512, 1024))])
@pytest.mark.parametrize("size", [224, 227])
def test_convnext_block_params_and_macs(variant, prefix, widths, size):
    s = summarize(variant, input_shape=f"3x{size}x{size}")
    h = (size - 4) // 4 + 1                        # 4x4 stride-4 stem, valid
    for stage, c in enumerate(widths):
        block = f"{prefix}_stage_{stage}_block_1"
        assert scope_sum(s, block, "params") == convnext_block_params(c)
        assert scope_sum(s, block, "macs") == convnext_block_macs(c, h, h)
        h = (h - 2) // 2 + 1                       # the 2x2 stride-2 downsampling conv


def test_convnext_tiny_macs_by_formula():
    """ConvNeXt-T conv + dense multiply-adds from the stage table (3, 3, 9, 3 x 96..768): stem
    56*56*96*(4*4*3), blocks, downsampling 2x2/2 convs, classifier 768*1000."""
    depths, widths, h = (3, 3, 9, 3), (96, 192, 384, 768), 56
    macs = 56 * 56 * 96 * 4 * 4 * 3
    for j, (d, c) in enumerate(zip(depths, widths)):
        if j:
            h //= 2
            macs += h * h * c * 2 * 2 * widths[j - 1]
        macs += d * convnext_block_macs(c, h, h)
    macs += 768 * 1000
    assert summarize("convnext-tiny").totals["macs"] == macs
    # torchvision ConvNeXt_Tiny_Weights meta _ops 4.456 (GMACs of conv + linear)
    assert round(macs / 1e9, 3) == 4.456


# ResNet-50's stages (He et al. 2015, Table 1): (bottleneck width f, units)
STAGES = [(64, 3), (128, 4), (256, 6), (512, 3)]


def v1_minus_v2_params():
    """Keras ResNet50 (v1) minus ResNet50V2, (params, trainable): the kernels are the same
    shapes; what differs is v1's conv1_bn, the biases of 1_conv and 2_conv (v2: use_bias=False),
    v1's 3_bn and 0_bn (v2 has neither), against v2's preact_bn on each unit's input and
    post_bn(2048)."""
    p, t = bn(64)                                       # conv1_bn (v2: none, preact instead)
    c_in = 64
    for f, units in STAGES:
        for u in range(units):
            c = c_in if u == 0 else 4 * f
            p += 2 * f + bn(4 * f)[0] - bn(c)[0]        # biases of 1_conv, 2_conv; 3_bn; preact
            t += 2 * f + bn(4 * f)[1] - bn(c)[1]
            if u == 0:                                  # 0_bn after the projection (v1 only)
                p, t = p + bn(4 * f)[0], t + bn(4 * f)[1]
        c_in = 4 * f
    p, t = p - bn(2048)[0], t - bn(2048)[1]             # post_bn (v2 only)
    return p, t


def resnet50_kernels():
    """Conv and dense kernels (no biases) of either ResNet-50: 7*7*3*64, per unit 1x1 c->f,
    3x3 f->f, 1x1 f->4f and in the first unit the 1x1 c->4f projection, and 2048*1000."""
    w, c_in = 7 * 7 * 3 * 64, 64
    for f, units in STAGES:
        for u in range(units):
            c = c_in if u == 0 else 4 * f
            w += c * f + 9 * f * f + f * 4 * f + (c * 4 * f if u == 0 else 0)
        c_in = 4 * f
    return w + 2048 * 1000


def test_resnet50_v1_v2_param_difference():
    p, t = v1_minus_v2_params()
    assert (p, t) == (22912, 15232)
    # Keras: ResNet50 25,636,712 total / 25,583,592 trainable (REFERENCES.md, Keras
    # Applications table); ResNet50V2 as recorded from Keras 3.15.1
    v2 = KERAS["resnet50-v2"]["totals"]
    assert (25636712 - v2["params"], 25583592 - v2["trainable"]) == (p, t)
    s1, s2 = summarize("resnet50"), summarize("resnet50-v2")
    assert s1.totals["params"] - s2.totals["params"] == p
    assert s1.totals["trainable_params"] - s2.totals["trainable_params"] == t
    # the convolution and dense kernels themselves are the same in number
    assert measure(s1, "weights") == measure(s2, "weights") == resnet50_kernels()


def test_resnet_v2_stride_on_last_unit():
    """Keras stack_residual_blocks_v2: the stride 2 is on the last unit's 3x3 conv of conv2..conv4
    (not the first unit of conv3..conv5 as in v1), and its shortcut is a 1x1/2 max pool."""
    s = summarize("resnet50-v2")
    for stage, units, size in (("conv2", 3, 28), ("conv3", 4, 14), ("conv4", 6, 7)):
        assert layer(s, f"{stage}_block{units}_2_conv").output_shape[1] == size
        assert layer(s, f"{stage}_block{units - 1}_2_conv").output_shape[1] == size * 2
    pools = [r for r in s.layers if r.op == "max_pool2d" and r.name != "pool1_pool"]
    assert [(r.name, r.inputs) for r in pools] == [
        ("max_pooling2d", ["conv2_block2_out"]), ("max_pooling2d_1", ["conv3_block3_out"]),
        ("max_pooling2d_2", ["conv4_block5_out"])]
    assert layer(s, "conv5_block3_out").output_shape == (2048, 7, 7)
