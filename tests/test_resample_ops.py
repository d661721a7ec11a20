"""Resampling and layout ops against the documented formulas, derived here again.

conv2d_transpose: output length from PyTorch's ConvTranspose2d documentation
    H_out = (H_in-1)*stride - pad_top - pad_bottom + dilation*(k-1) + output_padding + 1
(explicit pads) and Keras's conv_utils.deconv_output_length (valid/same); MACs
H_in*W_in*C_in * k_h*k_w*C_out/groups; params k_h*k_w*C_in*C_out/groups + bias. Each case is
also run through torch.nn.functional.conv_transpose2d (shapes, and values of both of costcalc's
kernels).
"""
import json

import numpy as np
import pytest

from conftest import one_layer
from costcalc import ops
from costcalc.errors import SpecError
from costcalc.execute import make_weights

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_length(n, k, s, d, pad, outpad):
    """PyTorch ConvTranspose2d docs (symmetric pad as PyTorch has it; pads split per side)."""
    lo, hi = pad
    return (n - 1) * s - lo - hi + d * (k - 1) + outpad + 1


def keras_length(n, k, s, d, padding, outpad):
    """keras conv_utils.deconv_output_length."""
    k = k + (k - 1) * (d - 1)
    if outpad is None:
        if padding == "valid":
            return n * s + max(k - s, 0)
        return n * s
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * s + k - 2 * pad + outpad


# (C_in, H, W), filters, kernel, strides, padding, output_padding, dilation, groups
CASES = [
    ((3, 5, 5), 4, (3, 3), (1, 1), "valid", None, (1, 1), 1),
    ((3, 5, 6), 4, (3, 3), (2, 2), "valid", None, (1, 1), 1),
    ((2, 4, 7), 2, (2, 2), (2, 2), "valid", None, (1, 1), 1),
    ((2, 4, 5), 3, (1, 2), (3, 3), "valid", None, (1, 1), 1),      # k_eff < stride
    ((2, 4, 5), 3, (3, 3), (2, 3), "valid", (1, 2), (1, 1), 1),
    ((4, 5, 6), 4, (3, 3), (1, 1), "same", None, (1, 1), 2),
    ((4, 5, 6), 6, (3, 3), (2, 2), "same", None, (1, 1), 2),
    ((3, 5, 4), 2, (4, 4), (2, 2), "same", None, (1, 1), 1),       # even kernel
    ((3, 3, 4), 2, (5, 2), (3, 3), "same", None, (1, 1), 1),
    ((3, 3, 4), 2, (3, 3), (2, 2), "same", (1, 0), (1, 1), 1),
    ((3, 4, 4), 2, (3, 3), (2, 2), "same", (0, 1), (2, 2), 1),     # dilated
    ((2, 5, 5), 4, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), (1, 1), 1),
    ((2, 6, 5), 4, (4, 4), (2, 2), (1, 1, 1, 1), None, (1, 1), 2),
    ((3, 4, 7), 6, (3, 2), (3, 2), (0, 0, 1, 1), (2, 1), (1, 1), 3),
    ((2, 5, 4), 2, (3, 3), (1, 2), (2, 2, 0, 0), (0, 1), (2, 1), 1),
    ((2, 5, 4), 2, (3, 3), (1, 1), (1, 1, 2, 2), (1, 1), (2, 2), 2),  # op < dilation
    ((2, 5, 5), 3, (3, 3), (2, 2), (0, 1, 2, 0), (1, 0), (1, 1), 1),  # asymmetric pads
    ((1, 4, 3), 1, (2, 3), (3, 2), (1, 2, 0, 1), None, (1, 2), 1),
]


def _padding_value(p):
    return p if isinstance(p, str) else [[p[0], p[1]], [p[2], p[3]]]


def _attrs(case):
    shape, filters, k, s, pad, op, d, g = case
    a = {"filters": filters, "kernel": list(k), "strides": list(s), "padding": _padding_value(pad),
         "dilation": list(d), "groups": g}
    if op is not None:
        a["output_padding"] = list(op)
    return a


def _expected(case):
    (c, h, w), filters, (kh, kw), (sh, sw), pad, op, (dh, dw), g = case
    if isinstance(pad, str):
        ho = keras_length(h, kh, sh, dh, pad, None if op is None else op[0])
        wo = keras_length(w, kw, sw, dw, pad, None if op is None else op[1])
    else:
        op = op or (0, 0)
        ho = torch_length(h, kh, sh, dh, pad[:2], op[0])
        wo = torch_length(w, kw, sw, dw, pad[2:], op[1])
    macs = h * w * c * kh * kw * filters // g
    params = kh * kw * c * filters // g + filters
    return (filters, ho, wo), macs, params


@pytest.mark.parametrize("case", CASES, ids=lambda c: json.dumps(_attrs(c)).replace(" ", ""))
def test_conv_transpose_formula_table(case):
    shape, want_macs, want_params = _expected(case)
    row = one_layer("{op: conv2d_transpose, " + json.dumps(_attrs(case))[1:], case[0]).layers[0]
    assert tuple(row.output_shape) == shape
    assert row.macs == want_macs
    assert row.params == want_params
    assert row.other_ops == shape[0] * shape[1] * shape[2]          # bias
    assert row.flops == 2 * want_macs + row.other_ops


@pytest.mark.parametrize("case", CASES, ids=lambda c: json.dumps(_attrs(c)).replace(" ", ""))
def test_conv_transpose_agrees_with_pytorch(case):
    (c, h, w), filters, k, s, pad, op, d, g = case
    shape, _, _ = _expected(case)
    x = torch.randn(2, c, h, w, dtype=torch.float64)
    wt = torch.randn(c, filters // g, *k, dtype=torch.float64)
    # the uncropped scatter: (H-1)*stride + dilation*(k-1) + 1
    full = F.conv_transpose2d(x, wt, None, s, 0, 0, g, d)
    assert full.shape[2:] == tuple(torch_length(n, kk, ss, dd, (0, 0), 0)
                                   for n, kk, ss, dd in zip((h, w), k, s, d))
    if not isinstance(pad, str) and pad[0] == pad[1] and pad[2] == pad[3]:
        y = F.conv_transpose2d(x, wt, None, s, (pad[0], pad[2]), op or 0, g, d)
        assert tuple(y.shape[1:]) == shape
    # numbers: costcalc's fast and counting kernels against the oracle translation
    from costcalc.oracle import resample as oracle_resample
    conv_t = ops.get_op("conv2d_transpose")
    attrs = conv_t.parse_attrs(_attrs(case))
    ws = make_weights(conv_t, attrs, [(c, h, w)], 5, 1, np.float64)
    xs = [x.numpy()]
    fast, _ = conv_t.forward(xs, ws, conv_t.view(attrs), False)
    slow, count = conv_t.forward(xs, ws, conv_t.view(attrs), True)
    ref = oracle_resample.OPS["conv2d_transpose"]([x], [torch.from_numpy(v) for v in ws], attrs)
    assert fast.shape == (2,) + shape
    np.testing.assert_allclose(fast, ref.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(slow, ref.numpy(), rtol=1e-9, atol=1e-12)
    assert count == 2 * _expected(case)[1]


def test_keras_same_upsamples_by_the_stride():
    # Conv2DTranspose(16, 3, strides=2, padding="same") doubles a 7x9 map: 14x18
    row = one_layer("{op: conv2d_transpose, filters: 16, kernel: 3, strides: 2, padding: same}",
                    (8, 7, 9)).layers[0]
    assert row.output_shape == (16, 14, 18)
    assert row.macs == 7 * 9 * 8 * (3 * 3 * 16)
    assert row.params == 3 * 3 * 8 * 16 + 16


@pytest.mark.parametrize("layer, match", [
    ("{op: conv2d_transpose, filters: 2, kernel: 3, strides: 2, output_padding: 2}",
     "output_padding 2 along height is not smaller than the stride 2"),
    ("{op: conv2d_transpose, filters: 2, kernel: 3, output_padding: [0, 1]}",
     "output_padding 1 along width"),
    ("{op: resize, scale: 2, size: [4, 4]}", "exactly one of 'scale'.*got both"),
    ("{op: resize, mode: bilinear}", "exactly one of 'scale'.*got neither"),
    ("{op: transpose, perm: [0, 0, 2]}", "not a permutation of 0, 1, 2"),
    ("{op: transpose, perm: [0, 1, 3]}", "not a permutation"),
    ("{op: reshape, shape: [-1, -1, 4]}", "more than one -1"),
    ("{op: reshape, shape: [0, 2, 4]}", "has a 0"),
    ("{op: resize, mode: cubic, scale: 2}", "nearest, bilinear"),
    ("{op: reduce_mean, axes: [0]}", "batch axis"),
])
def test_bad_attributes(layer, match):
    with pytest.raises(SpecError, match=match):
        one_layer(layer, (4, 6, 6))


@pytest.mark.parametrize("layer, shape, fails", [
    ("{op: conv2d_transpose, filters: 2, kernel: 1, padding: 1}", (2, 1, 1), "no output row"),
    ("{op: slice, begin: 2, stop: 9}", (8, 4, 4), r"\[2, 9\) does not fit"),
    ("{op: channel_shuffle, groups: 3}", (8, 4, 4), "not divisible by groups"),
    ("{op: reshape, shape: [3, 3, 3]}", (2, 3, 4), "24 elements"),
    ("{op: dense, units: 4}", (3, 2, 2), "per_position: true"),
])
def test_failures_explain_themselves(layer, shape, fails):
    with pytest.raises(SpecError, match=fails):
        one_layer(layer, shape)


# ----------------------------------------------------------------------------- resize
@pytest.mark.parametrize("layer, shape, out, other", [
    ("{op: resize, scale: 2}", (3, 4, 5), (3, 8, 10), 0),
    ("{op: upsample, scale: [1, 3]}", (3, 4, 5), (3, 4, 15), 0),
    ("{op: resize, size: [7, 3]}", (2, 4, 6), (2, 7, 3), 0),
    # bilinear: 4 multiplies + 3 adds per output element
    ("{op: resize, mode: bilinear, scale: 2}", (3, 4, 5), (3, 8, 10), 7 * 3 * 8 * 10),
    ("{op: resize, mode: bilinear, size: [5, 9]}", (2, 4, 6), (2, 5, 9), 7 * 2 * 5 * 9),
])
def test_resize_shapes_and_counts(layer, shape, out, other):
    row = one_layer(layer, shape).layers[0]
    assert row.output_shape == out
    assert (row.params, row.macs, row.other_ops) == (0, 0, other)


@pytest.mark.parametrize("attrs, shape", [
    ({"mode": "nearest", "scale": 3}, (2, 3, 4)),
    ({"mode": "nearest", "size": [4, 3]}, (2, 8, 6)),
    ({"mode": "bilinear", "scale": [2, 3]}, (2, 3, 4)),
    ({"mode": "bilinear", "size": [7, 5]}, (1, 4, 6)),
    ({"mode": "bilinear", "size": [2, 3]}, (1, 5, 7)),     # downsampling
])
def test_resize_matches_interpolate(attrs, shape):
    op = ops.get_op("resize")
    a = op.parse_attrs(attrs)
    x = torch.randn((2,) + shape, dtype=torch.float64)
    y, _ = op.forward([x.numpy()], [], op.view(a), False)
    kw = {"align_corners": False} if a["mode"] == "bilinear" else {}
    if a["scale"] is not None:
        ref = F.interpolate(x, scale_factor=tuple(float(v) for v in a["scale"]), mode=a["mode"],
                            **kw)
    else:
        ref = F.interpolate(x, size=tuple(a["size"]), mode=a["mode"], **kw)
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-12, atol=1e-12)


def test_nearest_scale_is_keras_upsampling_repeat():
    op = ops.get_op("resize")
    a = op.parse_attrs({"scale": [2, 3]})
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    y, _ = op.forward([x], [], op.view(a), False)
    np.testing.assert_array_equal(y, x.repeat(2, axis=2).repeat(3, axis=3))


# ----------------------------------------------------------------------------- layout, reductions
@pytest.mark.parametrize("layer, shape, out, other", [
    ("{op: slice, begin: 1, stop: 4}", (6, 3, 2), (3, 3, 2), 0),
    ("{op: slice, stop: 2}", (6, 3, 2), (2, 3, 2), 0),
    ("{op: channel_shuffle, groups: 4}", (8, 3, 2), (8, 3, 2), 0),
    ("{op: reshape, shape: [2, -1, 3]}", (4, 3, 2), (2, 4, 3), 0),
    ("{op: reshape, shape: [24, 1, 1]}", (4, 3, 2), (24, 1, 1), 0),
    ("{op: transpose, perm: [2, 0, 1]}", (4, 3, 2), (2, 4, 3), 0),
    # mean over H, W of 4x3x2: 4 outputs, 6 elements each (5 adds + 1 divide)
    ("{op: reduce_mean, axes: [h, w]}", (4, 3, 2), (4, 1, 1), 4 * 6),
    ("{op: reduce_mean, axes: [c], keepdims: false}", (4, 3, 2), (1, 3, 2), 6 * 4),
    # max over C and W: 3 outputs of 8 elements, 7 comparisons each
    ("{op: reduce_max, axes: [1, 3]}", (4, 3, 2), (1, 3, 1), 3 * 7),
    ("{op: reduce_max, axes: [h]}", (4, 3, 2), (4, 1, 2), 8 * 2),
])
def test_layout_shapes_and_counts(layer, shape, out, other):
    row = one_layer(layer, shape).layers[0]
    assert row.output_shape == out
    assert (row.params, row.macs, row.other_ops) == (0, 0, other)


def test_channel_shuffle_order():
    # ShuffleNet: 2 groups of 3 channels [a0 a1 a2 | b0 b1 b2] -> a0 b0 a1 b1 a2 b2
    op = ops.get_op("channel_shuffle")
    a = op.parse_attrs({"groups": 2})
    x = np.arange(6.0).reshape(1, 6, 1, 1)
    y, _ = op.forward([x], [], op.view(a), False)
    assert y.ravel().tolist() == [0, 3, 1, 4, 2, 5]
    ref = F.channel_shuffle(torch.from_numpy(x), 2)
    assert ref.numpy().ravel().tolist() == [0, 3, 1, 4, 2, 5]


# ----------------------------------------------------------------------------- dense per position
def test_dense_per_position_is_a_pointwise_convolution():
    # ConvNeXt block: Dense(4*96) on a 96 x 14 x 14 map (channels-last in Keras)
    row = one_layer("{op: dense, units: 384, per_position: true, activation: relu}",
                    (96, 14, 14)).layers[0]
    assert row.output_shape == (384, 14, 14)
    assert row.macs == 14 * 14 * 96 * 384
    assert row.params == 96 * 384 + 384
    assert row.other_ops == 2 * 384 * 14 * 14
    conv = one_layer("{op: conv2d, filters: 384, kernel: 1, activation: relu}",
                     (96, 14, 14)).layers[0]
    assert (conv.macs, conv.params, conv.other_ops) == (row.macs, row.params, row.other_ops)
    dense = ops.get_op("dense")
    a = dense.parse_attrs({"units": 5, "per_position": True})
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 2))
    ws = make_weights(dense, a, [(3, 4, 2)], 1, 1, np.float64)
    y, n = dense.forward([x], ws, dense.view(a), True)
    ref = torch.nn.functional.linear(torch.from_numpy(x).permute(0, 2, 3, 1),
                                     torch.from_numpy(ws[0]), torch.from_numpy(ws[1]))
    np.testing.assert_allclose(y, ref.permute(0, 3, 1, 2).numpy(), rtol=1e-12)
    assert n == 2 * 4 * 2 * 3 * 5
