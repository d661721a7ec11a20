"""Numba kernels for numeric forward passes (NCHW, a batch dimension, float32 or float64).

Two kinds of convolution kernel:
- the fast path: zero-pad, gather windows into columns (``im2col``, parallel), then one sgemm
  per sample and group (NumPy's BLAS);
- the counting path (``*_direct``): plain loops over every output value and every tap, with a
  counter incremented at each multiply actually executed, padded zeros included.
The executor uses the counting path in counting mode and the fast path otherwise; the tests
check both against a slow NumPy twin.

Convention for the tap position of a window: output y reads input row ``y*stride + i*dilation``
of the zero-padded input (pad_lo rows added in front).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


def pad_hw(x, top, bottom, left, right, value=0.0):
    if top == bottom == left == right == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


@njit(parallel=True, cache=True)
def im2col(xp, kh, kw, sh, sw, dh, dw, ho, wo, out):
    """xp (C, Hp, Wp) -> out (C*kh*kw, ho*wo): one row per (channel, tap), one column per output."""
    c_in = xp.shape[0]
    for r in prange(c_in * kh * kw):
        c = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        for y in range(ho):
            src = y * sh + i * dh
            for x in range(wo):
                out[r, y * wo + x] = xp[c, src, x * sw + j * dw]


def conv2d_gemm(xp, w, sh, sw, dh, dw, groups, ho, wo):
    """Convolution of a padded batch by im2col + sgemm. w: (C_out, C_in/groups, kh, kw)."""
    n, c_in = xp.shape[:2]
    c_out, cg, kh, kw = w.shape
    og = c_out // groups
    y = np.empty((n, c_out, ho * wo), dtype=xp.dtype)
    if kh == kw == 1 and sh == sw == 1 and xp.shape[2] == ho and xp.shape[3] == wo:
        flat = xp.reshape(n, c_in, ho * wo)
        for g in range(groups):
            np.matmul(w[g * og:(g + 1) * og, :, 0, 0], flat[:, g * cg:(g + 1) * cg],
                      out=y[:, g * og:(g + 1) * og])
        return y.reshape(n, c_out, ho, wo)
    cols = np.empty((cg * kh * kw, ho * wo), dtype=xp.dtype)
    for s in range(n):
        for g in range(groups):
            im2col(xp[s, g * cg:(g + 1) * cg], kh, kw, sh, sw, dh, dw, ho, wo, cols)
            np.matmul(w[g * og:(g + 1) * og].reshape(og, cg * kh * kw), cols,
                      out=y[s, g * og:(g + 1) * og])
    return y.reshape(n, c_out, ho, wo)


@njit(cache=True)
def conv2d_direct(xp, w, sh, sw, dh, dw, groups, ho, wo):
    """Counting path: every multiply executed once, counted. Returns (y, multiplies)."""
    n = xp.shape[0]
    c_out, cg, kh, kw = w.shape
    og = c_out // groups
    y = np.zeros((n, c_out, ho, wo), dtype=xp.dtype)
    count = 0
    for s in range(n):
        for co in range(c_out):
            g = co // og
            for yy in range(ho):
                for xx in range(wo):
                    acc = 0.0
                    for ci in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                acc += xp[s, g * cg + ci, yy * sh + i * dh, xx * sw + j * dw] \
                                    * w[co, ci, i, j]
                                count += 1
                    y[s, co, yy, xx] = acc
    return y, count


@njit(parallel=True, cache=True)
def depthwise_fast(xp, w, sh, sw, dh, dw, ho, wo):
    """Depthwise convolution: output channel o reads input channel o // multiplier."""
    n = xp.shape[0]
    c_out, _, kh, kw = w.shape
    mult = c_out // xp.shape[1]
    y = np.zeros((n, c_out, ho, wo), dtype=xp.dtype)
    for t in prange(n * c_out):
        s = t // c_out
        co = t % c_out
        ci = co // mult
        for i in range(kh):
            for j in range(kw):
                wv = w[co, 0, i, j]
                for yy in range(ho):
                    row = yy * sh + i * dh
                    for xx in range(wo):
                        y[s, co, yy, xx] += xp[s, ci, row, xx * sw + j * dw] * wv
    return y


@njit(cache=True)
def depthwise_direct(xp, w, sh, sw, dh, dw, ho, wo):
    n = xp.shape[0]
    c_out, _, kh, kw = w.shape
    mult = c_out // xp.shape[1]
    y = np.zeros((n, c_out, ho, wo), dtype=xp.dtype)
    count = 0
    for s in range(n):
        for co in range(c_out):
            ci = co // mult
            for yy in range(ho):
                for xx in range(wo):
                    acc = 0.0
                    for i in range(kh):
                        for j in range(kw):
                            acc += xp[s, ci, yy * sh + i * dh, xx * sw + j * dw] * w[co, 0, i, j]
                            count += 1
                    y[s, co, yy, xx] = acc
    return y, count


@njit(cache=True)
def dense_direct(x, w):
    """x (N, C_in), w (units, C_in): y = x w^T with every multiply counted."""
    n, c_in = x.shape
    units = w.shape[0]
    y = np.zeros((n, units), dtype=x.dtype)
    count = 0
    for s in range(n):
        for u in range(units):
            acc = 0.0
            for c in range(c_in):
                acc += x[s, c] * w[u, c]
                count += 1
            y[s, u] = acc
    return y, count


@njit(parallel=True, cache=True)
def pool2d(x, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo, is_max, include_pad):
    """Max or average pooling over the unpadded x; taps in the padding are skipped (max) or
    count as zeros only when include_pad (average)."""
    n, c, h, w = x.shape
    y = np.empty((n, c, ho, wo), dtype=x.dtype)
    for t in prange(n * c):
        s = t // c
        ch = t % c
        for yy in range(ho):
            for xx in range(wo):
                best = -np.inf
                acc = 0.0
                inside = 0
                for i in range(kh):
                    r = yy * sh + i * dh - pt
                    if r < 0 or r >= h:
                        continue
                    for j in range(kw):
                        q = xx * sw + j * dw - pl
                        if q < 0 or q >= w:
                            continue
                        v = x[s, ch, r, q]
                        inside += 1
                        acc += v
                        if v > best:
                            best = v
                if is_max:
                    y[s, ch, yy, xx] = best
                else:
                    y[s, ch, yy, xx] = acc / (kh * kw if include_pad else max(inside, 1))
    return y


@njit(parallel=True, cache=True)
def batch_norm(x, gamma, beta, mean, var, eps):
    n, c, h, w = x.shape
    y = np.empty_like(x)
    for t in prange(n * c):
        s = t // c
        ch = t % c
        scale = gamma[ch] / np.sqrt(var[ch] + eps)
        shift = beta[ch] - mean[ch] * scale
        for i in range(h):
            for j in range(w):
                y[s, ch, i, j] = x[s, ch, i, j] * scale + shift
    return y


@njit(cache=True)
def lrn(x, size, alpha, beta, k):
    """Across-channel LRN (Caffe, PyTorch): a_c / (k + alpha/size * sum of a^2 over the window)^beta,
    window c - size//2 .. c + (size-1)//2."""
    n, c, h, w = x.shape
    y = np.empty_like(x)
    for s in range(n):
        for ch in range(c):
            lo = max(0, ch - size // 2)
            hi = min(c - 1, ch + (size - 1) // 2)
            for i in range(h):
                for j in range(w):
                    acc = 0.0
                    for cc in range(lo, hi + 1):
                        acc += x[s, cc, i, j] * x[s, cc, i, j]
                    y[s, ch, i, j] = x[s, ch, i, j] / (k + alpha / size * acc) ** beta
    return y


@njit(parallel=True, cache=True)
def clip_relu(x, lo, hi):
    """max(x, lo), then min(., hi): ReLU (0, inf) and ReLU6 (0, 6)."""
    flat = x.ravel()
    out = np.empty_like(flat)
    for i in prange(flat.size):
        v = flat[i]
        out[i] = lo if v < lo else (hi if v > hi else v)
    return out.reshape(x.shape)


@njit(parallel=True, cache=True)
def add_scaled(xs0, xs1, scale):
    flat0 = xs0.ravel()
    flat1 = xs1.ravel()
    out = np.empty_like(flat0)
    for i in prange(flat0.size):
        out[i] = flat0[i] + scale * flat1[i]
    return out.reshape(xs0.shape)


@njit(cache=True)
def softmax_channels(x):
    n, c, h, w = x.shape
    y = np.empty_like(x)
    for s in range(n):
        for i in range(h):
            for j in range(w):
                m = -np.inf
                for ch in range(c):
                    m = max(m, x[s, ch, i, j])
                tot = 0.0
                for ch in range(c):
                    e = np.exp(x[s, ch, i, j] - m)
                    y[s, ch, i, j] = e
                    tot += e
                for ch in range(c):
                    y[s, ch, i, j] /= tot
    return y
