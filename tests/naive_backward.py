"""Slow twins of the backward kernels (costcalc/kernels_backward.py), written the long way and
sharing no code with them: convolutions by walking every output position with NumPy slices,
normalizations by building each group's full Jacobian matrix, resizes by building the
interpolation matrix, pools by listing each window's taps. Every function takes the op's input x
(never its output) and ``g``, the gradient of the op's output, and returns the vector-Jacobian
product.
"""
import math

import numpy as np


# ----------------------------------------------------------------------------- convolutions
def conv2d_grads(xp, w, g, stride, dilation, groups):
    """(dxp, dw) of y[s, o] = sum over the window of xp * w[o], xp already padded."""
    (sh, sw), (dh, dw_) = stride, dilation
    n, c, hp, wp = xp.shape
    co, cg, kh, kw = w.shape
    og = co // groups
    ho, wo = g.shape[2], g.shape[3]
    dxp = np.zeros(xp.shape)
    dw = np.zeros(w.shape)
    for s in range(n):
        for o in range(co):
            grp = o // og
            for i in range(ho):
                for j in range(wo):
                    rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(j * sw, j * sw + dw_ * (kw - 1) + 1, dw_)
                    chans = slice(grp * cg, (grp + 1) * cg)
                    dxp[s, chans, rows, cols] += g[s, o, i, j] * w[o]
                    dw[o] += g[s, o, i, j] * xp[s, chans, rows, cols]
    return dxp, dw


def dense_grads(x, w, g):
    """(dx, dw) of y = x w^T, one sample at a time: dx = g w, dw = sum of outer products."""
    dx = np.zeros(x.shape)
    dw = np.zeros(w.shape)
    for s in range(x.shape[0]):
        dx[s] = w.T.dot(g[s])
        dw += np.outer(g[s], x[s])
    return dx, dw


def conv_transpose_grads(x, w, gfull, stride, dilation, groups):
    """(dx, dw) of the scatter full[s, o] += x[s, ci, iy, ix] * w[ci, o] placed at
    (iy*sh + i*dh, ix*sw + j*dw)."""
    (sh, sw), (dh, dw_) = stride, dilation
    n, c_in, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = c_in // groups
    dx = np.zeros(x.shape)
    dw = np.zeros(w.shape)
    for s in range(n):
        for ci in range(c_in):
            outs = slice((ci // cg) * og, (ci // cg + 1) * og)
            for iy in range(h):
                for ix in range(wd):
                    rows = slice(iy * sh, iy * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(ix * sw, ix * sw + dw_ * (kw - 1) + 1, dw_)
                    patch = gfull[s, outs, rows, cols]
                    dx[s, ci, iy, ix] = np.sum(patch * w[ci])
                    dw[ci] += x[s, ci, iy, ix] * patch
    return dx, dw


# ----------------------------------------------------------------------------- normalizations
def _normalize_vjp(v, gv, gamma_v, eps):
    """One normalization group: v (M,) values, gv (M,) their output gradients, gamma_v (M,) the
    scale applied to each; the full Jacobian J[a, b] = d y_a / d v_b of
    y_a = gamma_a (v_a - mean) / sqrt(var + eps), then J^T gv."""
    m = v.size
    mu = v.mean()
    var = ((v - mu) ** 2).mean()
    r = 1.0 / math.sqrt(var + eps)
    xh = (v - mu) * r
    jac = np.empty((m, m))
    for a in range(m):
        for b in range(m):
            jac[a, b] = gamma_v[a] * r * ((1.0 if a == b else 0.0) - 1.0 / m - xh[a] * xh[b] / m)
    return jac.T.dot(gv), xh


def batch_norm_train_grads(x, g, gamma, eps):
    """Training-mode batch norm: (dx, dgamma, dbeta), statistics over (N, H, W)."""
    n, c, h, w = x.shape
    dx = np.zeros(x.shape)
    dgamma = np.zeros(c)
    dbeta = np.zeros(c)
    for ch in range(c):
        v = x[:, ch].reshape(-1)
        gv = g[:, ch].reshape(-1)
        d, xh = _normalize_vjp(v, gv, np.full(v.size, gamma[ch]), eps)
        dx[:, ch] = d.reshape(n, h, w)
        dgamma[ch] = np.sum(gv * xh)
        dbeta[ch] = np.sum(gv)
    return dx, dgamma, dbeta


def batch_norm_inference_grads(x, g, gamma, mean, var, eps):
    n, c, h, w = x.shape
    dx = np.zeros(x.shape)
    dgamma = np.zeros(c)
    dbeta = np.zeros(c)
    for ch in range(c):
        sd = math.sqrt(var[ch] + eps)
        dx[:, ch] = g[:, ch] * gamma[ch] / sd
        dgamma[ch] = np.sum(g[:, ch] * (x[:, ch] - mean[ch]) / sd)
        dbeta[ch] = np.sum(g[:, ch])
    return dx, dgamma, dbeta


def layer_norm_grads(x, g, gamma, eps):
    """Over the C values of each position."""
    n, c, h, w = x.shape
    dx = np.zeros(x.shape)
    dgamma = np.zeros(c)
    dbeta = np.zeros(c)
    for s in range(n):
        for i in range(h):
            for j in range(w):
                d, xh = _normalize_vjp(x[s, :, i, j], g[s, :, i, j], gamma, eps)
                dx[s, :, i, j] = d
                dgamma += g[s, :, i, j] * xh
                dbeta += g[s, :, i, j]
    return dx, dgamma, dbeta


def group_norm_grads(x, g, groups, gamma, eps):
    n, c, h, w = x.shape
    cg = c // groups
    dx = np.zeros(x.shape)
    dgamma = np.zeros(c)
    dbeta = np.zeros(c)
    for s in range(n):
        for grp in range(groups):
            chans = slice(grp * cg, (grp + 1) * cg)
            v = x[s, chans].reshape(-1)
            gv = g[s, chans].reshape(-1)
            gam = np.repeat(gamma[chans], h * w)
            d, xh = _normalize_vjp(v, gv, gam, eps)
            dx[s, chans] = d.reshape(cg, h, w)
            dgamma[chans] += (gv * xh).reshape(cg, h * w).sum(axis=1)
            dbeta[chans] += gv.reshape(cg, h * w).sum(axis=1)
    return dx, dgamma, dbeta


def lrn_grads(x, g, size, alpha, beta, k):
    """The Jacobian of y_c = x_c / (k + alpha/size * sum_{c' in window(c)} x_c'^2)^beta at each
    position, window(c) = c - size//2 .. c + (size-1)//2, then J^T g."""
    n, c, h, w = x.shape
    dx = np.zeros(x.shape)
    for s in range(n):
        for i in range(h):
            for j in range(w):
                v = x[s, :, i, j]
                jac = np.zeros((c, c))
                for a in range(c):
                    win = [b for b in range(c) if a - size // 2 <= b <= a + (size - 1) // 2]
                    d = k + alpha / size * sum(v[b] ** 2 for b in win)
                    for b in win:
                        jac[a, b] -= v[a] * beta * d ** (-beta - 1) * alpha / size * 2 * v[b]
                    jac[a, a] += d ** (-beta)
                dx[s, :, i, j] = jac.T.dot(g[s, :, i, j])
    return dx


# ----------------------------------------------------------------------------- activations
def activation_grad(name, x, g, **kw):
    """The derivative of each activation, from its input x, times g."""
    if name == "relu":
        d = (x > 0).astype(float)
    elif name == "relu6":
        d = ((x > 0) & (x < 6)).astype(float)
    elif name == "sigmoid":
        e = np.exp(-np.abs(x))
        d = e / (1 + e) ** 2                      # symmetric in x
    elif name == "tanh":
        d = 1 / np.cosh(x) ** 2
    elif name == "hard_sigmoid":
        slope, offset = kw.get("slope", 1 / 6), kw.get("offset", 0.5)
        v = slope * x + offset
        d = np.where((v > 0) & (v < 1), slope, 0.0)
    elif name == "swish":
        s = 1 / (1 + np.exp(-x))
        d = s * (1 + x * (1 - s))
    elif name == "hard_swish":
        d = np.where(x < -3, 0.0, np.where(x > 3, 1.0, (2 * x + 3) / 6))
    elif name == "gelu":
        if kw.get("tanh"):
            c = math.sqrt(2 / math.pi)
            u = c * (x + 0.044715 * x ** 3)
            t = np.tanh(u)
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * c * (1 + 3 * 0.044715 * x ** 2)
        else:
            erf = np.vectorize(math.erf)
            d = 0.5 * (1 + erf(x / math.sqrt(2))) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    elif name == "leaky_relu":
        d = np.where(x > 0, 1.0, kw["alpha"])
    elif name == "elu":
        d = np.where(x > 0, 1.0, kw["alpha"] * np.exp(x))
    elif name == "clip":
        d = ((x >= kw["lo"]) & (x <= kw["hi"])).astype(float)
    else:
        raise KeyError(name)
    return g * d


def softmax_grad(x, g):
    """Per position: the Jacobian diag(y) - y y^T of the channel softmax, times g."""
    n, c, h, w = x.shape
    dx = np.zeros(x.shape)
    for s in range(n):
        for i in range(h):
            for j in range(w):
                e = np.exp(x[s, :, i, j] - x[s, :, i, j].max())
                y = e / e.sum()
                jac = np.diag(y) - np.outer(y, y)
                dx[s, :, i, j] = jac.T.dot(g[s, :, i, j])
    return dx


def prelu_grads(x, g, slope):
    """slope (C, H, W): (dx, dslope)."""
    dx = np.where(x > 0, g, g * slope[None])
    dslope = np.where(x > 0, 0.0, g * x).sum(axis=0)
    return dx, dslope


# ----------------------------------------------------------------------------- pools
def _taps(o, k, s, d, p, size):
    return [o * s + t * d - p for t in range(k) if 0 <= o * s + t * d - p < size]


def max_pool_grad(x, g, k, stride, dilation, pads):
    """Each output's g to the first maximum of its in-input taps (rows, then columns)."""
    (kh, kw), (sh, sw), (dh, dw), (pt, pl) = k, stride, dilation, pads
    n, c, h, w = x.shape
    dx = np.zeros(x.shape)
    for s in range(n):
        for ch in range(c):
            for i in range(g.shape[2]):
                for j in range(g.shape[3]):
                    taps = [(r, q) for r in _taps(i, kh, sh, dh, pt, h)
                            for q in _taps(j, kw, sw, dw, pl, w)]
                    vals = [x[s, ch, r, q] for r, q in taps]
                    r, q = taps[int(np.argmax(vals))]
                    dx[s, ch, r, q] += g[s, ch, i, j]
    return dx


def avg_pool_grad(shape, g, k, stride, dilation, pads, include_pad):
    """pads (top, bottom, left, right): each output's g / divisor to each in-input tap; the
    divisor counts the taps inside the input, or inside the padded input with include_pad."""
    (kh, kw), (sh, sw), (dh, dw), (pt, pb, pl, pr) = k, stride, dilation, pads
    n, c, h, w = shape
    dx = np.zeros(shape)
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            rows = _taps(i, kh, sh, dh, pt, h)
            cols = _taps(j, kw, sw, dw, pl, w)
            if include_pad:
                prow = [i * sh + t * dh - pt for t in range(kh)
                        if -pt <= i * sh + t * dh - pt < h + pb]
                pcol = [j * sw + t * dw - pl for t in range(kw)
                        if -pl <= j * sw + t * dw - pl < w + pr]
                div = max(len(prow) * len(pcol), 1)
            else:
                div = max(len(rows) * len(cols), 1)
            for r in rows:
                for q in cols:
                    dx[:, :, r, q] += g[:, :, i, j] / div
    return dx


def reduce_max_grad(x, g, axes):
    """torch.amax's rule: g split evenly between the elements equal to the maximum."""
    y = x.max(axis=axes, keepdims=True)
    mask = (x == y).astype(float)
    return mask * g / mask.sum(axis=axes, keepdims=True)


def reduce_mean_grad(shape, g, axes):
    n = int(np.prod([shape[a] for a in axes]))
    return np.broadcast_to(g / n, shape).copy()


def unbroadcast(g, shape):
    """Sum g over the axes where shape has size 1 (keepdims)."""
    axes = tuple(a for a in range(g.ndim) if shape[a] == 1 and g.shape[a] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g.copy()


# ----------------------------------------------------------------------------- resize
def _nearest_matrix(size, out):
    m = np.zeros((out, size))
    for d in range(out):
        m[d, (d * size) // out] = 1.0
    return m


def _bilinear_matrix(size, out):
    """Half-pixel centres: source (d + 0.5) * size/out - 0.5 clamped at 0, the two neighbours
    weighted by distance (the upper one clamped to the last row)."""
    m = np.zeros((out, size))
    for d in range(out):
        src = max((d + 0.5) * size / out - 0.5, 0.0)
        lo = min(int(math.floor(src)), size - 1)
        hi = min(lo + 1, size - 1)
        lam = src - lo
        m[d, lo] += 1 - lam
        m[d, hi] += lam
    return m


def resize_grad(shape, g, mode):
    """y = A x B^T per plane (A rows, B columns): dx = A^T g B."""
    n, c, h, w = shape
    ho, wo = g.shape[2], g.shape[3]
    make = _nearest_matrix if mode == "nearest" else _bilinear_matrix
    a, b = make(h, ho), make(w, wo)
    dx = np.zeros(shape)
    for s in range(n):
        for ch in range(c):
            dx[s, ch] = a.T.dot(g[s, ch]).dot(b)
    return dx
