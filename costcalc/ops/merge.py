"""Ops with several inputs: element-wise sums (residual connections) and channel concatenation."""
from __future__ import annotations

import numpy as np

from .base import OK, OVERFLOW, Example, Float, Op, cadd, cmul, failure, register, volume


def _kernels():
    from .. import kernels
    return kernels


SHAPES = failure("add needs inputs of one shape, got {inputs}", "add inputs of different shapes")


@register
class Add(Op):
    name = "add"
    summary = "element-wise sum of equal shapes (residual connection)"
    inputs = (2, 64)
    attrs = (Float("scale", None, counted=True,
                   doc="multiply every input after the first by this (Inception-ResNet)"),)
    formulas = {"output": "the common shape", "params": "0", "MACs": "0",
                "other ops": "(inputs - 1) per element; 2*(inputs - 1) with scale"}
    examples = (
        Example(inputs=[(4, 6, 6)] * 3, output=(4, 6, 6), other=2 * 4 * 36),
        Example({"scale": 0.17}, inputs=[(4, 6, 6)] * 2, output=(4, 6, 6), other=2 * 4 * 36),
        Example(inputs=[(4, 6, 6), (4, 6, 5)], fails=SHAPES),
    )

    @staticmethod
    def shape(a, x, shapes, ins):
        for j in ins:
            s = shapes[j]
            if s[0] != x[0] or s[1] != x[1] or s[2] != x[2]:
                return SHAPES, 0, 0, 0
        return OK, x[0], x[1], x[2]

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(cmul(len(ins) - 1, 1 + a.has_scale), volume(y))

    @staticmethod
    def forward(xs, ws, a, counting):
        rest = xs[1]
        for x in xs[2:]:
            rest = rest + x
        scale = a.scale if a.scale is not None else 1.0
        return _kernels().add_scaled(xs[0], rest, scale), 0


SPATIAL = failure("concat needs inputs of one height and width, got {inputs}",
                  "concat inputs of different heights or widths")


@register
class Concat(Op):
    name = "concat"
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
