"""Broadcasting element-wise ops and the normalization family in whole specs, counted by hand."""
import numpy as np
import pytest

from costcalc import ops
from costcalc.analysis import summarize
from costcalc.errors import SpecError
from costcalc.ops.base import AttrError

from conftest import spec_from

# input 8x6x6; squeeze = global average pool (8x1x1); excite = 1x1 conv 8 -> 8 with sigmoid
SE_HEAD = """\
input: [8, 6, 6]
layers:
  - {name: squeeze, op: global_avg_pool}
  - {name: excite, op: conv2d, filters: 8, kernel: 1, activation: sigmoid}
"""


def _row(summary, name):
    return next(r for r in summary.layers if r.name == name)


@pytest.mark.parametrize("order", ["[input, excite]", "[excite, input]"])
def test_squeeze_and_excitation_multiply_broadcasts_in_either_order(order):
    s = summarize(spec_from(SE_HEAD + f"  - {{name: scaled, op: multiply, inputs: {order}}}\n"))
    row = _row(s, "scaled")
    assert row.output_shape == (8, 6, 6)
    assert row.other_ops == 8 * 6 * 6          # one multiply per output element
    assert row.macs == 0 and row.params == 0
    # the excitation conv: 8*8 weights + 8 biases, 8*8 MACs on a 1x1 map
    assert _row(s, "excite").params == 8 * 8 + 8 and _row(s, "excite").macs == 64


def test_spatial_attention_map_multiplies_every_channel():
    s = summarize(spec_from("""
        input: [8, 6, 6]
        layers:
          - {name: att, op: conv2d, filters: 1, kernel: 1, activation: sigmoid}
          - {name: out, op: multiply, inputs: [att, input]}
        """))
    row = _row(s, "out")
    assert _row(s, "att").output_shape == (1, 6, 6)
    assert row.output_shape == (8, 6, 6) and row.other_ops == 8 * 36


def test_subtract_and_divide_broadcast_a_per_channel_and_a_scalar_input():
    s = summarize(spec_from("""
        input: [4, 5, 5]
        layers:
          - {name: m, op: global_avg_pool}
          - {name: centred, op: subtract, inputs: [input, m]}
          - {name: one, op: global_avg_pool, inputs: centred}
          - {name: scalar, op: conv2d, filters: 1, kernel: 1, inputs: one}
          - {name: q, op: divide, inputs: [scalar, centred]}
        """))
    assert _row(s, "centred").output_shape == (4, 5, 5)
    assert _row(s, "centred").other_ops == 100
    assert _row(s, "scalar").output_shape == (1, 1, 1)
    assert _row(s, "q").output_shape == (4, 5, 5) and _row(s, "q").other_ops == 100


@pytest.mark.parametrize("gate, shape", [
    ("{name: excite, op: conv2d, filters: 4, kernel: 1, inputs: squeeze}", "4x1x1"),  # wrong C
    ("{name: excite, op: conv2d, filters: 1, kernel: 1, strides: 2, inputs: input}",  # wrong H
     "1x3x3"),
])
@pytest.mark.parametrize("op", ["multiply", "add"])
def test_shapes_that_do_not_broadcast_fail_with_both_shapes(gate, shape, op):
    text = ("input: [8, 6, 6]\nlayers:\n  - {name: squeeze, op: global_avg_pool}\n"
            f"  - {gate}\n  - {{name: bad, op: {op}, inputs: [input, excite]}}\n")
    with pytest.raises(SpecError, match=rf"(?s)layer 'bad'.*{op}.*8x6x6, {shape}.*expected"):
        summarize(spec_from(text))


def test_subtract_takes_exactly_two_inputs():
    with pytest.raises(SpecError, match="subtract"):
        summarize(spec_from("""
            input: [4, 5, 5]
            layers:
              - {name: a, op: relu}
              - {name: d, op: subtract, inputs: [input, a, a]}
            """))


def test_equal_shape_add_keeps_its_counts():
    s = summarize(spec_from("""
        input: [4, 6, 6]
        layers:
          - {name: a, op: relu}
          - {name: s, op: add, inputs: [input, a, a], scale: 0.2}
        """))
    assert _row(s, "s").output_shape == (4, 6, 6)
    assert _row(s, "s").other_ops == 2 * 2 * 144      # 2 per element per input beyond the first


def test_broadcast_rules_compile_like_python():
    """The multi-input shape rules through the compiled (Numba) engine, valid and failing."""
    tail = ("  - {name: scaled, op: multiply, inputs: [excite, input]}\n"
            "  - {name: ln, op: layer_norm}\n")
    model = spec_from(SE_HEAD + tail).build()
    points = [(8, 6, 6), (8, 3, 5), (4, 6, 6)]
    totals, status = model.compile().run_many(np.array(points))
    broadcast = ops.get_op("multiply").failures()[0]
    # excite always has 8 channels: a 4-channel input gives 8x1x1 against 4x6x6
    assert list(status[:, 0]) == [ops.OK, ops.OK, broadcast]
    for row, (c, h, w) in zip(totals[:2], points[:2]):
        s = summarize(spec_from(SE_HEAD.replace("[8, 6, 6]", f"[{c}, {h}, {w}]") + tail))
        assert row[0] == s.totals["params"] and row[2] == s.totals["macs"]
        assert row[5] == s.totals["flops"]


def test_keras_normalization_params_are_2c_plus_1_and_none_trainable():
    s = summarize(spec_from("""
        input: [3, 32, 32]
        layers:
          - {name: norm, op: normalization}
          - {name: rescale, op: rescaling, scale: 0.00392156862745098, inputs: input}
        """))
    row = _row(s, "norm")
    assert row.params == 2 * 3 + 1 and row.trainable_params == 0
    assert row.other_ops == 2 * 3 * 32 * 32 and row.macs == 0
    assert _row(s, "rescale").params == 0 and _row(s, "rescale").other_ops == 2 * 3 * 1024


def test_group_norm_with_channels_not_divisible_fails_cleanly():
    with pytest.raises(SpecError, match=r"layer 'gn'.*6 input channels are not divisible by "
                                        r"groups=4.*6x5x5"):
        summarize(spec_from("""
            input: [6, 5, 5]
            layers:
              - {name: gn, op: group_norm, groups: 4}
            """))
    s = summarize(spec_from("input: [6, 5, 5]\nlayers:\n  - {name: gn, op: group_norm, "
                            "groups: 3}\n"))
    assert _row(s, "gn").params == 12 and _row(s, "gn").other_ops == 7 * 150


def test_norm_family_counts_by_hand():
    s = summarize(spec_from("""
        input: [16, 7, 7]
        layers:
          - {name: ln, op: layer_norm}
          - {name: inorm, op: instance_norm}
          - {name: inorm_affine, op: instance_norm, affine: true}
          - {name: sb, op: scale_bias, bias: false}
        """))
    e = 16 * 49
    assert (_row(s, "ln").params, _row(s, "ln").other_ops) == (32, 7 * e)
    assert (_row(s, "inorm").params, _row(s, "inorm").other_ops) == (0, 5 * e)
    assert (_row(s, "inorm_affine").params, _row(s, "inorm_affine").other_ops) == (32, 7 * e)
    assert (_row(s, "sb").params, _row(s, "sb").trainable_params, _row(s, "sb").other_ops) \
        == (16, 16, e)


def test_scale_bias_needs_one_part():
    with pytest.raises(AttrError, match="scale or bias"):
        ops.get_op("scale_bias").parse_attrs({"scale": False, "bias": False})
    with pytest.raises(SpecError, match="scale or bias"):
        summarize(spec_from("input: [4, 2, 2]\nlayers:\n  - {op: scale_bias, scale: false, "
                            "bias: false}\n"))


def test_layer_norm_normalizes_each_position_over_channels():
    from costcalc import kernels_norm
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3, 4))
    c = 5
    y = kernels_norm.layer_norm_channels(x, np.ones(c), np.zeros(c), 0.0)
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), 1.0, rtol=1e-10)
