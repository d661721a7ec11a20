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
    (16, 8, 47, 48, (3, 3), (1, 1), (1, 1), 1, "same", True),     # a large map
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
    x = rng.standard_normal((3, 96, 49, 50))          # padded 47x48 map: 3*24*24 tiles
    w = rng.standard_normal((4, 96, 3, 3))
    assert 3 * 24 * 24 >= kernels.WINOGRAD_MIN_TILES and 96 >= kernels.WINOGRAD_MIN_CHANNELS
    got = kernels.conv2d_gemm(x, w, 1, 1, 1, 1, 1, 47, 48)
    want = naive.conv2d(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    assert calls == [1]


# ----------------------------------------------------------------------------- fast depthwise
DEPTHWISE3_CASES = [
    # c_in, mult, h, w, strides, dilation, pads (t, b, l, r)
    (5, 1, 9, 8, (1, 1), (1, 1), (1, 1, 1, 1)),
    (4, 1, 11, 12, (2, 2), (1, 1), (0, 1, 0, 1)),       # MobileNet's stride 2 (valid, padded)
    (4, 1, 10, 9, (2, 2), (1, 1), (1, 1, 1, 1)),        # odd padded width: its last column
    (3, 2, 10, 13, (1, 2), (1, 1), (1, 1, 1, 1)),
    (3, 1, 13, 11, (3, 2), (2, 1), (2, 2, 1, 1)),
    (2, 3, 12, 12, (1, 1), (2, 3), (0, 0, 0, 0)),
    (2, 1, 3, 3, (2, 5), (1, 1), (0, 0, 0, 0)),          # one output each way
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", DEPTHWISE3_CASES)
def test_depthwise3x3_kernel(case, dtype):
    from costcalc import kernels
    c, mult, h, w, (sh, sw), (dh, dw), (t, b, l, r) = case
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, c, h, w)).astype(dtype)
    wt = rng.standard_normal((c * mult, 1, 3, 3)).astype(dtype)
    want = naive.conv2d(x.astype(np.float64), wt.astype(np.float64), None, (sh, sw),
                        (t, b, l, r), (dh, dw), c)
    xp = kernels.pad_hw(x, t, b, l, r)
    ho, wo = want.shape[2:]
    got = kernels.depthwise(xp, wt, sh, sw, dh, dw, ho, wo)
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(got, kernels.depthwise_fast(xp, wt, sh, sw, dh, dw, ho, wo),
                               rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- fused epilogues
def _bn_weights(rng, c):
    return (rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.1, c),
            rng.uniform(0.5, 1.5, c), 1e-3)


EPILOGUES = [
    # bias, bn, clip1, residual (None, "first", "second"), rscale, clip2
    (True, False, None, None, 1.0, None),
    (True, False, (0.0, np.inf), None, 1.0, None),
    (False, True, (0.0, 6.0), None, 1.0, None),
    (True, True, None, "second", 1.0, (0.0, np.inf)),
    (False, True, (0.0, np.inf), "first", 0.17, None),
    (True, True, None, "second", 0.5, (0.0, 6.0)),
]
GEMM_PATHS = [
    # c_in, c_out, h, w, k, stride, groups, pads: Winograd, 1x1, strided 1x1, im2col, grouped
    (16, 8, 47, 48, 3, 1, 1, (1, 1, 1, 1)),
    (6, 5, 7, 9, 1, 1, 1, (0, 0, 0, 0)),
    (6, 5, 7, 9, 1, 2, 1, (0, 0, 0, 0)),
    (3, 4, 9, 8, 3, 2, 1, (1, 1, 0, 1)),
    (4, 6, 8, 8, 3, 1, 2, (1, 1, 1, 1)),
]


@pytest.mark.parametrize("gather", ["batch", "sample", "bands"])
@pytest.mark.parametrize("epi", EPILOGUES)
@pytest.mark.parametrize("path", GEMM_PATHS)
def test_conv_output_pass_epilogue(path, epi, gather, monkeypatch):
    from costcalc import kernels
    if gather != "batch":       # one product per sample (large maps) on these small ones
        monkeypatch.setattr(kernels, "BATCHED_GEMM_HW", 0)
    if gather == "bands":       # im2col a band of 2 output rows at a time (huge maps)
        monkeypatch.setattr(kernels, "IM2COL_BAND", 2 * path[0] * path[4] ** 2 * path[3])
    c_in, c_out, h, w, k, s, g, pads = path
    use_bias, use_bn, clip1, res_side, rscale, clip2 = epi
    monkeypatch.setattr(kernels, "WINOGRAD_MIN_CHANNELS", 16)    # the first path: Winograd
    monkeypatch.setattr(kernels, "WINOGRAD_MIN_TILES", 512)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, c_in, h, w))
    wt = rng.standard_normal((c_out, c_in // g, k, k))
    plain = naive.conv2d(x, wt, None, (s, s), pads, (1, 1), g)
    bias = rng.normal(0, 0.1, c_out) if use_bias else None
    bn = _bn_weights(rng, c_out) if use_bn else None
    res = rng.standard_normal(plain.shape) if res_side else None
    want = naive.epilogue(plain, bias, bn, clip1, res, rscale, res_side == "first", clip2)
    kw = {}
    if bn is not None:
        kw["scale"], kw["shift"] = kernels.bn_coefficients(*bn)
    if clip1 is not None:
        kw["lo1"], kw["hi1"] = clip1
    if res is not None:
        kw.update(res=res, rscale=rscale, res_first=res_side == "first")
    if clip2 is not None:
        kw["lo2"], kw["hi2"] = clip2
    post = kernels.Post(bias=bias, **kw)
    xp = kernels.pad_hw(x, *pads)
    ho, wo = plain.shape[2:]
    got = kernels.conv2d_gemm(xp, wt, s, s, 1, 1, g, ho, wo, post=post)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    if g == 1 and k == 3 and s == 1 and c_in >= 3:            # the depthwise kernel's pass too
        dwt = rng.standard_normal((c_in, 1, 3, 3))
        dplain = naive.conv2d(x, dwt, None, (1, 1), pads, (1, 1), c_in)
        dpost = kernels.Post(bias=None if bias is None else bias[:1].repeat(c_in),
                             **{**kw, **({"scale": kw["scale"][:1].repeat(c_in),
                                          "shift": kw["shift"][:1].repeat(c_in)}
                                         if bn is not None else {}),
                                **({"res": rng.standard_normal(dplain.shape)} if res is not None
                                   else {})})
        dres = dpost.res
        dwant = naive.epilogue(dplain, None if bias is None else bias[:1].repeat(c_in),
                               None if bn is None else tuple(
                                   v[:1].repeat(c_in) if isinstance(v, np.ndarray) else v
                                   for v in bn),
                               clip1, dres, rscale, res_side == "first", clip2)
        dgot = kernels.depthwise(xp, dwt, 1, 1, 1, 1, ho, wo, post=dpost)
        np.testing.assert_allclose(dgot, dwant, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_add_scaled_clip(scale):
    from costcalc import kernels
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 5))
    got = kernels.add_scaled_clip(a, b, scale, 0.0, 6.0)
    np.testing.assert_array_equal(got, np.clip(a + scale * b, 0.0, 6.0))


FUSION_SPEC = """
input: [8, 12, 11]
layers:
  - {name: c1, op: conv2d, filters: 8, kernel: 3, padding: same}
  - {name: b1, op: batch_norm}
  - {name: r1, op: relu}
  - {name: c2, op: conv2d, filters: 8, kernel: 1, bias: false}
  - {name: b2, op: batch_norm, scale: false}
  - {name: a2, op: add, inputs: [r1, b2]}
  - {name: r2, op: relu}
  - {name: d3, op: depthwise_conv2d, kernel: 3, padding: same, bias: false}
  - {name: b3, op: batch_norm}
  - {name: r3, op: relu6}
  - {name: s4, op: separable_conv2d, filters: 8, kernel: 3, padding: same}
  - {name: b4, op: batch_norm}
  - {name: a4, op: add, inputs: [b4, r3], scale: 0.5}
  - {name: c5, op: conv2d, filters: 8, kernel: 3, padding: same, activation: relu}
  - {name: c6, op: conv2d, filters: 8, kernel: 1}
  - {name: c7, op: conv2d, filters: 8, kernel: 1, inputs: [c5]}
  - {name: b6, op: batch_norm, inputs: [c6]}
  - {name: b7, op: batch_norm, inputs: [c7]}
  - {name: a7, op: add, inputs: [b6, b7]}
  - {name: r7, op: relu}
  - {name: x8, op: relu, inputs: [a4]}
  - {name: c9, op: conv2d, filters: 8, kernel: 1, activation: sigmoid}
  - {name: b9, op: batch_norm}
  - {name: cat, op: concat, inputs: [r7, x8, b9, c5]}
  - {name: c10, op: conv2d, filters: 4, kernel: 1}
  - {name: b10, op: batch_norm}
"""
# what run(fuse=True) folds into what (head <- layers): c1 <- b1 r1; c2 <- b2 a2 r2 (r1 was
# computed before c2); d3 <- b3 r3; s4 <- b4 a4; c6 <- b6 and c7 <- b7, and a7 <- r7 (each
# of a7's inputs comes after the other's head, as in ResNet's projection blocks); c10 <- b10
# (the network's output may end a chain). Not fused: c5 (its own relu, in its own pass), x8
# (a4 has two consumers), b9 (c9's sigmoid).
FUSED_INTO = {"b1": "c1", "r1": "c1", "b2": "c2", "a2": "c2", "r2": "c2", "b3": "d3",
              "r3": "d3", "b4": "s4", "a4": "s4", "b6": "c6", "b7": "c7", "r7": "a7",
              "b10": "c10"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_run_equals_layer_by_layer_and_the_twins(dtype):
    from costcalc import execute
    spec = load_text(FUSION_SPEC, "fusion.yaml")
    fused = run(spec, batch=2, seed=SEED, dtype=dtype, keep_output=True)
    apart = run(spec, batch=2, seed=SEED, dtype=dtype, keep_output=True, fuse=False)
    np.testing.assert_array_equal(fused.output, apart.output)      # rounded where layers round
    assert {x.name: x.fused_into for x in fused.layers if x.fused_into} == FUSED_INTO
    assert all(x.seconds == 0.0 for x in fused.layers if x.fused_into)
    assert all(x.fused_into is None for x in apart.layers)
    assert [x.name for x in fused.layers] == [x.name for x in apart.layers]
    assert fused.peak_measured == apart.peak_measured == fused.peak_analytic
    model = spec.build()
    weights = execute.model_weights(model, SEED, dtype)
    x = layer_rng(SEED, -1 % (2**32)).standard_normal((2, 8, 12, 11)).astype(dtype)
    want = naive.run_graph(model, x.astype(np.float64),
                           [[np.asarray(w, np.float64) for w in ws] for ws in weights])
    tol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(fused.output, want[model.layers[-1].name], rtol=tol, atol=tol)


def test_counting_mode_never_fuses():
    spec = load_text(FUSION_SPEC, "fusion.yaml")
    res = run(spec, batch=1, seed=SEED, counting=True)
    assert all(x.fused_into is None for x in res.layers)
    assert all(x.executed_macs == x.macs for x in res.layers)


@pytest.mark.parametrize("band_rows", [1, 5])
def test_winograd_bands_span_samples(monkeypatch, band_rows):
    """Winograd a band of tile rows at a time (bands crossing samples, a last short band),
    with the epilogue on each band's rows: the same as one band."""
    from costcalc import kernels
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 16, 13, 12))            # padded 11x10: 6x5 tiles per sample
    w = rng.standard_normal((4, 16, 3, 3))
    res = rng.standard_normal((3, 4, 11, 10))
    bias = rng.normal(0, 0.1, 4)
    bn = _bn_weights(rng, 4)
    scale, shift = kernels.bn_coefficients(*bn)
    want = naive.epilogue(naive.conv2d(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1), bias, bn,
                          None, res, 1.0, False, (0.0, np.inf))
    monkeypatch.setattr(kernels, "WINOGRAD_MIN_TILES", 1)
    monkeypatch.setattr(kernels, "WINOGRAD_BAND", band_rows * 16 * 20 * 5)
    assert kernels.winograd_band_rows(3, 6, 5, 16, 4) == band_rows
    post = kernels.Post(bias=bias, scale=scale, shift=shift, res=res, res_first=False, lo2=0.0)
    got = kernels.conv2d_winograd(x, w, 11, 10, post)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(kernels.conv2d_winograd(x, w, 11, 10),
                               naive.conv2d(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1),
                               rtol=1e-10, atol=1e-10)
