"""Numba kernels for numeric forward passes (NCHW, a batch dimension, float32 or float64).

Two kinds of convolution kernel:
- the fast path: gather windows into columns (``im2col``), then one sgemm per sample and group
  (NumPy's BLAS); 1x1 convolutions skip the gather (stride 1) or only subsample (stride > 1);
- the counting path (``*_direct``): plain loops over every output value and every tap, with a
  counter incremented at each multiply actually executed, padded zeros included.
The executor uses the counting path in counting mode and the fast path otherwise; the tests
check both against a slow NumPy twin.

Convention for the tap position of a window: output y reads input row ``y*stride + i*dilation``
of the zero-padded input (pad_lo rows added in front).

Threads: the matrix products run on the BLAS's own threads; every Numba kernel here is
single-threaded on purpose. After a product, OpenBLAS keeps its worker threads spinning for a
while (about 0.1 s by default); a Numba parallel region started then competes with them for the
cores and waits for the scheduler (milliseconds per layer on a 2-core machine). The element-wise
and gather kernels are memory-bound and run at nearly the same speed on one thread.
"""
from __future__ import annotations

import threading

import numpy as np
from numba import njit

_scratch = threading.local()


def _buffer(size, dtype, slot="cols"):
    """A reusable scratch array of ``size`` elements for im2col columns (one per thread and
    dtype, grown to the largest request and kept): a fresh allocation of that size on every
    layer costs page faults. ``release_scratch()`` frees it."""
    key = (slot, np.dtype(dtype).char)
    bufs = getattr(_scratch, "bufs", None)
    if bufs is None:
        bufs = _scratch.bufs = {}
    buf = bufs.get(key)
    if buf is None or buf.size < size:
        buf = bufs[key] = np.empty(max(size, 1 << 16), dtype=dtype)
    return buf[:size]


def release_scratch():
    """Free this thread's im2col scratch buffers (they are kept between calls)."""
    _scratch.bufs = {}


@njit(cache=True)
def _pad_into(x, out, top, left, value):
    n, c, h, w = x.shape
    hp, wp = out.shape[2], out.shape[3]
    for s in range(n):
        for ch in range(c):
            for r in range(hp):
                orow = out[s, ch, r]
                if r < top or r >= top + h:
                    for q in range(wp):
                        orow[q] = value
                    continue
                for q in range(left):
                    orow[q] = value
                dst = orow[left:left + w]
                src = x[s, ch, r - top]
                for q in range(w):
                    dst[q] = src[q]
                for q in range(left + w, wp):
                    orow[q] = value


def pad_hw(x, top, bottom, left, right, value=0.0):
    if top == bottom == left == right == 0:
        return x
    n, c, h, w = x.shape
    out = np.empty((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
    _pad_into(np.ascontiguousarray(x), out, top, left, value)
    return out


# Inner loops below index 1-D views with the bare loop variable (``dst[x] = src[x]``): Numba
# then knows the index is non-negative, skips the wraparound check and vectorizes the loop.

@njit(cache=True)
def _phase_split(plane, s, out):
    """out[p, r, x] = plane[r, x*s + p]: the columns of a (H, W) plane split by phase modulo s,
    so that a strided walk along W becomes a contiguous one."""
    hp, wp = plane.shape
    for p in range(s):
        m = (wp - p + s - 1) // s
        for r in range(hp):
            src = plane[r]
            dst = out[p, r]
            for x in range(m):
                dst[x] = src[x * s + p]


@njit(cache=True)
def im2col(xp, kh, kw, sh, sw, dh, dw, ho, wo, out):
    """xp (C, Hp, Wp) -> out (C*kh*kw, ho*wo): one row per (channel, tap), one column per output."""
    c_in, hp, wp = xp.shape
    if ho == 1:             # a stride never taken (one output): 1 keeps the buffer small
        sh = 1
    if wo == 1:
        sw = 1
    if sw > 1:
        ph = np.empty((sw, hp, (wp + sw - 1) // sw), dtype=xp.dtype)
    else:
        ph = np.empty((1, 1, 1), dtype=xp.dtype)
    for c in range(c_in):
        if sw > 1:
            _phase_split(xp[c], sw, ph)
        for i in range(kh):
            for j in range(kw):
                row = out[(c * kh + i) * kw + j]
                p = (j * dw) % sw
                o = (j * dw) // sw
                for y in range(ho):
                    dst = row[y * wo:(y + 1) * wo]
                    if sw == 1:
                        src = xp[c, y * sh + i * dh, o:o + wo]
                    else:
                        src = ph[p, y * sh + i * dh, o:o + wo]
                    for x in range(wo):
                        dst[x] = src[x]


@njit(cache=True)
def _subsample(xp, sh, sw, ho, wo, out):
    """out (N, C, ho, wo) = xp[:, :, ::sh, ::sw] cut to ho x wo (a strided 1x1 convolution)."""
    n, c = xp.shape[0], xp.shape[1]
    for s in range(n):
        for ch in range(c):
            for y in range(ho):
                src = xp[s, ch, y * sh]
                dst = out[s, ch, y]
                for x in range(wo):
                    dst[x] = src[x * sw]


# Winograd F(2x2, 3x3) (Lavin and Gray 2015, "Fast Algorithms for Convolutional Neural
# Networks"): each 2x2 block of outputs from a 4x4 input tile with 16 multiplies per channel
# pair instead of 36, as 16 batched GEMMs. Same result up to float rounding; the counting path
# still runs conv2d_direct, whose multiplies are the convention's.
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
WINOGRAD_MIN_TILES = 512   # below (small maps), im2col + one GEMM is faster here


@njit(cache=True)
def _winograd_input(xp, th, tw, v):
    """v[4a+b, c, p] = (B^T d B)[a, b] for the 4x4 tile d of channel c at tile p (tile (i, j)
    starts at row 2i, column 2j of the padded input; reads past its end are zeros). A tile row
    at a time: B^T over whole rows, then B along them, so writes run along p."""
    n, c, hp, wp = xp.shape
    width = 2 * tw + 2
    rows = np.zeros((4, width), dtype=xp.dtype)
    t = np.zeros((4, width), dtype=xp.dtype)
    for s in range(n):
        for ch in range(c):
            for ti in range(th):
                p0 = (s * th + ti) * tw
                for a in range(4):
                    r = 2 * ti + a
                    src = xp[s, ch, min(r, hp - 1)]
                    dst = rows[a]
                    for q in range(width):
                        dst[q] = src[q] if r < hp and q < wp else 0.0
                r0, r1, r2, r3 = rows[0], rows[1], rows[2], rows[3]
                for q in range(width):          # B^T d, for every tile of the row at once
                    t[0, q] = r0[q] - r2[q]
                    t[1, q] = r1[q] + r2[q]
                    t[2, q] = r2[q] - r1[q]
                    t[3, q] = r1[q] - r3[q]
                for a in range(4):              # (B^T d) B
                    ta = t[a]
                    v0, v1, v2, v3 = v[4 * a, ch], v[4 * a + 1, ch], v[4 * a + 2, ch], v[4 * a + 3, ch]
                    for tj in range(tw):
                        q = 2 * tj
                        v0[p0 + tj] = ta[q] - ta[q + 2]
                        v1[p0 + tj] = ta[q + 1] + ta[q + 2]
                        v2[p0 + tj] = ta[q + 2] - ta[q + 1]
                        v3[p0 + tj] = ta[q + 1] - ta[q + 3]


@njit(cache=True)
def _winograd_output(m, n, th, tw, ho, wo, y):
    """y[s, k, 2i:2i+2, 2j:2j+2] = A^T M A for each tile (cut at the output's edge)."""
    c_out = m.shape[1]
    t = np.zeros((2, 4), dtype=m.dtype)
    for s in range(n):
        for k in range(c_out):
            for ti in range(th):
                for tj in range(tw):
                    p = (s * th + ti) * tw + tj
                    for b in range(4):          # A^T M
                        m0, m1 = m[b, k, p], m[4 + b, k, p]
                        m2, m3 = m[8 + b, k, p], m[12 + b, k, p]
                        t[0, b] = m0 + m1 + m2
                        t[1, b] = m1 - m2 - m3
                    for a in range(2):          # (A^T M) A
                        r = 2 * ti + a
                        if r >= ho:
                            break
                        y[s, k, r, 2 * tj] = t[a, 0] + t[a, 1] + t[a, 2]
                        if 2 * tj + 1 < wo:
                            y[s, k, r, 2 * tj + 1] = t[a, 1] - t[a, 2] - t[a, 3]


def conv2d_winograd(xp, w, ho, wo):
    """3x3, stride 1, no dilation, one group, on a padded batch (ho = hp - 2, wo = wp - 2)."""
    n, c_in = xp.shape[:2]
    c_out = w.shape[0]
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    g = _G.astype(xp.dtype)
    # U = G w G^T for every filter: two BLAS contractions, then (a, b) first
    u = np.tensordot(np.tensordot(g, w, axes=([1], [2])), g, axes=([3], [1]))   # a, k, c, b
    u = np.ascontiguousarray(u.transpose(0, 3, 1, 2)).reshape(16, c_out, c_in)
    tiles = n * th * tw
    v = _buffer(16 * c_in * tiles, xp.dtype, "winograd_v").reshape(16, c_in, tiles)
    _winograd_input(np.ascontiguousarray(xp), th, tw, v)
    m = _buffer(16 * c_out * tiles, xp.dtype, "winograd_m").reshape(16, c_out, tiles)
    np.matmul(u, v, out=m)
    y = np.empty((n, c_out, ho, wo), dtype=xp.dtype)
    _winograd_output(m, n, th, tw, ho, wo, y)
    return y


def conv2d_gemm(xp, w, sh, sw, dh, dw, groups, ho, wo):
    """Convolution of a padded batch by im2col + sgemm. w: (C_out, C_in/groups, kh, kw)."""
    n, c_in, hp, wp = xp.shape
    c_out, cg, kh, kw = w.shape
    # Winograd pays where its 16 GEMMs stay wide: many tiles (large maps) and channels
    if kh == kw == 3 and sh == sw == 1 and dh == dw == 1 and groups == 1 and cg >= 16 \
            and n * ((ho + 1) // 2) * ((wo + 1) // 2) >= WINOGRAD_MIN_TILES:
        return conv2d_winograd(xp, w, ho, wo)
    og = c_out // groups
    k = cg * kh * kw
    w2 = np.ascontiguousarray(w).reshape(c_out, k)
    y = np.empty((n, c_out, ho * wo), dtype=xp.dtype)
    if kh == kw == 1:
        if sh == sw == 1 and hp == ho and wp == wo:
            flat = np.ascontiguousarray(xp).reshape(n, c_in, ho * wo)
        else:
            flat = np.empty((n, c_in, ho, wo), dtype=xp.dtype)
            _subsample(xp, sh, sw, ho, wo, flat)
            flat = flat.reshape(n, c_in, ho * wo)
        if groups == 1:
            np.matmul(w2, flat, out=y)
        else:
            for g in range(groups):
                np.matmul(w2[g * og:(g + 1) * og], flat[:, g * cg:(g + 1) * cg],
                          out=y[:, g * og:(g + 1) * og])
        return y.reshape(n, c_out, ho, wo)
    xp = np.ascontiguousarray(xp)
    cols = _buffer(k * ho * wo, xp.dtype).reshape(k, ho * wo)
    for s in range(n):
        for g in range(groups):
            im2col(xp[s, g * cg:(g + 1) * cg], kh, kw, sh, sw, dh, dw, ho, wo, cols)
            np.matmul(w2[g * og:(g + 1) * og], cols, out=y[s, g * og:(g + 1) * og])
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


@njit(cache=True)
def depthwise_fast(xp, w, sh, sw, dh, dw, ho, wo):
    """Depthwise convolution: output channel o reads input channel o // multiplier. Each output
    sums its taps in (i, j) order, starting from 0."""
    xp = np.ascontiguousarray(xp)
    n, c_in, hp, wp = xp.shape
    c_out, _, kh, kw = w.shape
    mult = c_out // c_in
    if ho == 1:             # a stride never taken (one output): 1 keeps the buffer small
        sh = 1
    if wo == 1:
        sw = 1
    y = np.empty((n, c_out, ho, wo), dtype=xp.dtype)
    if sh == 1 and sw == 1:
        # On the flattened padded plane, output (r, x) at t = r*Wp + x reads t + i*dh*Wp + j*dw:
        # one long loop per tap (columns x >= wo of each row are computed and dropped).
        length = (ho - 1) * wp + wo
        acc = np.empty(length, dtype=xp.dtype)
        for s in range(n):
            for co in range(c_out):
                flat = xp[s, co // mult].ravel()
                for t in range(length):
                    acc[t] = 0
                for i in range(kh):
                    for j in range(kw):
                        wv = w[co, 0, i, j]
                        src = flat[i * dh * wp + j * dw:]
                        for t in range(length):
                            acc[t] += src[t] * wv
                for r in range(ho):
                    dst = y[s, co, r]
                    src = acc[r * wp:]
                    for x in range(wo):
                        dst[x] = src[x]
        return y
    ph = np.empty((sw, hp, (wp + sw - 1) // sw), dtype=xp.dtype)
    for s in range(n):
        for ci in range(c_in):
            _phase_split(xp[s, ci], sw, ph)
            for co in range(ci * mult, (ci + 1) * mult):
                for r in range(ho):
                    acc = y[s, co, r]
                    for x in range(wo):
                        acc[x] = 0
                    for i in range(kh):
                        for j in range(kw):
                            wv = w[co, 0, i, j]
                            o = (j * dw) // sw
                            src = ph[(j * dw) % sw, r * sh + i * dh, o:o + wo]
                            for x in range(wo):
                                acc[x] += src[x] * wv
    return y


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


@njit(cache=True)
def pool2d(x, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr, ho, wo, is_max, include_pad):
    """Max or average pooling over the unpadded x; taps in the padding are skipped (max) or
    count as zeros only when include_pad (average: the divisor is the window clipped to the
    padded input, as PyTorch and Caffe do when ceil mode lets it hang past the end). Each output
    takes its taps in (i, j) order (sums in float64)."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    # A stride along an axis with one output is never taken: 1 keeps the phase buffer below
    # (sw planes) the input's size, whatever the stride (2^62 is a legal one).
    if ho == 1:
        sh = 1
    if wo == 1:
        sw = 1
    y = np.empty((n, c, ho, wo), dtype=x.dtype)
    # tap column j lands inside the input for the output columns xx in [xlo[j], xhi[j])
    xlo = np.zeros(kw, dtype=np.int64)
    xhi = np.zeros(kw, dtype=np.int64)
    cols = np.zeros(wo, dtype=np.int64)          # taps inside the input, per output column
    pcols = np.zeros(wo, dtype=np.int64)         # taps inside the padded input
    for j in range(kw):
        lo, hi = wo, 0
        for xx in range(wo):
            q = xx * sw + j * dw - pl
            if -pl <= q < w + pr:
                pcols[xx] += 1
            if 0 <= q < w:
                lo = min(lo, xx)
                hi = xx + 1
                cols[xx] += 1
        xlo[j], xhi[j] = lo, max(lo, hi)
    buf = np.empty((sw, h, (w + sw - 1) // sw), dtype=x.dtype)
    acc = np.empty(wo, dtype=np.float64)
    for s in range(n):
        for ch in range(c):
            if sw == 1:
                ph = x[s, ch].reshape(1, h, w)
            else:
                ph = buf
                _phase_split(x[s, ch], sw, ph)
            for yy in range(ho):
                fill = -np.inf if is_max else 0.0
                for xx in range(wo):
                    acc[xx] = fill
                rows = 0
                prows = 0
                for i in range(kh):
                    r = yy * sh + i * dh - pt
                    if -pt <= r < h + pb:
                        prows += 1
                    if r < 0 or r >= h:
                        continue
                    rows += 1
                    for j in range(kw):
                        lo, hi = xlo[j], xhi[j]
                        q0 = j * dw - pl
                        p = q0 % sw
                        start = lo + (q0 - p) // sw      # phase index of output column lo
                        src = ph[p, r, start:start + hi - lo]
                        dst = acc[lo:hi]
                        if is_max:
                            for t in range(hi - lo):
                                if src[t] > dst[t]:
                                    dst[t] = src[t]
                        else:
                            for t in range(hi - lo):
                                dst[t] += src[t]
                out = y[s, ch, yy]
                if is_max:
                    for xx in range(wo):
                        out[xx] = acc[xx]
                elif include_pad:
                    for xx in range(wo):
                        out[xx] = acc[xx] / max(prows * pcols[xx], 1)
                else:
                    for xx in range(wo):
                        out[xx] = acc[xx] / max(rows * cols[xx], 1)
    return y


@njit(cache=True, error_model="numpy")   # k = alpha = 0 or epsilon 0: inf/nan, as PyTorch
def batch_norm(x, gamma, beta, mean, var, eps):
    n, c, h, w = x.shape
    y = np.empty_like(x)
    for s in range(n):
        for ch in range(c):
            scale = gamma[ch] / np.sqrt(var[ch] + eps)
            shift = beta[ch] - mean[ch] * scale
            for i in range(h):
                src = x[s, ch, i]
                dst = y[s, ch, i]
                for j in range(w):
                    dst[j] = src[j] * scale + shift
    return y


@njit(cache=True, error_model="numpy")   # k = alpha = 0 or epsilon 0: inf/nan, as PyTorch
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


@njit(cache=True)
def clip_relu(x, lo, hi):
    """max(x, lo), then min(., hi): ReLU (0, inf) and ReLU6 (0, 6)."""
    flat = x.ravel()
    out = np.empty_like(flat)
    for i in range(flat.size):
        v = flat[i]
        out[i] = lo if v < lo else (hi if v > hi else v)
    return out.reshape(x.shape)


@njit(cache=True)
def add_scaled(xs0, xs1, scale):
    flat0 = xs0.ravel()
    flat1 = xs1.ravel()
    out = np.empty_like(flat0)
    if scale == 1.0:
        for i in range(flat0.size):
            out[i] = flat0[i] + flat1[i]
    else:
        for i in range(flat0.size):
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
