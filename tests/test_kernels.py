"""Every kernel against its slow NumPy twin (naive.py), and counting mode on every spec."""
import textwrap

import numpy as np
import pytest

import naive
from costcalc.analysis import summarize
from costcalc.errors import CostcalcError, UsageError
from costcalc.execute import layer_rng, make_weights, plan, run
from costcalc.spec import available, load, load_text

SEED = 7


def one(row, shape, counting=False, dtype="float64"):
    """Run a one-layer spec; return (costcalc output, input, weights, layer, summary row)."""
    c, h, w = shape
    spec = load_text(f"input: [{c}, {h}, {w}]\nlayers:\n  - {row}\n", "k.yaml")
    res = run(spec, batch=2, seed=SEED, dtype=dtype, counting=counting, keep_output=True)
    model = spec.build()
    layer = model.layers[1]
    x = layer_rng(SEED, -1 % (2**32)).standard_normal((2, c, h, w)).astype(dtype)
    ws = make_weights(layer.op, layer.attrs, [x.shape[1:]], SEED, 1, np.dtype(dtype))
    return res, x, ws, layer


def pads_of(pad, h, w, k, s, d):
    if pad == "valid":
        return (0, 0, 0, 0)
    if pad == "same":
        _, t, b = naive.same_padding(h, k[0], s[0], d[0])
        _, l, r = naive.same_padding(w, k[1], s[1], d[1])
        return (t, b, l, r)
    (t, b), (l, r) = pad
    return (t, b, l, r)


CONV_CASES = [
    # cin, cout, h, w, kernel, strides, dilation, groups, padding, bias
    (3, 4, 7, 9, (3, 3), (1, 1), (1, 1), 1, "valid", True),
    (4, 6, 10, 7, (3, 5), (2, 1), (1, 1), 2, "same", False),
    (6, 6, 13, 11, (3, 3), (2, 2), (2, 2), 3, "same", True),
    (4, 8, 9, 12, (2, 2), (3, 2), (1, 3), 4, [[1, 2], [0, 3]], True),
    (5, 7, 8, 8, (1, 1), (1, 1), (1, 1), 1, "valid", False),
    (3, 5, 6, 6, (1, 1), (2, 2), (1, 1), 1, "same", True),
    (8, 8, 5, 5, (3, 3), (1, 1), (1, 1), 8, "same", False),
    (2, 3, 4, 4, (5, 5), (1, 1), (1, 1), 1, "same", False),       # window > input: pads
    (16, 8, 47, 48, (3, 3), (1, 1), (1, 1), 1, "same", True),     # large map: Winograd path
]


@pytest.mark.parametrize("counting", [False, True])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_kernel(case, counting):
    cin, cout, h, w, k, s, d, g, pad, bias = case
    pad_yaml = pad if isinstance(pad, str) else str(pad)
    row = (f"{{op: conv2d, filters: {cout}, kernel: [{k[0]}, {k[1]}], strides: [{s[0]}, {s[1]}],"
           f" dilation: [{d[0]}, {d[1]}], groups: {g}, padding: {pad_yaml}, "
           f"bias: {str(bias).lower()}}}")
    res, x, ws, layer = one(row, (cin, h, w), counting)
    want = naive.conv2d(x, ws[0], ws[1] if bias else None, s, pads_of(pad, h, w, k, s, d), d, g)
    np.testing.assert_allclose(res.output, want, rtol=1e-10, atol=1e-10)
    if counting:
        assert res.layers[0].executed_macs == res.layers[0].macs


@pytest.mark.parametrize("counting", [False, True])
@pytest.mark.parametrize("mult,stride,pad", [(1, 1, "same"), (2, 2, "same"), (3, 1, "valid"),
                                             (1, 2, [[0, 1], [0, 1]])])
def test_depthwise_kernel(mult, stride, pad, counting):
    c, h, w = 5, 9, 8
    row = (f"{{op: depthwise_conv2d, kernel: 3, strides: {stride}, padding: {pad}, "
           f"depth_multiplier: {mult}}}")
    res, x, ws, _ = one(row, (c, h, w), counting)
    want = naive.conv2d(x, ws[0], ws[1], (stride, stride),
                        pads_of(pad, h, w, (3, 3), (stride, stride), (1, 1)), (1, 1), c)
    np.testing.assert_allclose(res.output, want, rtol=1e-10, atol=1e-10)
    if counting:
        assert res.layers[0].executed_macs == res.layers[0].macs


@pytest.mark.parametrize("counting", [False, True])
def test_separable_kernel(counting):
    c, h, w = 4, 7, 7
    res, x, ws, _ = one("{op: separable_conv2d, filters: 6, kernel: 3, strides: 2, padding: same,"
                        " depth_multiplier: 2}", (c, h, w), counting)
    mid = naive.conv2d(x, ws[0], None, (2, 2), pads_of("same", h, w, (3, 3), (2, 2), (1, 1)),
                       (1, 1), c)
    want = naive.conv2d(mid, ws[1], ws[2], (1, 1), (0, 0, 0, 0), (1, 1), 1)
    np.testing.assert_allclose(res.output, want, rtol=1e-10, atol=1e-10)
    if counting:
        assert res.layers[0].executed_macs == res.layers[0].macs


@pytest.mark.parametrize("counting", [False, True])
def test_dense_kernel(counting):
    res, x, ws, _ = one("{op: dense, units: 7}", (13, 1, 1), counting)
    want = x.reshape(2, 13) @ ws[0].T + ws[1]
    np.testing.assert_allclose(res.output.reshape(2, 7), want, rtol=1e-12)
    if counting:
        assert res.layers[0].executed_macs == 13 * 7 * 2


POOL_CASES = [
    ("max_pool2d", 3, 2, "valid", False, False),
    ("max_pool2d", 3, 2, "same", False, False),
    ("max_pool2d", 3, 2, "valid", True, False),        # Caffe ceil mode
    ("max_pool2d", 2, 1, [[0, 1], [1, 0]], False, False),
    ("avg_pool2d", 3, 1, "same", False, False),        # Keras: padding not in the divisor
    ("avg_pool2d", 3, 1, "same", False, True),         # PyTorch default: it is
    ("avg_pool2d", 2, 2, "valid", False, False),
    ("avg_pool2d", 3, 2, [[1, 1], [1, 1]], True, True),
]


@pytest.mark.parametrize("op,k,s,pad,ceil,incl", POOL_CASES)
def test_pool_kernels(op, k, s, pad, ceil, incl):
    c, h, w = 3, 10, 9
    extra = ", count_include_pad: true" if incl else ""
    res, x, _, layer = one(f"{{op: {op}, kernel: {k}, strides: {s}, padding: {pad}, "
                           f"ceil_mode: {str(ceil).lower()}{extra}}}", (c, h, w))
    p = pads_of(pad, h, w, (k, k), (s, s), (1, 1))
    ho = naive.window_positions(h, k, s, 1, p[0], p[1], ceil)
    wo = naive.window_positions(w, k, s, 1, p[2], p[3], ceil)
    want = naive.pool2d(x, (k, k), (s, s), p, (ho, wo), op == "max_pool2d", incl)
    np.testing.assert_allclose(res.output, want, rtol=1e-12)


def test_global_pools_bn_lrn_activations():
    c, h, w = 6, 5, 4
    res, x, _, _ = one("{op: global_avg_pool}", (c, h, w))
    np.testing.assert_allclose(res.output[:, :, 0, 0], x.mean(axis=(2, 3)), rtol=1e-12)
    res, x, _, _ = one("{op: global_max_pool}", (c, h, w))
    np.testing.assert_allclose(res.output[:, :, 0, 0], x.max(axis=(2, 3)))
    res, x, ws, _ = one("{op: batch_norm, epsilon: 0.001}", (c, h, w))
    np.testing.assert_allclose(res.output, naive.batch_norm(x, *ws, 0.001), rtol=1e-12)
    res, x, ws, _ = one("{op: batch_norm, scale: false, epsilon: 0.01}", (c, h, w))
    np.testing.assert_allclose(res.output, naive.batch_norm(x, np.ones(c), *ws, 0.01), rtol=1e-12)
    res, x, _, _ = one("{op: lrn, size: 5, alpha: 0.0001, beta: 0.75, k: 2.0}", (c, h, w))
    np.testing.assert_allclose(res.output, naive.lrn(x, 5, 1e-4, 0.75, 2.0), rtol=1e-12)
    for op, fn in [("relu", lambda v: np.maximum(v, 0)), ("relu6", lambda v: np.clip(v, 0, 6)),
                   ("sigmoid", lambda v: 1 / (1 + np.exp(-v))), ("tanh", np.tanh),
                   ("softmax", naive.softmax)]:
        res, x, _, _ = one(f"{{op: {op}}}", (c, h, w))
        np.testing.assert_allclose(res.output, fn(x), rtol=1e-12, err_msg=op)
    res, x, _, _ = one("{op: relu6}", (c, h, w), dtype="float32")
    assert res.output.dtype == np.float32


def test_multi_input_and_shape_ops():
    spec = load_text(textwrap.dedent("""
        input: [4, 6, 5]
        layers:
          - {name: a, op: relu}
          - {name: s, op: add, inputs: [input, a, a], scale: 0.5}
          - {name: cat, op: concat, inputs: [a, s]}
          - {name: pad, op: zero_pad2d, padding: [[1, 0], [0, 2]]}
          - {name: cp, op: channel_pad, filters: 11, strides: 2}
          - {name: flat, op: flatten}
          - {name: drop, op: dropout}
        """), "m.yaml")
    res = run(spec, batch=1, seed=SEED, dtype="float64", keep_output=True)
    x = layer_rng(SEED, -1 % (2**32)).standard_normal((1, 4, 6, 5))
    a = np.maximum(x, 0)
    s = x + 0.5 * (a + a)
    cat = np.concatenate([a, s], axis=1)
    pad = np.pad(cat, ((0, 0), (0, 0), (1, 0), (0, 2)))
    sub = pad[:, :, ::2, ::2]
    cp = np.pad(sub, ((0, 0), (1, 2), (0, 0), (0, 0)))       # 8 -> 11 channels: 1 before, 2 after
    np.testing.assert_allclose(res.output.reshape(-1), cp.reshape(-1), rtol=1e-12)


def smallest_input(spec):
    c = spec.build().input_shape[0]
    for size in (16, 32, 48, 64, 75, 96, 128, 160, 224):
        try:
            summarize(spec, input_shape=(c, size, size))
            return (c, size, size)
        except CostcalcError:
            continue
    raise AssertionError(f"{spec.id}: no small input works")


@pytest.mark.parametrize("name", sorted(available()))
def test_counting_mode_executes_the_analytic_macs(name):
    spec = load(name)
    shape = smallest_input(spec)
    res = run(spec, input_shape=shape, counting=True, seed=1)
    for layer in res.layers:
        assert layer.executed_macs == layer.macs, (name, layer.name)
    assert res.peak_measured == res.peak_analytic
    assert np.isfinite(res.checksum)


def test_bad_run_requests_fail_before_work():
    with pytest.raises(UsageError, match="unknown dtype 'float16x'"):
        plan("conv5x5", dtype="float16x")
    with pytest.raises(CostcalcError, match="larger than its input"):
        plan("alexnet", input_shape=(3, 8, 8))
    with pytest.raises(CostcalcError, match="fail the check 'min"):
        plan("vgg16", input_shape=(3, 8, 8))
    with pytest.raises(UsageError, match="GiB"):
        plan("vgg16", batch=10**6)


@pytest.mark.parametrize("act", ["relu", "relu6", "sigmoid", "tanh", "softmax"])
def test_fused_activation_equals_separate_layer(act):
    fused, _, _, _ = one(f"{{op: conv2d, filters: 3, kernel: 3, activation: {act}}}", (2, 5, 5))
    spec = load_text(f"input: [2, 5, 5]\nlayers:\n  - {{op: conv2d, filters: 3, kernel: 3}}\n"
                     f"  - {{op: {act}}}\n", "k.yaml")
    apart = run(spec, batch=2, seed=SEED, dtype="float64", keep_output=True)
    np.testing.assert_allclose(fused.output, apart.output, rtol=1e-12)


def test_winograd_path_is_taken_and_exact(monkeypatch):
    from costcalc import kernels
    calls = []
    real = kernels.conv2d_winograd
    monkeypatch.setattr(kernels, "conv2d_winograd", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 49, 50))          # padded 47x48 map: 2*24*24 tiles
    w = rng.standard_normal((8, 16, 3, 3))
    assert 2 * 24 * 24 >= kernels.WINOGRAD_MIN_TILES
    got = kernels.conv2d_gemm(x, w, 1, 1, 1, 1, 1, 47, 48)
    want = naive.conv2d(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    assert calls == [1]
