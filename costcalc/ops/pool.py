"""Pooling: windows (max, average) and whole-map (global) pools. No params, no MACs."""
from __future__ import annotations

from .base import (Grad, OK, OVERFLOW, WINDOW, AttrError, Bool, Example, Op, cmul, cmul4, csub1,
                   register, window_attrs, window_hw)


def _kernels():
    from .. import kernels
    return kernels


class _Pool(Op):
    attrs = window_attrs(strides_default=None) + (
        Bool("ceil_mode", False, doc="Caffe-style ceil rounding of the output"),)
    is_max = False

    @classmethod
    def normalize(cls, values):
        out = super().normalize(values)
        if out["strides"] is None:           # Keras: strides default to the pool size
            out["strides"] = out["kernel"]
        pad = out["padding"]
        if cls.is_max and isinstance(pad, tuple):
            (kh, kw), (dh, dw) = out["kernel"], out["dilation"]
            # PyTorch refuses pads over half the (dilated) window: such a window can lie wholly
            # in the padding, and its maximum would be -inf.
            if max(pad[0], pad[1]) > (dh * (kh - 1) + 1) // 2 or \
                    max(pad[2], pad[3]) > (dw * (kw - 1) + 1) // 2:
                raise AttrError("padding", f"padding {list(pad)} is more than half the window "
                                f"{dh * (kh - 1) + 1}x{dw * (kw - 1) + 1}; expected at most half "
                                "on each side (a window wholly in the padding has no maximum)")
        return out

    @staticmethod
    def shape(a, x, shapes, ins):
        ho, _, _, wo, _, _ = window_hw(a, x[1], x[2], a.ceil_mode)
        if ho < 0 or wo < 0:
            return OVERFLOW, 0, 0, 0
        if ho == 0 or wo == 0:
            return WINDOW, 0, 0, 0
        return OK, x[0], ho, wo

    @classmethod
    def forward(cls, xs, ws, a, counting):
        x = xs[0]
        ho, pt, pb, wo, pl, pr = window_hw(a, x.shape[2], x.shape[3], a.ceil_mode)
        include_pad = bool(getattr(a, "count_include_pad", 0))
        return _kernels().pool2d(x, a.kernel_h, a.kernel_w, a.strides_h, a.strides_w,
                                 a.dilation_h, a.dilation_w, pt, pb, pl, pr, ho, wo,
                                 cls.is_max, include_pad), 0


@register
class MaxPool2D(_Pool):
    name = "max_pool2d"
    grad = Grad(input=1, saves=("input", "output"), why="each output's g added at its window's "
                                                        "maximum (1 per output element; the "
                                                        "positions come from the kept input and "
                                                        "output)")
    summary = "max pooling"
    is_max = True
    formulas = {"output": "C x H_out x W_out (strides default to kernel)", "params": "0",
                "MACs": "0", "other ops": "(k_h*k_w - 1) comparisons per output element"}
    examples = (
        Example({"kernel": 3, "strides": 2}, (4, 9, 9), output=(4, 4, 4),
                other=(9 - 1) * 4 * 4 * 4),
        # Caffe GoogLeNet pool1: 112 -> 3x3/2 ceil -> 56 (floor would give 55)
        Example({"kernel": 3, "strides": 2, "ceil_mode": True}, (2, 112, 112),
                output=(2, 56, 56), other=8 * 2 * 56 * 56),
        Example({"kernel": 2, "padding": "same"}, (3, 5, 5), output=(3, 3, 3),
                other=3 * 3 * 3 * 3),
        # ceil mode: a 3x3/2 window on a 2x2 map starts inside it and hangs past the end by 1,
        # less than the stride: one output (PyTorch and Caffe); on 1x1 it would hang by 2
        Example({"kernel": 3, "strides": 2, "ceil_mode": True}, (2, 2, 2), output=(2, 1, 1),
                other=8 * 2),
        Example({"kernel": 3, "strides": 2, "ceil_mode": True}, (2, 1, 1), fails=WINDOW),
        Example({"kernel": 4}, (1, 3, 8), fails=WINDOW),
        # dilation*(kernel-1) leaves int64: reported, never wrapped into a window that "fits"
        Example({"kernel": 2**62, "dilation": 4}, (1, 16, 16), fails=OVERFLOW),
        # a stride far beyond the input (one window per axis): the kernel's phase buffer once
        # had `stride` planes (2^31 - 1 of them here; PyTorch takes int32 pool strides)
        Example({"kernel": [2, 1], "strides": [2**31 - 1, 2**30]}, (2, 3, 3), output=(2, 1, 1),
                other=1 * 2),
    )

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul4(y[0], y[1], y[2], csub1(cmul(a.kernel_h, a.kernel_w)))


@register
class AvgPool2D(_Pool):
    name = "avg_pool2d"
    grad = Grad(input=lambda a: a.kernel_h * a.kernel_w,
                why="each output's g / n added to each tap of its window (one add per tap)")
    summary = "average pooling"
    attrs = _Pool.attrs + (
        Bool("count_include_pad", False,
             doc="padding counts in the divisor (PyTorch default; Keras: false)"),)
    formulas = {"output": "C x H_out x W_out (strides default to kernel)", "params": "0",
                "MACs": "0", "other ops": "k_h*k_w per output element (adds and one divide)"}
    examples = (
        Example({"kernel": 2}, (4, 9, 9), output=(4, 4, 4), other=4 * 4 * 4 * 4),
        Example({"kernel": 3, "strides": 1, "padding": 1, "count_include_pad": True},
                (2, 5, 5), output=(2, 5, 5), other=9 * 2 * 5 * 5),
        Example({"kernel": 6}, (1, 5, 9), fails=WINDOW),
        Example({"kernel": [1, 2**62], "dilation": [1, 3]}, (1, 16, 16), fails=OVERFLOW),
        Example({"kernel": 2, "strides": 2**31 - 1, "padding": 1, "count_include_pad": True},
                (1, 2, 5), output=(1, 1, 1), other=4),
    )

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul4(y[0], y[1], y[2], cmul(a.kernel_h, a.kernel_w))


@register
class GlobalAvgPool(Op):
    name = "global_avg_pool"
    grad = Grad(input=1, per="input",
                why="g / (H W) spread over the map: one op per input element")
    summary = "average over the whole map"
    formulas = {"output": "C x 1 x 1", "params": "0", "MACs": "0",
                "other ops": "H*W per output element"}
    examples = (Example(input=(8, 7, 5), output=(8, 1, 1), other=8 * 7 * 5),)

    @staticmethod
    def shape(a, x, shapes, ins):
        return OK, x[0], 1, 1

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(x[0], cmul(x[1], x[2]))

    @staticmethod
    def forward(xs, ws, a, counting):
        return xs[0].mean(axis=(2, 3), keepdims=True, dtype=xs[0].dtype), 0


@register
class GlobalMaxPool(Op):
    name = "global_max_pool"
    grad = Grad(input=1, per="input", saves=("input", "output"),
                why="g where x equals the maximum: one compare-select per input element")
    summary = "maximum over the whole map"
    formulas = {"output": "C x 1 x 1", "params": "0", "MACs": "0",
                "other ops": "H*W - 1 per output element"}
    examples = (Example(input=(8, 7, 5), output=(8, 1, 1), other=8 * (7 * 5 - 1)),)

    @staticmethod
    def shape(a, x, shapes, ins):
        return OK, x[0], 1, 1

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(x[0], csub1(cmul(x[1], x[2])))

    @staticmethod
    def forward(xs, ws, a, counting):
        return xs[0].max(axis=(2, 3), keepdims=True), 0
