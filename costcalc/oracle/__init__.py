"""PyTorch as an independent oracle for costcalc's numeric forward passes.

Given a costcalc Model (``costcalc.spec.load(name).build(overrides, input_shape)``), run the same
graph with ``torch.nn.functional`` and the very same weights and input:
- weights come from ``costcalc.execute.make_weights`` called exactly as ``execute.run`` calls it
  (layer index ``i`` of ``model.layers``, the seed, the dtype, the inputs' (C, H, W) shapes);
- the input is ``layer_rng(seed, -1 % 2**32).standard_normal((batch, C, H, W))``.

Everything else is written here again, from the documented semantics (``costcalc ops``, the
README's conventions), with no costcalc code: window sizes and TensorFlow 'same' padding are
computed from the formula, and each op is PyTorch's own operator. The shapes of the weights are
checked against this module's own expectation, so a wrong ``param_shapes`` shows up too.

torch is optional (``make oracle``): costcalc imports this package only for PyTorch's per-layer
time next to its own (``latency --measure``, ``report --measure``) and the tests use it as the
oracle; the op families' translations are in act.py, norm.py and resample.py (merged below).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from costcalc.execute import layer_rng, make_weights

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


# ----------------------------------------------------------------------------- window arithmetic
def window_axis(size, k, s, d, padding, lo, hi, ceil_mode=False):
    """(out, pad_lo, pad_hi) of a sliding window along one axis, from the documented rules:
    floor((size + pads - d*(k-1) - 1)/s) + 1; 'same' as TensorFlow (out = ceil(size/s), an odd
    total pad puts the extra at the end); ceil_mode as Caffe/PyTorch (the last window must start
    inside the input or the left padding)."""
    keff = d * (k - 1) + 1
    if padding == "same":
        out = math.ceil(size / s)
        total = max((out - 1) * s + keff - size, 0)
        return out, total // 2, total - total // 2
    if padding == "valid":
        lo = hi = 0
    span = size + lo + hi - keff
    if span < 0 and not ceil_mode:
        raise ValueError(f"window {keff} larger than padded size {size + lo + hi}")
    if ceil_mode:      # a window longer than the input still counts if it starts inside it
        out = math.ceil(span / s) + 1
        if (out - 1) * s >= size + lo:
            out -= 1
        if out < 1:
            raise ValueError(f"window {keff} longer than padded size {size + lo + hi} by "
                             f"{-span}, at least the stride {s}")
    else:
        out = span // s + 1
    return out, lo, hi


def window_2d(attrs, h, w, ceil_mode=False):
    """((ho, top, bottom), (wo, left, right)) for a layer with kernel/strides/padding/dilation."""
    (kh, kw), (sh, sw), (dh, dw) = attrs["kernel"], attrs["strides"], attrs["dilation"]
    pad = attrs["padding"]
    if isinstance(pad, str):
        mode, (t, b, l, r) = pad, (0, 0, 0, 0)
    else:
        mode, (t, b, l, r) = "explicit", pad
    return (window_axis(h, kh, sh, dh, mode, t, b, ceil_mode),
            window_axis(w, kw, sw, dw, mode, l, r, ceil_mode))


def _pad_for_windows(x, attrs, value, ceil_mode=False):
    """Pad x so that a padding-0 window op yields exactly the documented output: the spec's pads,
    widened at the bottom/right if ceil mode needs taps beyond them (such taps hold ``value``)."""
    h, w = x.shape[2], x.shape[3]
    (ho, t, b), (wo, l, r) = window_2d(attrs, h, w, ceil_mode)
    (kh, kw), (sh, sw), (dh, dw) = attrs["kernel"], attrs["strides"], attrs["dilation"]
    b = max(b, (ho - 1) * sh + dh * (kh - 1) + 1 - h - t)
    r = max(r, (wo - 1) * sw + dw * (kw - 1) + 1 - w - l)
    if t or b or l or r:
        x = F.pad(x, (l, r, t, b), value=value)
    return x, ho, wo, (t, b, l, r)


# ----------------------------------------------------------------------------- ops
def _conv(x, w, b, attrs, groups):
    h, wd = x.shape[2], x.shape[3]
    (ho, t, bo), (wo, l, r) = window_2d(attrs, h, wd)
    if t == bo and l == r:                     # symmetric: let PyTorch pad
        y = F.conv2d(x, w, b, attrs["strides"], (t, l), attrs["dilation"], groups)
    else:
        y = F.conv2d(F.pad(x, (l, r, t, bo)), w, b, attrs["strides"], 0, attrs["dilation"], groups)
    assert tuple(y.shape[2:]) == (ho, wo), (tuple(y.shape), ho, wo)
    return y


def op_conv2d(xs, ws, attrs):
    x = xs[0]
    return _conv(x, ws[0], ws[1] if attrs["bias"] else None, attrs, attrs["groups"])


def op_depthwise_conv2d(xs, ws, attrs):
    x = xs[0]
    return _conv(x, ws[0], ws[1] if attrs["bias"] else None, attrs, x.shape[1])


def op_separable_conv2d(xs, ws, attrs):
    x = xs[0]
    mid = _conv(x, ws[0], None, attrs, x.shape[1])
    return F.conv2d(mid, ws[1], ws[2] if attrs["bias"] else None)


def op_dense(xs, ws, attrs):
    b = ws[1] if attrs["bias"] else None
    if attrs.get("per_position"):
        # Keras Dense on a 4-D tensor acts on the last (channels-last) axis: NHWC, linear, NCHW
        return F.linear(xs[0].permute(0, 2, 3, 1), ws[0], b).permute(0, 3, 1, 2)
    x = xs[0].reshape(xs[0].shape[0], -1)
    y = F.linear(x, ws[0], b)
    return y.reshape(y.shape[0], -1, 1, 1)


def _native_pool_padding(x, attrs):
    """(pad_h, pad_w) when PyTorch's own pooling computes exactly the documented window: pads
    symmetric and at most half the window (its limit); else None (pad by hand)."""
    (ho, t, b), (wo, l, r) = window_2d(attrs, x.shape[2], x.shape[3], attrs["ceil_mode"])
    (kh, kw) = attrs["kernel"]
    if t == b and l == r and t <= kh // 2 and l <= kw // 2:
        return (t, l), (ho, wo)
    return None, (ho, wo)


def op_max_pool2d(xs, ws, attrs):
    x = xs[0]
    pad, (ho, wo) = _native_pool_padding(x, attrs)
    if pad is not None:      # PyTorch pads with -inf itself; same ceil-mode rule as documented
        y = F.max_pool2d(x, attrs["kernel"], attrs["strides"], pad, attrs["dilation"],
                         ceil_mode=attrs["ceil_mode"])
    else:
        xp, ho, wo, _ = _pad_for_windows(x, attrs, float("-inf"), attrs["ceil_mode"])
        y = F.max_pool2d(xp, attrs["kernel"], attrs["strides"], 0, attrs["dilation"])
    assert tuple(y.shape[2:]) == (ho, wo)
    return y


def op_avg_pool2d(xs, ws, attrs):
    """Sum over the taps of each window (padding taps are zeros), divided by the taps inside the
    input, or by the full window k_h*k_w when count_include_pad."""
    x = xs[0]
    n, c = x.shape[:2]
    pad, (ho, wo) = _native_pool_padding(x, attrs)
    incl = attrs["count_include_pad"]
    if pad is not None and attrs["dilation"] == (1, 1) and not (incl and attrs["ceil_mode"]):
        # PyTorch's own: divides by the in-input taps (count_include_pad=False) or by k_h*k_w
        # (no ceil mode: no window hangs past the padding)
        y = F.avg_pool2d(x, attrs["kernel"], attrs["strides"], pad, attrs["ceil_mode"], incl)
        assert tuple(y.shape[2:]) == (ho, wo)
        return y
    xp, ho, wo, (t, b, l, r) = _pad_for_windows(x, attrs, 0.0, attrs["ceil_mode"])
    kh, kw = attrs["kernel"]
    cols = F.unfold(xp, attrs["kernel"], attrs["dilation"], 0, attrs["strides"])
    sums = cols.reshape(n, c, kh * kw, ho * wo).sum(dim=2).reshape(n, c, ho, wo)
    if incl:
        # PyTorch's divisor with count_include_pad: the window's taps inside the padded input
        # (the spec's pads count, a ceil-mode overhang past them does not)
        (_, pt, pb), (_, pl, pr) = window_2d(attrs, x.shape[2], x.shape[3], attrs["ceil_mode"])
        ones = torch.ones((1, 1, x.shape[2] + pt + pb, x.shape[3] + pl + pr), dtype=x.dtype,
                          device=x.device)
        ones = F.pad(ones, (0, r - pr, 0, b - pb))          # the overhang: not counted
        inside = F.unfold(ones, attrs["kernel"], attrs["dilation"], 0, attrs["strides"]).sum(dim=1)
        return sums / inside.reshape(1, 1, ho, wo)
    ones = F.pad(torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device),
                 (l, r, t, b))
    inside = F.unfold(ones, attrs["kernel"], attrs["dilation"], 0, attrs["strides"]).sum(dim=1)
    return sums / inside.reshape(1, 1, ho, wo)


def op_global_avg_pool(xs, ws, attrs):
    return xs[0].mean(dim=(2, 3), keepdim=True)


def op_global_max_pool(xs, ws, attrs):
    return xs[0].amax(dim=(2, 3), keepdim=True)


def op_batch_norm(xs, ws, attrs):
    ws = list(ws)
    gamma = ws.pop(0) if attrs["scale"] else None
    beta = ws.pop(0) if attrs["center"] else None
    mean, var = ws
    return F.batch_norm(xs[0], mean, var, gamma, beta, training=False, eps=attrs["epsilon"])


def op_lrn(xs, ws, attrs):
    return F.local_response_norm(xs[0], attrs["size"], attrs["alpha"], attrs["beta"], attrs["k"])


def op_add(xs, ws, attrs):
    s = attrs["scale"]
    y = xs[0]
    for x in xs[1:]:
        y = y + (x if s is None else s * x)
    return y


def op_zero_pad2d(xs, ws, attrs):
    t, b, l, r = attrs["padding"]
    return F.pad(xs[0], (l, r, t, b))


def op_channel_pad(xs, ws, attrs):
    sh, sw = attrs["strides"]
    x = xs[0][:, :, ::sh, ::sw]
    extra = attrs["filters"] - x.shape[1]
    return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))


ACTIVATIONS = {
    "linear": lambda y: y, "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid,
    "tanh": torch.tanh, "softmax": lambda y: F.softmax(y, dim=1),
}


def fused(fn):
    """conv2d, depthwise, separable and dense may apply an activation to their output."""
    return lambda xs, ws, attrs: ACTIVATIONS[attrs.get("activation", "linear")](fn(xs, ws, attrs))


OPS = {
    "conv2d": fused(op_conv2d),
    "depthwise_conv2d": fused(op_depthwise_conv2d),
    "separable_conv2d": fused(op_separable_conv2d),
    "dense": fused(op_dense),
    "max_pool2d": op_max_pool2d,
    "avg_pool2d": op_avg_pool2d,
    "global_avg_pool": op_global_avg_pool,
    "global_max_pool": op_global_max_pool,
    "batch_norm": op_batch_norm,
    "lrn": op_lrn,
    "relu": lambda xs, ws, a: F.relu(xs[0]),
    "relu6": lambda xs, ws, a: F.relu6(xs[0]),
    "sigmoid": lambda xs, ws, a: torch.sigmoid(xs[0]),
    "tanh": lambda xs, ws, a: torch.tanh(xs[0]),
    "softmax": lambda xs, ws, a: F.softmax(xs[0], dim=1),
    "add": op_add,
    "concat": lambda xs, ws, a: torch.cat(xs, dim=1),
    "zero_pad2d": op_zero_pad2d,
    "channel_pad": op_channel_pad,
    "flatten": lambda xs, ws, a: xs[0].reshape(xs[0].shape[0], -1, 1, 1),
    "dropout": lambda xs, ws, a: xs[0],
    "linear": lambda xs, ws, a: xs[0],
}

# Families added later keep their translations in act.py, norm.py, resample.py (OPS, WEIGHT_SHAPES
# and the ACTIVATIONS a layer may fuse), merged here.
WEIGHT_SHAPES = {}


def _merge_families():
    from . import act, norm, resample
    for mod in (act, norm, resample):
        OPS.update(getattr(mod, "OPS", {}))
        WEIGHT_SHAPES.update(getattr(mod, "WEIGHT_SHAPES", {}))
        ACTIVATIONS.update(getattr(mod, "ACTIVATIONS", {}))
    from costcalc import ops     # an alias of a fused activation is the same function
    for op in ops.OPS:
        for alias in op.aliases:
            if op.name in ACTIVATIONS:
                ACTIVATIONS.setdefault(alias, ACTIVATIONS[op.name])


_merge_families()


def expected_weight_shapes(op_name, attrs, in_shapes):
    """The stored arrays of a layer, written from the op's documentation (not param_shapes)."""
    if op_name in WEIGHT_SHAPES:
        return [tuple(s) for s in WEIGHT_SHAPES[op_name](attrs, in_shapes)]
    c = in_shapes[0][0]
    if op_name == "conv2d":
        kh, kw = attrs["kernel"]
        out = [(attrs["filters"], c // attrs["groups"], kh, kw)]
        return out + [(attrs["filters"],)] * attrs["bias"]
    if op_name == "depthwise_conv2d":
        kh, kw = attrs["kernel"]
        m = c * attrs["depth_multiplier"]
        return [(m, 1, kh, kw)] + [(m,)] * attrs["bias"]
    if op_name == "separable_conv2d":
        kh, kw = attrs["kernel"]
        m = c * attrs["depth_multiplier"]
        return [(m, 1, kh, kw), (attrs["filters"], m, 1, 1)] + [(attrs["filters"],)] * attrs["bias"]
    if op_name == "dense":
        # torch.nn.Linear's weight is (out_features, in_features); per position in_features = C
        fan_in = c if attrs.get("per_position") else c * in_shapes[0][1] * in_shapes[0][2]
        return [(attrs["units"], fan_in)] + [(attrs["units"],)] * attrs["bias"]
    if op_name == "batch_norm":
        return [(c,)] * (attrs["scale"] + attrs["center"] + 2)
    return []


# ----------------------------------------------------------------------------- graphs
def model_input(model, seed=0, batch=1, dtype="float32"):
    c, h, w = model.input_shape
    x = layer_rng(seed, -1 % (2**32)).standard_normal((batch, c, h, w))
    return x.astype(np.dtype(dtype))


class TorchGraph:
    """The model as PyTorch ops, with costcalc's weights converted to tensors once.

    ``TorchGraph(model, seed, dtype).forward(x)`` runs the layers in spec order and frees each
    activation after its last use (like costcalc's executor). ``weights``: optionally the list
    from ``costcalc.execute.model_weights(model, seed, dtype)``, to skip generating them again
    (the shapes are still checked)."""

    def __init__(self, model, seed=0, dtype="float32", weights=None):
        self.model = model
        self.dtype = dtype
        layers = model.layers
        self.index = {layer.name: i for i, layer in enumerate(layers)}
        self.steps = []
        shapes = {0: tuple(int(v) for v in model.input_shape)}
        last_use = list(range(len(layers)))
        for i, layer in enumerate(layers):
            for name in layer.inputs:
                last_use[self.index[name]] = i
        last_use[-1] = len(layers)
        for i in range(1, len(layers)):
            layer = layers[i]
            fn = OPS.get(layer.op.name)
            if fn is None:
                raise NotImplementedError(f"the oracle has no translation of op '{layer.op.name}'")
            ins = [self.index[n] for n in layer.inputs]
            in_shapes = [shapes[j] for j in ins]
            if weights is None:
                ws = make_weights(layer.op, layer.attrs, in_shapes, seed, i, np.dtype(dtype))
            else:
                ws = [np.asarray(w, dtype=np.dtype(dtype)) for w in weights[i]]
            want = expected_weight_shapes(layer.op.name, layer.attrs, in_shapes)
            got = [tuple(w.shape) for w in ws]
            if got != want:
                raise AssertionError(f"layer '{layer.name}': weights {got}, expected {want}")
            tws = [torch.from_numpy(np.ascontiguousarray(w)) for w in ws]
            frees = tuple(sorted(j for j in set(ins) if last_use[j] == i))
            self.steps.append((i, layer, fn, ins, tws, frees))
            shapes[i] = self._shape_of(layer, in_shapes)

    def cast(self, dtype):
        """The same graph with its weights converted to ``dtype`` (float64 -> float32 rounds
        each weight once, exactly as make_weights does for float32)."""
        other = TorchGraph.__new__(TorchGraph)
        other.__dict__.update(self.__dict__)
        other.dtype = dtype
        other.steps = [(i, layer, fn, ins, [w.to(TORCH_DTYPES[dtype]) for w in ws], frees)
                       for i, layer, fn, ins, ws, frees in self.steps]
        return other

    @staticmethod
    def _shape_of(layer, in_shapes):
        """Output (C, H, W) of a layer: the op run on PyTorch's shape-only 'meta' tensors."""
        fn = OPS[layer.op.name]
        with torch.no_grad():
            xs = [torch.empty((1,) + s, device="meta") for s in in_shapes]
            ws = [torch.empty(s, device="meta")
                  for s in expected_weight_shapes(layer.op.name, layer.attrs, in_shapes)]
            y = fn(xs, ws, layer.attrs)
        return tuple(int(v) for v in y.shape[1:])

    def forward(self, x, keep=False):
        """x: a torch tensor (N, C, H, W). Returns the output, or with keep=True a dict of every
        layer's output by name."""
        live = {0: x}
        kept = {}
        with torch.no_grad():
            for i, layer, fn, ins, ws, frees in self.steps:
                y = fn([live[j] for j in ins], ws, layer.attrs)
                live[i] = y
                if keep:
                    kept[layer.name] = y
                for j in frees:
                    del live[j]
        return kept if keep else live[len(self.model.layers) - 1]


def run_oracle(model, seed=0, batch=1, dtype="float64", keep=False):
    """The oracle's output (NumPy) for costcalc's deterministic input and weights."""
    graph = TorchGraph(model, seed, dtype)
    x = torch.from_numpy(model_input(model, seed, batch, dtype))
    out = graph.forward(x, keep=keep)
    if keep:
        return {k: v.numpy() for k, v in out.items()}
    return out.numpy()


def layer_times(model, batch=1, dtype="float32", seed=0, repeat=3, weights=None) -> dict:
    """PyTorch's per-layer seconds on this graph: {layer name: best of ``repeat`` runs after
    one warm-up}, the very same weights and input as costcalc's executor (``weights``: from
    ``execute.model_weights``, to skip making them again). Each step is timed on its own
    around the PyTorch call, as costcalc's executor times its layers."""
    import time
    graph = TorchGraph(model, seed, dtype, weights)
    x = torch.from_numpy(model_input(model, seed, batch, dtype))
    best: dict = {}
    with torch.no_grad():
        for k in range(repeat + 1):
            live = {0: x}
            for i, layer, fn, ins, ws, frees in graph.steps:
                t0 = time.perf_counter()
                y = fn([live[j] for j in ins], ws, layer.attrs)
                dt = time.perf_counter() - t0
                live[i] = y
                for j in frees:
                    del live[j]
                if k:
                    best[layer.name] = min(best.get(layer.name, math.inf), dt)
    return best
