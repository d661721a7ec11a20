"""Slow, obviously correct twins of the engine's rules, for the tests.

Each function spells a rule out the long way (enumerating window positions, summing per output
element) so that it shares no code and no shortcut with costcalc/ops/.
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


# ----------------------------------------------------------------------------- twins by op
# TWINS[op] (xs, ws, attrs) -> output: each op's forward pass the long way, from the op's
# documented semantics (`costcalc ops`) and the layer's attribute values as a spec gives them.
# tests/test_conformance.py checks every op's kernel against its twin. Families added later
# keep their twins in naive_<family>.py modules, merged here.
TWINS = {}


def twin(name):
    def register(fn):
        TWINS[name] = fn
        return fn
    return register


def window_pads(attrs, h, w):
    """(top, bottom, left, right) of an op with kernel/strides/padding/dilation."""
    (kh, kw), (sh, sw), (dh, dw) = attrs["kernel"], attrs["strides"], attrs["dilation"]
    pad = attrs["padding"]
    if pad == "valid":
        return (0, 0, 0, 0)
    if pad == "same":
        _, t, b = same_padding(h, kh, sh, dh)
        _, l, r = same_padding(w, kw, sw, dw)
        return (t, b, l, r)
    return tuple(pad)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _tanh(x):
    e = np.exp(-2.0 * np.abs(x))
    return np.sign(x) * (1.0 - e) / (1.0 + e)


# The activations a layer may fuse (its `activation:`); families add theirs.
FUSED = {"linear": lambda x: x, "relu": lambda x: np.where(x > 0, x, 0.0),
         "relu6": lambda x: np.minimum(np.where(x > 0, x, 0.0), 6.0),
         "sigmoid": _sigmoid, "tanh": _tanh, "softmax": softmax}


def _fused(y, attrs):
    return FUSED[attrs.get("activation", "linear")](y)


def _bias(ws, attrs):
    return ws[-1] if attrs["bias"] else None


@twin("conv2d")
def _conv2d_twin(xs, ws, attrs):
    x = xs[0]
    pads = window_pads(attrs, x.shape[2], x.shape[3])
    return _fused(conv2d(x, ws[0], _bias(ws, attrs), attrs["strides"], pads, attrs["dilation"],
                         attrs["groups"]), attrs)


@twin("depthwise_conv2d")
def _depthwise_twin(xs, ws, attrs):
    x = xs[0]
    pads = window_pads(attrs, x.shape[2], x.shape[3])
    return _fused(conv2d(x, ws[0], _bias(ws, attrs), attrs["strides"], pads, attrs["dilation"],
                         x.shape[1]), attrs)


@twin("separable_conv2d")
def _separable_twin(xs, ws, attrs):
    x = xs[0]
    pads = window_pads(attrs, x.shape[2], x.shape[3])
    mid = conv2d(x, ws[0], None, attrs["strides"], pads, attrs["dilation"], x.shape[1])
    return _fused(conv2d(mid, ws[1], _bias(ws, attrs), (1, 1), (0, 0, 0, 0), (1, 1), 1), attrs)


@twin("dense")
def _dense_twin(xs, ws, attrs):
    if attrs.get("per_position"):       # the same product at every (h, w) position on its own
        x = xs[0]
        n, _, h, w = x.shape
        y = np.zeros((n, ws[0].shape[0], h, w))
        for r in range(h):
            for q in range(w):
                y[:, :, r:r + 1, q:q + 1] = _dense_twin(
                    [x[:, :, r:r + 1, q:q + 1]], ws, {**attrs, "per_position": False,
                                                     "activation": "linear"})
        return _fused(y, attrs)
    x = xs[0].reshape(xs[0].shape[0], -1)
    y = np.array([[sum(x[s, c] * ws[0][u, c] for c in range(x.shape[1]))
                   for u in range(ws[0].shape[0])] for s in range(x.shape[0])])
    if attrs["bias"]:
        y = y + ws[-1]
    return _fused(y.reshape(y.shape[0], -1, 1, 1), attrs)


def _pool_twin(is_max):
    def run(xs, ws, attrs):
        x = xs[0]
        h, w = x.shape[2], x.shape[3]
        (kh, kw), (sh, sw), (dh, dw) = attrs["kernel"], attrs["strides"], attrs["dilation"]
        t, b, l, r = window_pads(attrs, h, w)
        ho = window_positions(h, kh, sh, dh, t, b, attrs["ceil_mode"])
        wo = window_positions(w, kw, sw, dw, l, r, attrs["ceil_mode"])
        return pool2d(x, (kh, kw), (sh, sw), (t, b, l, r), (ho, wo), is_max,
                      attrs.get("count_include_pad", False), (dh, dw))
    return run


TWINS["max_pool2d"] = _pool_twin(True)
TWINS["avg_pool2d"] = _pool_twin(False)


@twin("global_avg_pool")
def _gap_twin(xs, ws, attrs):
    x = xs[0]
    return np.array([[[[np.sum(x[s, c]) / (x.shape[2] * x.shape[3])]] for c in range(x.shape[1])]
                     for s in range(x.shape[0])])


@twin("global_max_pool")
def _gmp_twin(xs, ws, attrs):
    x = xs[0]
    return np.array([[[[max(x[s, c].ravel())]] for c in range(x.shape[1])]
                     for s in range(x.shape[0])])


@twin("batch_norm")
def _bn_twin(xs, ws, attrs):
    ws = list(ws)
    c = xs[0].shape[1]
    gamma = ws.pop(0) if attrs["scale"] else np.ones(c)
    beta = ws.pop(0) if attrs["center"] else np.zeros(c)
    return batch_norm(xs[0], gamma, beta, ws[0], ws[1], attrs["epsilon"])


@twin("lrn")
def _lrn_twin(xs, ws, attrs):
    return lrn(xs[0], attrs["size"], attrs["alpha"], attrs["beta"], attrs["k"])


for _name in ("linear", "relu", "relu6", "sigmoid", "tanh", "softmax"):
    TWINS[_name] = (lambda f: lambda xs, ws, attrs: f(xs[0]))(FUSED[_name])


@twin("add")
def _add_twin(xs, ws, attrs):
    scale = attrs["scale"] if attrs["scale"] is not None else 1.0
    out = xs[0].copy()
    for x in xs[1:]:
        out = out + scale * x
    return out


@twin("concat")
def _concat_twin(xs, ws, attrs):
    n = xs[0].shape[0]
    return np.array([np.vstack([x[s] for x in xs]) for s in range(n)])


@twin("zero_pad2d")
def _pad_twin(xs, ws, attrs):
    t, b, l, r = attrs["padding"]
    x = xs[0]
    out = np.zeros(x.shape[:2] + (x.shape[2] + t + b, x.shape[3] + l + r))
    out[:, :, t:t + x.shape[2], l:l + x.shape[3]] = x
    return out


@twin("channel_pad")
def _channel_pad_twin(xs, ws, attrs):
    x = xs[0]
    sh, sw = attrs["strides"]
    rows = range(0, x.shape[2], sh)
    cols = range(0, x.shape[3], sw)
    sub = x[:, :, list(rows)][:, :, :, list(cols)]
    extra = attrs["filters"] - x.shape[1]
    out = np.zeros((x.shape[0], attrs["filters"], len(rows), len(cols)))
    out[:, extra // 2:extra // 2 + x.shape[1]] = sub
    return out


@twin("flatten")
def _flatten_twin(xs, ws, attrs):
    x = xs[0]
    return np.array([[[[v]] for v in x[s].ravel()] for s in range(x.shape[0])])


@twin("dropout")
def _dropout_twin(xs, ws, attrs):
    return xs[0]


def run_graph(model, x, weights):
    """Every layer of a built model through its twin, in spec order (x: the input batch,
    weights: execute.model_weights's list); returns {layer name: output}."""
    outs = {model.layers[0].name: x}
    for i, layer in enumerate(model.layers[1:], start=1):
        xs = [outs[n] for n in layer.inputs]
        outs[layer.name] = TWINS[layer.op.name](xs, weights[i], layer.attrs)
    return outs


def epilogue(y, bias=None, bn=None, clip1=None, res=None, rscale=1.0, res_first=True,
             clip2=None):
    """A fused epilogue the long way, stage after stage (kernels.Post's order): y + bias;
    batch norm (gamma, beta, mean, var, eps); clip1 (lo, hi); the residual add (res + rscale*y
    when res_first, else y + rscale*res); clip2."""
    c = y.shape[1]
    out = np.array(y, dtype=np.float64)
    if bias is not None:
        out = out + np.asarray(bias).reshape(1, c, 1, 1)
    if bn is not None:
        out = batch_norm(out, *bn)
    if clip1 is not None:
        out = np.minimum(np.maximum(out, clip1[0]), clip1[1])
    if res is not None:
        out = res + rscale * out if res_first else out + rscale * res
    if clip2 is not None:
        out = np.minimum(np.maximum(out, clip2[0]), clip2[1])
    return out


def _merge_families():
    import importlib
    import pkgutil
    from pathlib import Path
    for m in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if m.name.startswith("naive_"):
            mod = importlib.import_module(m.name)
            TWINS.update(getattr(mod, "TWINS", {}))
            FUSED.update(getattr(mod, "FUSED", {}))
    from costcalc import ops     # an alias of a fused activation is the same function
    for op in ops.OPS:
        for alias in op.aliases:
            if op.name in FUSED:
                FUSED.setdefault(alias, FUSED[op.name])


_merge_families()
