"""Each op's rules against hand-written formulas and the slow twins in naive.py."""
import itertools

import pytest

from costcalc import ops
from costcalc.errors import SpecError

from conftest import one_layer
from naive import conv_macs_by_outputs, same_padding, window_positions


def layer0(s):
    return s.layers[0]


# ---------------------------------------------------------------- window arithmetic
@pytest.mark.parametrize("size,k,s,d,plo,phi", [
    (size, k, s, d, plo, phi)
    for size, k, s, d, plo, phi in itertools.product((1, 5, 7, 8, 17), (1, 2, 3, 5), (1, 2, 3),
                                                     (1, 2), (0, 1, 2), (0, 1, 3))
    if size + plo + phi >= d * (k - 1) + 1])
def test_window_explicit_padding_matches_walk(size, k, s, d, plo, phi):
    out, lo, hi = ops.window(size, k, s, d, ops.PAD_EXPLICIT, plo, phi, False)
    assert (out, lo, hi) == (window_positions(size, k, s, d, plo, phi), plo, phi)
    if s > 1 and max(plo, phi) <= k // 2:  # PyTorch allows ceil mode with pads <= k/2 only
        out_c, _, _ = ops.window(size, k, s, d, ops.PAD_EXPLICIT, plo, phi, True)
        assert out_c == window_positions(size, k, s, d, plo, phi, ceil_mode=True)


@pytest.mark.parametrize("size,k,s,d,plo", list(itertools.product((1, 2, 3, 4, 6), (2, 3, 5, 7),
                                                                  (2, 3, 4), (1, 2), (0, 1))))
def test_ceil_mode_with_a_window_longer_than_the_input(size, k, s, d, plo):
    """Ceil mode keeps a window that starts inside the input and hangs past the padded end by
    less than a stride, even when it is longer than the whole input (2x2 input, 3x3/2 pool: one
    output): the walking twin, and PyTorch's own output size where torch is installed."""
    if plo > (d * (k - 1) + 1) // 2:
        pytest.skip("PyTorch refuses pads over half the window")
    out, _, _ = ops.window(size, k, s, d, ops.PAD_EXPLICIT, plo, plo, True)
    assert out == window_positions(size, k, s, d, plo, plo, ceil_mode=True)
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    x = torch.zeros(1, 1, size, 1)
    try:
        want = F.max_pool2d(x, (k, 1), (s, 1), (plo, 0), (d, 1), ceil_mode=True).shape[2]
    except RuntimeError:            # "Output size is too small"
        want = 0
    assert out == want


@pytest.mark.parametrize("size,k,s,d", list(itertools.product((1, 4, 5, 6, 7, 28, 299), (1, 2, 3, 5, 7),
                                                         (1, 2, 3), (1, 2))))
def test_window_same_padding(size, k, s, d):
    out, lo, hi = ops.window(size, k, s, d, ops.PAD_SAME, 0, 0, False)
    assert (out, lo, hi) == same_padding(size, k, s, d)
    # and the padded input holds exactly `out` windows
    assert window_positions(size, k, s, d, lo, hi) == out


def test_same_padding_odd_total_goes_bottom_right():
    # TF: H=6, k=3, s=2 -> out 3, total pad (3-1)*2+3-6 = 1: 0 on top, 1 at the bottom
    assert ops.window(6, 3, 2, 1, ops.PAD_SAME, 0, 0, False) == (3, 0, 1)
    # H=5, k=4, s=1 -> total 3: 1 top, 2 bottom
    assert ops.window(5, 4, 1, 1, ops.PAD_SAME, 0, 0, False) == (5, 1, 2)


def test_ceil_mode_googlenet_pool():
    # Caffe GoogLeNet pool1: 112 -> 3x3/2 ceil -> 56 (floor would give 55)
    assert ops.window(112, 3, 2, 1, ops.PAD_VALID, 0, 0, True)[0] == 56
    assert ops.window(112, 3, 2, 1, ops.PAD_VALID, 0, 0, False)[0] == (112 - 3) // 2 + 1


# ---------------------------------------------------------------- convolutions
@pytest.mark.parametrize("cin,cout,h,w,k,s,d,groups,pad,bias", [
    (3, 8, 11, 9, (3, 3), (1, 1), (1, 1), 1, "valid", True),
    (4, 6, 10, 7, (3, 5), (2, 1), (1, 1), 2, "same", False),
    (6, 6, 13, 13, (3, 3), (2, 2), (2, 2), 3, "same", True),
    (8, 16, 9, 12, (2, 2), (3, 2), (1, 3), 4, [[1, 2], [0, 3]], True),
    (5, 7, 8, 8, (1, 1), (1, 1), (1, 1), 1, 2, False),
    (12, 12, 6, 6, (3, 3), (1, 1), (1, 1), 12, "same", False),   # depthwise as grouped conv
])
def test_conv2d_rules(cin, cout, h, w, k, s, d, groups, pad, bias):
    kh, kw = k
    row = (f"{{op: conv2d, filters: {cout}, kernel: [{kh}, {kw}], strides: [{s[0]}, {s[1]}], "
           f"dilation: [{d[0]}, {d[1]}], groups: {groups}, padding: {pad}, bias: {str(bias).lower()}}}")
    r = layer0(one_layer(row, (cin, h, w)))
    if pad == "same":
        ho = same_padding(h, kh, s[0], d[0])[0]
        wo = same_padding(w, kw, s[1], d[1])[0]
    else:
        (t, b), (l, rr) = ((0, 0), (0, 0)) if pad == "valid" else (
            ((pad, pad), (pad, pad)) if isinstance(pad, int) else pad)
        ho = window_positions(h, kh, s[0], d[0], t, b)
        wo = window_positions(w, kw, s[1], d[1], l, rr)
    assert r.output_shape == (cout, ho, wo)
    assert r.macs == conv_macs_by_outputs(cin, cout, ho, wo, kh, kw, groups)
    assert r.params == kh * kw * (cin // groups) * cout + (cout if bias else 0)
    assert r.trainable_params == r.params
    assert r.other_ops == (cout * ho * wo if bias else 0)
    assert r.flops == 2 * r.macs + r.other_ops


def test_depthwise_conv2d_with_multiplier():
    # 5 channels, depth multiplier 3, 3x3 stride 2 same on 9x9 -> 15 x 5 x 5
    r = layer0(one_layer("{op: depthwise_conv2d, kernel: 3, strides: 2, padding: same, "
                         "depth_multiplier: 3}", (5, 9, 9)))
    assert r.output_shape == (15, 5, 5)
    assert r.macs == 5 * 5 * 15 * (3 * 3)          # H_out*W_out*C_out*k*k, one input channel each
    assert r.params == 3 * 3 * 5 * 3 + 15          # weights + bias


def test_separable_conv2d_is_depthwise_plus_pointwise():
    # MobileNet Eq. 5: Dk*Dk*M*Df*Df + M*N*Df*Df with M=32, N=64, Df=14, Dk=3
    r = layer0(one_layer("{op: separable_conv2d, filters: 64, kernel: 3, padding: same, "
                         "bias: false}", (32, 14, 14)))
    assert r.macs == 3 * 3 * 32 * 14 * 14 + 32 * 64 * 14 * 14
    assert r.params == 3 * 3 * 32 + 32 * 64
    r2 = layer0(one_layer("{op: separable_conv2d, filters: 10, kernel: 3, depth_multiplier: 2}",
                          (4, 6, 6)))
    assert r2.output_shape == (10, 4, 4)
    assert r2.macs == 4 * 4 * (4 * 2) * 9 + 4 * 4 * (4 * 2) * 10
    assert r2.params == 9 * 8 + 8 * 10 + 10


def test_dense():
    r = layer0(one_layer("{op: dense, units: 10}", (84, 1, 1)))
    assert (r.output_shape, r.macs, r.params, r.other_ops) == ((10, 1, 1), 840, 850, 10)
    r = layer0(one_layer("{op: dense, units: 10, bias: false}", (84, 1, 1)))
    assert (r.params, r.other_ops) == (840, 0)


# ---------------------------------------------------------------- pooling
def test_max_and_avg_pool():
    r = layer0(one_layer("{op: max_pool2d, kernel: 3, strides: 2}", (4, 9, 9)))
    assert r.output_shape == (4, 4, 4)
    assert (r.params, r.macs, r.other_ops) == (0, 0, (9 - 1) * 4 * 4 * 4)
    r = layer0(one_layer("{op: avg_pool2d, kernel: 2}", (4, 9, 9)))   # strides default = kernel
    assert r.output_shape == (4, 4, 4)
    assert r.other_ops == 4 * 4 * 4 * 4
    r = layer0(one_layer("{op: max_pool2d, kernel: 3, strides: 2, ceil_mode: true}", (2, 112, 112)))
    assert r.output_shape == (2, 56, 56)


def test_global_pools():
    r = layer0(one_layer("{op: global_avg_pool}", (8, 7, 5)))
    assert (r.output_shape, r.other_ops) == ((8, 1, 1), 8 * 7 * 5)
    r = layer0(one_layer("{op: global_max_pool}", (8, 7, 5)))
    assert r.other_ops == 8 * (7 * 5 - 1)


# ---------------------------------------------------------------- others
def test_batch_norm_with_and_without_scale():
    r = layer0(one_layer("{op: batch_norm}", (16, 3, 3)))
    assert (r.params, r.trainable_params, r.other_ops) == (4 * 16, 2 * 16, 2 * 16 * 9)
    r = layer0(one_layer("{op: batch_norm, scale: false}", (16, 3, 3)))   # Keras InceptionV3
    assert (r.params, r.trainable_params) == (3 * 16, 16)


@pytest.mark.parametrize("op,per_element", [("relu", 1), ("relu6", 1), ("sigmoid", 1),
                                            ("tanh", 1), ("softmax", 3)])
def test_elementwise(op, per_element):
    r = layer0(one_layer(f"{{op: {op}}}", (3, 4, 5)))
    assert (r.output_shape, r.params, r.macs, r.other_ops) == ((3, 4, 5), 0, 0,
                                                               per_element * 60)


def test_lrn_other_ops():
    r = layer0(one_layer("{op: lrn, size: 5}", (3, 4, 4)))
    assert r.other_ops == (2 * 5 + 3) * 48


def _graph(layers, input_shape=(4, 6, 6)):
    from conftest import spec_from
    from costcalc.analysis import summarize
    c, h, w = input_shape
    return summarize(spec_from(f"input: [{c}, {h}, {w}]\nlayers:\n" + "".join(
        f"  - {row}\n" for row in layers)))


def test_add_concat_pad_flatten_dropout_channel_pad():
    s = _graph(["{name: a, op: relu}", "{name: b, op: relu, inputs: input}",
                "{name: sum, op: add, inputs: [a, b, input]}",
                "{name: scaled, op: add, inputs: [a, b], scale: 0.17}",
                "{name: cat, op: concat, inputs: [a, sum, scaled]}",
                "{name: pad, op: zero_pad2d, padding: [[0, 1], [2, 3]]}",
                "{name: flat, op: flatten}", "{name: drop, op: dropout, rate: 0.4}"])
    by = {r.name: r for r in s.layers}
    assert by["sum"].other_ops == 2 * 4 * 36              # 3 inputs: 2 adds per element
    assert by["scaled"].other_ops == 2 * 4 * 36           # 1 multiply + 1 add per element
    assert by["cat"].output_shape == (12, 6, 6)
    assert by["pad"].output_shape == (12, 7, 11)
    assert by["flat"].output_shape == (12 * 7 * 11, 1, 1)
    assert by["drop"].output_shape == (12 * 7 * 11, 1, 1)
    s = _graph(["{op: channel_pad, filters: 8, strides: 2}"], (4, 7, 7))
    assert s.layers[0].output_shape == (8, 4, 4)          # ceil(7/2), zero-padded channels
    assert s.layers[0].params == 0


def test_frozen_layer_is_not_trainable():
    s = _graph(["{op: conv2d, filters: 2, kernel: 1, trainable: false}", "{op: dense, units: 3}"],
               (4, 1, 1))
    assert s.totals["params"] == (4 * 2 + 2) + (2 * 3 + 3)
    assert s.totals["trainable_params"] == 2 * 3 + 3


def test_every_registered_op_has_rules_and_formulas():
    for op in ops.OPS[1:]:
        assert op.summary and op.formulas.get("output"), op.name
        assert callable(op.shape) and callable(op.counts), op.name
        for key in ("params", "MACs", "other ops"):
            assert key in op.formulas, (op.name, key)


def test_window_larger_than_input_is_an_error():
    with pytest.raises(SpecError, match="larger than its input 3x4x4"):
        one_layer("{name: c, op: conv2d, filters: 1, kernel: 5}", (3, 4, 4))


@pytest.mark.parametrize("act,per_element", [("linear", 0), ("relu", 1), ("relu6", 1),
                                             ("sigmoid", 1), ("tanh", 1), ("softmax", 3)])
def test_fused_activation_adds_its_other_ops(act, per_element):
    # Keras Conv2D(..., activation=...): bias 1 + activation per output element
    r = layer0(one_layer(f"{{op: conv2d, filters: 4, kernel: 3, activation: {act}}}", (2, 6, 6)))
    assert r.other_ops == 4 * 4 * 4 * (1 + per_element)
    assert r.macs == 4 * 4 * 4 * 9 * 2
    r = layer0(one_layer(f"{{op: dense, units: 5, activation: {act}}}", (7, 1, 1)))
    assert r.other_ops == 5 * (1 + per_element)
