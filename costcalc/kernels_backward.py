"""Numba kernels of the backward pass (costcalc/backward.py): NCHW with a batch dimension,
float32 or float64. ``g`` is always the gradient of the loss with respect to the op's output.

Kernels that multiply-accumulate (convolutions, dense, transposed convolution) come in two kinds,
as in kernels.py:
- the counting path (``*_direct``): plain loops over every (output, tap) pair, one counter
  incremented at each multiply actually executed, padded zeros included; the input gradient
  and the weight gradient are separate kernels, so a gradient the rules say is not needed is
  never computed (and never counted);
- the fast path: im2col columns and one matrix product per sample and group (NumPy's BLAS),
  then ``col2im_add`` scatters the input gradient's columns back into the padded map.

Every other op's backward is one loop nest here (element-wise functions, pools, the
normalizations, broadcasting sums). Statistics and window sums are accumulated in float64.

Tie rules (the ones PyTorch autograd follows, so that gradients compare exactly): max pooling
routes each output's gradient to the first maximum of its window in (row, column) order; global
max pooling and reduce_max split it evenly between all the elements equal to the maximum
(torch.amax's backward).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .kernels import conv2d_direct, conv2d_gemm, dense_direct, im2col
from .kernels_norm import group_stats


# ----------------------------------------------------------------------------- convolutions
@njit(cache=True)
def _conv2d_grad_loop(xp, g, w, sh, sw, dh, dw, groups, cg, kh, kw, out, weight):
    """Both counting gradients of a convolution are this loop over every (output, tap) pair:
    g times the tap's weight added at the tap's input position (``weight`` False: ``out`` is
    the padded input's gradient), or g times the tap's input added to the tap's weight
    (``weight`` True: ``out`` is the kernel gradient). Returns the multiplies executed."""
    n, c_out, ho, wo = g.shape
    og = c_out // groups
    count = 0
    for s in range(n):
        for co in range(c_out):
            base = (co // og) * cg
            for yy in range(ho):
                for xx in range(wo):
                    gv = g[s, co, yy, xx]
                    for ci in range(cg):
                        for i in range(kh):
                            r = yy * sh + i * dh
                            for j in range(kw):
                                if weight:
                                    out[co, ci, i, j] += gv * xp[s, base + ci, r, xx * sw + j * dw]
                                else:
                                    out[s, base + ci, r, xx * sw + j * dw] += gv * w[co, ci, i, j]
                                count += 1
    return count


def conv2d_input_grad_direct(g, w, sh, sw, dh, dw, groups, hp, wp):
    """Gradient of the zero-padded input (N, C_in, hp, wp) of a convolution: every output's g
    times every tap of its filter, added at the tap's input position. (dxp, multiplies)."""
    cg, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    dxp = np.zeros((g.shape[0], cg * groups, hp, wp), dtype=g.dtype)
    unused = np.zeros((1, 1, 1, 1), dtype=g.dtype)
    return dxp, _conv2d_grad_loop(unused, g, np.ascontiguousarray(w, dtype=g.dtype), sh, sw,
                                  dh, dw, groups, cg, kh, kw, dxp, False)


def conv2d_weight_grad_direct(xp, g, kh, kw, sh, sw, dh, dw, groups):
    """Kernel gradient (C_out, C_in/groups, kh, kw): g correlated with the padded input.
    (dw, multiplies)."""
    cg = xp.shape[1] // groups
    dwt = np.zeros((g.shape[1], cg, kh, kw), dtype=g.dtype)
    unused = np.zeros((1, 1, 1, 1), dtype=g.dtype)
    return dwt, _conv2d_grad_loop(np.asarray(xp, dtype=g.dtype), g, unused, sh, sw, dh, dw,
                                  groups, cg, kh, kw, dwt, True)


@njit(cache=True)
def col2im_add(cols, cg, kh, kw, sh, sw, dh, dw, ho, wo, out):
    """cols (cg*kh*kw, ho*wo): entry ((c, i, j), (y, x)) added to out[c, y*sh + i*dh,
    x*sw + j*dw] (the adjoint of kernels.im2col)."""
    for c in range(cg):
        for i in range(kh):
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j]
                for y in range(ho):
                    dst = out[c, y * sh + i * dh]
                    src = row[y * wo:(y + 1) * wo]
                    off = j * dw
                    for x in range(wo):
                        dst[off + x * sw] += src[x]


def conv2d_input_grad(g, w, sh, sw, dh, dw, groups, hp, wp):
    """Fast path of conv2d_input_grad_direct: per sample and group, columns = W_g^T g, then
    col2im. Depthwise and other thin groups (C_in/groups*kh*kw < 8) use the loops."""
    n, c_out, ho, wo = g.shape
    cg, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    if cg * kh * kw < 8:
        return conv2d_input_grad_direct(g, w, sh, sw, dh, dw, groups, hp, wp)[0]
    og = c_out // groups
    k = cg * kh * kw
    w2 = np.ascontiguousarray(w).reshape(c_out, k)
    g = np.ascontiguousarray(g)
    dxp = np.zeros((n, cg * groups, hp, wp), dtype=g.dtype)
    for s in range(n):
        for gr in range(groups):
            cols = w2[gr * og:(gr + 1) * og].T @ g[s, gr * og:(gr + 1) * og].reshape(og, ho * wo)
            col2im_add(np.ascontiguousarray(cols), cg, kh, kw, sh, sw, dh, dw, ho, wo,
                       dxp[s, gr * cg:(gr + 1) * cg])
    return dxp


def conv2d_weight_grad(xp, g, kh, kw, sh, sw, dh, dw, groups):
    """Fast path of conv2d_weight_grad_direct: per sample and group, g (og, ho*wo) times the
    im2col columns (cg*kh*kw, ho*wo) transposed."""
    n, c_out, ho, wo = g.shape
    cg = xp.shape[1] // groups
    if cg * kh * kw < 8:
        return conv2d_weight_grad_direct(xp, g, kh, kw, sh, sw, dh, dw, groups)[0]
    og = c_out // groups
    k = cg * kh * kw
    xp = np.ascontiguousarray(xp)
    g = np.ascontiguousarray(g)
    dw2 = np.zeros((c_out, k), dtype=g.dtype)
    cols = np.empty((k, ho * wo), dtype=g.dtype)
    for s in range(n):
        for gr in range(groups):
            im2col(xp[s, gr * cg:(gr + 1) * cg], kh, kw, sh, sw, dh, dw, ho, wo, cols)
            dw2[gr * og:(gr + 1) * og] += g[s, gr * og:(gr + 1) * og].reshape(og, ho * wo) @ cols.T
    return dw2.reshape(c_out, cg, kh, kw)


# ----------------------------------------------------------------------------- dense
def dense_input_grad_direct(g, w):
    """g (N, units), w (units, C_in): dx = g w, every multiply counted: the forward's loop
    (kernels.dense_direct) with the kernel transposed."""
    return dense_direct(g, w.T)


def dense_weight_grad_direct(x, g):
    """x (N, C_in), g (N, units): dw = g^T x (units, C_in), every multiply counted: the
    forward's loop over the batch axis."""
    return dense_direct(g.T, x.T)


# ----------------------------------------------------------------------------- transposed conv
def conv_transpose_input_grad_direct(gfull, w, sh, sw, dh, dw, groups, h, wd):
    """Input gradient of a transposed convolution from the gradient of its full (uncropped)
    output: every input element gathers g at each tap it was scattered to, which is the
    forward's counting convolution (kernels.conv2d_direct) of gfull with the kernel read as
    (C_in, C_out/groups, kh, kw). (dx, multiplies)."""
    return conv2d_direct(gfull, w, sh, sw, dh, dw, groups, h, wd)


def conv_transpose_weight_grad_direct(x, gfull, kh, kw, sh, sw, dh, dw, groups):
    """Kernel gradient (C_in, C_out/groups, kh, kw) of a transposed convolution: the kernel
    gradient of a convolution with the roles swapped (the input x plays the output gradient,
    the full output gradient the padded input), so the same loop."""
    return conv2d_weight_grad_direct(gfull, x, kh, kw, sh, sw, dh, dw, groups)


def conv_transpose_input_grad(gfull, w, sh, sw, dh, dw, groups, h, wd):
    """Fast path of conv_transpose_input_grad_direct: a convolution of the full output gradient
    with the kernel read as (C_in, C_out/groups, kh, kw), the forward's conv2d_gemm."""
    return conv2d_gemm(gfull, w, sh, sw, dh, dw, groups, h, wd)


def conv_transpose_weight_grad(x, gfull, kh, kw, sh, sw, dh, dw, groups):
    """Fast path of conv_transpose_weight_grad_direct: the convolution's kernel gradient with
    the same roles swapped (x plays the output gradient, gfull the padded input)."""
    return conv2d_weight_grad(gfull, x, kh, kw, sh, sw, dh, dw, groups)


# ----------------------------------------------------------------------------- per channel sums
@njit(cache=True)
def channel_sum(g):
    """sum of g over (N, H, W) per channel: a bias's or beta's gradient."""
    n, c, h, w = g.shape
    out = np.zeros(c, dtype=np.float64)
    for s in range(n):
        for ch in range(c):
            acc = 0.0
            for i in range(h):
                for j in range(w):
                    acc += g[s, ch, i, j]
            out[ch] += acc
    return out.astype(g.dtype)


@njit(cache=True)
def channel_dot(g, x):
    """sum of g * x over (N, H, W) per channel: a per-channel scale's gradient."""
    n, c, h, w = g.shape
    out = np.zeros(c, dtype=np.float64)
    for s in range(n):
        for ch in range(c):
            acc = 0.0
            for i in range(h):
                for j in range(w):
                    acc += g[s, ch, i, j] * x[s, ch, i, j]
            out[ch] += acc
    return out.astype(g.dtype)


@njit(cache=True)
def channel_scale(g, scale):
    """g[n, c] * scale[c]."""
    n, c, h, w = g.shape
    out = np.empty_like(g)
    for s in range(n):
        for ch in range(c):
            k = scale[ch]
            for i in range(h):
                for j in range(w):
                    out[s, ch, i, j] = g[s, ch, i, j] * k
    return out


# ----------------------------------------------------------------------------- batch norm
@njit(cache=True, error_model="numpy")
def batch_norm_train_forward(x, gamma, beta, eps):
    """Training mode: batch statistics over (N, H, W) per channel (the biased variance, as
    every framework normalizes with). (y, mean, 1/sqrt(var + eps)) with float64 statistics."""
    n, c, h, w = x.shape
    m = n * h * w
    mean = np.zeros(c, dtype=np.float64)
    inv = np.zeros(c, dtype=np.float64)
    y = np.empty_like(x)
    for ch in range(c):
        tot = 0.0
        for s in range(n):
            for i in range(h):
                for j in range(w):
                    tot += x[s, ch, i, j]
        mu = tot / m
        sq = 0.0
        for s in range(n):
            for i in range(h):
                for j in range(w):
                    d = x[s, ch, i, j] - mu
                    sq += d * d
        r = 1.0 / math.sqrt(sq / m + eps)
        mean[ch] = mu
        inv[ch] = r
        k = r * gamma[ch]
        b = beta[ch]
        for s in range(n):
            for i in range(h):
                for j in range(w):
                    y[s, ch, i, j] = (x[s, ch, i, j] - mu) * k + b
    return y, mean, inv


@njit(cache=True, error_model="numpy")
def normalized_sums(x, g, mean, inv):
    """Per channel: (sum g * x_hat, sum g) with x_hat = (x - mean) * inv, over (N, H, W): the
    gradients of gamma and beta."""
    n, c, h, w = x.shape
    dgamma = np.zeros(c, dtype=np.float64)
    dbeta = np.zeros(c, dtype=np.float64)
    for ch in range(c):
        mu = mean[ch]
        r = inv[ch]
        a = 0.0
        b = 0.0
        for s in range(n):
            for i in range(h):
                for j in range(w):
                    gv = g[s, ch, i, j]
                    a += gv * (x[s, ch, i, j] - mu) * r
                    b += gv
        dgamma[ch] = a
        dbeta[ch] = b
    return dgamma, dbeta


@njit(cache=True, error_model="numpy")
def batch_norm_train_input_grad(x, g, gamma, mean, inv):
    """dx = gamma * inv / M * (M g - sum g - x_hat * sum(g x_hat)), M = N*H*W (the batch
    statistics depend on every element of the channel)."""
    n, c, h, w = x.shape
    m = n * h * w
    dx = np.empty_like(x)
    dgamma, dbeta = normalized_sums(x, g, mean, inv)
    for ch in range(c):
        mu = mean[ch]
        r = inv[ch]
        k = gamma[ch] * r / m
        sg = dbeta[ch]
        sgx = dgamma[ch]
        for s in range(n):
            for i in range(h):
                for j in range(w):
                    xh = (x[s, ch, i, j] - mu) * r
                    dx[s, ch, i, j] = k * (m * g[s, ch, i, j] - sg - xh * sgx)
    return dx


# ----------------------------------------------------------------------------- layer, group norm
@njit(cache=True, error_model="numpy")
def layer_norm_channels_backward(x, g, gamma, eps):
    """Layer norm over the C values at each (n, h, w): (dx, dgamma, dbeta), statistics
    recomputed from the kept input."""
    n, c, h, w = x.shape
    dx = np.empty_like(x)
    dgamma = np.zeros(c, dtype=np.float64)
    dbeta = np.zeros(c, dtype=np.float64)
    xh = np.empty(c, dtype=np.float64)
    gh = np.empty(c, dtype=np.float64)
    for s in range(n):
        for i in range(h):
            for j in range(w):
                tot = 0.0
                for ch in range(c):
                    tot += x[s, ch, i, j]
                mu = tot / c
                sq = 0.0
                for ch in range(c):
                    d = x[s, ch, i, j] - mu
                    sq += d * d
                r = 1.0 / math.sqrt(sq / c + eps)
                a = 0.0
                b = 0.0
                for ch in range(c):
                    xh[ch] = (x[s, ch, i, j] - mu) * r
                    gv = g[s, ch, i, j]
                    dgamma[ch] += gv * xh[ch]
                    dbeta[ch] += gv
                    gh[ch] = gv * gamma[ch]
                    a += gh[ch]
                    b += gh[ch] * xh[ch]
                for ch in range(c):
                    dx[s, ch, i, j] = r / c * (c * gh[ch] - a - xh[ch] * b)
    return dx, dgamma, dbeta


@njit(cache=True, error_model="numpy")
def group_norm_backward(x, g, groups, gamma, eps):
    """Group norm (statistics over (C/groups) x H x W per sample and group; groups = C is
    instance norm): (dx, dgamma, dbeta)."""
    n, c, h, w = x.shape
    cg = c // groups
    cnt = cg * h * w
    dx = np.empty_like(x)
    dgamma = np.zeros(c, dtype=np.float64)
    dbeta = np.zeros(c, dtype=np.float64)
    for s in range(n):
        for gr in range(groups):
            lo = gr * cg
            mu, r = group_stats(x, s, lo, lo + cg, eps)
            a = 0.0
            b = 0.0
            for ch in range(lo, lo + cg):
                for i in range(h):
                    for j in range(w):
                        xh = (x[s, ch, i, j] - mu) * r
                        gv = g[s, ch, i, j]
                        dgamma[ch] += gv * xh
                        dbeta[ch] += gv
                        a += gv * gamma[ch]
                        b += gv * gamma[ch] * xh
            for ch in range(lo, lo + cg):
                k = gamma[ch]
                for i in range(h):
                    for j in range(w):
                        xh = (x[s, ch, i, j] - mu) * r
                        dx[s, ch, i, j] = r / cnt * (cnt * g[s, ch, i, j] * k - a - xh * b)
    return dx, dgamma, dbeta


@njit(cache=True, error_model="numpy")
def lrn_backward(x, g, size, alpha, beta, k):
    """y_c = x_c d_c^-beta, d_c = k + alpha/size * sum of x^2 over channels c - size//2 ..
    c + (size-1)//2. dx_j = g_j d_j^-beta - 2 alpha beta / size * x_j * sum over the windows
    containing j of g_c x_c d_c^(-beta-1)."""
    n, c, h, w = x.shape
    dx = np.empty_like(x)
    d = np.empty(c, dtype=np.float64)
    t = np.empty(c, dtype=np.float64)
    for s in range(n):
        for i in range(h):
            for j in range(w):
                for ch in range(c):
                    lo = max(0, ch - size // 2)
                    hi = min(c - 1, ch + (size - 1) // 2)
                    acc = 0.0
                    for cc in range(lo, hi + 1):
                        acc += x[s, cc, i, j] * x[s, cc, i, j]
                    d[ch] = k + alpha / size * acc
                    t[ch] = g[s, ch, i, j] * x[s, ch, i, j] * d[ch] ** (-beta - 1.0)
                for jj in range(c):
                    lo = max(0, jj - (size - 1) // 2)
                    hi = min(c - 1, jj + size // 2)
                    acc = 0.0
                    for ch in range(lo, hi + 1):
                        acc += t[ch]
                    dx[s, jj, i, j] = g[s, jj, i, j] * d[jj] ** (-beta) \
                        - 2.0 * alpha * beta / size * x[s, jj, i, j] * acc
    return dx


# ----------------------------------------------------------------------------- activations
@njit(cache=True)
def mask_open(g, v, lo, hi):
    """g where lo < v < hi, else 0: ReLU (v = its output, 0..inf), ReLU6 (0..6)."""
    fg = g.ravel()
    fv = v.ravel()
    out = np.empty_like(fg)
    for i in range(fg.size):
        out[i] = fg[i] if lo < fv[i] < hi else 0.0
    return out.reshape(g.shape)


@njit(cache=True)
def mask_closed(g, v, lo, hi):
    """g where lo <= v <= hi, else 0: clip (torch.clamp's gradient) on its input."""
    fg = g.ravel()
    fv = v.ravel()
    out = np.empty_like(fg)
    for i in range(fg.size):
        out[i] = fg[i] if lo <= fv[i] <= hi else 0.0
    return out.reshape(g.shape)


@njit(cache=True)
def sigmoid_grad(g, y):
    fg = g.ravel()
    fy = y.ravel()
    out = np.empty_like(fg)
    for i in range(fg.size):
        out[i] = fg[i] * fy[i] * (1.0 - fy[i])
    return out.reshape(g.shape)


@njit(cache=True)
def tanh_grad(g, y):
    fg = g.ravel()
    fy = y.ravel()
    out = np.empty_like(fg)
    for i in range(fg.size):
        out[i] = fg[i] * (1.0 - fy[i] * fy[i])
    return out.reshape(g.shape)


@njit(cache=True)
def softmax_channels_grad(g, y):
    """y * (g - sum over channels of g * y), per position."""
    n, c, h, w = g.shape
    out = np.empty_like(g)
    for s in range(n):
        for i in range(h):
            for j in range(w):
                acc = 0.0
                for ch in range(c):
                    acc += g[s, ch, i, j] * y[s, ch, i, j]
                for ch in range(c):
                    out[s, ch, i, j] = y[s, ch, i, j] * (g[s, ch, i, j] - acc)
    return out


@njit(cache=True)
def hard_sigmoid_grad(g, x, slope, offset):
    """g * slope where 0 < slope*x + offset < 1 (the linear part), else 0."""
    fg = g.ravel()
    fx = x.ravel()
    out = np.empty_like(fg)
    for i in range(fg.size):
        v = slope * fx[i] + offset
        out[i] = fg[i] * slope if 0.0 < v < 1.0 else 0.0
    return out.reshape(g.shape)


@njit(cache=True)
def swish_grad(g, x):
    """g * (s + x s (1 - s)), s = sigmoid(x) (stable form)."""
    fg = g.ravel()
    fx = x.ravel()
    out = np.empty_like(fg)
    for i in range(fg.size):
        v = fx[i]
        if v >= 0:
            s = 1.0 / (1.0 + math.exp(-v))
        else:
            e = math.exp(v)
            s = e / (1.0 + e)
        out[i] = fg[i] * (s + v * s * (1.0 - s))
    return out.reshape(g.shape)


@njit(cache=True)
def hard_swish_grad(g, x):
    """d/dx x*relu6(x+3)/6: 0 below -3, (2x + 3)/6 on [-3, 3], 1 above (PyTorch's
    hardswish_backward)."""
    fg = g.ravel()
    fx = x.ravel()
    out = np.empty_like(fg)
    for i in range(fg.size):
        v = fx[i]
        if v < -3.0:
            out[i] = 0.0
        elif v <= 3.0:
            out[i] = fg[i] * (v / 3.0 + 0.5)
        else:
            out[i] = fg[i]
    return out.reshape(g.shape)


@njit(cache=True)
def gelu_grad(g, x, tanh_form):
    """Exact: Phi(x) + x phi(x). Tanh form: the derivative of
    x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    fg = g.ravel()
    fx = x.ravel()
    out = np.empty_like(fg)
    c = math.sqrt(2.0 / math.pi)
    for i in range(fg.size):
        v = fx[i]
        if tanh_form:
            inner = c * (v + 0.044715 * v * v * v)
            t = math.tanh(inner)
            d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * v * v)
        else:
            cdf = 0.5 * (1.0 + math.erf(v / math.sqrt(2.0)))
            pdf = math.exp(-0.5 * v * v) / math.sqrt(2.0 * math.pi)
            d = cdf + v * pdf
        out[i] = fg[i] * d
    return out.reshape(g.shape)


@njit(cache=True)
def leaky_relu_grad(g, x, alpha):
    fg = g.ravel()
    fx = x.ravel()
    out = np.empty_like(fg)
    for i in range(fg.size):
        out[i] = fg[i] if fx[i] > 0.0 else fg[i] * alpha
    return out.reshape(g.shape)


@njit(cache=True)
def elu_grad(g, y, alpha):
    """From the output: 1 where y > 0, else y + alpha (= alpha exp(x))."""
    fg = g.ravel()
    fy = y.ravel()
    out = np.empty_like(fg)
    for i in range(fg.size):
        out[i] = fg[i] if fy[i] > 0.0 else fg[i] * (fy[i] + alpha)
    return out.reshape(g.shape)


@njit(cache=True)
def prelu_grad(g, x, slope):
    """slope (C, H, W) (one per element, broadcast by the op): (dx, dslope of shape (C, H, W)
    summed over the batch)."""
    n, c, h, w = x.shape
    dx = np.empty_like(x)
    ds = np.zeros((c, h, w), dtype=np.float64)
    for s in range(n):
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    v = x[s, ch, i, j]
                    gv = g[s, ch, i, j]
                    if v > 0.0:
                        dx[s, ch, i, j] = gv
                    else:
                        dx[s, ch, i, j] = gv * slope[ch, i, j]
                        ds[ch, i, j] += gv * v
    return dx, ds


@njit(cache=True)
def scale_all(g, k):
    fg = g.ravel()
    out = np.empty_like(fg)
    for i in range(fg.size):
        out[i] = fg[i] * k
    return out.reshape(g.shape)


# ----------------------------------------------------------------------------- pools
@njit(cache=True)
def max_pool2d_grad(x, g, kh, kw, sh, sw, dh, dw, pt, pl):
    """Each output's g added at the first maximum of its window (taps outside the input are
    skipped: they are -inf), scanning rows then columns."""
    n, c, h, w = x.shape
    ho, wo = g.shape[2], g.shape[3]
    dx = np.zeros_like(x)
    for s in range(n):
        for ch in range(c):
            for yy in range(ho):
                for xx in range(wo):
                    best = -np.inf
                    br = -1
                    bc = -1
                    for i in range(kh):
                        r = yy * sh + i * dh - pt
                        if r < 0 or r >= h:
                            continue
                        for j in range(kw):
                            q = xx * sw + j * dw - pl
                            if q < 0 or q >= w:
                                continue
                            v = x[s, ch, r, q]
                            if br < 0 or v > best:
                                best = v
                                br = r
                                bc = q
                    if br >= 0:
                        dx[s, ch, br, bc] += g[s, ch, yy, xx]
    return dx


@njit(cache=True)
def avg_pool2d_grad(g, h, w, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr, include_pad):
    """Each output's g / n added to every tap of its window inside the input; n = the taps
    inside the input, or with include_pad those inside the padded input (a ceil-mode window
    may hang past it)."""
    n, c, ho, wo = g.shape
    dx = np.zeros((n, c, h, w), dtype=g.dtype)
    for yy in range(ho):
        rows = 0
        prows = 0
        for i in range(kh):
            r = yy * sh + i * dh - pt
            if -pt <= r < h + pb:
                prows += 1
            if 0 <= r < h:
                rows += 1
        for xx in range(wo):
            cols = 0
            pcols = 0
            for j in range(kw):
                q = xx * sw + j * dw - pl
                if -pl <= q < w + pr:
                    pcols += 1
                if 0 <= q < w:
                    cols += 1
            div = prows * pcols if include_pad else rows * cols
            if div < 1:
                div = 1
            for s in range(n):
                for ch in range(c):
                    v = g[s, ch, yy, xx] / div
                    for i in range(kh):
                        r = yy * sh + i * dh - pt
                        if r < 0 or r >= h:
                            continue
                        for j in range(kw):
                            q = xx * sw + j * dw - pl
                            if 0 <= q < w:
                                dx[s, ch, r, q] += v
    return dx


@njit(cache=True)
def reduce_max_grad(x, y, g, rc, rh, rw):
    """g split evenly between the elements equal to their maximum (torch.amax); rc, rh, rw:
    whether C, H, W were reduced (y and g have size 1 there)."""
    n, c, h, w = x.shape
    cnt = np.zeros(y.shape, dtype=np.int64)
    for s in range(n):
        for ch in range(c):
            a = 0 if rc else ch
            for i in range(h):
                b = 0 if rh else i
                for j in range(w):
                    e = 0 if rw else j
                    if x[s, ch, i, j] == y[s, a, b, e]:
                        cnt[s, a, b, e] += 1
    dx = np.zeros_like(x)
    for s in range(n):
        for ch in range(c):
            a = 0 if rc else ch
            for i in range(h):
                b = 0 if rh else i
                for j in range(w):
                    e = 0 if rw else j
                    if x[s, ch, i, j] == y[s, a, b, e]:
                        dx[s, ch, i, j] = g[s, a, b, e] / cnt[s, a, b, e]
    return dx


@njit(cache=True)
def expand_grad(g, c, h, w, k):
    """g (N, 1 or c, 1 or h, 1 or w) spread over (N, c, h, w) times k (a mean's 1/n)."""
    n = g.shape[0]
    gc, gh, gw = g.shape[1], g.shape[2], g.shape[3]
    dx = np.empty((n, c, h, w), dtype=g.dtype)
    for s in range(n):
        for ch in range(c):
            a = ch if gc == c else 0
            for i in range(h):
                b = i if gh == h else 0
                for j in range(w):
                    e = j if gw == w else 0
                    dx[s, ch, i, j] = g[s, a, b, e] * k
    return dx


@njit(cache=True)
def sum_to(g, c, h, w):
    """g (N, C, H, W) summed over the axes where the target (N, c, h, w) has size 1 (the
    gradient of a broadcast input)."""
    n, gc, gh, gw = g.shape
    out = np.zeros((n, c, h, w), dtype=np.float64)
    for s in range(n):
        for ch in range(gc):
            a = ch if c == gc else 0
            for i in range(gh):
                b = i if h == gh else 0
                for j in range(gw):
                    e = j if w == gw else 0
                    out[s, a, b, e] += g[s, ch, i, j]
    return out.astype(g.dtype)


# ----------------------------------------------------------------------------- resize
@njit(cache=True)
def resize_nearest_grad(g, rows, cols, h, w):
    """Each output's g added to its source pixel (rows[i], cols[j])."""
    n, c, ho, wo = g.shape
    dx = np.zeros((n, c, h, w), dtype=g.dtype)
    for s in range(n):
        for ch in range(c):
            for i in range(ho):
                r = rows[i]
                for j in range(wo):
                    dx[s, ch, r, cols[j]] += g[s, ch, i, j]
    return dx


@njit(cache=True)
def resize_bilinear_grad(g, r0, r1, ly, c0, c1, lx, h, w):
    """Each output's g times its four tap weights, added to the four source pixels."""
    n, c, ho, wo = g.shape
    dx = np.zeros((n, c, h, w), dtype=g.dtype)
    for s in range(n):
        for ch in range(c):
            for i in range(ho):
                wy = ly[i]
                for j in range(wo):
                    wx = lx[j]
                    v = g[s, ch, i, j]
                    dx[s, ch, r0[i], c0[j]] += v * (1.0 - wy) * (1.0 - wx)
                    dx[s, ch, r0[i], c1[j]] += v * (1.0 - wy) * wx
                    dx[s, ch, r1[i], c0[j]] += v * wy * (1.0 - wx)
                    dx[s, ch, r1[i], c1[j]] += v * wy * wx
    return dx
