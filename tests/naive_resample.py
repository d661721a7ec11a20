"""Naive twins of the resampling and layout ops (merged into naive.TWINS).

Each is the op's definition spelled out, sharing no code with costcalc: the transposed
convolution scatters every input element times its kernel into the full output and then crops
it (the output length and first row from PyTorch's and Keras's documented formulas, written
again here); bilinear resizing evaluates the half-pixel formula at every output pixel.
"""
import math

import numpy as np

import naive

TWINS = {}


def twin(name):
    def register(fn):
        TWINS[name] = fn
        return fn
    return register


def tconv_length(n, k, s, d, mode, lo, hi, outpad):
    """(output length, first full row kept) of a transposed convolution along one axis.

    explicit (PyTorch ConvTranspose2d docs): (n-1)*s - lo - hi + d*(k-1) + outpad + 1, starting
    at full row lo. valid/same (Keras conv_utils.deconv_output_length), placed as TensorFlow
    does: the gradient of a convolution over L rows, whose 'same' padding puts
    floor(total/2) rows on top."""
    keff = d * (k - 1) + 1
    full = (n - 1) * s + keff
    if mode == "explicit":
        return full - lo - hi + (outpad or 0), lo
    if outpad is None:
        length = n * s if mode == "same" else n * s + max(keff - s, 0)
    else:
        pad = keff // 2 if mode == "same" else 0
        length = (n - 1) * s + keff - 2 * pad + outpad
    if mode == "valid":
        return length, 0
    # forward conv 'same' over `length` rows: out = ceil(length/s) = n, pad total from TF's rule
    total = max((n - 1) * s + keff - length, 0)
    return length, total // 2


@twin("conv2d_transpose")
def _conv_transpose_twin(xs, ws, attrs):
    x, w = xs[0], ws[0]
    n, c_in, h, wd = x.shape
    _, og, kh, kw = w.shape
    (sh, sw), (dh, dw), g = attrs["strides"], attrs["dilation"], attrs["groups"]
    pad = attrs["padding"]
    mode = pad if isinstance(pad, str) else "explicit"
    t, b, l, r = (0, 0, 0, 0) if isinstance(pad, str) else pad
    op = attrs["output_padding"] or (None, None)
    ho, top = tconv_length(h, kh, sh, dh, mode, t, b, op[0])
    wo, left = tconv_length(wd, kw, sw, dw, mode, l, r, op[1])
    fh, fw = (h - 1) * sh + dh * (kh - 1) + 1, (wd - 1) * sw + dw * (kw - 1) + 1
    full = np.zeros((n, og * g, max(fh, top + ho), max(fw, left + wo)))
    cg = c_in // g
    for s in range(n):
        for ci in range(c_in):
            grp = ci // cg
            for iy in range(h):
                for ix in range(wd):
                    # this input element times its whole kernel, at its place in the output
                    full[s, grp * og:(grp + 1) * og,
                         iy * sh:iy * sh + dh * (kh - 1) + 1:dh,
                         ix * sw:ix * sw + dw * (kw - 1) + 1:dw] += x[s, ci, iy, ix] * w[ci]
    y = full[:, :, top:top + ho, left:left + wo]
    if attrs["bias"]:
        y = y + ws[-1].reshape(1, -1, 1, 1)
    return naive._fused(y, attrs)


def _out_size(x, attrs):
    h, w = x.shape[2], x.shape[3]
    if attrs["scale"] is not None:
        return h * attrs["scale"][0], w * attrs["scale"][1]
    return attrs["size"]


@twin("resize")
def _resize_twin(xs, ws, attrs):
    x = xs[0]
    n, c, h, w = x.shape
    ho, wo = _out_size(x, attrs)
    y = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            if attrs["mode"] == "nearest":
                # PyTorch 'nearest': source index floor(dst * in / out)
                y[:, :, i, j] = x[:, :, (i * h) // ho, (j * w) // wo]
                continue
            # half-pixel centres: source (dst + 0.5) * in/out - 0.5, at least 0
            sy = max((i + 0.5) * h / ho - 0.5, 0.0)
            sx = max((j + 0.5) * w / wo - 0.5, 0.0)
            y0, x0 = math.floor(sy), math.floor(sx)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            fy, fx = sy - y0, sx - x0
            y[:, :, i, j] = ((1 - fy) * (1 - fx) * x[:, :, y0, x0] + (1 - fy) * fx * x[:, :, y0, x1]
                             + fy * (1 - fx) * x[:, :, y1, x0] + fy * fx * x[:, :, y1, x1])
    return y


@twin("slice")
def _slice_twin(xs, ws, attrs):
    x = xs[0]
    return np.stack([x[:, ch] for ch in range(attrs["begin"], attrs["stop"])], axis=1)


@twin("channel_shuffle")
def _shuffle_twin(xs, ws, attrs):
    x = xs[0]
    c, g = x.shape[1], attrs["groups"]
    per = c // g
    # output channel j*g + k is channel j of group k (input k*per + j)
    out = np.zeros_like(x)
    for k in range(g):
        for j in range(per):
            out[:, j * g + k] = x[:, k * per + j]
    return out


@twin("reshape")
def _reshape_twin(xs, ws, attrs):
    x = xs[0]
    n = x.shape[0]
    count = x.shape[1] * x.shape[2] * x.shape[3]
    dims = list(attrs["shape"])
    if -1 in dims:
        known = 1
        for d in dims:
            if d != -1:
                known *= d
        dims[dims.index(-1)] = count // known
    out = np.zeros((n,) + tuple(dims))
    for s in range(n):
        flat = [v for v in x[s].ravel(order="C")]        # row-major order of C, H, W
        for k, v in enumerate(flat):
            c, rest = divmod(k, dims[1] * dims[2])
            out[s, c, rest // dims[2], rest % dims[2]] = v
    return out


@twin("transpose")
def _transpose_twin(xs, ws, attrs):
    x = xs[0]
    perm = attrs["perm"]
    dims = [x.shape[1:][p] for p in perm]
    out = np.zeros((x.shape[0],) + tuple(dims))
    for s in range(x.shape[0]):
        for idx in np.ndindex(*x.shape[1:]):
            out[(s,) + tuple(idx[p] for p in perm)] = x[(s,) + idx]
    return out


def _reduce(xs, attrs, fn):
    x = xs[0]
    axes = [{"c": 1, "h": 2, "w": 4}[a] for a in attrs["axes"]]
    n, c, h, w = x.shape
    oc, oh, ow = (1 if 1 in axes else c), (1 if 2 in axes else h), (1 if 4 in axes else w)
    out = np.zeros((n, oc, oh, ow))
    for s in range(n):
        for i in range(oc):
            for j in range(oh):
                for k in range(ow):
                    vals = [x[s, ci, hi, wi]
                            for ci in (range(c) if oc == 1 and 1 in axes else [i])
                            for hi in (range(h) if 2 in axes else [j])
                            for wi in (range(w) if 4 in axes else [k])]
                    out[s, i, j, k] = fn(vals)
    return out


TWINS["reduce_mean"] = lambda xs, ws, attrs: _reduce(xs, attrs, lambda v: sum(v) / len(v))
TWINS["reduce_max"] = lambda xs, ws, attrs: _reduce(xs, attrs, max)
