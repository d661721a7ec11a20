"""Numba kernels of the normalization family (costcalc/ops/normalize.py), NCHW, any float dtype.

Statistics are accumulated in float64 and computed in two passes (mean, then the mean of squared
deviations: the biased variance, as every framework's normalization layer uses)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def channel_affine(x, scale, bias):
    """y[n, c] = x[n, c] * scale[c] + bias[c] (a per-channel scale and shift)."""
    n, c, h, w = x.shape
    y = np.empty_like(x)
    for s in range(n):
        for ch in range(c):
            k = scale[ch]
            b = bias[ch]
            for i in range(h):
                for j in range(w):
                    y[s, ch, i, j] = x[s, ch, i, j] * k + b
    return y


@njit(cache=True)
def standardize(x, mean, var, floor, invert):
    """Keras Normalization: (x - mean[c]) / max(sqrt(var[c]), floor); invert: mean[c] + x * that."""
    n, c, h, w = x.shape
    y = np.empty_like(x)
    for s in range(n):
        for ch in range(c):
            m = mean[ch]
            d = max(math.sqrt(var[ch]), floor)
            for i in range(h):
                for j in range(w):
                    if invert:
                        y[s, ch, i, j] = m + x[s, ch, i, j] * d
                    else:
                        y[s, ch, i, j] = (x[s, ch, i, j] - m) / d
    return y


@njit(cache=True, error_model="numpy")   # epsilon 0 on a constant group: nan, as PyTorch
def layer_norm_channels(x, gamma, beta, eps):
    """Layer norm over the C values at each (n, h, w) (channels-last LayerNormalization)."""
    n, c, h, w = x.shape
    y = np.empty_like(x)
    for s in range(n):
        for i in range(h):
            for j in range(w):
                tot = 0.0
                for ch in range(c):
                    tot += x[s, ch, i, j]
                m = tot / c
                sq = 0.0
                for ch in range(c):
                    d = x[s, ch, i, j] - m
                    sq += d * d
                inv = 1.0 / math.sqrt(sq / c + eps)
                for ch in range(c):
                    y[s, ch, i, j] = (x[s, ch, i, j] - m) * inv * gamma[ch] + beta[ch]
    return y


@njit(cache=True, error_model="numpy")
def group_stats(x, s, lo, hi, eps):
    """Mean and 1/sqrt(variance + eps) of sample s's channels lo..hi-1 over H x W (two passes:
    the mean, then the squared deviations). The forward and the backward of group norm share it."""
    h, w = x.shape[2], x.shape[3]
    cnt = (hi - lo) * h * w
    tot = 0.0
    for ch in range(lo, hi):
        for i in range(h):
            for j in range(w):
                tot += x[s, ch, i, j]
    m = tot / cnt
    sq = 0.0
    for ch in range(lo, hi):
        for i in range(h):
            for j in range(w):
                d = x[s, ch, i, j] - m
                sq += d * d
    return m, 1.0 / math.sqrt(sq / cnt + eps)


@njit(cache=True, error_model="numpy")   # epsilon 0 on a constant group: nan, as PyTorch
def group_norm(x, groups, gamma, beta, eps):
    """Group norm: statistics over (C/groups) x H x W per sample and group, then the per-channel
    gamma and beta. groups = C is instance norm; C must be divisible by groups."""
    n, c, h, w = x.shape
    cg = c // groups
    y = np.empty_like(x)
    for s in range(n):
        for g in range(groups):
            lo = g * cg
            m, inv = group_stats(x, s, lo, lo + cg, eps)
            for ch in range(lo, lo + cg):
                k = inv * gamma[ch]
                b = beta[ch]
                for i in range(h):
                    for j in range(w):
                        y[s, ch, i, j] = (x[s, ch, i, j] - m) * k + b
    return y
