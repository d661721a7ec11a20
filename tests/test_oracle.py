"""costcalc's numeric forward passes against PyTorch (tests/torch_oracle.py), an independent
translation of every op with the very same weights and input.

- every spec in specs/ at a small input: every layer on its own (float64: costcalc's op on the
  oracle's inputs), and the whole network through ``execute.run`` (float64 and float32);
- every op on its own with random shapes, odd sizes, every padding mode, strides, dilation,
  groups and depth multipliers.

Tolerances are relative to the largest |value| of the reference output: 1e-9 in float64 (what
remains is rounding in a different order of summation), 2e-4 in float32 (rounding in deep
networks; the largest seen is about 2e-6). Needs torch (``make oracle``); skipped without it.
"""
import dataclasses
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is the oracle for numeric forward passes; install it with "
                    "`make oracle` (pip install torch==2.13.0, CPU build)")

import torch_oracle as oracle  # noqa: E402  (needs torch)
from costcalc import execute  # noqa: E402
from costcalc.analysis import analyze_model  # noqa: E402
from costcalc.spec import Spec, available, load, load_text  # noqa: E402

# Small tensors: one thread is as fast, and PyTorch's OpenMP threads slow down badly when
# another process holds a core (the benchmark in bench/ uses PyTorch's default threads).
torch.set_num_threads(1)

RTOL64 = 1e-9
RTOL32 = 1e-4
SEED = 3

# A small input for every spec: (parameter overrides, input C x H x W or None for the spec's
# own). Odd and non-square where the spec allows; networks need a minimum size (a 7x7 average
# pool in GoogLeNet, 75x75 for the Inception stems, 32 for MobileNet's require:).
SMALL = {
    "alexnet": ({"classes": 10}, (3, 67, 71)),
    "compress-1x1": ({}, (100, 9, 7)),
    "convnext": ({"classes": 10, "depth0": 1, "depth1": 1, "depth2": 2, "depth3": 1,
                  "width0": 16, "width1": 24, "width2": 32, "width3": 40}, (3, 35, 37)),
    "densenet": ({"classes": 10, "growth_rate": 8, "blocks2": 2, "blocks3": 3, "blocks4": 2,
                  "blocks5": 2}, (3, 37, 33)),
    "efficientnet": ({"classes": 10}, (3, 33, 35)),
    "efficientnet-v2": ({"classes": 10}, (3, 35, 33)),
    "mobilenet-v2": ({"classes": 10}, (3, 35, 33)),
    "mobilenet-v3": ({"classes": 10}, (3, 37, 33)),
    "resnet-v2": ({"classes": 10}, (3, 35, 33)),
    "se-resnet50": ({"classes": 10}, (3, 35, 33)),
    "shufflenet-v2": ({"classes": 10}, (3, 33, 35)),
    "squeezenet": ({"classes": 10}, (3, 31, 33)),
    "conv3x3-asymmetric": ({}, (512, 7, 5)),
    "conv3x3-separable": ({}, (512, 7, 5)),
    "conv3x3-standard": ({}, (512, 7, 5)),
    "conv5x5": ({}, (192, 9, 8)),
    "conv5x5-bottleneck": ({}, (192, 9, 8)),
    "conv5x5-factorized": ({}, (192, 8, 9)),
    "googlenet": ({"classes": 10}, (3, 223, 229)),
    "inception-bottleneck": ({}, (192, 9, 11)),
    "inception-naive": ({}, (192, 11, 9)),
    "inception-resnet-v2": ({"classes": 10}, (3, 75, 79)),
    "inception-v3": ({"classes": 10}, (3, 75, 80)),
    "inception-v4": ({"classes": 10}, (3, 76, 75)),
    "mobilenet": ({"classes": 10, "resolution": 33}, None),
    "mobilenet-conv": ({"classes": 10, "alpha": 0.5}, (3, 35, 33)),
    "nin": ({}, None),
    "preact-resnet-cifar": ({"depth": 29}, (3, 29, 31)),
    "resnet-basic-block": ({}, (64, 11, 9)),
    "resnet-bottleneck-block": ({}, (256, 9, 7)),
    "resnet-cifar": ({}, (3, 17, 15)),
    "resnet-identity-block": ({}, (256, 7, 9)),
    "resnet-projection-block": ({}, (256, 9, 8)),
    "resnet101": ({"classes": 10}, (3, 33, 35)),
    "resnet152": ({"classes": 10}, (3, 33, 35)),
    "resnet18": ({"classes": 10}, (3, 35, 33)),
    "resnet34": ({"classes": 10}, (3, 33, 37)),
    "resnet50": ({"classes": 10}, (3, 45, 37)),
    "resnet50-signs": ({}, (3, 37, 41)),
    "resnet50-v1.5": ({"classes": 10}, (3, 39, 33)),
    "vgg16": ({"classes": 10}, (3, 32, 35)),
    "vgg19": ({"classes": 10}, (3, 33, 32)),
    "xception": ({"classes": 10}, (3, 73, 71)),
}

# Extra settings that exercise options the defaults leave out.
VARIANTS = {
    "mobilenet:dm2": ("mobilenet", {"classes": 10, "resolution": 35, "alpha": 0.25,
                                    "depth_multiplier": 2}, None),
    "googlenet:nobias": ("googlenet", {"classes": 10, "bias": False}, (3, 224, 224)),
    "mobilenet-v2:a0.35": ("mobilenet-v2", {"classes": 10, "alpha": 0.35}, (3, 33, 34)),
    "mobilenet-v3:small": ("mobilenet-v3", {"classes": 10, "model_type": "small"}, (3, 35, 37)),
    "mobilenet-v3:small-min": ("mobilenet-v3", {"classes": 10, "model_type": "small",
                                                "minimalistic": True, "alpha": 0.75}, (3, 33, 35)),
    "efficientnet:b3": ("efficientnet", {"classes": 10, "width": 1.2, "depth": 1.4}, (3, 35, 33)),
    "efficientnet-v2:s": ("efficientnet-v2", {"classes": 10, "table": "s"}, (3, 33, 37)),
    "shufflenet-v2:x0.5": ("shufflenet-v2", {"classes": 10, "stage2_out": 48, "stage3_out": 96,
                                             "stage4_out": 192}, (3, 37, 33)),
    "squeezenet:1.1": ("squeezenet", {"classes": 10, "version": "1.1"}, (3, 27, 29)),
    "se-resnet50:nose": ("se-resnet50", {"classes": 10, "se": False}, (3, 33, 33)),
}


def small_case(name):
    """(spec name, overrides, input shape) for a spec or a variant; a spec missing from SMALL
    gets its own parameters at the smallest square input that works."""
    if name in VARIANTS:
        return VARIANTS[name]
    if name in SMALL:
        overrides, shape = SMALL[name]
        return name, overrides, shape
    spec = load(name)
    c = spec.build().input_shape[0]
    for size in (9, 17, 33, 48, 65, 75, 97, 129, 161, 224, 299):
        try:
            analyze_model(spec.build(None, (c, size, size)), 1)
            return name, {}, (c, size, size)
        except Exception:       # too small for this network: try the next size
            continue
    return name, {}, None


def rel_err(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(float(np.abs(want).max()), 1e-300)
    return float(np.abs(got - want).max()) / scale


class WithoutLastLayer(Spec):
    """A spec whose models stop before the last layer: the logits of a network that ends in a
    softmax (random weights often saturate it, which would hide differences)."""

    def __init__(self, spec):                  # noqa: super().__init__ would parse again
        self.__dict__.update(spec.__dict__)

    def build(self, overrides=None, input_shape=None):
        model = super().build(overrides, input_shape)
        return dataclasses.replace(model, layers=model.layers[:-1])


def numpy_weights(graph):
    """The oracle's weights as costcalc's run(weights=...) list (shared memory, no copy)."""
    out = [[] for _ in graph.model.layers]
    for i, _, _, _, ws, _ in graph.steps:
        out[i] = [w.numpy() for w in ws]
    return out


# ----------------------------------------------------------------------------- whole specs
def test_every_spec_has_a_small_case():
    missing = sorted(set(available()) - set(SMALL))
    assert not missing, f"add a small input for {missing} to SMALL (the fallback is slow)"


@pytest.mark.parametrize("name", sorted(set(available()) | set(SMALL)) + sorted(VARIANTS))
def test_spec_against_torch(name):
    spec_name, overrides, shape = small_case(name)
    spec = load(spec_name)
    model = spec.build(overrides, shape)
    batch = 2 if model.input_shape[1] * model.input_shape[2] < 40 * 40 else 1

    # float64, layer by layer: costcalc's op on the oracle's own inputs and weights
    g64 = oracle.TorchGraph(model, SEED, "float64")
    x64 = oracle.model_input(model, SEED, batch, "float64")
    outs = g64.forward(torch.from_numpy(x64), keep=True)
    outs[model.layers[0].name] = torch.from_numpy(x64)
    for i, layer, _, _, ws, _ in g64.steps:
        xs = [outs[n].numpy() for n in layer.inputs]
        y, _ = layer.op.forward(xs, [w.numpy() for w in ws], layer.op.view(layer.attrs), False)
        err = rel_err(y, outs[layer.name].numpy())
        assert err <= RTOL64, f"{name}: layer '{layer.name}' ({layer.op.name}) differs by {err:.3g}"

    # float64, the whole network through the executor
    weights64 = numpy_weights(g64)
    res = execute.run(spec, overrides, shape, batch=batch, seed=SEED, dtype="float64",
                      keep_output=True, weights=weights64)
    assert rel_err(res.output, outs[model.layers[-1].name].numpy()) <= RTOL64
    g32 = g64.cast("float32")
    weights32 = numpy_weights(g32)
    if model.layers[-1].op.name == "softmax":  # and once more up to the logits
        spec = WithoutLastLayer(spec)
        weights64, weights32 = weights64[:-1], weights32[:-1]
        res = execute.run(spec, overrides, shape, batch=batch, seed=SEED, dtype="float64",
                          keep_output=True, weights=weights64)
        assert rel_err(res.output, outs[model.layers[-2].name].numpy()) <= RTOL64
    del outs

    # float32: the same weights rounded once, both engines in float32
    x32 = torch.from_numpy(x64.astype(np.float32))
    want32 = g32.forward(x32, keep=True)[spec.build(overrides, shape).layers[-1].name].numpy()
    res32 = execute.run(spec, overrides, shape, batch=batch, seed=SEED, dtype="float32",
                        keep_output=True, weights=weights32)
    assert res32.output.dtype == np.float32
    err32 = rel_err(res32.output, want32)
    assert err32 <= RTOL32, f"{name}: float32 output differs by {err32:.3g}"


def test_float32_weights_are_the_float64_weights_rounded():
    # test_spec_against_torch rounds the float64 weights instead of generating them again
    model = load("resnet-cifar").build(None, (3, 9, 9))
    w64 = execute.model_weights(model, SEED, "float64")
    w32 = execute.model_weights(model, SEED, "float32")
    for a, b in zip(w64, w32):
        for u, v in zip(a, b):
            assert v.dtype == np.float32 and np.array_equal(u.astype(np.float32), v)


@pytest.mark.parametrize("name,overrides,shape,dtype", [
    ("resnet-cifar", {}, (3, 16, 15), "float64"),
    ("mobilenet", {"resolution": 32, "alpha": 0.25, "classes": 7}, None, "float32"),
    ("inception-bottleneck", {}, (192, 7, 6), "float64"),
    ("alexnet", {"classes": 5}, (3, 63, 64), "float64"),
])
def test_run_generates_the_oracles_weights_itself(name, overrides, shape, dtype):
    """execute.run without given weights: its own weights and input match the oracle's."""
    model = load(name).build(overrides, shape)
    want = oracle.run_oracle(model, SEED, 2, dtype)
    res = execute.run(name, overrides, shape, batch=2, seed=SEED, dtype=dtype, keep_output=True)
    assert rel_err(res.output, want) <= (RTOL64 if dtype == "float64" else RTOL32)


# ----------------------------------------------------------------------------- single ops
def one_layer(rows, shape, batch=2, dtype="float64", seed=SEED):
    """costcalc's and the oracle's outputs for a spec of the given layer rows."""
    c, h, w = shape
    body = "\n".join(f"  - {r}" for r in ([rows] if isinstance(rows, str) else rows))
    spec = load_text(f"input: [{c}, {h}, {w}]\nlayers:\n{body}\n", "oracle.yaml")
    model = spec.build()
    res = execute.run(spec, batch=batch, seed=seed, dtype=dtype, keep_output=True)
    want = oracle.run_oracle(model, seed, batch, dtype)
    return res.output, want


def check(rows, shape, batch=2, seed=SEED):
    got, want = one_layer(rows, shape, batch, "float64", seed)
    assert rel_err(got, want) <= RTOL64
    got, want = one_layer(rows, shape, batch, "float32", seed)
    assert rel_err(got, want) <= 1e-5


def _pad_text(pad):
    return pad if isinstance(pad, str) else str(pad).replace("(", "[").replace(")", "]")


PADDINGS = ["valid", "same", 1, [2, 0], [[0, 2], [1, 0]], [[1, 2], [3, 1]]]


def _conv_cases():
    rng = np.random.default_rng(11)
    cases = []
    for n in range(40):
        groups = [1, 1, 2, 3, 4][n % 5]
        cin = groups * int(rng.integers(1, 5))
        cout = groups * int(rng.integers(1, 4))
        kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        dh, dw = (1, 1) if n % 3 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        pad = PADDINGS[n % len(PADDINGS)]
        h = int(rng.integers(dh * (kh - 1) + 1, 19))
        w = int(rng.integers(dw * (kw - 1) + 1, 19))
        cases.append((cin, cout, h, w, (kh, kw), (sh, sw), (dh, dw), groups, pad, n % 4 != 3))
    return cases


@pytest.mark.parametrize("cin,cout,h,w,k,s,d,groups,pad,bias", _conv_cases())
def test_conv2d(cin, cout, h, w, k, s, d, groups, pad, bias):
    check(f"{{op: conv2d, filters: {cout}, kernel: {list(k)}, strides: {list(s)}, "
          f"dilation: {list(d)}, groups: {groups}, padding: {_pad_text(pad)}, "
          f"bias: {str(bias).lower()}}}", (cin, h, w))


@pytest.mark.parametrize("c,h,w,k,s,d,mult,pad,bias", [
    (3, 9, 8, 3, 1, 1, 1, "same", True),
    (5, 11, 7, 3, 2, 1, 2, "same", False),
    (4, 12, 12, 3, 2, 1, 1, [[0, 1], [0, 1]], True),      # MobileNet's stride-2 layers
    (2, 13, 10, 5, 3, 1, 3, "valid", True),
    (6, 10, 15, [3, 5], [1, 2], [2, 1], 1, "same", True),
    (3, 7, 7, 7, 1, 1, 2, "same", False),                 # window as large as the input
    (4, 16, 9, 3, 1, 2, 1, [2, 1], True),
    (2, 5, 6, 2, 1, 1, 4, "same", True),                  # even window: extra pad bottom/right
])
def test_depthwise_conv2d(c, h, w, k, s, d, mult, pad, bias):
    check(f"{{op: depthwise_conv2d, kernel: {k}, strides: {s}, dilation: {d}, "
          f"depth_multiplier: {mult}, padding: {_pad_text(pad)}, bias: {str(bias).lower()}}}",
          (c, h, w))


@pytest.mark.parametrize("c,h,w,filters,k,s,mult,pad,bias", [
    (4, 9, 9, 6, 3, 1, 1, "same", True),
    (3, 10, 7, 5, 3, 2, 2, "same", False),
    (8, 12, 11, 4, 5, 1, 1, "valid", True),
    (2, 8, 8, 3, [1, 3], [2, 1], 3, [[0, 1], [1, 1]], True),
])
def test_separable_conv2d(c, h, w, filters, k, s, mult, pad, bias):
    check(f"{{op: separable_conv2d, filters: {filters}, kernel: {k}, strides: {s}, "
          f"depth_multiplier: {mult}, padding: {_pad_text(pad)}, bias: {str(bias).lower()}}}",
          (c, h, w))


@pytest.mark.parametrize("bias", [True, False])
def test_flatten_dense_dropout(bias):
    check(["{op: flatten}", f"{{op: dense, units: 7, bias: {str(bias).lower()}}}",
           "{op: dropout, rate: 0.3}"], (3, 4, 5))
    check(["{op: global_avg_pool}", "{op: dense, units: 1}"], (9, 3, 2), batch=3)


def _pool_cases():
    cases = []
    rng = np.random.default_rng(5)
    for n in range(36):
        op = "max_pool2d" if n % 2 else "avg_pool2d"
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        d = (1, 1) if n % 5 else (2, 1)
        pad = ["valid", "same", [[1, 0], [0, 1]], 1, [[0, 2], [2, 1]]][n % 5]
        if not isinstance(pad, str):       # pads no larger than the window (max: half of it)
            pad = pad if isinstance(pad, list) else [[pad, pad], [pad, pad]]
            lim_h, lim_w = kh - 1, kw - 1
            if op == "max_pool2d":
                lim_h, lim_w = (d[0] * (kh - 1) + 1) // 2, (d[1] * (kw - 1) + 1) // 2
            pad = [[min(p, lim_h) for p in pad[0]], [min(p, lim_w) for p in pad[1]]]
        ceil = (n // 2) % 3 == 1
        incl = op == "avg_pool2d" and (n // 2) % 2 == 1
        h = int(rng.integers(d[0] * (kh - 1) + 1, 17))
        w = int(rng.integers(d[1] * (kw - 1) + 1, 17))
        cases.append((op, h, w, (kh, kw), (sh, sw), d, pad, ceil, incl))
    return cases


@pytest.mark.parametrize("op,h,w,k,s,d,pad,ceil,incl", _pool_cases())
def test_pools(op, h, w, k, s, d, pad, ceil, incl):
    extra = f", count_include_pad: {str(incl).lower()}" if op == "avg_pool2d" else ""
    check(f"{{op: {op}, kernel: {list(k)}, strides: {list(s)}, dilation: {list(d)}, "
          f"padding: {_pad_text(pad)}, ceil_mode: {str(ceil).lower()}{extra}}}", (3, h, w))


@pytest.mark.parametrize("op,k,s,pad", [
    ("max_pool2d", 3, 2, "same"),          # Xception, inception: -inf padding never wins
    ("avg_pool2d", 3, 1, "same"),          # Keras: the padding is not in the divisor
    ("max_pool2d", 3, 2, "valid"),
])
def test_keras_pools_on_negative_maps(op, k, s, pad):
    # all-negative input: a max pool that took a padded zero would show it
    spec = load_text(textwrap.dedent(f"""\
        input: [4, 9, 10]
        layers:
          - {{name: neg, op: relu}}
          - {{name: shift, op: add, inputs: [input, neg], scale: -1.0}}
          - {{name: pool, op: {op}, kernel: {k}, strides: {s}, padding: {pad}}}
        """), "neg.yaml")
    res = execute.run(spec, batch=2, seed=SEED, dtype="float64", keep_output=True)
    want = oracle.run_oracle(spec.build(), SEED, 2, "float64")
    assert rel_err(res.output, want) <= RTOL64
    assert (want <= 0).all()


NATIVE_POOLS = [  # PyTorch's own pooling supports symmetric pads up to half the window
    ("max_pool2d", 3, 2, 1, True, False), ("max_pool2d", 2, 2, 0, True, False),
    ("max_pool2d", 3, 1, 1, False, False), ("avg_pool2d", 3, 2, 1, False, True),
    ("avg_pool2d", 3, 2, 1, False, False), ("avg_pool2d", 3, 2, 1, True, False),
    ("avg_pool2d", 5, 3, 2, True, False), ("avg_pool2d", 2, 2, 0, True, False),
    ("avg_pool2d", 3, 3, 1, False, True),
]


@pytest.mark.parametrize("op,k,s,p,ceil,incl", NATIVE_POOLS)
def test_pools_match_pytorch_native_pooling(op, k, s, p, ceil, incl):
    # beside the oracle's padded-window translation: PyTorch's pooling with its own padding
    c, h, w = 3, 10, 13
    extra = f", count_include_pad: {str(incl).lower()}" if op == "avg_pool2d" else ""
    spec = load_text(f"input: [{c}, {h}, {w}]\nlayers:\n  - {{op: {op}, kernel: {k}, "
                     f"strides: {s}, padding: {p}, ceil_mode: {str(ceil).lower()}{extra}}}\n",
                     "p.yaml")
    res = execute.run(spec, batch=2, seed=SEED, dtype="float64", keep_output=True)
    x = torch.from_numpy(oracle.model_input(spec.build(), SEED, 2, "float64"))
    if op == "max_pool2d":
        want = torch.nn.functional.max_pool2d(x, k, s, p, ceil_mode=ceil)
    else:
        want = torch.nn.functional.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=incl)
    assert rel_err(res.output, want.numpy()) <= RTOL64


def test_avg_pool_ceil_overhang_divisor_as_pytorch():
    # a ceil-mode window hanging past the padding: the divisor is the window clipped to
    # input + padding (PyTorch, Caffe)
    spec = load_text("input: [1, 6, 6]\nlayers:\n  - {op: avg_pool2d, kernel: 3, strides: 2, "
                     "padding: 1, ceil_mode: true, count_include_pad: true}\n", "o.yaml")
    res = execute.run(spec, seed=SEED, dtype="float64", keep_output=True)
    x = torch.from_numpy(oracle.model_input(spec.build(), SEED, 1, "float64"))
    want = torch.nn.functional.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    assert rel_err(res.output, want.numpy()) <= RTOL64


def test_global_pools():
    check("{op: global_avg_pool}", (5, 7, 3))
    check("{op: global_max_pool}", (5, 3, 8))


@pytest.mark.parametrize("scale,center,eps", [(True, True, 1e-3), (False, True, 1.001e-5),
                                              (True, False, 0.1), (False, False, 1e-5)])
def test_batch_norm(scale, center, eps):
    check(f"{{op: batch_norm, scale: {str(scale).lower()}, center: {str(center).lower()}, "
          f"epsilon: {eps:.8f}}}", (6, 5, 7))


@pytest.mark.parametrize("size,alpha,beta,k,c", [(5, 1e-4, 0.75, 2.0, 9), (3, 0.5, 0.5, 1.0, 4),
                                                 (4, 2.0, 1.25, 1.5, 7), (1, 1.0, 0.75, 1.0, 3),
                                                 (7, 3.0, 0.6, 0.5, 5)])
def test_lrn(size, alpha, beta, k, c):
    # large alpha makes the normalization matter (AlexNet's 1e-4 barely moves the values)
    check(f"{{op: lrn, size: {size}, alpha: {alpha}, beta: {beta}, k: {k}}}", (c, 4, 3))


@pytest.mark.parametrize("op", ["relu", "relu6", "sigmoid", "tanh", "softmax"])
def test_activations(op):
    # scaled up so that ReLU6 clips and softmax is far from uniform
    spec_rows = ["{name: big, op: add, inputs: [input, input, input], scale: 3.0}", f"{{op: {op}}}"]
    check(spec_rows, (6, 5, 4))


@pytest.mark.parametrize("n_in,scale", [(2, None), (3, None), (2, 0.17), (4, 0.1), (3, 1.0)])
def test_add(n_in, scale):
    rows = [f"{{name: b{i}, op: conv2d, filters: 3, kernel: 1, inputs: input}}"
            for i in range(n_in - 1)]
    extra = "" if scale is None else f", scale: {scale}"
    rows.append(f"{{name: sum, op: add, inputs: [input, {', '.join(f'b{i}' for i in range(n_in - 1))}]"
                f"{extra}}}")
    check(rows, (3, 5, 6))


def test_concat_zero_pad_channel_pad():
    check(["{name: a, op: conv2d, filters: 2, kernel: 3, padding: same, inputs: input}",
           "{name: b, op: max_pool2d, kernel: 3, strides: 1, padding: same, inputs: input}",
           "{name: cat, op: concat, inputs: [a, input, b]}"], (3, 7, 5))
    check("{op: zero_pad2d, padding: [[1, 2], [0, 3]]}", (2, 5, 4))
    check("{op: zero_pad2d, padding: 2}", (2, 3, 3))


@pytest.mark.parametrize("c,h,w,filters,s", [(3, 7, 6, 8, 2), (4, 9, 9, 4, 1), (2, 5, 8, 7, 3),
                                             (3, 6, 7, 4, [2, 1])])
def test_channel_pad(c, h, w, filters, s):
    check(f"{{op: channel_pad, filters: {filters}, strides: {s}}}", (c, h, w))
