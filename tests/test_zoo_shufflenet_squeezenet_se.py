"""ShuffleNet V2, SqueezeNet and SE-ResNet-50 (specs/shufflenet-v2.yaml, squeezenet.yaml,
se-resnet50.yaml) against derivations that share no code with costcalc:

- formulas written out here: a Fire module's params and MACs, the MACs of a ShuffleNet V2
  stride-1 unit, a stride-2 unit and of the whole network, the SE blocks' extra params and MACs
  (Hu et al. Eq. 5 plus the FC biases) summed over SE-ResNet-50's 16 blocks;
- published counts, cited next to them: torchvision's num_params (nn.Parameters: weights,
  biases, BN gamma/beta) for every variant, osmr/imgclsmob's SE-ResNet-50 count;
- with torch installed: the networks written again in plain torch, following torchvision's
  torchvision/models/shufflenetv2.py and squeezenet.py and Cadene's
  pretrainedmodels/models/senet.py (the Caffe-style SE-ResNet-50), compared with the specs
  layer by layer (parameter and buffer counts, output shapes) and numerically (the torch
  modules' own weights fed to costcalc's forward pass).
"""
import dataclasses

import numpy as np
import pytest

from costcalc import execute
from costcalc.analysis import analyze_model, summarize
from costcalc.spec import Spec, load


def rows(name, overrides=None, input_shape=None):
    return summarize(name, overrides, input_shape)


def scoped(summary, prefix, what="params"):
    """The sum of ``what`` over the layers of one block instance (names ``prefix_...``)."""
    return sum(getattr(r, what) for r in summary.layers if r.name.startswith(prefix + "_"))


# ------------------------------------------------------------------------------ SqueezeNet
def fire_params(cin, s1, e1, e3):
    """A Fire module (Iandola et al. Sec. 3.2): squeeze 1x1 (cin -> s1), expand 1x1 (s1 -> e1)
    and expand 3x3 (s1 -> e3), each convolution with a bias."""
    return (cin * s1 + s1) + (s1 * e1 + e1) + (3 * 3 * s1 * e3 + e3)


def fire_macs(cin, s1, e1, e3, h, w):
    return h * w * (cin * s1 + s1 * e1 + 3 * 3 * s1 * e3)


# (torchvision features index, input channels, s1x1, e1x1, e3x3): Iandola et al. Table 1 for 1.0,
# torchvision squeezenet.py SqueezeNet.__init__ for both versions.
FIRES = {
    "1.0": [(3, 96, 16, 64, 64), (4, 128, 16, 64, 64), (5, 128, 32, 128, 128),
            (7, 256, 32, 128, 128), (8, 256, 48, 192, 192), (9, 384, 48, 192, 192),
            (10, 384, 64, 256, 256), (12, 512, 64, 256, 256)],
    "1.1": [(3, 64, 16, 64, 64), (4, 128, 16, 64, 64), (6, 128, 32, 128, 128),
            (7, 256, 32, 128, 128), (9, 256, 48, 192, 192), (10, 384, 48, 192, 192),
            (11, 384, 64, 256, 256), (12, 512, 64, 256, 256)],
}
CONV1 = {"1.0": (96, 7), "1.1": (64, 3)}

# torchvision/models/squeezenet.py, SqueezeNet1_0_Weights / SqueezeNet1_1_Weights
# .IMAGENET1K_V1 meta["num_params"]
TORCHVISION_SQUEEZENET = {"squeezenet-1.0": 1248424, "squeezenet-1.1": 1235496}


def test_fire2_params_formula_and_table1():
    # Iandola et al. Table 1, fire2 (55x55x96 in, s1x1 16, e1x1 64, e3x3 64): 11,920
    assert fire_params(96, 16, 64, 64) == 96 * 16 + 16 + 16 * 64 + 64 + 9 * 16 * 64 + 64 == 11920
    s = rows("squeezenet-1.0")
    assert scoped(s, "features_3") == 11920


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_every_fire_module_params_and_macs(version):
    s = rows("squeezenet", {"version": version})
    by_name = {r.name: r for r in s.layers}
    for index, cin, s1, e1, e3 in FIRES[version]:
        name = f"features_{index}"
        assert scoped(s, name) == fire_params(cin, s1, e1, e3), name
        _, h, w = by_name[f"{name}_cat"].output_shape
        assert scoped(s, name, "macs") == fire_macs(cin, s1, e1, e3, h, w), name
        assert by_name[f"{name}_cat"].output_shape[0] == e1 + e3
    # conv1 + the fires + conv10 (512 -> 1000 1x1 with bias) = torchvision's num_params
    filters, k = CONV1[version]
    total = (k * k * 3 * filters + filters) + sum(fire_params(*f[1:]) for f in FIRES[version]) \
        + (512 * 1000 + 1000)
    assert total == TORCHVISION_SQUEEZENET[f"squeezenet-{version}"]
    assert s.totals["params"] == s.totals["trainable_params"] == total


def test_squeezenet_table1_total():
    # Iandola et al. Table 1, "# parameter before pruning": conv1 14,208, fire2 11,920, fire3
    # 12,432, fire4 45,344, fire5 49,440, fire6 104,880, fire7 111,024, fire8 188,992, fire9
    # 197,184, conv10 513,000; total 1,248,424
    table1 = [14208, 11920, 12432, 45344, 49440, 104880, 111024, 188992, 197184, 513000]
    assert sum(table1) == 1248424
    fires = [fire_params(*f[1:]) for f in FIRES["1.0"]]
    assert [7 * 7 * 3 * 96 + 96] + fires + [512 * 1000 + 1000] == table1


# ------------------------------------------------------------------------------ ShuffleNet V2
# torchvision/models/shufflenetv2.py: stages_out_channels per builder, stages_repeats [4, 8, 4],
# and ShuffleNet_V2_X*_Weights.IMAGENET1K_V1 meta["num_params"]
SHUFFLENET = {
    "shufflenet-v2-x0.5": ([24, 48, 96, 192, 1024], 1366792),
    "shufflenet-v2-x1.0": ([24, 116, 232, 464, 1024], 2278604),
    "shufflenet-v2-x1.5": ([24, 176, 352, 704, 1024], 3503624),
    "shufflenet-v2-x2.0": ([24, 244, 488, 976, 2048], 7393996),
}
REPEATS = [4, 8, 4]


def out_size(h, k=3, s=2, p=1):
    return (h + 2 * p - k) // s + 1


def basic_unit_macs(c, h, w):
    """Stride-1 unit (Ma et al. Fig. 3(c)): the right half of the c channels goes through 1x1
    (b -> b), depthwise 3x3 (b), 1x1 (b -> b), b = c/2; the left half is copied."""
    b = c // 2
    return h * w * b * b + h * w * b * 9 + h * w * b * b


def down_unit_macs(cin, cout, h, w):
    """Stride-2 unit (Fig. 3(d)) on an h x w input, b = cout/2 channels a branch:
    branch1 = depthwise 3x3/2 (cin) then 1x1 (cin -> b); branch2 = 1x1 (cin -> b) at full
    resolution, depthwise 3x3/2 (b), 1x1 (b -> b)."""
    b = cout // 2
    ho, wo = out_size(h), out_size(w)
    branch1 = ho * wo * cin * 9 + ho * wo * cin * b
    branch2 = h * w * cin * b + ho * wo * b * 9 + ho * wo * b * b
    return branch1 + branch2


def shufflenet_macs(widths, h=224, w=224, classes=1000):
    c1, *stages, c5 = widths
    h, w = out_size(h), out_size(w)
    total = h * w * c1 * 3 * 3 * 3                       # conv1 3x3/2
    h, w = out_size(h), out_size(w)                      # maxpool 3x3/2 pad 1
    cin = c1
    for cout, n in zip(stages, REPEATS):
        total += down_unit_macs(cin, cout, h, w)
        h, w = out_size(h), out_size(w)
        total += (n - 1) * basic_unit_macs(cout, h, w)
        cin = cout
    return total + h * w * cin * c5 + c5 * classes       # conv5 1x1, fc


def test_basic_unit_macs_written_out():
    # stage3 of 1.0x: 232 channels on 14x14, branch 116
    assert basic_unit_macs(232, 14, 14) == 14 * 14 * 116 * 116 * 2 + 14 * 14 * 116 * 9 == 5479376
    s = rows("shufflenet-v2-x1.0")
    for k in range(1, 8):
        assert scoped(s, f"stage3_{k}", "macs") == 5479376


def test_down_unit_macs_written_out():
    # stage2_0 of 1.0x: 24 -> 116 channels, 56x56 -> 28x28, branch 58
    want = (28 * 28 * 24 * 9 + 28 * 28 * 24 * 58) + (56 * 56 * 24 * 58 + 28 * 28 * 58 * 9
                                                     + 28 * 28 * 58 * 58)
    assert down_unit_macs(24, 116, 56, 56) == want == 8672608
    s = rows("shufflenet-v2-x1.0")
    assert scoped(s, "stage2_0", "macs") == want
    assert scoped(s, "stage2_0", "params") > 0


@pytest.mark.parametrize("variant", sorted(SHUFFLENET))
def test_shufflenet_units_and_totals(variant):
    widths, num_params = SHUFFLENET[variant]
    s = rows(variant)
    assert s.totals["trainable_params"] == num_params
    assert s.totals["macs"] == shufflenet_macs(widths)
    h = 56
    cin = widths[0]
    for stage, (cout, n) in enumerate(zip(widths[1:4], REPEATS), start=2):
        assert scoped(s, f"stage{stage}_0", "macs") == down_unit_macs(cin, cout, h, h)
        h = out_size(h)
        for k in range(1, n):
            assert scoped(s, f"stage{stage}_{k}", "macs") == basic_unit_macs(cout, h, h)
        cin = cout
    # odd, non-square input: the same formulas
    assert rows(variant, None, "3x161x97").totals["macs"] == shufflenet_macs(widths, 161, 97)


@pytest.mark.parametrize("variant", sorted(SHUFFLENET))
def test_torchvision_ops_are_these_macs(variant):
    # torchvision meta "_ops" (3 decimals) = MACs of conv + linear at 224 (FlopCounterMode)
    ops = {"shufflenet-v2-x0.5": 0.04, "shufflenet-v2-x1.0": 0.145,
           "shufflenet-v2-x1.5": 0.296, "shufflenet-v2-x2.0": 0.583}[variant]
    assert round(shufflenet_macs(SHUFFLENET[variant][0]) / 1e9, 3) == ops


# ------------------------------------------------------------------------------ SE-ResNet-50
# ResNet-50's 16 bottlenecks: (blocks, output channels C) per stage, Hu et al. Table 1
SE_STAGES = [(3, 256), (4, 512), (6, 1024), (3, 2048)]


def se_extra(r):
    """(weights, biases, MACs) the SE blocks add: per block two FC layers C -> C/r -> C."""
    weights = sum(n * 2 * c * c // r for n, c in SE_STAGES)      # Hu et al. Eq. 5
    biases = sum(n * (c // r + c) for n, c in SE_STAGES)
    return weights, biases, weights                              # an FC's MACs = its weights


def test_se_extra_params_eq5():
    weights, biases, _ = se_extra(16)
    assert weights == 2 * (3 * 256 ** 2 + 4 * 512 ** 2 + 6 * 1024 ** 2 + 3 * 2048 ** 2) // 16 \
        == 2514944                                              # "~2.5 million additional"
    assert biases == 16048
    # torchvision resnet50 num_params 25,557,032 (ResNet50_Weights.IMAGENET1K_V1) + the SE
    # blocks = osmr/imgclsmob pytorchcv seresnet50 weight_count 28,088,024
    assert 25557032 + weights + biases == 28088024


@pytest.mark.parametrize("r", [16, 4, 8, 32])
def test_se_blocks_against_resnet50_v15(r):
    weights, biases, macs = se_extra(r)
    base = rows("resnet50-v1.5").totals
    for version in ("v1.5", "v1"):      # params do not depend on where the stride is
        se = rows("se-resnet50", {"reduction": r, "version": version}).totals
        assert se["trainable_params"] - base["trainable_params"] == weights + biases
        assert se["params"] - base["params"] == weights + biases    # no BN in the SE blocks
    se = rows("se-resnet50", {"reduction": r, "version": "v1.5"}).totals
    assert se["macs"] - base["macs"] == macs        # same network otherwise (resnet50-v1.5)


def test_se_resnet50_totals():
    assert rows("se-resnet50").totals["trainable_params"] == 28088024
    v1 = rows("se-resnet50", {"se": False}).totals["macs"]
    v15 = rows("resnet50-v1.5").totals["macs"]
    # v1 -> v1.5 moves the stride of conv3_1/conv4_1/conv5_1 from the 1x1 reduce to the 3x3:
    # the 1x1 then runs at 4x the positions
    extra = 3 * (56 * 56 * 256 * 128 - 28 * 28 * 256 * 128)
    assert 56 * 56 * 256 * 128 - 28 * 28 * 256 * 128 == 28 * 28 * 512 * 256 - 14 * 14 * 512 * 256
    assert v15 - v1 == extra == 231211008
    assert rows("se-resnet50").totals["macs"] == v1 + se_extra(16)[2]


def test_se_block_shapes():
    s = rows("se-resnet50")
    by = {r.name: r for r in s.layers}
    for stage, (n, c) in zip(range(2, 6), SE_STAGES):
        for b in range(1, n + 1):
            p = f"conv{stage}_{b}"
            assert by[f"{p}_global_pool"].output_shape == (c, 1, 1)
            assert by[f"{p}_1x1_down"].output_shape == (c // 16, 1, 1)
            assert by[f"{p}_prob"].output_shape == (c, 1, 1)
            assert by[f"{p}_scale"].output_shape == by[f"{p}_1x1_increase_bn"].output_shape
            assert by[f"{p}_scale"].inputs == [f"{p}_1x1_increase_bn", f"{p}_prob"]
            assert by[f"{p}_add"].inputs[0] == f"{p}_scale"      # SE before the addition
    assert sum(1 for r in s.layers if r.op == "sigmoid") == 16


def test_torchvision_num_params_every_variant():
    # the torchvision figures cited above, each exactly costcalc's trainable params
    for variant, (_, n) in SHUFFLENET.items():
        assert rows(variant).totals["trainable_params"] == n, variant
    for variant, n in TORCHVISION_SQUEEZENET.items():
        assert rows(variant).totals["trainable_params"] == n, variant
    # torchvision resnet50 (ResNet50_Weights.IMAGENET1K_V1 num_params 25557032) = se: false
    assert rows("se-resnet50", {"se": False}).totals["trainable_params"] == 25557032


# ------------------------------------------------------------------------------ plain torch
# Short reimplementations in plain torch (no torchvision needed), following
# pytorch/vision torchvision/models/shufflenetv2.py and squeezenet.py, and
# Cadene/pretrained-models.pytorch pretrainedmodels/models/senet.py (se_resnet50), layer for
# layer and with their module names.
def _torch():
    return pytest.importorskip("torch", reason="the plain-torch reimplementations need torch")


def torch_shufflenet_v2(widths, classes):
    torch = _torch()
    nn = torch.nn

    def channel_shuffle(x, groups):              # torchvision shufflenetv2.channel_shuffle
        b, c, h, w = x.size()
        x = x.view(b, groups, c // groups, h, w)
        return torch.transpose(x, 1, 2).contiguous().view(b, -1, h, w)

    def dw(i, stride):
        return nn.Conv2d(i, i, 3, stride, 1, bias=False, groups=i)

    class InvertedResidual(nn.Module):
        def __init__(self, inp, oup, stride):
            super().__init__()
            self.stride = stride
            bf = oup // 2
            if stride > 1:
                self.branch1 = nn.Sequential(dw(inp, stride), nn.BatchNorm2d(inp),
                                             nn.Conv2d(inp, bf, 1, bias=False),
                                             nn.BatchNorm2d(bf), nn.ReLU())
            else:
                self.branch1 = nn.Sequential()
            self.branch2 = nn.Sequential(
                nn.Conv2d(inp if stride > 1 else bf, bf, 1, bias=False), nn.BatchNorm2d(bf),
                nn.ReLU(), dw(bf, stride), nn.BatchNorm2d(bf),
                nn.Conv2d(bf, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU())

        def forward(self, x):
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return channel_shuffle(out, 2)

    class ShuffleNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            c = widths[0]
            self.conv1 = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1, bias=False),
                                       nn.BatchNorm2d(c), nn.ReLU())
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            for name, n, oup in zip(["stage2", "stage3", "stage4"], REPEATS, widths[1:4]):
                seq = [InvertedResidual(c, oup, 2)] + [InvertedResidual(oup, oup, 1)
                                                       for _ in range(n - 1)]
                setattr(self, name, nn.Sequential(*seq))
                c = oup
            self.conv5 = nn.Sequential(nn.Conv2d(c, widths[4], 1, bias=False),
                                       nn.BatchNorm2d(widths[4]), nn.ReLU())
            self.fc = nn.Linear(widths[4], classes)

        def forward(self, x):
            x = self.conv5(self.stage4(self.stage3(self.stage2(self.maxpool(self.conv1(x))))))
            return self.fc(x.mean([2, 3]))

    return ShuffleNetV2()


def torch_squeezenet(version, classes):
    torch = _torch()
    nn = torch.nn

    class Fire(nn.Module):                        # torchvision squeezenet.Fire
        def __init__(self, inplanes, s, e1, e3):
            super().__init__()
            self.squeeze = nn.Conv2d(inplanes, s, kernel_size=1)
            self.squeeze_activation = nn.ReLU()
            self.expand1x1 = nn.Conv2d(s, e1, kernel_size=1)
            self.expand1x1_activation = nn.ReLU()
            self.expand3x3 = nn.Conv2d(s, e3, kernel_size=3, padding=1)
            self.expand3x3_activation = nn.ReLU()

        def forward(self, x):
            x = self.squeeze_activation(self.squeeze(x))
            return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                              self.expand3x3_activation(self.expand3x3(x))], 1)

    def pool():
        return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)

    if version == "1.0":
        features = [nn.Conv2d(3, 96, kernel_size=7, stride=2), nn.ReLU(), pool(),
                    Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), pool(),
                    Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
                    Fire(384, 64, 256, 256), pool(), Fire(512, 64, 256, 256)]
    else:
        features = [nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(), pool(),
                    Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
                    Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
                    Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                    Fire(512, 64, 256, 256)]

    class SqueezeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(p=0.5), nn.Conv2d(512, classes, 1),
                                            nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)))

        def forward(self, x):
            return torch.flatten(self.classifier(self.features(x)), 1)

    return SqueezeNet()


def torch_se_resnet50(classes, reduction=16):
    """Cadene's se_resnet50 (SENet(SEResNetBottleneck, [3, 4, 6, 3], groups=1, reduction=16,
    inplanes=64, input_3x3=False, downsample_kernel_size=1, downsample_padding=0)), with
    AdaptiveAvgPool2d(1) for its AvgPool2d(7, stride=1) (the same at 224, and usable at the
    small inputs here)."""
    torch = _torch()
    nn = torch.nn

    class SEModule(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.avg_pool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, padding=0)
            self.relu = nn.ReLU()
            self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, padding=0)
            self.sigmoid = nn.Sigmoid()

        def forward(self, x):
            return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))

    class SEResNetBottleneck(nn.Module):      # "uses stride=stride in conv1" (Caffe)
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False, stride=stride)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU()
            self.se_module = SEModule(planes * 4)
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            residual = x if self.downsample is None else self.downsample(x)
            return self.relu(self.se_module(out) + residual)

    class SENet(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer0 = nn.Sequential()
            self.layer0.add_module("conv1", nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False))
            self.layer0.add_module("bn1", nn.BatchNorm2d(64))
            self.layer0.add_module("relu1", nn.ReLU())
            self.layer0.add_module("pool", nn.MaxPool2d(3, stride=2, ceil_mode=True))
            inplanes = 64
            for k, (planes, n, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2),
                                                     (512, 3, 2)], start=1):
                down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride,
                                               bias=False), nn.BatchNorm2d(planes * 4))
                blocks = [SEResNetBottleneck(inplanes, planes, stride, down)]
                blocks += [SEResNetBottleneck(planes * 4, planes) for _ in range(n - 1)]
                setattr(self, f"layer{k}", nn.Sequential(*blocks))
                inplanes = planes * 4
            self.avg_pool = nn.AdaptiveAvgPool2d(1)
            self.last_linear = nn.Linear(2048, classes)

        def forward(self, x):
            for k in range(5):
                x = getattr(self, f"layer{k}")(x)
            return self.last_linear(self.avg_pool(x).flatten(1))

    return SENet()


def se_resnet_module_name(name):
    """The spec's Caffe-style name -> Cadene's module path (None: no module of its own)."""
    top = {"conv1_7x7_s2": "layer0.conv1", "conv1_7x7_s2_bn": "layer0.bn1",
           "conv1_relu_7x7_s2": "layer0.relu1", "pool1_3x3_s2": "layer0.pool",
           "pool5_7x7_s1": "avg_pool", "classifier": "last_linear"}
    if name in top:
        return top[name]
    parts = name.split("_", 2)
    if len(parts) < 3 or not parts[0].startswith("conv"):
        return None
    stage, block, layer = int(parts[0][4:]) - 1, int(parts[1]) - 1, parts[2]
    inner = {"1x1_reduce": "conv1", "1x1_reduce_bn": "bn1", "3x3": "conv2", "3x3_bn": "bn2",
             "1x1_increase": "conv3", "1x1_increase_bn": "bn3",
             "global_pool": "se_module.avg_pool", "1x1_down": "se_module.fc1",
             "1x1_up": "se_module.fc2", "prob": "se_module.sigmoid",
             "1x1_proj": "downsample.0", "1x1_proj_bn": "downsample.1"}.get(layer)
    return None if inner is None else f"layer{stage}.{block}.{inner}"


def torchvision_module_name(name):
    return name          # matched against module paths with "." -> "_"


class _Logits(Spec):
    """The spec without its last layer (se-resnet50 ends in a softmax; Cadene's model does not)."""

    def __init__(self, spec):                  # noqa: super().__init__ would parse again
        self.__dict__.update(spec.__dict__)

    def build(self, overrides=None, input_shape=None):
        model = super().build(overrides, input_shape)
        return dataclasses.replace(model, layers=model.layers[:-1])


CASES = {
    # name: (spec, overrides, torch builder, input C x H x W, name mapping)
    "shufflenet-v2-x1.0": ("shufflenet-v2-x1.0", {"classes": 10},
                           lambda: torch_shufflenet_v2(SHUFFLENET["shufflenet-v2-x1.0"][0], 10),
                           (3, 67, 61), torchvision_module_name),
    "shufflenet-v2-x0.5": ("shufflenet-v2-x0.5", {"classes": 7},
                           lambda: torch_shufflenet_v2(SHUFFLENET["shufflenet-v2-x0.5"][0], 7),
                           (3, 33, 45), torchvision_module_name),
    "squeezenet-1.0": ("squeezenet-1.0", {"classes": 10}, lambda: torch_squeezenet("1.0", 10),
                       (3, 63, 67), torchvision_module_name),
    "squeezenet-1.1": ("squeezenet-1.1", {"classes": 10}, lambda: torch_squeezenet("1.1", 10),
                       (3, 49, 45), torchvision_module_name),
    "se-resnet50": ("se-resnet50", {"classes": 10}, lambda: torch_se_resnet50(10),
                    (3, 65, 59), se_resnet_module_name),
}


def _prepared(case):
    torch = _torch()
    spec_name, overrides, build, shape, mapping = CASES[case]
    torch.manual_seed(5)
    net = build().double().eval()
    with torch.no_grad():                     # BN statistics away from the identity
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    modules = {path.replace(".", "_"): m for path, m in net.named_modules() if path}
    spec = load(spec_name)
    if spec_name == "se-resnet50":
        spec = _Logits(spec)
    model = spec.build(overrides, shape)
    found = {}
    for layer in model.layers[1:]:
        path = mapping(layer.name)
        if path is not None and path.replace(".", "_") in modules:
            found[layer.name] = modules[path.replace(".", "_")]
    return torch, net, spec, overrides, shape, model, found


@pytest.mark.parametrize("case", sorted(CASES))
def test_plain_torch_counts_and_shapes(case):
    torch, net, spec, overrides, shape, model, found = _prepared(case)
    summary = analyze_model(model)
    n_params = sum(p.numel() for p in net.parameters())
    n_stats = sum(b.numel() for name, b in net.named_buffers() if "running_" in name)
    assert summary.totals["trainable_params"] == n_params
    assert summary.totals["params"] - summary.totals["trainable_params"] == n_stats

    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, tuple(o.shape)))
             for n, m in found.items()]
    with torch.no_grad():
        net(torch.zeros((1,) + shape, dtype=torch.float64))
    for h in hooks:
        h.remove()
    by = {r.name: r for r in summary.layers}
    weighted = 0
    for name, m in found.items():
        row = by[name]
        own = sum(p.numel() for p in m.parameters(recurse=False))
        stats = sum(b.numel() for b_name, b in m.named_buffers(recurse=False)
                    if b_name.startswith("running_"))
        assert row.trainable_params == own, name
        assert row.params - row.trainable_params == stats, name
        if name in seen:           # a flat (N, C) torch output is costcalc's C x 1 x 1
            want = seen[name][1:] if len(seen[name]) == 4 else seen[name][1:] + (1, 1)
            assert tuple(row.output_shape) == want, name
        weighted += own > 0
    # every layer with parameters has its torch module
    assert weighted == sum(1 for r in summary.layers if r.params > 0)


def _costcalc_weights(model, found):
    out = [[]]
    for layer in model.layers[1:]:
        m = found.get(layer.name)
        ws = []
        if m is not None:
            if hasattr(m, "running_mean"):
                ws = [m.weight, m.bias, m.running_mean, m.running_var]
            else:
                ws = [p for p in (getattr(m, "weight", None), getattr(m, "bias", None))
                      if p is not None]
        out.append([w.detach().numpy() for w in ws])
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_plain_torch_forward_equals_costcalc(case):
    """The wiring (which half of a split is transformed, the concat and shuffle order, the SE
    gate before the addition) decides the output: the torch modules' own weights run through
    costcalc must give the torch output."""
    torch, net, spec, overrides, shape, model, found = _prepared(case)
    batch, seed = 2, 0
    res = execute.run(spec, overrides, shape, batch=batch, seed=seed, dtype="float64",
                      keep_output=True, weights=_costcalc_weights(model, found))
    # execute.run's input: layer_rng(seed, -1 % 2**32).standard_normal((batch, C, H, W)),
    # layer_rng(s, i) = np.random.default_rng([s, i]) (costcalc/execute.py)
    x = np.random.default_rng([seed, 2 ** 32 - 1]).standard_normal((batch,) + shape)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    got = np.asarray(res.output).reshape(want.shape)
    err = float(np.abs(got - want).max()) / max(float(np.abs(want).max()), 1e-300)
    assert err <= 1e-9, f"{case}: costcalc and the plain-torch network differ by {err:.3g}"
