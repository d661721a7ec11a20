"""Ops with several inputs: element-wise arithmetic with broadcasting (residual sums, squeeze-and-
excitation and attention products) and channel concatenation."""
from __future__ import annotations

import numpy as np

from .base import Grad, OK, OVERFLOW, Example, Float, Op, cadd, cmul, failure, register, volume


def _kernels():
    from .. import kernels
    return kernels


BROADCAST = failure(
    "{op} needs inputs that broadcast (each of C, H, W equal across inputs or 1), got {inputs}; "
    "expected the full CxHxW or Cx1x1 (per channel, squeeze-and-excitation), 1xHxW (per "
    "position, spatial attention) or 1x1x1 (a scalar), in any order",
    "element-wise inputs that do not broadcast",
    values=lambda attrs, shapes: {"op": attrs.get("_op", "an element-wise op")})


def broadcast_shape(shapes, ins):
    """(OK, C, H, W) of the inputs ``ins`` broadcast together: along each axis every input has
    the common size or 1 (NumPy and ONNX broadcasting of equal-rank tensors); else BROADCAST."""
    c = 1
    h = 1
    w = 1
    for j in ins:
        s = shapes[j]
        if s[0] != 1:
            if c == 1:
                c = s[0]
            elif s[0] != c:
                return BROADCAST, 0, 0, 0
        if s[1] != 1:
            if h == 1:
                h = s[1]
            elif s[1] != h:
                return BROADCAST, 0, 0, 0
        if s[2] != 1:
            if w == 1:
                w = s[2]
            elif s[2] != w:
                return BROADCAST, 0, 0, 0
    return OK, c, h, w


def _elementwise_counts(ins, y, per):
    """``per`` other ops per output element for each input beyond the first."""
    return 0, cmul(cmul(len(ins) - 1, per), volume(y))


class Elementwise(Op):
    """Element-wise arithmetic over broadcast inputs: the shape rule, and 1 other op per output
    element for each input beyond the first."""
    inputs = (2, 64)

    @staticmethod
    def shape(a, x, shapes, ins):
        err, c, h, w = broadcast_shape(shapes, ins)
        if err != OK:
            return BROADCAST, 0, 0, 0
        return OK, c, h, w

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return _elementwise_counts(ins, y, 1)


BROADCAST_FORMULA = ("the broadcast shape: per axis (C, H, W) the inputs' common size, inputs "
                     "of size 1 repeated (CxHxW, Cx1x1, 1xHxW, 1x1x1 in any order)")


@register
class Add(Elementwise):
    name = "add"
    grad = Grad(input=lambda a: a.has_scale, per="each input", broadcast=True,
                why="every input gets g (a copy), times the scale for the scaled ones; a broadcast"
                    " input sums g over its repeated axes")
    summary = "element-wise sum with broadcasting (residual connection, bias maps)"
    inputs = (2, 64)
    attrs = (Float("scale", None, counted=True,
                   doc="multiply every input after the first by this (Inception-ResNet)"),)
    formulas = {"output": BROADCAST_FORMULA, "params": "0", "MACs": "0",
                "other ops": "(inputs - 1) per output element; 2*(inputs - 1) with scale"}
    examples = (
        Example(inputs=[(4, 6, 6)] * 3, output=(4, 6, 6), other=2 * 4 * 36),
        Example({"scale": 0.17}, inputs=[(4, 6, 6)] * 2, output=(4, 6, 6), other=2 * 4 * 36),
        # a per-channel bias map first (ONNX Add(b, x)): 1 add per output element 4*6*6
        Example(inputs=[(4, 1, 1), (4, 6, 6)], output=(4, 6, 6), other=4 * 36),
        # scaled, broadcast scalar: (2 - 1) * 2 * 4*6*6
        Example({"scale": 0.5}, inputs=[(4, 6, 6), (1, 1, 1)], output=(4, 6, 6),
                other=2 * 4 * 36),
        Example(inputs=[(4, 6, 6), (4, 6, 5)], fails=BROADCAST),
        Example(inputs=[(4, 6, 6), (1, 1, 1), (3, 1, 1)], fails=BROADCAST),
    )

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return _elementwise_counts(ins, y, 1 + a.has_scale)

    @staticmethod
    def forward(xs, ws, a, counting, post=None):
        """``post``: a kernels.Post with only a clip (the relu after this add, fused by the
        executor for two same-shape inputs)."""
        rest = xs[1]
        for x in xs[2:]:
            rest = rest + x
        scale = a.scale if a.scale is not None else 1.0
        if post is not None:
            return _kernels().add_scaled_clip(xs[0], rest, scale, post.lo1, post.hi1), 0
        if xs[0].shape == rest.shape:
            return _kernels().add_scaled(xs[0], rest, scale), 0
        return xs[0] + (rest if scale == 1.0 else scale * rest), 0


@register
class Multiply(Elementwise):
    name = "multiply"
    grad = Grad(input=1, per="each input", broadcast=True, saves=("inputs",),
                why="input i gets g times the product of the others (one multiply per input, two "
                    "inputs); a broadcast input sums over its repeated axes")
    summary = ("element-wise product with broadcasting (squeeze-and-excitation Cx1x1, spatial "
               "attention 1xHxW, gates)")
    inputs = (2, 64)
    formulas = {"output": BROADCAST_FORMULA, "params": "0", "MACs": "0",
                "other ops": "(inputs - 1) per output element"}
    examples = (
        # squeeze-and-excitation: x (16x7x7) times the channel weights (16x1x1): 16*49 multiplies
        Example(inputs=[(16, 7, 7), (16, 1, 1)], output=(16, 7, 7), other=16 * 49),
        # the same in ONNX's other order, Mul(s, x)
        Example(inputs=[(16, 1, 1), (16, 7, 7)], output=(16, 7, 7), other=16 * 49),
        # spatial attention (CBAM): a 1x7x7 map times 16x7x7
        Example(inputs=[(16, 7, 7), (1, 7, 7)], output=(16, 7, 7), other=16 * 49),
        # three inputs, full, per channel, scalar: 2 multiplies per element of 4x5x6
        Example(inputs=[(4, 5, 6), (4, 1, 1), (1, 1, 1)], output=(4, 5, 6), other=2 * 120),
        # an outer product: neither input is the full shape; the output is 4x5x6
        Example(inputs=[(4, 1, 1), (1, 5, 6)], output=(4, 5, 6), other=120),
        Example(inputs=[(16, 7, 7), (8, 1, 1)], fails=BROADCAST),
        Example(inputs=[(1, 5, 7), (16, 7, 7)], fails=BROADCAST),
    )

    @staticmethod
    def forward(xs, ws, a, counting):
        y = xs[0] * xs[1]
        for x in xs[2:]:
            y = y * x
        return y, 0


@register
class Subtract(Elementwise):
    name = "subtract"
    grad = Grad(input=lambda a: 0, per="each input", broadcast=True, extra=1,
                why="g and -g: one negate per output element; a broadcast input sums over its "
                    "repeated axes")
    summary = "element-wise difference first - second, with broadcasting"
    inputs = 2
    formulas = {"output": BROADCAST_FORMULA, "params": "0", "MACs": "0",
                "other ops": "1 per output element"}
    examples = (
        Example(inputs=[(4, 6, 6), (4, 6, 6)], output=(4, 6, 6), other=4 * 36),
        # a per-channel mean first: mean - x, 4*6*6 subtractions
        Example(inputs=[(4, 1, 1), (4, 6, 6)], output=(4, 6, 6), other=4 * 36),
        Example(inputs=[(4, 6, 6), (1, 6, 6)], output=(4, 6, 6), other=4 * 36),
        Example(inputs=[(4, 6, 6), (4, 5, 6)], fails=BROADCAST),
    )

    @staticmethod
    def forward(xs, ws, a, counting):
        return xs[0] - xs[1], 0


@register
class Divide(Elementwise):
    name = "divide"
    grad = Grad(input=0, per="output", broadcast=True, extra=4, saves=("inputs",),
                why="g / b (1) and -g a / b^2 (3); a broadcast input sums over its repeated axes")
    summary = "element-wise quotient first / second, with broadcasting"
    inputs = 2
    formulas = {"output": BROADCAST_FORMULA, "params": "0", "MACs": "0",
                "other ops": "1 per output element"}
    examples = (
        Example(inputs=[(4, 6, 6), (4, 6, 6)], output=(4, 6, 6), other=4 * 36),
        # divide by a per-position norm map (1x6x6): 4*6*6 divisions
        Example(inputs=[(4, 6, 6), (1, 6, 6)], output=(4, 6, 6), other=4 * 36),
        Example(inputs=[(1, 1, 1), (4, 6, 6)], output=(4, 6, 6), other=4 * 36),
        Example(inputs=[(4, 6, 6), (2, 1, 1)], fails=BROADCAST),
    )

    @staticmethod
    def forward(xs, ws, a, counting):
        return xs[0] / xs[1], 0


SPATIAL = failure("concat needs inputs of one height and width, got {inputs}",
                  "concat inputs of different heights or widths")


@register
class Concat(Op):
    name = "concat"
    grad = Grad(why="each input gets its slice of g (0 ops)")
    summary = "stack inputs along channels (inception modules)"
    inputs = (1, 64)
    formulas = {"output": "sum of C x H x W", "params": "0", "MACs": "0", "other ops": "0"}
    examples = (
        Example(inputs=[(4, 6, 6), (8, 6, 6), (1, 6, 6)], output=(13, 6, 6)),
        Example(inputs=[(4, 6, 6), (4, 5, 6)], fails=SPATIAL),
        Example(inputs=[(2**62, 1, 1), (2**62, 1, 1)], fails=OVERFLOW),
    )

    @staticmethod
    def shape(a, x, shapes, ins):
        c = 0
        for j in ins:
            s = shapes[j]
            if s[1] != x[1] or s[2] != x[2]:
                return SPATIAL, 0, 0, 0
            c = cadd(c, s[0])
        if c < 0:
            return OVERFLOW, 0, 0, 0
        return OK, c, x[1], x[2]

    @staticmethod
    def forward(xs, ws, a, counting):
        return np.concatenate(xs, axis=1), 0
