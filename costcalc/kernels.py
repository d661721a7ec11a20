"""Numba kernels for numeric forward passes (NCHW, a batch dimension, float32 or float64).

Two kinds of convolution kernel:
- the fast path: gather windows into columns (``im2col``), then one sgemm per sample and group
  (NumPy's BLAS; small maps at a batch: one sgemm over the whole batch's columns; huge maps: a
  band of output rows at a time); 1x1 convolutions skip the gather (stride 1) or only
  subsample (stride > 1); 3x3 convolutions on large maps with many channels use Winograd, 3x3
  depthwise ones ``depthwise3x3_into``; a ``Post`` (fused epilogue: bias, batch norm, relu,
  residual add) runs on each part of the output right after its product;
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
# below either (small maps, few channels: products too narrow or too shallow for the
# transforms to pay), im2col + one GEMM is faster here (measured at batch 1 and 8)
WINOGRAD_MIN_TILES = 1500
WINOGRAD_MIN_CHANNELS = 96          # input channels


@njit(cache=True)
def _winograd_input(xp, th, tw, r0, r1, v):
    """v[4a+b, c, p] = (B^T d B)[a, b] for the 4x4 tile d of channel c at tile p of the band
    of tile rows r0..r1 (tile row R of the batch: sample R // th, row R % th; tile (i, j)
    starts at row 2i, column 2j of the padded input; reads past its end are zeros; p counts
    from the band's first tile). A tile row at a time: B^T over whole rows, then B along them,
    so writes run along p."""
    n, c, hp, wp = xp.shape
    width = 2 * tw + 2
    rows = np.zeros((4, width), dtype=xp.dtype)
    t = np.zeros((4, width), dtype=xp.dtype)
    for ch in range(c):
        for big in range(r0, r1):
            s = big // th
            ti = big % th
            p0 = (big - r0) * tw
            for a in range(4):
                r = 2 * ti + a
                src = xp[s, ch, min(r, hp - 1)]
                dst = rows[a]
                for q in range(width):
                    dst[q] = src[q] if r < hp and q < wp else 0.0
            q0, q1, q2, q3 = rows[0], rows[1], rows[2], rows[3]
            for q in range(width):          # B^T d, for every tile of the row at once
                t[0, q] = q0[q] - q2[q]
                t[1, q] = q1[q] + q2[q]
                t[2, q] = q2[q] - q1[q]
                t[3, q] = q1[q] - q3[q]
            for a in range(4):              # (B^T d) B
                ta = t[a]
                v0, v1, v2, v3 = v[4 * a, ch], v[4 * a + 1, ch], v[4 * a + 2, ch], v[4 * a + 3, ch]
                for tj in range(tw):
                    q = 2 * tj
                    v0[p0 + tj] = ta[q] - ta[q + 2]
                    v1[p0 + tj] = ta[q + 1] + ta[q + 2]
                    v2[p0 + tj] = ta[q + 2] - ta[q + 1]
                    v3[p0 + tj] = ta[q + 1] - ta[q + 3]


@njit(cache=True, error_model="numpy")
def _winograd_output(m, th, tw, r0, r1, ho, wo, y, bias, scale, shift, lo1, hi1, res, rscale,
                     lo2, hi2, flags):
    """y[s, k, 2i:2i+2, 2j:2j+2] = A^T M A for each tile of the band of tile rows r0..r1 (cut
    at the output's edge), then a Post's stages (epilogue_plane; flags 0: none) on those
    output rows while they are in cache. res: (N, C, ho, wo), or y itself when unused."""
    c_out = m.shape[1]
    t = np.zeros((2, 4), dtype=m.dtype)
    for k in range(c_out):
        mk = m[:, k]
        for big in range(r0, r1):
            s = big // th
            ti = big % th
            out = y[s, k]
            for tj in range(tw):
                p = (big - r0) * tw + tj
                for b in range(4):          # A^T M
                    m0, m1 = mk[b, p], mk[4 + b, p]
                    m2, m3 = mk[8 + b, p], mk[12 + b, p]
                    t[0, b] = m0 + m1 + m2
                    t[1, b] = m1 - m2 - m3
                for a in range(2):          # (A^T M) A
                    r = 2 * ti + a
                    if r >= ho:
                        break
                    out[r, 2 * tj] = t[a, 0] + t[a, 1] + t[a, 2]
                    if 2 * tj + 1 < wo:
                        out[r, 2 * tj + 1] = t[a, 1] - t[a, 2] - t[a, 3]
            if flags:
                lo = 2 * ti
                hi = min(2 * ti + 2, ho)
                band = out[lo:hi].reshape(1, (hi - lo) * wo)
                epilogue_plane(band, bias[k:k + 1] if flags & EPI_BIAS else bias,
                               scale[k:k + 1] if flags & EPI_BN else scale,
                               shift[k:k + 1] if flags & EPI_BN else shift, lo1, hi1,
                               res[s, k, lo:hi].reshape(1, (hi - lo) * wo), rscale, lo2, hi2,
                               flags)


WINOGRAD_BAND = 1 << 22     # elements of V and M (16 x (C_in + C_out) x tiles) in a band


def winograd_band_rows(n, th, tw, c_in, c_out):
    """Tile rows per band: V and M within WINOGRAD_BAND elements (they stay in cache between
    the transforms and the products), but at least WINOGRAD_MIN_TILES tiles wide (the 16
    products stay wide) and at most the whole batch."""
    per_row = 16 * (c_in + c_out) * tw
    rows = max(WINOGRAD_BAND // per_row, -(-WINOGRAD_MIN_TILES // tw), 1)
    return min(rows, n * th)


def conv2d_winograd(xp, w, ho, wo, post=None):
    """3x3, stride 1, no dilation, one group, on a padded batch (ho = hp - 2, wo = wp - 2), a
    band of tile rows at a time (winograd_band_rows); ``post``: a Post applied to each band's
    output rows as they are written."""
    n, c_in = xp.shape[:2]
    c_out = w.shape[0]
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    g = _G.astype(xp.dtype)
    # U = G w G^T for every filter: two BLAS contractions, then (a, b) first
    u = np.tensordot(np.tensordot(g, w, axes=([1], [2])), g, axes=([3], [1]))   # a, k, c, b
    u = np.ascontiguousarray(u.transpose(0, 3, 1, 2)).reshape(16, c_out, c_in)
    band = winograd_band_rows(n, th, tw, c_in, c_out)
    vbuf = _buffer(16 * c_in * band * tw, xp.dtype, "winograd_v")
    mbuf = _buffer(16 * c_out * band * tw, xp.dtype, "winograd_m")
    xp = np.ascontiguousarray(xp)
    y = np.empty((n, c_out, ho, wo), dtype=xp.dtype)
    if post is None:
        args = (_DUMMY[xp.dtype.char], _DUMMY["d"], _DUMMY["d"], -np.inf, np.inf, y, 1.0,
                -np.inf, np.inf, 0)
    else:
        bias = post.bias if post.bias.dtype == y.dtype or not post.flags & EPI_BIAS \
            else post.bias.astype(y.dtype)
        args = (bias, post.scale, post.shift, post.lo1, post.hi1,
                y if post.res is None else post.res, post.rscale, post.lo2, post.hi2,
                post.flags)
    for r0 in range(0, n * th, band):
        r1 = min(r0 + band, n * th)
        tiles = (r1 - r0) * tw
        v = vbuf[:16 * c_in * tiles].reshape(16, c_in, tiles)
        m = mbuf[:16 * c_out * tiles].reshape(16, c_out, tiles)
        _winograd_input(xp, th, tw, r0, r1, v)
        np.matmul(u, v, out=m)
        _winograd_output(m, th, tw, r0, r1, ho, wo, y, *args)
    return y


_DUMMY = {"f": np.zeros(1, dtype=np.float32), "d": np.zeros(1, dtype=np.float64)}


# Small maps at a batch: one product over the columns of every sample (N * H_out * W_out wide)
# instead of one narrow product per sample, when the columns fit the budget.
BATCHED_GEMM_HW = 100                   # outputs per sample below which the batch is gathered
BATCHED_GEMM_ELEMENTS = 1 << 23         # largest column matrix (elements) gathered at once


def _batched_product(w2, cols, y, n, ho, wo, post):
    """y (N, C_out, ho*wo) = w2 @ cols (K, N*ho*wo), sample by sample out of one product, each
    followed by ``post``."""
    hw = ho * wo
    prod = _buffer(w2.shape[0] * n * hw, y.dtype, "product").reshape(w2.shape[0], n * hw)
    np.matmul(w2, cols, out=prod)
    for s in range(n):
        y[s] = prod[:, s * hw:(s + 1) * hw]
        if post is not None:
            post.apply(y, s)
    return y.reshape(n, w2.shape[0], ho, wo)


IM2COL_BAND = 1 << 23       # largest column matrix (elements) of one product on a large map


def _im2col_bands(xp, w2, kh, kw, sh, sw, dh, dw, ho, wo, y, post):
    """im2col + GEMM a band of output rows at a time, the columns of a band within
    IM2COL_BAND elements (they stay in cache for the product instead of streaming the whole
    map's columns, kh*kw times its input, through memory); one group."""
    n = xp.shape[0]
    k = w2.shape[1]
    c_out = w2.shape[0]
    rows = max(IM2COL_BAND // (k * wo), 1)
    cols = _buffer(k * rows * wo, xp.dtype).reshape(-1)
    prod = _buffer(c_out * rows * wo, xp.dtype, "product").reshape(-1)
    for s in range(n):
        ys = y[s]
        for r0 in range(0, ho, rows):
            r1 = min(r0 + rows, ho)
            part = xp[s, :, r0 * sh:(r1 - 1) * sh + (kh - 1) * dh + 1]
            c = cols[:k * (r1 - r0) * wo].reshape(k, (r1 - r0) * wo)
            im2col(part, kh, kw, sh, sw, dh, dw, r1 - r0, wo, c)
            out = prod[:c_out * (r1 - r0) * wo].reshape(c_out, (r1 - r0) * wo)
            np.matmul(w2, c, out=out)
            ys[:, r0 * wo:r1 * wo] = out
        if post is not None:
            post.apply(y, s)
    return y.reshape(n, c_out, ho, wo)


def conv2d_gemm(xp, w, sh, sw, dh, dw, groups, ho, wo, post=None):
    """Convolution of a padded batch by im2col + sgemm. w: (C_out, C_in/groups, kh, kw).
    ``post``: a ``Post`` epilogue applied to each sample's output right after its product
    (while it is in cache), in place."""
    n, c_in, hp, wp = xp.shape
    c_out, cg, kh, kw = w.shape
    # Winograd pays where its 16 GEMMs stay wide: many tiles (large maps) and channels
    if kh == kw == 3 and sh == sw == 1 and dh == dw == 1 and groups == 1 \
            and cg >= WINOGRAD_MIN_CHANNELS \
            and n * ((ho + 1) // 2) * ((wo + 1) // 2) >= WINOGRAD_MIN_TILES:
        return conv2d_winograd(xp, w, ho, wo, post)
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
        if groups == 1 and n > 1 and ho * wo < BATCHED_GEMM_HW \
                and c_in * n * ho * wo <= BATCHED_GEMM_ELEMENTS:
            cols = _buffer(c_in * n * ho * wo, xp.dtype).reshape(c_in, n, ho * wo)
            cols[...] = flat.transpose(1, 0, 2)
            return _batched_product(w2, cols.reshape(c_in, n * ho * wo), y, n, ho, wo, post)
        if groups == 1 and post is not None:
            for s in range(n):
                np.matmul(w2, flat[s], out=y[s])
                post.apply(y, s)
            return y.reshape(n, c_out, ho, wo)
        if groups == 1:
            np.matmul(w2, flat, out=y)
        else:
            for g in range(groups):
                np.matmul(w2[g * og:(g + 1) * og], flat[:, g * cg:(g + 1) * cg],
                          out=y[:, g * og:(g + 1) * og])
        y = y.reshape(n, c_out, ho, wo)
        return y if post is None else post.apply_all(y)
    xp = np.ascontiguousarray(xp)
    hw = ho * wo
    if groups == 1 and n > 1 and hw < BATCHED_GEMM_HW and k * n * hw <= BATCHED_GEMM_ELEMENTS:
        cols = _buffer(k * n * hw, xp.dtype).reshape(k, n * hw)
        for s in range(n):
            im2col(xp[s], kh, kw, sh, sw, dh, dw, ho, wo, cols[:, s * hw:(s + 1) * hw])
        return _batched_product(w2, cols, y, n, ho, wo, post)
    if groups == 1 and k * hw > IM2COL_BAND:
        return _im2col_bands(xp, w2, kh, kw, sh, sw, dh, dw, ho, wo, y, post)
    cols = _buffer(k * ho * wo, xp.dtype).reshape(k, ho * wo)
    for s in range(n):
        for g in range(groups):
            im2col(xp[s, g * cg:(g + 1) * cg], kh, kw, sh, sw, dh, dw, ho, wo, cols)
            np.matmul(w2[g * og:(g + 1) * og], cols, out=y[s, g * og:(g + 1) * og])
        if post is not None:
            post.apply(y, s)
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
    y = np.empty((xp.shape[0], w.shape[0], ho, wo), dtype=xp.dtype)
    depthwise_into(np.ascontiguousarray(xp), w, sh, sw, dh, dw, ho, wo, y)
    return y


@njit(cache=True)
def depthwise_into(xp, w, sh, sw, dh, dw, ho, wo, y):
    """depthwise_fast writing into y (N, C_out, ho, wo); xp contiguous."""
    n, c_in, hp, wp = xp.shape
    c_out, _, kh, kw = w.shape
    mult = c_out // c_in
    if ho == 1:             # a stride never taken (one output): 1 keeps the buffer small
        sh = 1
    if wo == 1:
        sw = 1
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
        return
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
    """xs0 + scale * xs1: add_scaled_clip with no clip (a clip to +-inf keeps every value,
    NaN too)."""
    return add_scaled_clip(xs0, xs1, scale, -np.inf, np.inf)


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


# ----------------------------------------------------------------------------- fused epilogues
# A convolution's output pass may apply, per element v of output channel c, in this order:
#   v += bias[c]                                  (the layer's own bias)
#   v = v * scale[c] + shift[c]                   (a following inference batch norm)
#   v = clip(v, lo1, hi1)                         (a following relu / relu6 / the own one)
#   v = res + rscale * v  or  v + rscale * res    (a following two-input residual add)
#   v = clip(v, lo2, hi2)                         (the relu after that add)
# Each stage rounds to the array's dtype where the separate layer would (each stage stores into
# y before the next reads it), and computes like the separate kernel (batch norm's scale and
# shift in float64 as ``batch_norm``, the add as ``add_scaled``), so the fused result is the
# layer-by-layer one.
EPI_BIAS, EPI_BN, EPI_RES, EPI_RES_FIRST = 1, 2, 4, 8


@njit(cache=True, error_model="numpy")
def bn_coefficients(gamma, beta, mean, var, eps):
    """(scale, shift) in float64 exactly as ``batch_norm`` computes them per channel."""
    c = gamma.shape[0]
    scale = np.empty(c, dtype=np.float64)
    shift = np.empty(c, dtype=np.float64)
    for ch in range(c):
        scale[ch] = gamma[ch] / np.sqrt(var[ch] + eps)
        shift[ch] = beta[ch] - mean[ch] * scale[ch]
    return scale, shift


@njit(cache=True, error_model="numpy")
def epilogue_plane(y, bias, scale, shift, lo1, hi1, res, rscale, lo2, hi2, flags):
    """The stages above in place on y (C, L), one sample: bias (C,), scale/shift (C,) float64,
    res (C, L) (ignored without EPI_RES)."""
    c, length = y.shape
    for ch in range(c):
        row = y[ch]
        if flags & EPI_BIAS:
            b = bias[ch]
            for t in range(length):
                row[t] = row[t] + b
        if flags & EPI_BN:
            sc = scale[ch]
            sh = shift[ch]
            for t in range(length):
                v = row[t] * sc + sh
                row[t] = lo1 if v < lo1 else (hi1 if v > hi1 else v)
        elif lo1 != -np.inf or hi1 != np.inf:
            for t in range(length):
                v = row[t]
                row[t] = lo1 if v < lo1 else (hi1 if v > hi1 else v)
        if flags & EPI_RES:
            r = res[ch]
            if rscale == 1.0:
                for t in range(length):
                    row[t] = r[t] + row[t]
            elif flags & EPI_RES_FIRST:          # res is the add's first input
                for t in range(length):
                    row[t] = r[t] + rscale * row[t]
            else:
                for t in range(length):
                    row[t] = row[t] + rscale * r[t]
            if lo2 != -np.inf or hi2 != np.inf:
                for t in range(length):
                    v = row[t]
                    row[t] = lo2 if v < lo2 else (hi2 if v > hi2 else v)


class Post:
    """A fused epilogue (the stages above) for a product's output; ``apply(y, s)`` runs it on
    sample s of y (N, C, ...) in place. Built by the executor (``execute.run(fuse=True)``) and
    by a conv's own bias and relu-type activation."""
    __slots__ = ("bias", "scale", "shift", "lo1", "hi1", "res", "rscale", "lo2", "hi2", "flags")

    def __init__(self, bias=None, scale=None, shift=None, lo1=-np.inf, hi1=np.inf, res=None,
                 rscale=1.0, res_first=True, lo2=-np.inf, hi2=np.inf):
        self.flags = (EPI_BIAS if bias is not None else 0) | (EPI_BN if scale is not None else 0) \
            | (EPI_RES if res is not None else 0) | (EPI_RES_FIRST if res_first else 0)
        dummy = np.zeros(1, dtype=np.float64)
        self.bias = bias if bias is not None else dummy
        self.scale = scale if scale is not None else dummy
        self.shift = shift if shift is not None else dummy
        self.res = res
        self.lo1, self.hi1, self.rscale, self.lo2, self.hi2 = \
            float(lo1), float(hi1), float(rscale), float(lo2), float(hi2)

    def with_bias(self, bias):
        """The same epilogue with the layer's own bias in front (a fresh object)."""
        out = Post.__new__(Post)
        for k in Post.__slots__:
            setattr(out, k, getattr(self, k))
        out.bias = bias
        out.flags = self.flags | EPI_BIAS
        return out

    def apply(self, y, s):
        c = y.shape[1]
        plane = y[s].reshape(c, -1)
        if self.res is not None:
            res = self.res[s].reshape(c, -1)
        else:
            res = plane                     # unread without EPI_RES
        bias = self.bias
        if bias.dtype != y.dtype and self.flags & EPI_BIAS:
            bias = bias.astype(y.dtype)
        epilogue_plane(plane, bias, self.scale, self.shift, self.lo1, self.hi1, res,
                       self.rscale, self.lo2, self.hi2, self.flags)

    def apply_all(self, y):
        for s in range(y.shape[0]):
            self.apply(y, s)
        return y


CLIPS = {"relu": (0.0, np.inf), "relu6": (0.0, 6.0)}   # activations an epilogue can clip to


def own_post(bias, activation, post=None):
    """The output-pass epilogue of a conv with ``bias`` (array or None) and its own activation
    (an op name), followed by the executor's fused ``post`` (given only when the activation is
    linear); None when the layer's old separate epilogue must run (another activation)."""
    if post is not None:
        return post if bias is None else post.with_bias(bias)
    if activation in CLIPS:
        lo, hi = CLIPS[activation]
        return Post(bias=bias, lo1=lo, hi1=hi)
    if activation == "linear":
        return Post(bias=bias) if bias is not None else None
    return None


def depthwise_post(xp, w, sh, sw, dh, dw, ho, wo, post):
    """depthwise_fast one sample at a time, each followed by ``post`` while it is in cache."""
    n = xp.shape[0]
    if post is None:
        return depthwise_fast(xp, w, sh, sw, dh, dw, ho, wo)
    if n == 1:
        return post.apply_all(depthwise_fast(xp, w, sh, sw, dh, dw, ho, wo))
    xp = np.ascontiguousarray(xp)
    y = np.empty((n, w.shape[0], ho, wo), dtype=xp.dtype)
    for s in range(n):
        depthwise_into(xp[s:s + 1], w, sh, sw, dh, dw, ho, wo, y[s:s + 1])
        post.apply(y, s)
    return y


@njit(cache=True)
def add_scaled_clip(xs0, xs1, scale, lo, hi):
    """clip(add_scaled(xs0, xs1, scale), lo, hi) in one pass (an add and the relu after it),
    rounded where the two separate kernels round."""
    flat0 = xs0.ravel()
    flat1 = xs1.ravel()
    out = np.empty_like(flat0)
    if scale == 1.0:
        for i in range(flat0.size):
            out[i] = flat0[i] + flat1[i]
            v = out[i]
            out[i] = lo if v < lo else (hi if v > hi else v)
    else:
        for i in range(flat0.size):
            out[i] = flat0[i] + scale * flat1[i]
            v = out[i]
            out[i] = lo if v < lo else (hi if v > hi else v)
    return out.reshape(xs0.shape)


# ----------------------------------------------------------------------------- depthwise 3x3
@njit(cache=True)
def depthwise3x3_into(xp, w, sh, sw, dh, dw, ho, wo, y):
    """depthwise_fast for 3x3 kernels (any stride, dilation, multiplier), writing into y: the
    padded plane is split by row and column phase modulo the strides (used as is at stride 1)
    and flattened, so that output (r, x) at t = r*Wq + x reads each tap at a fixed offset from
    t: one long loop per output channel computes each output as one sum of its 9 products in
    (i, j) order (columns x >= wo of each row are computed and dropped)."""
    n, c_in, hp, wp = xp.shape
    c_out = w.shape[0]
    mult = c_out // c_in
    if ho == 1:             # a stride never taken (one output): 1 keeps the buffer small
        sh = 1
    if wo == 1:
        sw = 1
    hq = (hp + sh - 1) // sh
    wq = (wp + sw - 1) // sw
    split = sh > 1 or sw > 1
    # tap (i, j) reads phase plane (i*dh % sh, j*dw % sw) from row i*dh // sh, column
    # j*dw // sw: its offset in the flattened planes
    offs = np.empty(9, dtype=np.int64)
    for i in range(3):
        for j in range(3):
            plane = ((i * dh) % sh) * sw + (j * dw) % sw
            offs[3 * i + j] = (plane * hq + (i * dh) // sh) * wq + (j * dw) // sw
    o0, o1, o2, o3, o4, o5, o6, o7, o8 = offs[0], offs[1], offs[2], offs[3], offs[4], \
        offs[5], offs[6], offs[7], offs[8]
    length = (ho - 1) * wq + wo
    # allocated once (a per-channel allocation costs as much as a small plane's work);
    # unfilled entries of the phase planes are read only for dropped columns
    ph = np.empty((sh, sw, hq, wq) if split else (1, 1, 1, 1), dtype=xp.dtype)
    acc = np.empty(length, dtype=xp.dtype)
    for job in range(n * c_in):
        s = job // c_in
        ci = job % c_in
        src = xp[s, ci]
        if split and sw == 2:
            half = wp // 2
            for r in range(hp):
                row = src[r]
                d0 = ph[r % sh, 0, r // sh]
                d1 = ph[r % sh, 1, r // sh]
                for q in range(half):       # both column phases in one pass over the row
                    d0[q] = row[2 * q]
                    d1[q] = row[2 * q + 1]
                if wp % 2:
                    d0[half] = row[wp - 1]
            f = ph.ravel()
        elif split:
            for pr in range(sh):
                for pc in range(sw):
                    m = (wp - pc + sw - 1) // sw
                    for rr in range(hq):
                        r = rr * sh + pr
                        if r >= hp:
                            break
                        row = src[r]
                        dst = ph[pr, pc, rr]
                        for q in range(m):
                            dst[q] = row[q * sw + pc]
            f = ph.ravel()
        else:
            f = src.ravel()
        for co in range(ci * mult, (ci + 1) * mult):
            k = w[co, 0]
            w0, w1, w2 = k[0, 0], k[0, 1], k[0, 2]
            w3, w4, w5 = k[1, 0], k[1, 1], k[1, 2]
            w6, w7, w8 = k[2, 0], k[2, 1], k[2, 2]
            f0, f1, f2, f3, f4 = f[o0:], f[o1:], f[o2:], f[o3:], f[o4:]
            f5, f6, f7, f8 = f[o5:], f[o6:], f[o7:], f[o8:]
            for t in range(length):
                acc[t] = f0[t] * w0 + f1[t] * w1 + f2[t] * w2 + f3[t] * w3 + f4[t] * w4 \
                    + f5[t] * w5 + f6[t] * w6 + f7[t] * w7 + f8[t] * w8
            for r in range(ho):
                dst = y[s, co, r]
                a = acc[r * wq:]
                for x in range(wo):
                    dst[x] = a[x]




def depthwise(xp, w, sh, sw, dh, dw, ho, wo, post=None):
    """The fast depthwise convolution: 3x3 kernels by depthwise3x3_into, others by
    depthwise_fast; ``post`` (a Post) after each sample, while it is in cache."""
    xp = np.ascontiguousarray(xp)
    n = xp.shape[0]
    kh, kw = w.shape[2], w.shape[3]
    if kh != 3 or kw != 3:
        return depthwise_post(xp, w, sh, sw, dh, dw, ho, wo, post)
    y = np.empty((n, w.shape[0], ho, wo), dtype=xp.dtype)
    if post is None:
        depthwise3x3_into(xp, w, sh, sw, dh, dw, ho, wo, y)
        return y
    for s in range(n):
        depthwise3x3_into(xp[s:s + 1], w, sh, sw, dh, dw, ho, wo, y[s:s + 1])
        post.apply(y, s)
    return y
