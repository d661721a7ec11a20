"""Slow, obviously correct twins of the engine's rules, for the tests.

Each function spells a rule out the long way (enumerating window positions, summing per output
element) so that it shares no code and no shortcut with costcalc/ops.py.
"""
import math


def window_positions(size, k, stride, dilation=1, pad_lo=0, pad_hi=0, ceil_mode=False):
    """Count the window start positions that fit, by walking them one by one.

    Floor mode: the window must lie inside the padded input. Ceil mode (Caffe/PyTorch) keeps one
    more, partial window when it starts inside the input (or the left padding).
    """
    span = dilation * (k - 1) + 1
    count = 0
    p = -pad_lo
    while p + span <= size + pad_hi:
        count += 1
        p += stride
    if ceil_mode and p < size and p + span < size + pad_hi + stride:
        count += 1
    return count


def same_padding(size, k, stride, dilation=1):
    """TensorFlow 'same': output ceil(size/stride); padding split with the extra at the end."""
    out = math.ceil(size / stride)
    span = dilation * (k - 1) + 1
    total = max((out - 1) * stride + span - size, 0)
    return out, total // 2, total - total // 2


def conv_macs_by_outputs(c_in, c_out, h_out, w_out, kh, kw, groups=1):
    """Sum the multiplies of every output value one at a time."""
    total = 0
    for _co in range(c_out):
        for _y in range(h_out):
            for _x in range(w_out):
                total += kh * kw * (c_in // groups)
    return total


# ----------------------------------------------------------------------------- numeric twins
import numpy as np  # noqa: E402


def conv2d(x, w, b, stride, pads, dilation, groups):
    """Direct definition: each output value is the sum of window * filter (NCHW)."""
    (sh, sw), (t, bo, l, r), (dh, dw) = stride, pads, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    n, c, hp, wp = xp.shape
    co, cg, kh, kw = w.shape
    ho = (hp - dh * (kh - 1) - 1) // sh + 1
    wo = (wp - dw * (kw - 1) - 1) // sw + 1
    og = co // groups
    y = np.zeros((n, co, ho, wo))
    for s in range(n):
        for o in range(co):
            g = o // og
            for i in range(ho):
                for j in range(wo):
                    win = xp[s, g * cg:(g + 1) * cg, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                             j * sw:j * sw + dw * (kw - 1) + 1:dw]
                    y[s, o, i, j] = np.sum(win * w[o])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def pool2d(x, k, stride, pads, out_hw, is_max, include_pad, dilation=(1, 1)):
    """Pool by listing each window's in-bounds taps; with include_pad the divisor counts the taps
    inside the padded input (a ceil-mode window may hang past it)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (pt, pb, pl, pr), (ho, wo), (dh, dw) = k, stride, pads, out_hw, dilation
    y = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            rows = [i * sh + a * dh - pt for a in range(kh)]
            cols = [j * sw + b * dw - pl for b in range(kw)]
            taps = [(r, q) for r in rows for q in cols if 0 <= r < h and 0 <= q < w]
            padded = [(r, q) for r in rows for q in cols if -pt <= r < h + pb and -pl <= q < w + pr]
            vals = np.stack([x[:, :, r, q] for r, q in taps], axis=-1)
            if is_max:
                y[:, :, i, j] = vals.max(axis=-1)
            else:
                y[:, :, i, j] = vals.sum(axis=-1) / len(padded if include_pad else taps)
    return y


def batch_norm(x, gamma, beta, mean, var, eps):
    shape = (1, -1, 1, 1)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) \
        + beta.reshape(shape)


def lrn(x, size, alpha, beta, k):
    c = x.shape[1]
    y = np.empty_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c, ch + (size - 1) // 2 + 1)
        y[:, ch] = x[:, ch] / (k + alpha / size * (x[:, lo:hi] ** 2).sum(axis=1)) ** beta
    return y


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
