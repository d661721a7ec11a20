"""The activations added with kernels_act.py: values at chosen points (derived by hand from the
definitions), their counts in a layer and fused into a conv, and their errors."""
import math
import warnings

import numpy as np
import pytest

from conftest import one_layer, spec_from
from costcalc import ops
from costcalc.errors import SpecError


def act(name, values, **attrs):
    """The op's forward pass on a 1 x 1 x 1 x n batch of the given values."""
    op = ops.get_op(name)
    a = op.parse_attrs(attrs)
    x = np.asarray(values, dtype=np.float64).reshape(1, 1, 1, -1)
    y, executed = op.forward([x], [], op.view(a), False)
    assert executed == 0
    return y.ravel()


def test_sigmoid_is_stable_for_large_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no overflow warning from exp
        y = act("sigmoid", [-1000.0, -700.0, 0.0, math.log(3), 700.0, 1000.0])
    assert y[0] == 0.0 and y[-1] == 1.0 and y[-2] == 1.0
    assert y[1] == pytest.approx(math.exp(-700), rel=1e-12)   # e^-700 / (1 + e^-700)
    assert y[2] == 0.5
    assert y[3] == pytest.approx(3 / 4, rel=1e-15)             # 1 / (1 + 1/3)
    assert np.isfinite(act("swish", [-1000.0, 1000.0])).all()
    assert list(act("swish", [-1000.0, 1000.0])) == [0.0, 1000.0]


def test_hard_sigmoid_definitions():
    # Keras 3 and PyTorch: relu6(x + 3) / 6
    for d in ("keras3", "pytorch"):
        assert list(act("hard_sigmoid", [-4, -3, 0, 1.5, 3, 4], definition=d)) == \
            [0, 0, 0.5, 1.5 / 6 + 0.5, 1, 1]
    assert list(act("hard_sigmoid", [-3, 0, 3])) == [0, 0.5, 1]             # the default
    # Keras 2 and ONNX's defaults: clip(0.2 x + 0.5, 0, 1), saturating at +-2.5
    for d in ("keras2", "onnx"):
        y = act("hard_sigmoid", [-3, -2.5, 0, 1, 2.5, 3], definition=d)
        np.testing.assert_allclose(y, [0, 0, 0.5, 0.2 * 1 + 0.5, 1, 1], rtol=1e-15, atol=0)


def test_swish_and_hard_swish():
    y = act("swish", [0.0, math.log(3), -math.log(3)])
    np.testing.assert_allclose(y, [0, math.log(3) * 3 / 4, -math.log(3) * 1 / 4], rtol=1e-14)
    # x * relu6(x + 3) / 6: 0 at -3, x from 3 on, 1 * 4/6 at 1, -1 * 2/6 at -1
    np.testing.assert_allclose(act("hard_swish", [-4, -3, -1, 0, 1, 3, 5]),
                               [0, 0, -2 / 6, 0, 4 / 6, 3, 5], rtol=1e-15, atol=0)


def test_aliases_run_the_same_op():
    assert ops.get_op("silu") is ops.get_op("swish")
    assert ops.get_op("hard_silu") is ops.get_op("hard_swish")
    for alias, name in (("silu", "swish"), ("hard_silu", "hard_swish")):
        a = one_layer(f"{{op: {alias}}}", (3, 4, 5)).layers[0]
        b = one_layer(f"{{op: {name}}}", (3, 4, 5)).layers[0]
        assert a.op == b.op == name and a.other_ops == b.other_ops == 3 * 4 * 5


def test_gelu_exact_and_tanh():
    phi1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))            # Phi(1) = 0.841344746...
    tanh1 = 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * (1 + 0.044715)))
    exact, approx = act("gelu", [1.0])[0], act("gelu", [1.0], approximate="tanh")[0]
    assert exact == pytest.approx(phi1, rel=1e-15) and exact == pytest.approx(0.8413447460685429)
    assert approx == pytest.approx(tanh1, rel=1e-15)
    assert 1.5e-4 < exact - approx < 1.6e-4                    # 0.84134475 - 0.84119199
    assert list(act("gelu", [0.0])) == [0.0]
    # the default is the exact form (Keras 3's `activation: gelu`, PyTorch's default)
    assert ops.get_op("gelu").normalize({})["approximate"] == "none"


def test_leaky_relu_and_elu():
    assert list(act("leaky_relu", [-5.0, 0.0, 2.0])) == [-5 * 0.2, 0.0, 2.0]   # default 0.2
    assert list(act("leaky_relu", [-5.0], alpha=0.01)) == [-5 * 0.01]
    y = act("elu", [math.log(0.5), 0.0, 3.0])                     # e^ln(1/2) - 1 = -1/2
    np.testing.assert_allclose(y, [-0.5, 0.0, 3.0], rtol=1e-15, atol=0)
    assert act("elu", [math.log(0.5)], alpha=0.5)[0] == pytest.approx(-0.25, rel=1e-15)
    assert act("elu", [-1000.0])[0] == -1.0


def test_clip():
    assert list(act("clip", [-1, 0.5, 7], min=0, max=6)) == [0, 0.5, 6]
    assert list(act("clip", [-3, 0, 3], min=-1.5)) == [-1.5, 0, 3]
    assert list(act("clip", [-3, 0, 3], max=0.25)) == [-3, 0, 0.25]
    # relu6 is clip 0..6
    x = np.linspace(-8, 8, 33).reshape(1, 1, 3, 11)
    relu6 = ops.get_op("relu6")
    clip = ops.get_op("clip")
    np.testing.assert_array_equal(
        relu6.forward([x], [], relu6.view({}), False)[0],
        clip.forward([x], [], clip.view(clip.parse_attrs({"min": 0, "max": 6})), False)[0])


def test_prelu_slopes_and_params():
    x = np.array([[[[-2.0, 3.0]], [[-4.0, -1.0]]]])              # 1 x 2 x 1 x 2
    op = ops.get_op("prelu")
    for slopes, w, want in (("channel", [0.5, 0.25], [-1, 3, -1, -0.25]),
                            ("single", [0.5], [-1, 3, -2, -0.5]),
                            ("element", [[[0.5, 9]], [[0.1, 2]]], [-1, 3, -0.4, -2])):
        a = op.parse_attrs({"slopes": slopes})
        y, n = op.forward([x], [np.array(w)], op.view(a), False)
        np.testing.assert_allclose(y.ravel(), want, rtol=1e-15)
        assert n == 0
    for slopes, params in (("channel", 3), ("element", 3 * 4 * 5), ("single", 1)):
        row = one_layer(f"{{op: prelu, slopes: {slopes}}}", (3, 4, 5)).layers[0]
        assert (row.params, row.trainable_params, row.macs, row.other_ops) == \
            (params, params, 0, 3 * 4 * 5)
    assert one_layer("{op: prelu}", (3, 4, 5)).layers[0].params == 3          # default channel


def test_float32_keeps_its_dtype():
    x = np.linspace(-5, 5, 24, dtype=np.float32).reshape(1, 2, 3, 4)
    for name in ("sigmoid", "hard_sigmoid", "swish", "hard_swish", "gelu", "leaky_relu", "elu",
                 "clip"):
        op = ops.get_op(name)
        y, _ = op.forward([x], [], op.view(op.parse_attrs({})), False)
        assert y.dtype == np.float32 and y.shape == x.shape, name


NEW_FUSABLE = ("hard_sigmoid", "swish", "hard_swish", "gelu", "leaky_relu", "elu")


@pytest.mark.parametrize("name", NEW_FUSABLE + ("sigmoid",))
def test_fused_activation_costs_one_per_output_element(name):
    # conv 1x1, 2 filters on 3x4x4: 2*4*4 outputs; bias 1 per output, activation 1 more
    plain = one_layer("{op: conv2d, filters: 2, kernel: 1}", (3, 4, 4)).layers[0]
    fused = one_layer(f"{{op: conv2d, filters: 2, kernel: 1, activation: {name}}}",
                      (3, 4, 4)).layers[0]
    assert plain.other_ops == 2 * 4 * 4
    assert fused.other_ops == 2 * 4 * 4 + 1 * 2 * 4 * 4
    assert (fused.macs, fused.params) == (plain.macs, plain.params) == (2 * 4 * 4 * 3, 3 * 2 + 2)


def test_fused_activation_runs_with_keras_defaults():
    """A conv with `activation: X` computes X (default attributes) of the plain conv's output."""
    from costcalc.execute import run
    import naive
    text = "input: [3, 5, 5]\nlayers:\n  - {{op: conv2d, filters: 4, kernel: 3{act}}}\n"
    plain = run(spec_from(text.format(act="")), dtype="float64", keep_output=True).output
    for name in NEW_FUSABLE:
        y = run(spec_from(text.format(act=f", activation: {name}")), dtype="float64",
                keep_output=True).output
        np.testing.assert_allclose(y, naive.FUSED[name](plain), rtol=1e-12, atol=1e-14)
    # leaky_relu's fused slope is Keras 3's 0.2, hard_sigmoid Keras 3's x/6 + 1/2
    y = run(spec_from(text.format(act=", activation: leaky_relu")), dtype="float64",
            keep_output=True).output
    np.testing.assert_allclose(y, np.where(plain >= 0, plain, 0.2 * plain), rtol=1e-15)
    y = run(spec_from(text.format(act=", activation: hard_sigmoid")), dtype="float64",
            keep_output=True).output
    np.testing.assert_allclose(y, np.clip(plain / 6 + 0.5, 0, 1), rtol=1e-14)


def test_ops_lists_the_new_activation_values(run_cli):
    code, out, _ = run_cli("ops")
    assert code == 0
    # aliases too: Keras accepts activation="silu" and "hard_silu"
    assert ("one of linear, relu, relu6, sigmoid, tanh, softmax, hard_sigmoid, swish, silu, "
            "hard_swish, hard_silu, gelu, leaky_relu, elu") in out
    for name in ("hard_sigmoid:", "swish:", "hard_swish:", "gelu:", "leaky_relu:", "elu:",
                 "prelu:", "clip:"):
        assert f"\n{name}" in out, name
    # prelu (learned slopes) and clip (needs its bounds) are not fusable
    line = next(s for s in out.splitlines() if "activation (choice" in s)
    assert "prelu" not in line and "clip" not in line


@pytest.mark.parametrize("row, pattern", [
    ("{op: clip, min: 2, max: 1}", r"clip attribute 'max': max=1 is below min=2; expected min <= max"),
    ("{op: gelu, approximate: fast}", r"expected one of none, tanh, got 'fast'"),
    ("{op: hard_sigmoid, definition: keras1}", r"expected one of keras3, pytorch, keras2, onnx"),
    ("{op: prelu, slopes: filter}", r"expected one of channel, element, single"),
    ("{op: leaky_relu, alpha: fast}", r"alpha.*expected a finite number"),
    ("{op: conv2d, filters: 2, kernel: 1, activation: prelu}", r"activation.*expected one of"),
    ("{op: conv2d, filters: 2, kernel: 1, activation: clip}", r"activation.*expected one of"),
])
def test_bad_attributes_give_a_clean_error(row, pattern):
    with pytest.raises(SpecError, match=pattern):
        one_layer(row, (3, 4, 4))


def test_clip_with_equal_bounds_is_allowed():
    assert one_layer("{op: clip, min: 0.5, max: 0.5}", (3, 4, 4)).layers[0].other_ops == 3 * 4 * 4
