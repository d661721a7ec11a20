"""Naive twins of the broadcasting element-wise ops and the normalization family, written the long
way: one output element at a time with ``math``, sharing nothing with costcalc's kernels.

Each twin takes the batch-first NCHW inputs, the weights in declaration order and the layer's
normalized attributes (the dict a spec gives)."""
import math

import numpy as np

TWINS = {}


def twin(name):
    def deco(fn):
        TWINS[name] = fn
        return fn
    return deco


def _broadcast_out(xs):
    """(N, C, H, W) of inputs broadcast per axis (each axis equal or 1)."""
    dims = []
    for axis in range(4):
        sizes = {x.shape[axis] for x in xs} - {1}
        assert len(sizes) <= 1, [x.shape for x in xs]
        dims.append(sizes.pop() if sizes else 1)
    return tuple(dims)


def _at(x, s, c, i, j):
    """x's element for output position (s, c, i, j): index 0 along its axes of size 1."""
    return float(x[s if x.shape[0] > 1 else 0, c if x.shape[1] > 1 else 0,
                   i if x.shape[2] > 1 else 0, j if x.shape[3] > 1 else 0])


def _elementwise(xs, combine):
    n, c, h, w = _broadcast_out(xs)
    out = np.zeros((n, c, h, w))
    for s in range(n):
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    out[s, ch, i, j] = combine([_at(x, s, ch, i, j) for x in xs])
    return out


@twin("add")
def _add(xs, ws, attrs):
    scale = attrs["scale"] if attrs["scale"] is not None else 1.0

    def combine(vals):
        total = vals[0]
        for v in vals[1:]:
            total += scale * v
        return total
    return _elementwise(xs, combine)


@twin("multiply")
def _multiply(xs, ws, attrs):
    def combine(vals):
        p = 1.0
        for v in vals:
            p *= v
        return p
    return _elementwise(xs, combine)


TWINS["subtract"] = lambda xs, ws, attrs: _elementwise(xs, lambda v: v[0] - v[1])
TWINS["divide"] = lambda xs, ws, attrs: _elementwise(xs, lambda v: v[0] / v[1])


def _take(ws, flags):
    """The weights present (declaration order) for each flag, None where absent."""
    ws = list(ws)
    return [ws.pop(0) if f else None for f in flags]


@twin("scale_bias")
def _scale_bias(xs, ws, attrs):
    x = xs[0]
    scale, bias = _take(ws, (attrs["scale"], attrs["bias"]))
    n, c, h, w = x.shape
    out = np.zeros(x.shape)
    for s in range(n):
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    v = float(x[s, ch, i, j])
                    if scale is not None:
                        v = v * float(scale[ch])
                    if bias is not None:
                        v = v + float(bias[ch])
                    out[s, ch, i, j] = v
    return out


def _normalize_set(values, eps):
    """The values of one statistics set, normalized: (v - mean) / sqrt(biased variance + eps)."""
    m = math.fsum(values) / len(values)
    var = math.fsum((v - m) ** 2 for v in values) / len(values)
    return [(v - m) / math.sqrt(var + eps) for v in values]


@twin("layer_norm")
def _layer_norm(xs, ws, attrs):
    x = xs[0]
    gamma, beta = _take(ws, (attrs["scale"], attrs["center"]))
    n, c, h, w = x.shape
    out = np.zeros(x.shape)
    for s in range(n):
        for i in range(h):
            for j in range(w):
                normed = _normalize_set([float(x[s, ch, i, j]) for ch in range(c)],
                                        attrs["epsilon"])
                for ch in range(c):
                    v = normed[ch]
                    if gamma is not None:
                        v *= float(gamma[ch])
                    if beta is not None:
                        v += float(beta[ch])
                    out[s, ch, i, j] = v
    return out


def _grouped(x, groups, gamma, beta, eps):
    n, c, h, w = x.shape
    per = c // groups
    out = np.zeros(x.shape)
    for s in range(n):
        for g in range(groups):
            where = [(ch, i, j) for ch in range(g * per, (g + 1) * per)
                     for i in range(h) for j in range(w)]
            normed = _normalize_set([float(x[s, ch, i, j]) for ch, i, j in where], eps)
            for (ch, i, j), v in zip(where, normed):
                if gamma is not None:
                    v = v * float(gamma[ch]) + float(beta[ch])
                out[s, ch, i, j] = v
    return out


@twin("group_norm")
def _group_norm(xs, ws, attrs):
    gamma, beta = _take(ws, (attrs["affine"], attrs["affine"]))
    return _grouped(xs[0], attrs["groups"], gamma, beta, attrs["epsilon"])


@twin("instance_norm")
def _instance_norm(xs, ws, attrs):
    gamma, beta = _take(ws, (attrs["affine"], attrs["affine"]))
    return _grouped(xs[0], xs[0].shape[1], gamma, beta, attrs["epsilon"])


@twin("scalar")
def _scalar(xs, ws, attrs):
    x, v = xs[0], attrs["value"]
    out = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        e = float(x[idx])
        out[idx] = {"add": e + v, "subtract": e - v, "multiply": e * v,
                    "divide": e / v}[attrs["operation"]]
    return out


@twin("rescaling")
def _rescaling(xs, ws, attrs):
    x = xs[0]
    out = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        out[idx] = float(x[idx]) * attrs["scale"] + attrs["offset"]
    return out


@twin("normalization")
def _normalization(xs, ws, attrs):
    x = xs[0]
    mean, variance, _count = ws if ws else ([0.0] * x.shape[1], [1.0] * x.shape[1], None)
    out = np.zeros(x.shape)
    for s, ch, i, j in np.ndindex(*x.shape):
        std = max(math.sqrt(float(variance[ch])), 1e-7)   # keras.backend.epsilon()
        v = float(x[s, ch, i, j])
        out[s, ch, i, j] = float(mean[ch]) + v * std if attrs["invert"] else \
            (v - float(mean[ch])) / std
    return out
