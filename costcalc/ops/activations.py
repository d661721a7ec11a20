"""Element-wise activations and softmax.

Convention: an element-wise activation costs its ``activation_cost`` other ops per element (1 for
every element-wise function, however many operations its formula has; softmax 3: exp, sum,
divide). Those marked ``fusable`` may also be the ``activation:`` of a conv or dense layer, as in
Keras (``Conv2D(..., activation="relu")``), at the same cost per output element.
"""
from __future__ import annotations

import numpy as np

from .base import (Grad, AttrError, Choice, Example, Float, Op, Weight, cmul, register, volume)


def _kernels():
    from .. import kernels
    return kernels


def _act_kernels():
    from .. import kernels_act
    return kernels_act


class Activation(Op):
    """An element-wise function of one input: same shape, no params, 0 MACs."""
    activation_cost = 1
    fusable = True
    formulas = {"output": "same as input", "params": "0", "MACs": "0",
                "other ops": "1 per element"}

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, volume(y)

    @classmethod
    def apply(cls, x, a):
        """The function on an array (what forward and a fused activation run)."""
        raise NotImplementedError

    @classmethod
    def forward(cls, xs, ws, a, counting):
        return cls.apply(xs[0], a), 0


def _per_element_examples(cost):
    return (Example(input=(3, 4, 5), output=(3, 4, 5), other=cost * 3 * 4 * 5),
            Example(input=(1, 1, 1), output=(1, 1, 1), other=cost))


@register
class Linear(Activation):
    name = "linear"
    grad = Grad(why="identity: the gradient passes through")
    summary = "identity (the `activation: linear` of a layer: no activation)"
    activation_cost = 0
    formulas = {"output": "same as input", "params": "0", "MACs": "0", "other ops": "0"}
    examples = (Example(input=(3, 4, 5), output=(3, 4, 5), other=0),)
    torch_equivalent = True

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, 0

    @classmethod
    def apply(cls, x, a):
        return x


@register
class ReLU(Activation):
    name = "relu"
    grad = Grad(input=1, saves=("output",), why="g * (y > 0): one multiply by the mask")
    summary = "max(x, 0)"
    examples = _per_element_examples(1)

    @classmethod
    def apply(cls, x, a):
        return _kernels().clip_relu(x, 0.0, np.inf)


@register
class ReLU6(Activation):
    name = "relu6"
    grad = Grad(input=1, saves=("output",), why="g * (0 < y < 6): one multiply by the mask")
    summary = "min(max(x, 0), 6) (MobileNet)"
    examples = _per_element_examples(1)

    @classmethod
    def apply(cls, x, a):
        return _kernels().clip_relu(x, 0.0, 6.0)


@register
class Sigmoid(Activation):
    name = "sigmoid"
    grad = Grad(input=3, saves=("output",), why="g * y * (1 - y): a subtract, two multiplies")
    summary = "1 / (1 + exp(-x))"
    examples = _per_element_examples(1)

    @classmethod
    def apply(cls, x, a):
        return _act_kernels().sigmoid(x)


@register
class Tanh(Activation):
    name = "tanh"
    grad = Grad(input=3, saves=("output",), why="g * (1 - y^2): a square, a subtract, a multiply")
    summary = "hyperbolic tangent"
    examples = _per_element_examples(1)

    @classmethod
    def apply(cls, x, a):
        return np.tanh(x)


@register
class Softmax(Activation):
    name = "softmax"
    grad = Grad(input=4, saves=("output",), why="y * (g - sum(g * y)): a multiply and an add for "
                                                "the sum, a subtract, a multiply")
    summary = "softmax over channels"
    activation_cost = 3
    formulas = {"output": "same as input", "params": "0", "MACs": "0",
                "other ops": "3 per element (exp, sum, divide)"}
    examples = _per_element_examples(3)

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(3, volume(y))

    @classmethod
    def apply(cls, x, a):
        return _kernels().softmax_channels(x)


# ----------------------------------------------------------------------------- more activations
# Definitions checked against Keras 3 (keras-team/keras at v3.15.0-143-g3422977a,
# keras/src/activations/activations.py, keras/src/ops/nn.py, keras/src/backend/numpy/nn.py),
# Keras 2 (v2.15.0 keras/backend.py) and torch.nn.functional (PyTorch 2.x documentation).
# An element-wise activation costs 1 other op per element whatever its formula (the convention).


def _with_attrs(attrs, cost=1):
    """The per-element examples again, with attributes."""
    return (Example(attrs, (3, 4, 5), output=(3, 4, 5), other=cost * 3 * 4 * 5),
            Example(attrs, (1, 1, 1), output=(1, 1, 1), other=cost))


HARD_SIGMOID_DEFINITIONS = ("keras3", "pytorch", "keras2", "onnx")


@register
class HardSigmoid(Activation):
    # Keras 3: keras/src/activations/activations.py:517-537 (0 if x <= -3, 1 if x >= 3, else
    # x/6 + 0.5) and keras/src/backend/numpy/nn.py:116-124 (x/6 + 0.5 clipped to [0, 1]);
    # PyTorch F.hardsigmoid: relu6(x + 3)/6 (the same function). Keras 2: v2.15.0
    # keras/backend.py:5924-5942 (clip(0.2x + 0.5, 0, 1)), ONNX HardSigmoid with its defaults
    # alpha=0.2, beta=0.5: max(0, min(1, alpha*x + beta)).
    name = "hard_sigmoid"
    grad = Grad(input=2, saves=("input",), why="g * slope inside the linear part: a compare-mask "
                                               "and a multiply")
    summary = ("piecewise-linear sigmoid: clip(x/6 + 1/2, 0, 1) (Keras 3, PyTorch; the fused "
               "`activation: hard_sigmoid`), or clip(0.2x + 0.5, 0, 1) with definition: keras2 "
               "(Keras 2, ONNX)")
    attrs = (Choice("definition", HARD_SIGMOID_DEFINITIONS, "keras3",
                    doc="keras3 or pytorch: clip(x/6 + 1/2, 0, 1) = relu6(x + 3)/6; keras2 or "
                        "onnx: clip(0.2x + 0.5, 0, 1) (ONNX HardSigmoid defaults)"),)
    examples = _per_element_examples(1) + (
        Example({"definition": "keras2"}, (3, 4, 5), output=(3, 4, 5), other=1 * 3 * 4 * 5),
        Example({"definition": "onnx"}, (2, 1, 7), output=(2, 1, 7), other=1 * 2 * 1 * 7),
        Example({"definition": "pytorch"}, (2, 3, 1), output=(2, 3, 1), other=1 * 2 * 3 * 1))

    @classmethod
    def apply(cls, x, a):
        if a.definition >= 2:                          # keras2, onnx
            return _act_kernels().hard_sigmoid(x, 0.2, 0.5)
        return _act_kernels().hard_sigmoid(x, 1.0 / 6.0, 0.5)


@register
class Swish(Activation):
    # Keras 3: keras/src/activations/activations.py:296-313 (silu, exported also as swish;
    # keras/src/activations/__init__.py:72 maps the string "swish" to it); PyTorch F.silu.
    name = "swish"
    grad = Grad(input=6, saves=("input",), why="g * (s + x s (1 - s)), s = sigmoid(x) recomputed "
                                               "(1): a subtract, three multiplies, an add")
    aliases = ("silu",)
    summary = "x * sigmoid(x) (SiLU; Keras `swish`/`silu`, PyTorch silu)"
    examples = _per_element_examples(1)

    @classmethod
    def apply(cls, x, a):
        return _act_kernels().swish(x)


@register
class HardSwish(Activation):
    # Keras 3: keras/src/activations/activations.py:574-594 (hard_silu, exported also as
    # hard_swish; keras/src/activations/__init__.py:73) = x * hard_sigmoid(x) with the Keras 3
    # hard sigmoid; PyTorch F.hardswish: x * relu6(x + 3)/6 (MobileNetV3).
    name = "hard_swish"
    grad = Grad(input=5, saves=("input",),
                why="g * (2x + 3) / 6 inside [-3, 3] (0 or 1 outside): two ops for 2x + 3, a "
                    "divide, a select, a multiply")
    aliases = ("hard_silu",)
    summary = "x * relu6(x + 3) / 6 (MobileNetV3; Keras 3 hard_silu/hard_swish, PyTorch hardswish)"
    examples = _per_element_examples(1)

    @classmethod
    def apply(cls, x, a):
        return _act_kernels().hard_swish(x)


@register
class GELU(Activation):
    # Keras 3: the string "gelu" is keras.activations.gelu(x, approximate=False)
    # (keras/src/activations/activations.py:337-357): the exact erf form; (keras.ops.gelu's own
    # default is approximate=True, keras/src/ops/nn.py:646, but no activation string uses it).
    # PyTorch F.gelu(approximate='none' | 'tanh').
    name = "gelu"
    grad = Grad(input=7, saves=("input",), why="g * (Phi(x) + x phi(x)): Phi (1, as the forward's "
                                               "erf), phi = exp(-x^2/2)/sqrt(2 pi) (3), a "
                                               "multiply, an add, a multiply")
    summary = "x * Phi(x) = x/2 * (1 + erf(x/sqrt(2))); approximate: tanh for " \
              "x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))"
    attrs = (Choice("approximate", ("none", "tanh"), "none",
                    doc="none: the exact erf form (Keras 3 `activation: gelu`, PyTorch default); "
                        "tanh: the tanh approximation"),)
    examples = _per_element_examples(1) + (
        Example({"approximate": "tanh"}, (3, 4, 5), output=(3, 4, 5), other=1 * 3 * 4 * 5),)

    @classmethod
    def apply(cls, x, a):
        return _act_kernels().gelu(x, a.approximate == 1)


@register
class LeakyReLU(Activation):
    # Keras 3: keras.activations.leaky_relu(x, negative_slope=0.2)
    # (keras/src/activations/activations.py:111-120), what `activation: leaky_relu` runs; the
    # LeakyReLU layer defaults to 0.3 (keras/src/layers/activations/leaky_relu.py:38) and PyTorch
    # to 0.01: give alpha for those.
    name = "leaky_relu"
    grad = Grad(input=1, saves=("input",), why="g * (1 or alpha): one multiply")
    summary = "x for x >= 0, alpha * x below"
    attrs = (Float("alpha", 0.2, doc="slope below 0 (Keras 3 activation default 0.2; Keras "
                                     "LeakyReLU layer 0.3, PyTorch 0.01)"),)
    examples = _per_element_examples(1) + (
        Example({"alpha": 0.01}, (3, 4, 5), output=(3, 4, 5), other=1 * 3 * 4 * 5),)

    @classmethod
    def apply(cls, x, a):
        return _act_kernels().leaky_relu(x, float(a.alpha))


@register
class ELU(Activation):
    # Keras 3: keras.activations.elu(x, alpha=1.0) (keras/src/activations/activations.py:168-194);
    # PyTorch F.elu(alpha=1.0).
    name = "elu"
    grad = Grad(input=2, saves=("output",),
                why="g, or g * (y + alpha) below 0: an add, a multiply")
    summary = "x for x > 0, alpha * (exp(x) - 1) below"
    attrs = (Float("alpha", 1.0, doc="scale of the negative part"),)
    examples = _per_element_examples(1) + (
        Example({"alpha": 0.5}, (3, 4, 5), output=(3, 4, 5), other=1 * 3 * 4 * 5),)

    @classmethod
    def apply(cls, x, a):
        return _act_kernels().elu(x, float(a.alpha))


PRELU_SLOPES = ("channel", "element", "single")
SLOPE_CHANNEL, SLOPE_ELEMENT, SLOPE_SINGLE = 0, 1, 2


@register
class PReLU(Activation):
    # Keras 3 PReLU (keras/src/layers/activations/prelu.py:54-58): alpha has the input's shape
    # without the batch (H*W*C params) unless shared_axes; shared_axes=[1, 2] leaves one per
    # channel. PyTorch nn.PReLU(num_parameters=1 or C): one slope, or one per channel.
    name = "prelu"
    grad = Grad(input=1, weight=2, saves=("input",), why="input: g * (1 or a); slopes: sum of g * "
                                                         "x where x < 0 (a multiply, an add)")
    summary = "x for x >= 0, slope * x below, with learned slopes (per channel, element or one)"
    fusable = False
    attrs = (Choice("slopes", PRELU_SLOPES, "channel",
                    doc="channel: C slopes (Keras shared_axes=[1, 2], PyTorch num_parameters=C); "
                        "element: C*H*W (Keras default); single: 1 (PyTorch default)"),)
    weights = (
        Weight("slope", lambda a, x: (x[0],), when=lambda a: a.slopes == SLOPE_CHANNEL,
               init="positive"),
        Weight("slope", lambda a, x: (x[0], x[1], x[2]),
               when=lambda a: a.slopes == SLOPE_ELEMENT, init="positive"),
        Weight("slope", lambda a, x: (1,), when=lambda a: a.slopes == SLOPE_SINGLE,
               init="positive"))
    formulas = {"output": "same as input",
                "params": "C (slopes: channel), C*H*W (element) or 1 (single)",
                "MACs": "0", "other ops": "1 per element"}
    examples = (
        Example({}, (3, 4, 5), output=(3, 4, 5), params=3, other=1 * 3 * 4 * 5),
        Example({"slopes": "element"}, (3, 4, 5), output=(3, 4, 5), params=3 * 4 * 5,
                other=1 * 3 * 4 * 5),
        Example({"slopes": "single"}, (3, 4, 5), output=(3, 4, 5), params=1,
                other=1 * 3 * 4 * 5),
        Example({"slopes": "channel"}, (1, 1, 1), output=(1, 1, 1), params=1, other=1))

    @classmethod
    def apply(cls, x, a):
        raise TypeError("prelu has learned slopes: it runs as a layer (forward), never fused")

    @classmethod
    def forward(cls, xs, ws, a, counting):
        x = xs[0]
        c, h, w = x.shape[1:]
        s = ws[0]
        if a.slopes == SLOPE_CHANNEL:
            s = s.reshape(c, 1, 1)
        elif a.slopes == SLOPE_SINGLE:
            s = s.reshape(1, 1, 1)
        full = np.ascontiguousarray(np.broadcast_to(s, (c, h, w)), dtype=x.dtype)
        return _act_kernels().prelu(x, full), 0


@register
class Clip(Activation):
    # ONNX Clip (min, max; either may be absent), torch.clamp(min, max).
    name = "clip"
    grad = Grad(input=1, saves=("input",), why="g * (lo < x < hi): one multiply by the mask")
    summary = "min(max(x, min), max); relu6 is clip 0..6"
    fusable = False
    attrs = (Float("min", None, doc="lower bound (none: no lower bound)"),
             Float("max", None, doc="upper bound (none: no upper bound); at least min"))
    examples = (
        Example({"min": 0, "max": 6}, (3, 4, 5), output=(3, 4, 5), other=1 * 3 * 4 * 5),
        Example({"min": -1.5}, (2, 3, 1), output=(2, 3, 1), other=1 * 2 * 3 * 1),
        Example({"max": 0.25}, (1, 1, 1), output=(1, 1, 1), other=1),
        Example({"min": 0.5, "max": 0.5}, (4, 2, 2), output=(4, 2, 2), other=1 * 4 * 2 * 2))

    @classmethod
    def normalize(cls, values):
        out = super().normalize(values)
        lo, hi = out["min"], out["max"]
        if lo is not None and hi is not None and lo > hi:
            raise AttrError("max", f"max={hi:g} is below min={lo:g}; expected min <= max")
        return out

    @classmethod
    def apply(cls, x, a):
        lo = -np.inf if a.min is None else float(a.min)
        hi = np.inf if a.max is None else float(a.max)
        return _kernels().clip_relu(x, lo, hi)
