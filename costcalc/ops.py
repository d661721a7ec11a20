"""The op registry: every op's attributes, shape rule and counting rules, side by side.

One class per op. Each declares
- ``attrs``: typed, validated attributes and the slots of the int64 attribute vector they fill;
- ``shape(a, shapes, ins) -> (err, C, H, W)``: the shape rule, compiled with Numba;
- ``counts(a, shapes, ins, C, H, W) -> (params, trainable, macs, other_ops)``: the counting rules;
- ``formulas``: the same rules in words, shown by ``costcalc ops`` and the README.
The conventions behind every rule (what a MAC, a FLOP and a parameter are) are in CONVENTIONS below.

``a`` is the layer's attribute vector, ``shapes`` the (L, 3) array of every layer's (C, H, W) output
computed so far, ``ins`` the indices of the layer's inputs. Counts use :func:`cmul` / :func:`cadd`,
which return -1 instead of wrapping when a value leaves int64; the engine reports that as an error.
"""
from __future__ import annotations

import difflib

import numpy as np
from numba import njit

from . import kernels

# Width of a layer's attribute vector: slots 0..15 belong to the op; 16 is the engine's
# (1 = frozen layer: its parameters count as non-trainable).
NSLOTS = 17
FROZEN_SLOT = 16

CONVENTIONS = """\
Counting conventions (costcalc follows these for every op; see `costcalc ops` for each op's rules)
- Counts are for one sample (batch 1); --batch N multiplies MACs, FLOPs and activations, never params.
- params: every stored number of a layer, as Keras model.summary() "Total params": weights, biases,
  and for batch norm gamma, beta, moving mean and moving variance (3 a channel without scale).
- trainable params: params minus batch-norm moving statistics, and 0 for layers marked frozen.
- MAC: one multiply followed by one accumulate (the papers' "multiply-adds" / "mult-adds").
  Convolution (any groups): H_out*W_out*C_out*(k_h*k_w*C_in/groups); dense: inputs*outputs;
  multiplies by padded zeros count. Every other op has 0 MACs; its work is in "other ops".
- other ops, per output element unless stated: bias add 1; batch norm 2; ReLU, ReLU6 and other
  element-wise activations 1; add 1 per input beyond the first (2 when the residual is scaled);
  max pool k_h*k_w-1; average pool k_h*k_w; global pools likewise over H*W; softmax 3; LRN 2*size+3;
  concat, padding, flatten, dropout 0.
- FLOPs = 2 x MACs + other ops. (Papers that say "FLOPs" for multiply-adds are quoted as MACs.)
- activations: output elements of every layer but the input; bytes = elements x 4 (float32).
- peak activation memory: the largest total of tensors alive at once when the layers run in spec
  order and each tensor is freed after its last use (every layer writes a new tensor; the input
  counts while it is alive).
- Window sizes: floor((H + pad_total - dilation*(k-1) - 1)/stride) + 1; 'same' padding follows
  TensorFlow (output ceil(H/stride), an odd extra pad row/column at the bottom/right); Caffe-style
  ceil rounding only where an op says ceil_mode: true.
"""

INT64_MAX = 9223372036854775807

# Error codes returned by shape rules; explain() turns them into sentences.
E_OK = 0
E_WINDOW = 1        # window larger than the (padded) input
E_SHAPES = 2        # add: inputs differ in shape
E_SPATIAL = 3       # concat: inputs differ in H or W
E_GROUPS_IN = 4     # input channels not divisible by groups
E_GROUPS_OUT = 5    # filters not divisible by groups
E_NOT_FLAT = 6      # dense on a map with H, W > 1
E_TOO_LARGE = 7     # a size leaves int64
E_CHANNEL_PAD = 8   # channel_pad to fewer channels than the input has
E_OVERFLOW = 9      # a count leaves int64 (engine)
E_UNKNOWN_OP = 10   # engine met an op code it does not know

PAD_VALID, PAD_SAME, PAD_EXPLICIT = 0, 1, 2


# ----------------------------------------------------------------------------- checked arithmetic
@njit(cache=True)
def cmul(a, b):
    """a*b for non-negative int64, or -1 if either is -1 or the product leaves int64."""
    if a < 0 or b < 0:
        return -1
    if a == 0 or b == 0:
        return 0
    if a > INT64_MAX // b:
        return -1
    return a * b


@njit(cache=True)
def cadd(a, b):
    if a < 0 or b < 0:
        return -1
    if a > INT64_MAX - b:
        return -1
    return a + b


@njit(cache=True)
def cmul3(a, b, c):
    return cmul(cmul(a, b), c)


@njit(cache=True)
def cmul4(a, b, c, d):
    return cmul(cmul(cmul(a, b), c), d)


@njit(cache=True)
def window(size, k, s, d, mode, p_lo, p_hi, ceil_mode):
    """Output size and (pad_lo, pad_hi) of a sliding window along one axis; out <= 0: too small."""
    keff = d * (k - 1) + 1
    if mode == PAD_SAME:
        # TensorFlow: output ceil(size/stride); odd total padding puts the extra at the end.
        out = (size + s - 1) // s
        total = (out - 1) * s + keff - size
        if total < 0:
            total = 0
        return out, total // 2, total - total // 2
    if mode == PAD_VALID:
        p_lo = 0
        p_hi = 0
    span = size + p_lo + p_hi - keff
    if span < 0:
        return 0, p_lo, p_hi
    if ceil_mode:
        out = (span + s - 1) // s + 1
        # Caffe/PyTorch: the last window must start inside the input or the left padding.
        if (out - 1) * s >= size + p_lo:
            out -= 1
    else:
        out = span // s + 1
    return out, p_lo, p_hi


@njit(cache=True)
def window_hw(a, h, w):
    """(H_out, W_out) for the shared window layout: kernel 1-2, strides 3-4, padding 5-9,
    dilation 10-11, ceil_mode 14."""
    ho, _, _ = window(h, a[1], a[3], a[10], a[5], a[6], a[7], a[14])
    wo, _, _ = window(w, a[2], a[4], a[11], a[5], a[8], a[9], a[14])
    return ho, wo


# ----------------------------------------------------------------------------- attributes
REQUIRED = object()


class Attr:
    """One attribute: its kind, default and the slots it fills.

    kinds: int (>= minimum), bool, choice (one of choices; slot: its index), pair (int or [h, w]: 2 slots), padding (valid | same | int |
    [h, w] | [[top, bottom], [left, right]]: 5 slots), pad4 (as padding but numbers only: 4 slots),
    float (numeric passes only; a slot, if any, is set to 1 when given), str (no slot).
    """

    def __init__(self, name, kind, default=REQUIRED, slot=None, doc="", minimum=1, choices=()):
        self.name, self.kind, self.default, self.slot = name, kind, default, slot
        self.doc, self.minimum, self.choices = doc, minimum, tuple(choices)

    @property
    def required(self):
        return self.default is REQUIRED

    def _int(self, v, minimum=None):
        minimum = self.minimum if minimum is None else minimum
        if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
            raise ValueError(f"expected an integer, got {v!r}")
        if v < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {v!r}")
        return int(v)

    def parse(self, v):
        """Return the normalized value or raise ValueError saying what was expected."""
        k = self.kind
        if k == "int":
            return self._int(v)
        if k == "bool":
            if not isinstance(v, bool):
                raise ValueError(f"expected true or false, got {v!r}")
            return v
        if k == "pair":
            if isinstance(v, (list, tuple)):
                if len(v) != 2:
                    raise ValueError(f"expected an integer or [height, width], got {v!r}")
                return (self._int(v[0]), self._int(v[1]))
            n = self._int(v)
            return (n, n)
        if k in ("padding", "pad4"):
            if k == "padding" and v in ("valid", "same"):
                return v
            what = ("'valid', 'same', " if k == "padding" else "") + \
                "an integer, [h, w] or [[top, bottom], [left, right]]"
            try:
                if isinstance(v, (list, tuple)):
                    if len(v) == 2 and all(isinstance(x, (list, tuple)) for x in v):
                        (t, b), (l, r) = v
                        return tuple(self._int(x, 0) for x in (t, b, l, r))
                    if len(v) == 2:
                        ph, pw = (self._int(x, 0) for x in v)
                        return (ph, ph, pw, pw)
                    raise ValueError
                n = self._int(v, 0)
                return (n, n, n, n)
            except (ValueError, TypeError):
                raise ValueError(f"expected {what}, got {v!r}") from None
        if k == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"expected a number, got {v!r}")
            return float(v)
        if k == "str":
            if not isinstance(v, str):
                raise ValueError(f"expected a string, got {v!r}")
            return v
        if k == "choice":
            if v not in self.choices:
                raise ValueError(f"expected one of {', '.join(self.choices)}, got {v!r}")
            return v
        raise AssertionError(k)

    def encode(self, value, a):
        if self.slot is None:
            return
        s, k = self.slot, self.kind
        if k in ("int", "bool"):
            a[s] = int(value)
        elif k == "pair":
            a[s], a[s + 1] = value
        elif k == "padding":
            if value == "valid":
                a[s] = PAD_VALID
            elif value == "same":
                a[s] = PAD_SAME
            else:
                a[s] = PAD_EXPLICIT
                a[s + 1:s + 5] = value
        elif k == "pad4":
            a[s:s + 4] = value
        elif k == "choice":
            a[s] = self.choices.index(value)
        elif k == "float":
            a[s] = 0 if value is None else 1


# ----------------------------------------------------------------------------- op base and registry
OPS: list = []          # by op code; code 0 is the graph input
_BY_NAME: dict = {}


class Op:
    name = ""
    summary = ""
    attrs: tuple = ()
    min_inputs = 1
    max_inputs = 1
    formulas: dict = {}
    code = -1
    has_kernel = False      # stores a weight kernel (conv, dense): counted by `weights`

    @classmethod
    def attr(cls, name):
        for at in cls.attrs:
            if at.name == name:
                return at
        return None

    @classmethod
    def normalize(cls, values: dict) -> dict:
        """Fill defaults; hook for derived defaults (pool strides = kernel)."""
        out = {}
        for at in cls.attrs:
            if at.name in values:
                out[at.name] = values[at.name]
            elif at.required or at.default is None:
                out[at.name] = None
            else:
                out[at.name] = at.parse(at.default)
        return out

    @classmethod
    def encode(cls, values: dict, a):
        for at in cls.attrs:
            at.encode(values[at.name], a)

    @staticmethod
    def param_shapes(attrs, in_shapes):
        """The stored arrays as (role, shape); their sizes add up to the params rule."""
        return []

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        """Numeric pass on NCHW batches: (output, multiplies executed in counting mode)."""
        raise NotImplementedError


def _padded(x, a, value=0.0):
    """Pad a batch for the window layout of window_hw(); returns (padded, H_out, W_out)."""
    h, w = x.shape[2], x.shape[3]
    ho, pt, pb = window(h, a[1], a[3], a[10], a[5], a[6], a[7], a[14])
    wo, pl, pr = window(w, a[2], a[4], a[11], a[5], a[8], a[9], a[14])
    return kernels.pad_hw(x, pt, pb, pl, pr, value), ho, wo


def _bias(y, ws, has_bias):
    if has_bias:
        y += ws[-1].reshape(1, -1, 1, 1)
    return y


def register(cls):
    cls.code = len(OPS)
    OPS.append(cls)
    _BY_NAME[cls.name] = cls
    return cls


def op_names():
    return [op.name for op in OPS if op.name != "input"]


def get_op(name):
    """The op class called ``name``, or None."""
    return _BY_NAME.get(name) if name != "input" else None


def closest(name, names):
    m = difflib.get_close_matches(str(name), list(names), n=1, cutoff=0.5)
    return m[0] if m else None


# Shared attribute sets. Slots follow the window layout of window_hw().
def _window_attrs(kernel_default=REQUIRED, strides_default=1):
    return (
        Attr("kernel", "pair", kernel_default, slot=1, doc="window height and width"),
        Attr("strides", "pair", strides_default, slot=3, doc="step along height and width"),
        Attr("padding", "padding", "valid", slot=5,
             doc="valid, same (TensorFlow), or explicit per side"),
        Attr("dilation", "pair", 1, slot=10, doc="spacing of the window's taps"),
    )


@njit(cache=True)
def _no_counts(a, shapes, ins, c, h, w):
    return 0, 0, 0, 0


@njit(cache=True)
def _same_shape(a, shapes, ins):
    i = ins[0]
    return E_OK, shapes[i, 0], shapes[i, 1], shapes[i, 2]


@register
class Input(Op):
    name = "input"
    summary = "the graph's input (from the spec's input: or --input)"
    min_inputs = max_inputs = 0
    formulas = {"output": "C x H x W as given"}
    shape = _same_shape          # never called: the engine sets the input shape
    counts = _no_counts


# ----------------------------------------------------------------------------- fused activation
# Keras layers may apply an activation themselves (Conv2D(..., activation="relu"), Dense(...,
# activation="softmax")): one layer in model.summary(), so one row here. Its other ops are the
# activation's own: 1 per output element, softmax 3.
ACTIVATIONS = ("linear", "relu", "relu6", "sigmoid", "tanh", "softmax")
ACTIVATION_SLOT = 15   # 14 is ceil_mode in the window layout


def _activation_attr():
    return Attr("activation", "choice", "linear", slot=ACTIVATION_SLOT, choices=ACTIVATIONS,
                doc="applied to the output: " + ", ".join(ACTIVATIONS))


@njit(cache=True)
def epilogue_ops(a, outputs):
    """Other ops after a conv or dense product: bias (slot 13) and fused activation."""
    return cadd(a[13] * outputs, activation_ops(a[ACTIVATION_SLOT], outputs))


@njit(cache=True)
def activation_ops(code, outputs):
    """Other ops of a fused activation (code = index in ACTIVATIONS) over ``outputs`` elements."""
    if code == 0:
        return 0
    return cmul(3 if code == 5 else 1, outputs)


def activate(y, code):
    """Apply the fused activation ``code`` to a layer's output."""
    if code == 0:
        return y
    return OPS[_BY_NAME[ACTIVATIONS[code]].code].forward([y], [], None, None, False)[0]


# ----------------------------------------------------------------------------- convolutions
@register
class Conv2D(Op):
    has_kernel = True
    name = "conv2d"
    summary = "2-D convolution (groups > 1: grouped; groups = C_in = filters: depthwise)"
    attrs = (Attr("filters", "int", slot=0, doc="output channels C_out"),) + _window_attrs() + (
        Attr("groups", "int", 1, slot=12, doc="channel groups"),
        Attr("bias", "bool", True, slot=13, doc="adds a bias per output channel"),
        _activation_attr(),
    )
    formulas = {
        "output": "C_out x H_out x W_out (window rule)",
        "params": "k_h*k_w*(C_in/groups)*C_out + C_out if bias",
        "MACs": "H_out*W_out*C_out * k_h*k_w*C_in/groups",
        "other ops": "bias: 1 per output element; activation: 1 (softmax 3) per output element",
    }

    @staticmethod
    @njit(cache=True)
    def shape(a, shapes, ins):
        c, h, w = shapes[ins[0], 0], shapes[ins[0], 1], shapes[ins[0], 2]
        if c % a[12] != 0:
            return E_GROUPS_IN, 0, 0, 0
        if a[0] % a[12] != 0:
            return E_GROUPS_OUT, 0, 0, 0
        ho, wo = window_hw(a, h, w)
        if ho <= 0 or wo <= 0:
            return E_WINDOW, 0, 0, 0
        return E_OK, a[0], ho, wo

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        per_output = cmul3(a[1], a[2], shapes[ins[0], 0] // a[12])
        outputs = cmul3(c, h, w)
        bias = a[13] * c
        params = cadd(cmul(per_output, c), bias)
        other = epilogue_ops(a, outputs)
        return params, params, cmul(outputs, per_output), other

    @staticmethod
    def param_shapes(attrs, in_shapes):
        kh, kw = attrs["kernel"]
        f = attrs["filters"]
        out = [("kernel", (f, in_shapes[0][0] // attrs["groups"], kh, kw))]
        return out + ([("bias", (f,))] if attrs["bias"] else [])

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        xp, ho, wo = _padded(xs[0], a)
        if counting:
            y, n = kernels.conv2d_direct(xp, ws[0], a[3], a[4], a[10], a[11], a[12], ho, wo)
        else:
            y, n = kernels.conv2d_gemm(xp, ws[0], a[3], a[4], a[10], a[11], a[12], ho, wo), 0
        return activate(_bias(y, ws, a[13]), a[ACTIVATION_SLOT]), n


@register
class DepthwiseConv2D(Op):
    has_kernel = True
    name = "depthwise_conv2d"
    summary = "depthwise convolution: each input channel filtered on its own (Keras DepthwiseConv2D)"
    attrs = (Attr("depth_multiplier", "int", 1, slot=0, doc="filters per input channel"),) + \
        _window_attrs() + (Attr("bias", "bool", True, slot=13, doc="bias per output channel"),
                           _activation_attr())
    formulas = {
        "output": "C_in*depth_multiplier x H_out x W_out",
        "params": "k_h*k_w*C_in*depth_multiplier + C_out if bias",
        "MACs": "H_out*W_out*C_in*depth_multiplier * k_h*k_w  (MobileNet Eq. 5, first term)",
        "other ops": "bias: 1 per output element; activation: 1 (softmax 3) per output element",
    }

    @staticmethod
    @njit(cache=True)
    def shape(a, shapes, ins):
        c, h, w = shapes[ins[0], 0], shapes[ins[0], 1], shapes[ins[0], 2]
        ho, wo = window_hw(a, h, w)
        if ho <= 0 or wo <= 0:
            return E_WINDOW, 0, 0, 0
        cout = cmul(c, a[0])
        if cout < 0:
            return E_TOO_LARGE, 0, 0, 0
        return E_OK, cout, ho, wo

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        per_output = a[1] * a[2]
        outputs = cmul3(c, h, w)
        params = cadd(cmul(per_output, c), a[13] * c)
        other = epilogue_ops(a, outputs)
        return params, params, cmul(outputs, per_output), other

    @staticmethod
    def param_shapes(attrs, in_shapes):
        kh, kw = attrs["kernel"]
        c = in_shapes[0][0] * attrs["depth_multiplier"]
        return [("kernel", (c, 1, kh, kw))] + ([("bias", (c,))] if attrs["bias"] else [])

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        xp, ho, wo = _padded(xs[0], a)
        if counting:
            # depthwise = grouped convolution with one group per input channel
            y, n = kernels.conv2d_direct(xp, ws[0], a[3], a[4], a[10], a[11], xp.shape[1], ho, wo)
        else:
            y, n = kernels.depthwise_fast(xp, ws[0], a[3], a[4], a[10], a[11], ho, wo), 0
        return activate(_bias(y, ws, a[13]), a[ACTIVATION_SLOT]), n


@register
class SeparableConv2D(Op):
    has_kernel = True
    name = "separable_conv2d"
    summary = "depthwise then 1x1 pointwise convolution in one layer (Keras SeparableConv2D)"
    attrs = (Attr("filters", "int", slot=0, doc="output channels of the pointwise step"),) + \
        _window_attrs() + (
        Attr("depth_multiplier", "int", 1, slot=12, doc="depthwise filters per input channel"),
        Attr("bias", "bool", True, slot=13, doc="bias per output channel (pointwise step)"),
        _activation_attr(),
    )
    formulas = {
        "output": "C_out x H_out x W_out",
        "params": "k_h*k_w*C_in*dm + C_in*dm*C_out + C_out if bias",
        "MACs": "H_out*W_out*C_in*dm*k_h*k_w + H_out*W_out*C_in*dm*C_out  (MobileNet Eq. 5)",
        "other ops": "bias: 1 per output element; activation: 1 (softmax 3) per output element",
    }

    @staticmethod
    @njit(cache=True)
    def shape(a, shapes, ins):
        h, w = shapes[ins[0], 1], shapes[ins[0], 2]
        ho, wo = window_hw(a, h, w)
        if ho <= 0 or wo <= 0:
            return E_WINDOW, 0, 0, 0
        return E_OK, a[0], ho, wo

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        mid = cmul(shapes[ins[0], 0], a[12])            # C_in * depth multiplier
        hw = cmul(h, w)
        depthwise = cmul4(hw, mid, a[1], a[2])
        pointwise = cmul3(hw, mid, c)
        params = cadd(cadd(cmul3(a[1], a[2], mid), cmul(mid, c)), a[13] * c)
        outputs = cmul(hw, c)
        other = epilogue_ops(a, outputs)
        return params, params, cadd(depthwise, pointwise), other

    @staticmethod
    def param_shapes(attrs, in_shapes):
        kh, kw = attrs["kernel"]
        mid = in_shapes[0][0] * attrs["depth_multiplier"]
        f = attrs["filters"]
        return [("kernel", (mid, 1, kh, kw)), ("kernel", (f, mid, 1, 1))] + (
            [("bias", (f,))] if attrs["bias"] else [])

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        xp, ho, wo = _padded(xs[0], a)
        if counting:
            mid, n1 = kernels.conv2d_direct(xp, ws[0], a[3], a[4], a[10], a[11], xp.shape[1],
                                            ho, wo)
            y, n2 = kernels.conv2d_direct(mid, ws[1], 1, 1, 1, 1, 1, ho, wo)
            return activate(_bias(y, ws, a[13]), a[ACTIVATION_SLOT]), n1 + n2
        mid = kernels.depthwise_fast(xp, ws[0], a[3], a[4], a[10], a[11], ho, wo)
        y = _bias(kernels.conv2d_gemm(mid, ws[1], 1, 1, 1, 1, 1, ho, wo), ws, a[13])
        return activate(y, a[ACTIVATION_SLOT]), 0


@register
class Dense(Op):
    has_kernel = True
    name = "dense"
    summary = "fully connected layer on a flat (C x 1 x 1) input"
    attrs = (Attr("units", "int", slot=0, doc="outputs"),
             Attr("bias", "bool", True, slot=13, doc="bias per output"), _activation_attr())
    formulas = {
        "output": "units x 1 x 1",
        "params": "C_in*units + units if bias",
        "MACs": "C_in*units",
        "other ops": "bias: 1 per output; activation: 1 (softmax 3) per output",
    }

    @staticmethod
    @njit(cache=True)
    def shape(a, shapes, ins):
        if shapes[ins[0], 1] != 1 or shapes[ins[0], 2] != 1:
            return E_NOT_FLAT, 0, 0, 0
        return E_OK, a[0], 1, 1

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        macs = cmul(shapes[ins[0], 0], c)
        params = cadd(macs, a[13] * c)
        return params, params, macs, epilogue_ops(a, c)

    @staticmethod
    def param_shapes(attrs, in_shapes):
        u = attrs["units"]
        return [("kernel", (u, in_shapes[0][0]))] + ([("bias", (u,))] if attrs["bias"] else [])

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        x = xs[0].reshape(xs[0].shape[0], -1)
        if counting:
            y, n = kernels.dense_direct(x, ws[0])
        else:
            y, n = x @ ws[0].T, 0
        return activate(_bias(y.reshape(y.shape[0], -1, 1, 1), ws, a[13]), a[ACTIVATION_SLOT]), n


# ----------------------------------------------------------------------------- pooling
class _Pool(Op):
    attrs = _window_attrs(strides_default=None) + (
        Attr("ceil_mode", "bool", False, slot=14, doc="Caffe-style ceil rounding of the output"),
    )

    @classmethod
    def normalize(cls, values):
        out = super().normalize(values)
        if out["strides"] is None:           # Keras: strides default to the pool size
            out["strides"] = out["kernel"]
        return out

    @staticmethod
    @njit(cache=True)
    def shape(a, shapes, ins):
        c, h, w = shapes[ins[0], 0], shapes[ins[0], 1], shapes[ins[0], 2]
        ho, wo = window_hw(a, h, w)
        if ho <= 0 or wo <= 0:
            return E_WINDOW, 0, 0, 0
        return E_OK, c, ho, wo

    @classmethod
    def forward(cls, xs, ws, a, attrs, counting):
        x = xs[0]
        h, w = x.shape[2], x.shape[3]
        ho, pt, pb = window(h, a[1], a[3], a[10], a[5], a[6], a[7], a[14])
        wo, pl, pr = window(w, a[2], a[4], a[11], a[5], a[8], a[9], a[14])
        return kernels.pool2d(x, a[1], a[2], a[3], a[4], a[10], a[11], pt, pb, pl, pr, ho, wo,
                              cls.name == "max_pool2d", a[15] != 0), 0


@register
class MaxPool2D(_Pool):
    name = "max_pool2d"
    summary = "max pooling"
    formulas = {"output": "C x H_out x W_out (strides default to kernel)", "params": "0",
                "MACs": "0", "other ops": "(k_h*k_w - 1) comparisons per output element"}

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        return 0, 0, 0, cmul4(c, h, w, a[1] * a[2] - 1)


@register
class AvgPool2D(_Pool):
    name = "avg_pool2d"
    summary = "average pooling"
    attrs = _Pool.attrs + (
        Attr("count_include_pad", "bool", False, slot=15,
             doc="padding counts in the divisor (PyTorch default; Keras: false)"),
    )
    formulas = {"output": "C x H_out x W_out (strides default to kernel)", "params": "0",
                "MACs": "0", "other ops": "k_h*k_w per output element (adds and one divide)"}

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        return 0, 0, 0, cmul4(c, h, w, a[1] * a[2])


@njit(cache=True)
def _global_shape(a, shapes, ins):
    return E_OK, shapes[ins[0], 0], 1, 1


@register
class GlobalAvgPool(Op):
    name = "global_avg_pool"
    summary = "average over the whole map"
    formulas = {"output": "C x 1 x 1", "params": "0", "MACs": "0",
                "other ops": "H*W per output element"}
    shape = _global_shape

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        return 0, 0, 0, cmul3(c, shapes[ins[0], 1], shapes[ins[0], 2])

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        return xs[0].mean(axis=(2, 3), keepdims=True, dtype=xs[0].dtype), 0


@register
class GlobalMaxPool(Op):
    name = "global_max_pool"
    summary = "maximum over the whole map"
    formulas = {"output": "C x 1 x 1", "params": "0", "MACs": "0",
                "other ops": "H*W - 1 per output element"}
    shape = _global_shape

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        return 0, 0, 0, cmul(c, cmul(shapes[ins[0], 1], shapes[ins[0], 2]) - 1)

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        return xs[0].max(axis=(2, 3), keepdims=True), 0


# ----------------------------------------------------------------------------- normalization
@register
class BatchNorm(Op):
    name = "batch_norm"
    summary = "batch normalization over channels (inference: a scale and a shift)"
    attrs = (
        Attr("scale", "bool", True, slot=0, doc="learned gamma (Keras InceptionV3: false)"),
        Attr("center", "bool", True, slot=1, doc="learned beta"),
        Attr("epsilon", "float", 1e-3, doc="added to the variance (numeric passes only)"),
    )
    formulas = {"output": "same as input",
                "params": "C*(scale + center + 2): gamma, beta, moving mean, moving variance",
                "trainable": "C*(scale + center)", "MACs": "0",
                "other ops": "2 per element (scale and shift)"}
    shape = _same_shape

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        learned = c * (a[0] + a[1])
        return learned + 2 * c, learned, 0, cmul4(2, c, h, w)

    @staticmethod
    def param_shapes(attrs, in_shapes):
        c = (in_shapes[0][0],)
        return ([("gamma", c)] if attrs["scale"] else []) + \
            ([("beta", c)] if attrs["center"] else []) + [("mean", c), ("var", c)]

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        ws = list(ws)
        gamma = ws.pop(0) if a[0] else np.ones_like(ws[-1])
        beta = ws.pop(0) if a[1] else np.zeros_like(ws[-1])
        return kernels.batch_norm(xs[0], gamma, beta, ws[0], ws[1], attrs["epsilon"]), 0


@register
class LRN(Op):
    name = "lrn"
    summary = "local response normalization across channels (AlexNet, GoogLeNet)"
    attrs = (Attr("size", "int", 5, slot=0, doc="channels in the window"),
             Attr("alpha", "float", 1e-4, doc="numeric passes only"),
             Attr("beta", "float", 0.75, doc="numeric passes only"),
             Attr("k", "float", 2.0, doc="numeric passes only"))
    formulas = {"output": "same as input", "params": "0", "MACs": "0",
                "other ops": "2*size + 3 per element (sum of squares, then scale, shift, "
                             "power, divide)"}
    shape = _same_shape

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        return 0, 0, 0, cmul4(2 * a[0] + 3, c, h, w)

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        return kernels.lrn(xs[0], attrs["size"], attrs["alpha"], attrs["beta"], attrs["k"]), 0


# ----------------------------------------------------------------------------- element-wise
@njit(cache=True)
def _one_per_element(a, shapes, ins, c, h, w):
    return 0, 0, 0, cmul3(c, h, w)


def _activation(op_name, text, fn):
    cls = type(op_name, (Op,), {
        "name": op_name, "summary": text, "shape": _same_shape, "counts": _one_per_element,
        "formulas": {"output": "same as input", "params": "0", "MACs": "0",
                     "other ops": "1 per element"},
        "forward": staticmethod(lambda xs, ws, a, attrs, counting: (fn(xs[0]), 0)),
    })
    return register(cls)


ReLU = _activation("relu", "max(x, 0)", lambda x: kernels.clip_relu(x, 0.0, np.inf))
ReLU6 = _activation("relu6", "min(max(x, 0), 6) (MobileNet)",
                    lambda x: kernels.clip_relu(x, 0.0, 6.0))
Sigmoid = _activation("sigmoid", "1 / (1 + exp(-x))", lambda x: 1 / (1 + np.exp(-x)))
Tanh = _activation("tanh", "hyperbolic tangent", np.tanh)


@register
class Softmax(Op):
    name = "softmax"
    summary = "softmax over channels"
    formulas = {"output": "same as input", "params": "0", "MACs": "0",
                "other ops": "3 per element (exp, sum, divide)"}
    shape = _same_shape

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        return 0, 0, 0, cmul4(3, c, h, w)

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        return kernels.softmax_channels(xs[0]), 0


@register
class Add(Op):
    name = "add"
    summary = "element-wise sum of equal shapes (residual connection)"
    min_inputs, max_inputs = 2, 64
    attrs = (Attr("scale", "float", None, slot=0,
                  doc="multiply every input after the first by this (Inception-ResNet)"),)
    formulas = {"output": "the common shape", "params": "0", "MACs": "0",
                "other ops": "(inputs - 1) per element; 2*(inputs - 1) with scale"}

    @staticmethod
    @njit(cache=True)
    def shape(a, shapes, ins):
        c, h, w = shapes[ins[0], 0], shapes[ins[0], 1], shapes[ins[0], 2]
        for j in ins[1:]:
            if shapes[j, 0] != c or shapes[j, 1] != h or shapes[j, 2] != w:
                return E_SHAPES, 0, 0, 0
        return E_OK, c, h, w

    @staticmethod
    @njit(cache=True)
    def counts(a, shapes, ins, c, h, w):
        return 0, 0, 0, cmul4(len(ins) - 1, 1 + a[0], cmul(c, h), w)

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        rest = xs[1]
        for x in xs[2:]:
            rest = rest + x
        scale = attrs["scale"] if attrs["scale"] is not None else 1.0
        return kernels.add_scaled(xs[0], rest, scale), 0


@register
class Concat(Op):
    name = "concat"
    summary = "stack inputs along channels (inception modules)"
    min_inputs, max_inputs = 1, 64
    formulas = {"output": "sum of C x H x W", "params": "0", "MACs": "0", "other ops": "0"}
    counts = _no_counts

    @staticmethod
    @njit(cache=True)
    def shape(a, shapes, ins):
        c, h, w = 0, shapes[ins[0], 1], shapes[ins[0], 2]
        for j in ins:
            if shapes[j, 1] != h or shapes[j, 2] != w:
                return E_SPATIAL, 0, 0, 0
            c = cadd(c, shapes[j, 0])
        return E_OK, c, h, w

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        return np.concatenate(xs, axis=1), 0


# ----------------------------------------------------------------------------- shape-only ops
@register
class ZeroPad2D(Op):
    name = "zero_pad2d"
    summary = "pad the map with zeros"
    attrs = (Attr("padding", "pad4", slot=0, doc="int, [h, w] or [[top, bottom], [left, right]]"),)
    formulas = {"output": "C x (H + top + bottom) x (W + left + right)", "params": "0",
                "MACs": "0", "other ops": "0"}
    counts = _no_counts

    @staticmethod
    @njit(cache=True)
    def shape(a, shapes, ins):
        i = ins[0]
        return E_OK, shapes[i, 0], shapes[i, 1] + a[0] + a[1], shapes[i, 2] + a[2] + a[3]

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        return kernels.pad_hw(xs[0], a[0], a[1], a[2], a[3]), 0


@register
class ChannelPad(Op):
    name = "channel_pad"
    summary = "subsample by strides and zero-pad channels (ResNet shortcut option A)"
    attrs = (Attr("filters", "int", slot=0, doc="output channels (>= input channels)"),
             Attr("strides", "pair", 1, slot=3, doc="keep every stride-th row and column"))
    formulas = {"output": "filters x ceil(H/s_h) x ceil(W/s_w)", "params": "0", "MACs": "0",
                "other ops": "0"}
    counts = _no_counts

    @staticmethod
    @njit(cache=True)
    def shape(a, shapes, ins):
        c, h, w = shapes[ins[0], 0], shapes[ins[0], 1], shapes[ins[0], 2]
        if a[0] < c:
            return E_CHANNEL_PAD, 0, 0, 0
        return E_OK, a[0], (h + a[3] - 1) // a[3], (w + a[4] - 1) // a[4]

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        x = xs[0][:, :, ::a[3], ::a[4]]
        extra = a[0] - x.shape[1]      # zeros split as evenly as possible, the odd one last
        return np.pad(x, ((0, 0), (extra // 2, extra - extra // 2), (0, 0), (0, 0))), 0


@register
class Flatten(Op):
    name = "flatten"
    summary = "C x H x W -> (C*H*W) x 1 x 1"
    formulas = {"output": "(C*H*W) x 1 x 1", "params": "0", "MACs": "0", "other ops": "0"}
    counts = _no_counts

    @staticmethod
    @njit(cache=True)
    def shape(a, shapes, ins):
        n = cmul3(shapes[ins[0], 0], shapes[ins[0], 1], shapes[ins[0], 2])
        if n < 0:
            return E_TOO_LARGE, 0, 0, 0
        return E_OK, n, 1, 1

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        return xs[0].reshape(xs[0].shape[0], -1, 1, 1), 0


@register
class Dropout(Op):
    name = "dropout"
    summary = "identity at inference"
    attrs = (Attr("rate", "float", 0.5, doc="fraction dropped in training (not used here)"),)
    formulas = {"output": "same as input", "params": "0", "MACs": "0", "other ops": "0"}
    shape = _same_shape
    counts = _no_counts

    @staticmethod
    def forward(xs, ws, a, attrs, counting):
        return xs[0], 0


# ----------------------------------------------------------------------------- error messages
def _fmt(shape):
    return "x".join(str(int(v)) for v in shape)


def explain(code, op, attrs: dict, in_shapes: list) -> str:
    """One sentence for an engine error code, with the shapes involved."""
    first = in_shapes[0] if in_shapes else None
    if code == E_WINDOW:
        kh, kw = attrs.get("kernel", (1, 1))
        dh, dw = attrs.get("dilation", (1, 1))
        pad = attrs.get("padding", "valid")
        eff = f"{dh * (kh - 1) + 1}x{dw * (kw - 1) + 1}"
        return (f"{op.name} window {eff} (kernel {kh}x{kw}, dilation {dh}x{dw}, padding {pad!r}) is "
                f"larger than its input {_fmt(first)}; expected an input of at least the window "
                "size (a larger --input, or less downsampling before this layer)")
    if code == E_SHAPES:
        shown = ", ".join(_fmt(s) for s in in_shapes)
        return f"add needs inputs of one shape, got {shown}"
    if code == E_SPATIAL:
        shown = ", ".join(_fmt(s) for s in in_shapes)
        return f"concat needs inputs of one height and width, got {shown}"
    if code == E_GROUPS_IN:
        return (f"input channels {int(first[0])} are not divisible by groups={attrs['groups']}; "
                "expected C_in to be a multiple of groups")
    if code == E_GROUPS_OUT:
        return (f"filters={attrs['filters']} is not divisible by groups={attrs['groups']}; "
                "expected a multiple of groups")
    if code == E_NOT_FLAT:
        return (f"dense expects a flat input (C x 1 x 1), got {_fmt(first)}; "
                "add a flatten or a global pooling layer before it")
    if code == E_CHANNEL_PAD:
        return (f"channel_pad to filters={attrs['filters']} but the input has "
                f"{int(first[0])} channels; expected filters >= input channels")
    if code in (E_TOO_LARGE, E_OVERFLOW):
        return "a count leaves the int64 range (over 9.2e18); expected a smaller input or network"
    return f"internal error code {code}"
