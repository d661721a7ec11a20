"""Numba kernels of the element-wise activations (costcalc/ops/activations.py).

One kernel per activation family, on arrays of any shape (float32 or float64): the input is
raveled, each element computed on its own, and the result reshaped like ``clip_relu`` in
``costcalc/kernels.py``. Imported lazily by the ops (``costcalc summary`` never loads Numba).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _sigmoid1(v):
    """1 / (1 + exp(-v)) without overflow: exp is only taken of a non-positive number."""
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@njit(cache=True)
def sigmoid(x):
    flat = x.ravel()
    out = np.empty_like(flat)
    for i in range(flat.size):
        out[i] = _sigmoid1(flat[i])
    return out.reshape(x.shape)


@njit(cache=True)
def swish(x):
    """x * sigmoid(x) (SiLU), with the stable sigmoid."""
    flat = x.ravel()
    out = np.empty_like(flat)
    for i in range(flat.size):
        v = flat[i]
        out[i] = v * _sigmoid1(v)
    return out.reshape(x.shape)


@njit(cache=True)
def hard_sigmoid(x, slope, offset):
    """min(max(slope*x + offset, 0), 1): slope 1/6, offset 1/2 (Keras 3, PyTorch) or slope 0.2,
    offset 0.5 (Keras 2, ONNX HardSigmoid defaults)."""
    flat = x.ravel()
    out = np.empty_like(flat)
    for i in range(flat.size):
        v = slope * flat[i] + offset
        out[i] = 0.0 if v <= 0.0 else (1.0 if v >= 1.0 else v)
    return out.reshape(x.shape)


@njit(cache=True)
def hard_swish(x):
    """x * relu6(x + 3) / 6 (MobileNetV3, PyTorch hardswish, Keras 3 hard_silu)."""
    flat = x.ravel()
    out = np.empty_like(flat)
    for i in range(flat.size):
        v = flat[i]
        if v <= -3.0:
            out[i] = 0.0
        elif v >= 3.0:
            out[i] = v
        else:
            out[i] = v * (v + 3.0) / 6.0
    return out.reshape(x.shape)


SQRT_HALF = 0.7071067811865476          # 1 / sqrt(2)
SQRT_2_OVER_PI = 0.7978845608028654     # sqrt(2 / pi)


@njit(cache=True)
def gelu(x, tanh_form):
    """x * Phi(x) = x/2 * (1 + erf(x/sqrt(2))), or with tanh_form the tanh approximation
    x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))."""
    flat = x.ravel()
    out = np.empty_like(flat)
    if tanh_form:
        for i in range(flat.size):
            v = flat[i]
            out[i] = 0.5 * v * (1.0 + math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)))
    else:
        for i in range(flat.size):
            v = flat[i]
            out[i] = 0.5 * v * (1.0 + math.erf(v * SQRT_HALF))
    return out.reshape(x.shape)


@njit(cache=True)
def leaky_relu(x, alpha):
    """x for x >= 0, alpha*x below (PyTorch's definition; Keras's max(x, alpha*x) is the same
    for 0 <= alpha <= 1)."""
    flat = x.ravel()
    out = np.empty_like(flat)
    for i in range(flat.size):
        v = flat[i]
        out[i] = v if v >= 0.0 else alpha * v
    return out.reshape(x.shape)


@njit(cache=True)
def elu(x, alpha):
    """x for x > 0, alpha*(exp(x) - 1) below (expm1: exact near 0)."""
    flat = x.ravel()
    out = np.empty_like(flat)
    for i in range(flat.size):
        v = flat[i]
        out[i] = v if v > 0.0 else alpha * math.expm1(v)
    return out.reshape(x.shape)


@njit(cache=True)
def prelu(x, slope):
    """x (N, C, H, W); slope (C, H, W), one learned slope per element (the op broadcasts a
    per-channel or single slope to this shape): x for x >= 0, slope*x below."""
    n, c, h, w = x.shape
    out = np.empty_like(x)
    for s in range(n):
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    v = x[s, ch, i, j]
                    out[s, ch, i, j] = v if v >= 0.0 else slope[ch, i, j] * v
    return out
