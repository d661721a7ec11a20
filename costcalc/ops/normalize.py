"""Per-channel affine maps and normalizations beyond batch norm: stored scale and bias, layer,
group and instance normalization, and Keras's preprocessing layers Rescaling and Normalization.

Other ops of the three computed normalizations (layer_norm, group_norm, instance_norm) follow one
convention: 5 per element for the statistics and the normalization (add to the mean's sum,
subtract the mean, square, add to the variance's sum, multiply by the reciprocal standard
deviation), plus 1 per element for the scale (gamma) and 1 for the shift (beta) when the layer
has them. The few scalar operations per statistic (dividing the sums by the count, adding epsilon,
the square root and its reciprocal) are not counted, like the per-position normalizer of softmax.
"""
from __future__ import annotations

import numpy as np

from .base import (Grad, OK, AttrError, Bool, Choice, Example, Float, Int, Op, Weight, cmul,
                   failure, register, volume)

NORM_OTHER = ("5 per element (mean sum, subtract the mean, square, variance sum, multiply by "
              "1/sqrt(variance + epsilon))")
KERAS_EPSILON = 1e-7      # keras.backend.epsilon(): Normalization's floor of sqrt(variance)


def _kernels():
    from .. import kernels_norm
    return kernels_norm


def _ones(c, like):
    return np.ones(c, dtype=like.dtype)


def _zeros(c, like):
    return np.zeros(c, dtype=like.dtype)


def _affine(ws, want_scale, want_bias, x):
    """(scale, bias) arrays from the weights in declaration order; ones/zeros where absent."""
    ws = list(ws)
    c = x.shape[1]
    scale = ws.pop(0) if want_scale else _ones(c, x)
    bias = ws.pop(0) if want_bias else _zeros(c, x)
    return scale, bias


@register
class ScaleBias(Op):
    name = "scale_bias"
    grad = Grad(input=lambda a: a.scale, weight=lambda a: 2 * a.scale + a.bias, saves=("input",),
                saves_when="weight",
                why="input: g * s (1 with scale); s: sum of g * x (2); b: sum of g (1)")
    summary = ("per-channel scale and bias as stored constants (ONNX Mul/Add by a constant, a "
               "batch norm folded to x*scale + bias)")
    attrs = (Bool("scale", True, doc="a stored scale per channel"),
             Bool("bias", True, doc="a stored bias per channel"))
    weights = (Weight("scale", lambda a, x: (x[0],), when=lambda a: a.scale),
               Weight("bias", lambda a, x: (x[0],), when=lambda a: a.bias))
    formulas = {"output": "same as input", "params": "C*(scale + bias), all trainable",
                "MACs": "0", "other ops": "(scale + bias) per element: 1 multiply, 1 add"}
    examples = (
        # 8 channels: 8 scales + 8 biases; a multiply and an add per element of 8*5*5
        Example({}, (8, 5, 5), output=(8, 5, 5), params=2 * 8, other=2 * 8 * 25),
        Example({"bias": False}, (8, 5, 5), output=(8, 5, 5), params=8, other=8 * 25),
        Example({"scale": False}, (3, 1, 1), output=(3, 1, 1), params=3, other=3),
    )

    @classmethod
    def normalize(cls, values):
        out = super().normalize(values)
        if not out["scale"] and not out["bias"]:
            raise AttrError("scale", "scale_bias needs scale or bias (or both) to be true; with "
                                     "neither the layer is an identity")
        return out

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(a.scale + a.bias, volume(y))

    @staticmethod
    def forward(xs, ws, a, counting):
        x = xs[0]
        scale, bias = _affine(ws, a.scale, a.bias, x)
        return _kernels().channel_affine(x, scale, bias), 0


@register
class LayerNorm(Op):
    name = "layer_norm"
    grad = Grad(input=9, weight=lambda a: 0, saves=("input",),
                why="as batch norm in training mode over each position's channels: 9; gamma and "
                    "beta reuse its sums")
    summary = ("layer normalization over the C channels at each position (ConvNeXt; Keras "
               "LayerNormalization on channels-last maps)")
    attrs = (Float("epsilon", 1e-6, minimum=0,
                   doc="added to the variance (numeric passes only); ConvNeXt's 1e-6 (Keras "
                       "LayerNormalization's own default is 1e-3, PyTorch LayerNorm's 1e-5)"),
             Bool("scale", True, doc="learned gamma per channel"),
             Bool("center", True, doc="learned beta per channel"))
    weights = (Weight("gamma", lambda a, x: (x[0],), when=lambda a: a.scale),
               Weight("beta", lambda a, x: (x[0],), when=lambda a: a.center))
    formulas = {"output": "same as input", "params": "C*(scale + center): gamma, beta",
                "MACs": "0",
                "other ops": NORM_OTHER + " + scale + center per element"}
    examples = (
        # ConvNeXt-like 16x7x7: gamma and beta 16 each; (5 + 1 + 1) * 16*49
        Example({}, (16, 7, 7), output=(16, 7, 7), params=2 * 16, other=7 * 16 * 49),
        Example({"scale": False, "center": False}, (16, 7, 7), output=(16, 7, 7), params=0,
                other=5 * 16 * 49),
        # after global pooling (the head's LayerNorm): 16x1x1
        Example({"center": False, "epsilon": 1e-3}, (16, 1, 1), output=(16, 1, 1), params=16,
                other=6 * 16),
    )

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(5 + a.scale + a.center, volume(y))

    @staticmethod
    def forward(xs, ws, a, counting):
        x = xs[0]
        gamma, beta = _affine(ws, a.scale, a.center, x)
        return _kernels().layer_norm_channels(x, gamma, beta, a.epsilon), 0


GROUPS = failure("group_norm: {c_in} input channels are not divisible by groups={groups} "
                 "(input {input}); expected a number of groups that divides the channels",
                 "channels not divisible by groups")


@register
class GroupNorm(Op):
    name = "group_norm"
    grad = Grad(input=9, weight=lambda a: 0, saves=("input",),
                why="as batch norm in training mode over each group: 9; gamma and beta reuse its "
                    "sums")
    summary = "group normalization: statistics over (C/groups) x H x W per group (Wu and He)"
    attrs = (Int("groups", 32, doc="channel groups; C must be divisible (the paper's 32)"),
             Bool("affine", True, doc="learned gamma and beta per channel (PyTorch default)"),
             Float("epsilon", 1e-5, minimum=0,
                   doc="added to the variance (numeric passes only; PyTorch's default)"))
    weights = (Weight("gamma", lambda a, x: (x[0],), when=lambda a: a.affine),
               Weight("beta", lambda a, x: (x[0],), when=lambda a: a.affine))
    formulas = {"output": "same as input (C divisible by groups)",
                "params": "2*C with affine (gamma, beta), else 0", "MACs": "0",
                "other ops": NORM_OTHER + " + 2 per element with affine"}
    examples = (
        # 16 channels in 4 groups of 4: gamma, beta 16 each; (5 + 2) * 16*25
        Example({"groups": 4}, (16, 5, 5), output=(16, 5, 5), params=2 * 16,
                other=7 * 16 * 25),
        # the default 32 groups on 64 channels, no affine: 5 * 64*9
        Example({"affine": False}, (64, 3, 3), output=(64, 3, 3), params=0, other=5 * 64 * 9),
        # one group: a layer norm over C x H x W with per-channel gamma and beta
        Example({"groups": 1}, (6, 4, 4), output=(6, 4, 4), params=12, other=7 * 6 * 16),
        Example({"groups": 3}, (16, 5, 5), fails=GROUPS),
        Example({}, (16, 5, 5), fails=GROUPS),
    )

    @staticmethod
    def shape(a, x, shapes, ins):
        if x[0] % a.groups != 0:
            return GROUPS, 0, 0, 0
        return OK, x[0], x[1], x[2]

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(5 + 2 * a.affine, volume(y))

    @staticmethod
    def forward(xs, ws, a, counting):
        x = xs[0]
        gamma, beta = _affine(ws, a.affine, a.affine, x)
        return _kernels().group_norm(x, a.groups, gamma, beta, a.epsilon), 0


@register
class InstanceNorm(Op):
    name = "instance_norm"
    grad = Grad(input=9, weight=lambda a: 0, saves=("input",),
                why="as batch norm in training mode over each channel's map: 9; gamma and beta "
                    "reuse its sums")
    summary = "instance normalization: statistics over H x W per sample and channel"
    attrs = (Bool("affine", False, doc="learned gamma and beta per channel (PyTorch "
                                       "InstanceNorm2d default: false)"),
             Float("epsilon", 1e-5, minimum=0,
                   doc="added to the variance (numeric passes only; PyTorch's default)"))
    weights = (Weight("gamma", lambda a, x: (x[0],), when=lambda a: a.affine),
               Weight("beta", lambda a, x: (x[0],), when=lambda a: a.affine))
    formulas = {"output": "same as input", "params": "2*C with affine (gamma, beta), else 0",
                "MACs": "0", "other ops": NORM_OTHER + " + 2 per element with affine"}
    examples = (
        # 8x5x5, no affine: 5 * 8*25
        Example({}, (8, 5, 5), output=(8, 5, 5), params=0, other=5 * 8 * 25),
        Example({"affine": True}, (8, 5, 5), output=(8, 5, 5), params=16, other=7 * 8 * 25),
    )

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(5 + 2 * a.affine, volume(y))

    @staticmethod
    def forward(xs, ws, a, counting):
        x = xs[0]
        gamma, beta = _affine(ws, a.affine, a.affine, x)
        return _kernels().group_norm(x, x.shape[1], gamma, beta, a.epsilon), 0


@register
class Rescaling(Op):
    name = "rescaling"
    grad = Grad(input=1, why="g * scale")
    summary = "x * scale + offset (Keras Rescaling: pixel values to [0, 1] or [-1, 1])"
    attrs = (Float("scale", doc="multiplier, e.g. 1/255 (numeric passes only)"),
             Float("offset", 0.0, doc="added after scaling, e.g. -1 (numeric passes only)"))
    formulas = {"output": "same as input", "params": "0", "MACs": "0",
                "other ops": "2 per element (multiply, add)"}
    examples = (
        Example({"scale": 1 / 255}, (3, 8, 8), output=(3, 8, 8), other=2 * 3 * 64),
        Example({"scale": 1 / 127.5, "offset": -1}, (3, 4, 5), output=(3, 4, 5),
                other=2 * 3 * 20),
    )

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(2, volume(y))

    @staticmethod
    def forward(xs, ws, a, counting):
        x = xs[0]
        return x * a.scale + a.offset, 0


SCALAR_OPERATIONS = ("add", "subtract", "multiply", "divide")


@register
class Scalar(Op):
    name = "scalar"
    grad = Grad(input=lambda a: 1 if a.operation >= 2 else 0,
                why="add, subtract: g passes (0); multiply, divide: g * value or g / value (1)")
    summary = ("x (+, -, *, /) a constant number: keras.ops arithmetic on a tensor (x + 3.0, "
               "x * (1/6) in Keras's hard_sigmoid), ONNX Add/Sub/Mul/Div by a scalar constant")
    attrs = (Choice("operation", SCALAR_OPERATIONS, doc="x + value, x - value, x * value or "
                    "x / value"),
             Float("value", doc="the constant (numeric passes only)"))
    formulas = {"output": "same as input", "params": "0 (the constant is not stored)",
                "MACs": "0", "other ops": "1 per element"}
    examples = (
        # Keras hard_sigmoid: (x + 3.0) on a 72x1x1 squeeze-excite gate: 72 additions
        Example({"operation": "add", "value": 3.0}, (72, 1, 1), output=(72, 1, 1), other=72),
        Example({"operation": "multiply", "value": 1 / 6}, (4, 3, 5), output=(4, 3, 5),
                other=4 * 3 * 5),
        Example({"operation": "divide", "value": 2.0}, (2, 2, 2), output=(2, 2, 2), other=8),
    )

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, volume(y)

    @staticmethod
    def forward(xs, ws, a, counting):
        x, v, op = xs[0], a.value, SCALAR_OPERATIONS[a.operation]   # the field is an index
        if op == "add":
            return x + v, 0
        if op == "subtract":
            return x - v, 0
        return (x * v if op == "multiply" else x / v), 0


@register
class Normalization(Op):
    name = "normalization"
    grad = Grad(input=1, why="g / sqrt(variance) (1); its statistics are not trained")
    summary = ("Keras Normalization over channels: (x - mean) / sqrt(variance), with stored "
               "per-channel mean and variance")
    attrs = (Bool("invert", False, doc="mean + x * sqrt(variance) instead (Keras invert)"),
             Bool("constants", False, doc="mean and variance given as constants, nothing stored "
                  "(Keras Normalization(mean=..., variance=...), EfficientNetV2-B0..B3; a "
                  "forward pass uses mean 0 and variance 1: counts do not depend on them)"))
    weights = (Weight("mean", lambda a, x: (x[0],), lambda a: not a.constants, trainable=False,
                      init="small"),
               Weight("variance", lambda a, x: (x[0],), lambda a: not a.constants,
                      trainable=False, init="positive"),
               Weight("count", lambda a, x: (1,), lambda a: not a.constants, trainable=False,
                      init="positive"))
    formulas = {"output": "same as input",
                "params": "2*C + 1 (mean, variance, count; Keras's adapt() state), none "
                          "trainable; 0 with constants",
                "trainable": "0", "MACs": "0",
                "other ops": "2 per element (subtract, divide)"}
    examples = (
        # RGB input 3x8x8: mean 3 + variance 3 + count 1 = 7 stored numbers, 0 trainable
        Example({}, (3, 8, 8), output=(3, 8, 8), params=2 * 3 + 1, trainable=0,
                other=2 * 3 * 64),
        Example({"invert": True}, (4, 2, 3), output=(4, 2, 3), params=2 * 4 + 1, trainable=0,
                other=2 * 4 * 6),
        # Keras Normalization(mean=[...], variance=[...]): constants, not weights: 0 params
        Example({"constants": True}, (3, 5, 4), output=(3, 5, 4), params=0, trainable=0,
                other=2 * 3 * 20),
    )

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(2, volume(y))

    @staticmethod
    def forward(xs, ws, a, counting):
        if a.constants:
            c = xs[0].shape[1]
            ws = [np.zeros(c, dtype=xs[0].dtype), np.ones(c, dtype=xs[0].dtype)]
        return _kernels().standardize(xs[0], ws[0], ws[1], KERAS_EPSILON, bool(a.invert)), 0
