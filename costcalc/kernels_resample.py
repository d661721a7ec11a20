"""Numba kernels of the resampling ops (NCHW with a batch dimension, float32 or float64).

Transposed convolution, two paths (as for convolutions in kernels.py):
- the counting path ``conv_transpose_direct``: the definition, a scatter of every input element
  times every tap of its kernel into the full output, with a counter at each multiply;
- the fast path ``conv_transpose_gemm``: per sample and group one matrix product
  (C_out/g*kh*kw, C_in/g) x (C_in/g, H*W) = the columns, then ``col2im_add`` adds each column
  entry at its output position.
Both return the full output (rows (H-1)*stride + dilation*(k-1) + 1, or more: extra rows are
zeros); the op crops it.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def conv_transpose_direct(x, w, sh, sw, dh, dw, groups, fh, fw):
    """x (N, C_in, H, W), w (C_in, C_out/groups, kh, kw) -> (full (N, C_out, fh, fw), multiplies)."""
    n, c_in, h, wd = x.shape
    og, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    cg = c_in // groups
    y = np.zeros((n, og * groups, fh, fw), dtype=x.dtype)
    count = 0
    for s in range(n):
        for ci in range(c_in):
            g = ci // cg
            for iy in range(h):
                for ix in range(wd):
                    v = x[s, ci, iy, ix]
                    for o in range(og):
                        co = g * og + o
                        for i in range(kh):
                            for j in range(kw):
                                y[s, co, iy * sh + i * dh, ix * sw + j * dw] += v * w[ci, o, i, j]
                                count += 1
    return y, count


@njit(cache=True)
def col2im_add(cols, og, kh, kw, h, wd, sh, sw, dh, dw, out):
    """cols (og*kh*kw, h*wd): entry ((o, i, j), (iy, ix)) added to out[o, iy*sh + i*dh,
    ix*sw + j*dw]."""
    for o in range(og):
        for i in range(kh):
            for j in range(kw):
                row = cols[(o * kh + i) * kw + j]
                off = j * dw
                for iy in range(h):
                    dst = out[o, iy * sh + i * dh, off:]
                    src = row[iy * wd:(iy + 1) * wd]
                    for ix in range(wd):
                        dst[ix * sw] += src[ix]


def conv_transpose_gemm(x, w, sh, sw, dh, dw, groups, fh, fw):
    n, c_in, h, wd = x.shape
    og, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    cg = c_in // groups
    y = np.zeros((n, og * groups, fh, fw), dtype=x.dtype)
    x = np.ascontiguousarray(x)
    for g in range(groups):
        wt = np.ascontiguousarray(w[g * cg:(g + 1) * cg].reshape(cg, og * kh * kw).T)
        for s in range(n):
            cols = wt @ x[s, g * cg:(g + 1) * cg].reshape(cg, h * wd)
            col2im_add(cols, og, kh, kw, h, wd, sh, sw, dh, dw, y[s, g * og:(g + 1) * og])
    return y


@njit(cache=True)
def _bilinear_taps(size, out):
    """Half-pixel centres (PyTorch align_corners=False): source (dst + 0.5)*size/out - 0.5,
    clamped at 0; (lower index, upper index, weight of the upper)."""
    lo = np.empty(out, dtype=np.int64)
    hi = np.empty(out, dtype=np.int64)
    lam = np.empty(out, dtype=np.float64)
    scale = size / out
    for d in range(out):
        src = (d + 0.5) * scale - 0.5
        if src < 0:
            src = 0.0
        i0 = int(src)
        if i0 > size - 1:
            i0 = size - 1
        lo[d] = i0
        hi[d] = i0 + 1 if i0 < size - 1 else i0
        lam[d] = src - i0
    return lo, hi, lam


@njit(cache=True)
def resize_bilinear(x, ho, wo):
    n, c, h, w = x.shape
    r0, r1, ly = _bilinear_taps(h, ho)
    c0, c1, lx = _bilinear_taps(w, wo)
    y = np.empty((n, c, ho, wo), dtype=x.dtype)
    for s in range(n):
        for ch in range(c):
            plane = x[s, ch]
            for i in range(ho):
                a = plane[r0[i]]
                b = plane[r1[i]]
                wy = ly[i]
                dst = y[s, ch, i]
                for j in range(wo):
                    wx = lx[j]
                    top = a[c0[j]] * (1.0 - wx) + a[c1[j]] * wx
                    bot = b[c0[j]] * (1.0 - wx) + b[c1[j]] * wx
                    dst[j] = top * (1.0 - wy) + bot * wy
    return y
