"""Ops that move or pad data without arithmetic: 0 MACs, 0 other ops (conventions)."""
from __future__ import annotations

import numpy as np

from .base import (OK, OVERFLOW, Example, Float, Grad, Int, Op, Pad4, Pair, cadd, failure,
                   register, volume)


def _kernels():
    from .. import kernels
    return kernels


@register
class ZeroPad2D(Op):
    name = "zero_pad2d"
    grad = Grad(why="the inner part of g (a crop, 0 ops)")
    summary = "pad the map with zeros"
    attrs = (Pad4("padding", doc="int, [h, w] or [[top, bottom], [left, right]]"),)
    formulas = {"output": "C x (H + top + bottom) x (W + left + right)", "params": "0",
                "MACs": "0", "other ops": "0"}
    examples = (Example({"padding": [[0, 1], [2, 3]]}, (12, 6, 6), output=(12, 7, 11)),
                Example({"padding": 3}, (3, 1, 1), output=(3, 7, 7)),
                # 16 + 2 * (2^63 - 1) rows: an error, not a wrapped 14
                Example({"padding": [[2**63 - 1, 2**63 - 1], [0, 0]]}, (3, 16, 16),
                        fails=OVERFLOW))

    @staticmethod
    def shape(a, x, shapes, ins):
        h = cadd(cadd(x[1], a.padding_top), a.padding_bottom)
        w = cadd(cadd(x[2], a.padding_left), a.padding_right)
        if h < 0 or w < 0:
            return OVERFLOW, 0, 0, 0
        return OK, x[0], h, w

    @staticmethod
    def forward(xs, ws, a, counting):
        return _kernels().pad_hw(xs[0], a.padding_top, a.padding_bottom, a.padding_left,
                                 a.padding_right), 0


CHANNEL_PAD = failure("channel_pad to filters={filters} but the input has {c_in} channels; "
                      "expected filters >= input channels",
                      "channel_pad to fewer channels than its input")


@register
class ChannelPad(Op):
    name = "channel_pad"
    grad = Grad(why="the inner channels of g (0 ops)")
    summary = "subsample by strides and zero-pad channels (ResNet shortcut option A)"
    attrs = (Int("filters", doc="output channels (>= input channels)"),
             Pair("strides", 1, doc="keep every stride-th row and column"))
    formulas = {"output": "filters x ceil(H/s_h) x ceil(W/s_w)", "params": "0", "MACs": "0",
                "other ops": "0"}
    torch_equivalent = True
    examples = (Example({"filters": 8, "strides": 2}, (4, 7, 7), output=(8, 4, 4)),
                Example({"filters": 3}, (4, 7, 7), fails=CHANNEL_PAD))

    @staticmethod
    def shape(a, x, shapes, ins):
        if a.filters < x[0]:
            return CHANNEL_PAD, 0, 0, 0
        return OK, a.filters, (x[1] - 1) // a.strides_h + 1, (x[2] - 1) // a.strides_w + 1

    @staticmethod
    def forward(xs, ws, a, counting):
        x = xs[0][:, :, ::a.strides_h, ::a.strides_w]
        extra = a.filters - x.shape[1]      # zeros split as evenly as possible, the odd one last
        return np.pad(x, ((0, 0), (extra // 2, extra - extra // 2), (0, 0), (0, 0))), 0


@register
class Flatten(Op):
    name = "flatten"
    grad = Grad(why="reshaped back (0 ops)")
    summary = "C x H x W -> (C*H*W) x 1 x 1"
    formulas = {"output": "(C*H*W) x 1 x 1", "params": "0", "MACs": "0", "other ops": "0"}
    examples = (Example(input=(12, 7, 11), output=(12 * 7 * 11, 1, 1)),
                Example(input=(2**31, 2**31, 2**31), fails=OVERFLOW))

    @staticmethod
    def shape(a, x, shapes, ins):
        n = volume(x)
        if n < 0:
            return OVERFLOW, 0, 0, 0
        return OK, n, 1, 1

    @staticmethod
    def forward(xs, ws, a, counting):
        return xs[0].reshape(xs[0].shape[0], -1, 1, 1), 0


@register
class Dropout(Op):
    name = "dropout"
    grad = Grad(input=1, saves=("output",), why="training mode: g times the kept-and-scaled mask "
                                                "(one multiply); the mask is kept, counted as "
                                                "output-sized")
    summary = "identity at inference"
    attrs = (Float("rate", 0.5, doc="fraction dropped in training (not used here)", minimum=0),)
    formulas = {"output": "same as input", "params": "0", "MACs": "0", "other ops": "0"}
    examples = (Example({"rate": 0.4}, (3, 2, 2), output=(3, 2, 2)),)

    @staticmethod
    def forward(xs, ws, a, counting):
        return xs[0], 0
