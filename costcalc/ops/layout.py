"""Layout ops: channel slices, channel shuffle, reshape and transpose of a sample's three axes,
and reductions (mean, max) over chosen axes.

slice, channel_shuffle, reshape and transpose move data only: 0 MACs, 0 other ops. Reductions:
0 MACs; reduce_mean n per output element (n - 1 adds and a divide, n = elements reduced: one per
input element, as global_avg_pool's H*W), reduce_max n - 1 comparisons per output element. A
reduced axis has size 1 in the (C, H, W) shape, with keepdims or without (the sample keeps three
axes; keepdims only records how the framework shaped it).
"""
from __future__ import annotations

import numpy as np

from .base import (OK, OVERFLOW, AttrError, Axes, Bool, Example, Grad, Int, Op, Triple, cmul,
                   csub1, failure, register, volume)

# ----------------------------------------------------------------------------- slice
SLICE_RANGE = failure("slice of channels [{begin}, {stop}) does not fit the input {input}; "
                      "expected 0 <= begin < stop <= {c_in} (the input's channels)",
                      "channel slice outside the input (or empty)")


@register
class Slice(Op):
    name = "slice"
    grad = Grad(why="the gradient is written into its slice of the input gradient (a copy, 0 ops)")
    summary = ("channels [begin, stop) of the input (one piece of an ONNX Split or a "
               "torch.split/chunk: one slice layer per piece)")
    # 'begin', not 'start': a spec row's 'start' is the first index of a repeat
    attrs = (Int("begin", 0, minimum=0, doc="first channel kept"),
             Int("stop", doc="one past the last channel kept"))
    formulas = {"output": "(stop - begin) x H x W", "params": "0", "MACs": "0",
                "other ops": "0"}
    examples = (Example({"begin": 2, "stop": 5}, (8, 3, 4), output=(3, 3, 4)),
                Example({"stop": 8}, (8, 2, 2), output=(8, 2, 2)),
                Example({"begin": 4, "stop": 9}, (8, 3, 4), fails=SLICE_RANGE),
                Example({"begin": 5, "stop": 5}, (8, 3, 4), fails=SLICE_RANGE))

    @staticmethod
    def shape(a, x, shapes, ins):
        if a.stop > x[0] or a.begin >= a.stop:
            return SLICE_RANGE, 0, 0, 0
        return OK, a.stop - a.begin, x[1], x[2]

    @staticmethod
    def forward(xs, ws, a, counting):
        return np.ascontiguousarray(xs[0][:, a.begin:a.stop]), 0


# ----------------------------------------------------------------------------- channel shuffle
SHUFFLE_GROUPS = failure("channel_shuffle with groups={groups} on {input}: {c_in} channels are "
                         "not divisible by groups; expected C to be a multiple of groups",
                         "channels not divisible by shuffle groups")


@register
class ChannelShuffle(Op):
    name = "channel_shuffle"
    grad = Grad(why="the inverse permutation (0 ops)")
    summary = ("ShuffleNet channel shuffle: C = groups x (C/groups) channels, read out "
               "transposed (torch.nn.ChannelShuffle)")
    attrs = (Int("groups", doc="channel groups (C must be a multiple)"),)
    formulas = {"output": "same as input (output channel j*groups + g = input g*(C/groups) + j)",
                "params": "0", "MACs": "0", "other ops": "0"}
    examples = (Example({"groups": 3}, (12, 4, 5), output=(12, 4, 5)),
                Example({"groups": 2}, (6, 1, 1), output=(6, 1, 1)),
                Example({"groups": 4}, (6, 2, 2), fails=SHUFFLE_GROUPS))

    @staticmethod
    def shape(a, x, shapes, ins):
        if x[0] % a.groups != 0:
            return SHUFFLE_GROUPS, 0, 0, 0
        return OK, x[0], x[1], x[2]

    @staticmethod
    def forward(xs, ws, a, counting):
        x = xs[0]
        n, c, h, w = x.shape
        g = a.groups
        y = x.reshape(n, g, c // g, h, w).transpose(0, 2, 1, 3, 4).reshape(n, c, h, w)
        return np.ascontiguousarray(y), 0


# ----------------------------------------------------------------------------- reshape
RESHAPE_COUNT = failure(
    "reshape of {input} ({n} elements) to {target} does not keep the element count; expected "
    "a shape whose product is {n} (one -1 is inferred)", "reshape changes the element count",
    values=lambda attrs, shapes: {
        "n": int(shapes[0][0]) * int(shapes[0][1]) * int(shapes[0][2]),
        "target": "x".join(str(v) for v in attrs["shape"])})


@register
class Reshape(Op):
    name = "reshape"
    grad = Grad(why="reshaped back (0 ops)")
    summary = "reshape a sample's C x H x W elements (row-major) into another C x H x W"
    attrs = (Triple("shape", minimum=-1,
                    doc="[C, H, W] of the output; one of them may be -1 (inferred)"),)
    formulas = {"output": "shape (a -1 inferred: C*H*W / the product of the others)",
                "params": "0", "MACs": "0", "other ops": "0"}
    examples = (Example({"shape": [6, 4, 5]}, (12, 2, 5), output=(6, 4, 5)),
                # 3*4*10 = 120 elements; 120 / (2*5) = 12 channels
                Example({"shape": [-1, 2, 5]}, (3, 4, 10), output=(12, 2, 5)),
                Example({"shape": [1, -1, 1]}, (3, 2, 2), output=(1, 12, 1)),
                Example({"shape": [5, 2, 2]}, (3, 2, 2), fails=RESHAPE_COUNT),
                Example({"shape": [-1, 5, 1]}, (3, 2, 2), fails=RESHAPE_COUNT),
                Example({"shape": [1, 1, -1]}, (2**31, 2**31, 2**31), fails=OVERFLOW))

    @classmethod
    def normalize(cls, values):
        out = super().normalize(values)
        shape = out["shape"]
        if 0 in shape:
            raise AttrError("shape", f"shape {list(shape)} has a 0; expected sizes >= 1 (and at "
                            "most one -1 to infer)")
        if list(shape).count(-1) > 1:
            raise AttrError("shape", f"shape {list(shape)} has more than one -1; expected at "
                            "most one size to infer")
        return out

    @staticmethod
    def shape(a, x, shapes, ins):
        n = volume(x)
        if n < 0:
            return OVERFLOW, 0, 0, 0
        c = a.shape_c
        h = a.shape_h
        w = a.shape_w
        if c < 0 or h < 0 or w < 0:
            known = 1
            if c > 0:
                known = cmul(known, c)
            if h > 0:
                known = cmul(known, h)
            if w > 0:
                known = cmul(known, w)
            if known < 0 or n % known != 0:
                return RESHAPE_COUNT, 0, 0, 0
            if c < 0:
                c = n // known
            elif h < 0:
                h = n // known
            else:
                w = n // known
            return OK, c, h, w
        if cmul(cmul(c, h), w) != n:
            return RESHAPE_COUNT, 0, 0, 0
        return OK, c, h, w

    @staticmethod
    def forward(xs, ws, a, counting):
        x = xs[0]
        return np.ascontiguousarray(x).reshape(x.shape[0], a.shape_c, a.shape_h, a.shape_w), 0


# ----------------------------------------------------------------------------- transpose
def _axis(x, k):
    if k == 0:
        return x[0]
    if k == 1:
        return x[1]
    return x[2]


@register
class Transpose(Op):
    name = "transpose"
    grad = Grad(why="the inverse transpose (0 ops)")
    summary = ("permute a sample's axes (C, H, W numbered 0, 1, 2; ONNX/PyTorch NCHW perm "
               "[0, 1+p0, 1+p1, 1+p2])")
    attrs = (Triple("perm", doc="output axis i is input axis perm[i] (a permutation of 0, 1, 2)"),)
    formulas = {"output": "x[perm[0]] x x[perm[1]] x x[perm[2]]", "params": "0", "MACs": "0",
                "other ops": "0"}
    examples = (Example({"perm": [1, 2, 0]}, (3, 4, 5), output=(4, 5, 3)),
                Example({"perm": [0, 2, 1]}, (2, 3, 6), output=(2, 6, 3)),
                Example({"perm": [0, 1, 2]}, (2, 3, 6), output=(2, 3, 6)))

    @classmethod
    def normalize(cls, values):
        out = super().normalize(values)
        if sorted(out["perm"]) != [0, 1, 2]:
            raise AttrError("perm", f"perm {list(out['perm'])} is not a permutation of 0, 1, 2 "
                            "(the sample's C, H, W axes); expected each of 0, 1, 2 once")
        return out

    @staticmethod
    def shape(a, x, shapes, ins):
        return OK, _axis(x, a.perm_c), _axis(x, a.perm_h), _axis(x, a.perm_w)

    @staticmethod
    def forward(xs, ws, a, counting):
        p = (0, 1 + a.perm_c, 1 + a.perm_h, 1 + a.perm_w)
        return np.ascontiguousarray(xs[0].transpose(p)), 0


# ----------------------------------------------------------------------------- reductions
# axis bits of the Axes mask: C = 1, H = 2, W = 4 (lower-case names: upper-case int globals
# read by a shape rule are taken for failure codes)
axis_c, axis_h, axis_w = 1, 2, 4


def reduced_shape(a, x):
    c = x[0]
    h = x[1]
    w = x[2]
    if a.axes & axis_c:
        c = 1
    if a.axes & axis_h:
        h = 1
    if a.axes & axis_w:
        w = 1
    return c, h, w


def reduced_elements(a, x):
    """Elements reduced into each output element."""
    n = 1
    if a.axes & axis_c:
        n = cmul(n, x[0])
    if a.axes & axis_h:
        n = cmul(n, x[1])
    if a.axes & axis_w:
        n = cmul(n, x[2])
    return n


def _np_axes(a):
    return tuple(i + 1 for i, bit in enumerate((axis_c, axis_h, axis_w)) if a.axes & bit)


class _Reduce(Op):
    attrs = (Axes("axes", doc="axes reduced: c, h, w (or NCHW numbers 1, 2, 3)"),
             Bool("keepdims", True, doc="the framework keeps the reduced axes (size 1); the "
                                        "(C, H, W) shape has them either way"))

    @staticmethod
    def shape(a, x, shapes, ins):
        c, h, w = reduced_shape(a, x)
        return OK, c, h, w


@register
class ReduceMean(_Reduce):
    name = "reduce_mean"
    grad = Grad(input=1, per="input", why="g / n spread over the reduced axes: one op per input "
                                          "element")
    summary = "mean over chosen axes (ONNX ReduceMean, torch.mean, Keras ops.mean)"
    formulas = {"output": "C x H x W with each reduced axis 1", "params": "0", "MACs": "0",
                "other ops": "n per output element (n-1 adds, 1 divide; n = elements reduced): "
                             "one per input element"}
    examples = (
        # mean over H, W: 8 outputs of 5*6 elements, 30 each (= global_avg_pool)
        Example({"axes": ["h", "w"]}, (8, 5, 6), output=(8, 1, 1), other=8 * 30),
        # over C (NCHW axis 1): 4*7 outputs of 3 elements
        Example({"axes": 1, "keepdims": False}, (3, 4, 7), output=(1, 4, 7), other=28 * 3),
        Example({"axes": ["c", "h", "w"]}, (2, 3, 4), output=(1, 1, 1), other=24),
    )

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(volume(y), reduced_elements(a, x))

    @staticmethod
    def forward(xs, ws, a, counting):
        return np.mean(xs[0], axis=_np_axes(a), keepdims=True), 0


@register
class ReduceMax(_Reduce):
    name = "reduce_max"
    grad = Grad(input=1, per="input", saves=("input", "output"),
                why="g where x equals the maximum: one compare-select per input element")
    summary = "maximum over chosen axes (ONNX ReduceMax, torch.amax, Keras ops.max)"
    formulas = {"output": "C x H x W with each reduced axis 1", "params": "0", "MACs": "0",
                "other ops": "n-1 comparisons per output element (n = elements reduced)"}
    examples = (
        # max over W: 3*4 outputs of 5 elements, 4 comparisons each
        Example({"axes": "w"}, (3, 4, 5), output=(3, 4, 1), other=12 * 4),
        # over C and H: 6 outputs of 2*3 = 6 elements, 5 each
        Example({"axes": ["c", 2]}, (2, 3, 6), output=(1, 1, 6), other=6 * 5),
        # a reduced axis of size 1: nothing to compare
        Example({"axes": "h"}, (4, 1, 3), output=(4, 1, 3), other=0),
    )

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(volume(y), csub1(reduced_elements(a, x)))

    @staticmethod
    def forward(xs, ws, a, counting):
        return np.max(xs[0], axis=_np_axes(a), keepdims=True), 0

