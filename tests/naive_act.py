"""Naive twins of the activations added in costcalc/ops/activations.py (merged into naive.TWINS).

Written the long way, one element at a time with ``math``, from the definitions (Keras 3, PyTorch,
ONNX) and not from costcalc's kernels: each function is the textbook formula as its source states
it (hard sigmoid as its pieces, GELU through the normal CDF, ELU with exp(x) - 1, ...).
"""
import math

import numpy as np


def _each(x, f):
    """f applied to every element of x (any shape), one Python float at a time."""
    out = np.empty(x.shape, dtype=np.float64)
    for idx in np.ndindex(*x.shape):
        out[idx] = f(float(x[idx]))
    return out


def sigmoid1(v):
    # 1 / (1 + e^-v), written so e^-v never overflows: for v < 0, e^v / (e^v + 1)
    if v < 0:
        return math.exp(v) / (math.exp(v) + 1.0)
    return 1.0 / (1.0 + math.exp(-v))


def hard_sigmoid_keras3(v):
    # Keras 3 docstring: 0 if x <= -3, 1 if x >= 3, (x/6) + 0.5 between
    if v <= -3:
        return 0.0
    if v >= 3:
        return 1.0
    return v / 6 + 0.5


def hard_sigmoid_keras2(v):
    # Keras 2 docstring: 0 if x < -2.5, 1 if x > 2.5, 0.2 * x + 0.5 between
    if v < -2.5:
        return 0.0
    if v > 2.5:
        return 1.0
    return 0.2 * v + 0.5


def swish1(v):
    return v * sigmoid1(v)


def hard_swish1(v):
    # Keras 3 hard_silu docstring: 0 if x < -3, x if x > 3, x * (x + 3) / 6 between
    if v < -3:
        return 0.0
    if v > 3:
        return v
    return v * (v + 3) / 6


def normal_cdf(v):
    return 0.5 * math.erfc(-v / math.sqrt(2.0))


def gelu_exact1(v):
    return v * normal_cdf(v)


def gelu_tanh1(v):
    inner = math.sqrt(2.0 / math.pi) * (v + 0.044715 * v ** 3)
    return 0.5 * v * (1.0 + math.tanh(inner))


def leaky1(alpha):
    return lambda v: v if v >= 0 else alpha * v


def elu1(alpha):
    return lambda v: v if v > 0 else alpha * (math.exp(v) - 1.0)


def _hard_sigmoid_twin(xs, ws, attrs):
    f = hard_sigmoid_keras2 if attrs["definition"] in ("keras2", "onnx") else hard_sigmoid_keras3
    return _each(xs[0], f)


def _gelu_twin(xs, ws, attrs):
    return _each(xs[0], gelu_tanh1 if attrs["approximate"] == "tanh" else gelu_exact1)


def _prelu_twin(xs, ws, attrs):
    x = xs[0]
    n, c, h, w = x.shape
    slope = ws[0]
    out = np.empty(x.shape)
    for s in range(n):
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    if attrs["slopes"] == "channel":
                        a = slope[ch]
                    elif attrs["slopes"] == "element":
                        a = slope[ch, i, j]
                    else:
                        a = slope[0]
                    v = x[s, ch, i, j]
                    out[s, ch, i, j] = v if v >= 0 else a * v
    return out


def _clip_twin(xs, ws, attrs):
    lo, hi = attrs["min"], attrs["max"]

    def f(v):
        if lo is not None and v < lo:
            return lo
        if hi is not None and v > hi:
            return hi
        return v
    return _each(xs[0], f)


TWINS = {
    "hard_sigmoid": _hard_sigmoid_twin,
    "swish": lambda xs, ws, attrs: _each(xs[0], swish1),
    "hard_swish": lambda xs, ws, attrs: _each(xs[0], hard_swish1),
    "gelu": _gelu_twin,
    "leaky_relu": lambda xs, ws, attrs: _each(xs[0], leaky1(attrs["alpha"])),
    "elu": lambda xs, ws, attrs: _each(xs[0], elu1(attrs["alpha"])),
    "prelu": _prelu_twin,
    "clip": _clip_twin,
}

# The fused `activation:` of a conv/dense layer: each op with its default attributes (Keras 3's
# meaning of the string).
FUSED = {
    "hard_sigmoid": lambda y: _each(y, hard_sigmoid_keras3),
    "swish": lambda y: _each(y, swish1),
    "hard_swish": lambda y: _each(y, hard_swish1),
    "gelu": lambda y: _each(y, gelu_exact1),
    "leaky_relu": lambda y: _each(y, leaky1(0.2)),
    "elu": lambda y: _each(y, elu1(1.0)),
}
