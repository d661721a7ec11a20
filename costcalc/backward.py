"""One numeric training step: a forward pass that keeps what the backward reads, the loss, and a
backward pass through every layer with the kernels of costcalc/kernels_backward.py.

The rules (../shared/CONVENTIONS.md, "Training"; costcalc/training.py counts them):
- a layer computes a weight gradient iff it is trainable and has trainable params;
- it computes an input gradient iff some layer that computes a weight gradient lies strictly
  upstream of it; a layer with several inputs computes the gradient of exactly those inputs
  that have such a layer upstream or are one (nothing else is ever computed);
- a separable convolution is its depthwise and its pointwise part, each by the conv2d rule: the
  pointwise part's input gradient (the gradient of the depthwise output) is computed whenever
  the layer computes a weight gradient or an input gradient, the depthwise part's only for an
  input gradient; both are reported as the layer's input-gradient multiplies;
- batch norm runs in training mode (batch statistics, in the forward and the backward) when it
  computes a weight gradient (trainable, with gamma or beta) or ``bn_training`` is set, else in
  inference mode (its moving statistics).

The step: the input and weights are run()'s (seeded), the loss is sum(output * R) with R a seeded
standard-normal array of the output's shape (so the gradient of the output is R). Dropout is the
identity in this step (its forward is the identity too: no mask is drawn), so its backward
passes the gradient through.

In counting mode every multiply-accumulating op (conv2d, depthwise, separable, dense, transposed
convolution) runs loop kernels that count each multiply of its input gradient and of its weight
gradient separately; otherwise they run im2col and BLAS products. Memory is measured by
bookkeeping: the bytes of every distinct array alive (weights, weight gradients, kept forward
tensors, activations still to be read, gradients still to be propagated), summed at each layer
of the forward and of the backward; the peak is the largest such sum. Scratch buffers inside a
kernel (im2col columns, padded copies) are not counted.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from .analysis import analyze_model, load_spec
from .errors import UsageError
from .execute import DTYPES, _check_weights, check_seed, layer_rng, make_weights

LOSS_STREAM = -2 % (2**32)       # the layer_rng index of R (the input's is -1)


# ----------------------------------------------------------------------------- results
@dataclasses.dataclass
class LayerStep:
    name: str
    op: str
    needs_input_grad: bool
    needs_weight_grad: bool
    forward_macs: int               # analytic, for the batch
    input_grad_multiplies: int | None    # executed (counting mode), else None
    weight_grad_multiplies: int | None
    weight_grads: list | None       # per weight array of the layer (None: no gradient), or
    #                                 None when the layer computes no weight gradient
    bn_mode: str = ""               # batch norm: "training" or "inference"
    saved_bytes: int = 0            # what the forward kept for this layer's backward


@dataclasses.dataclass
class StepResult:
    layers: list
    batch: int
    dtype: str
    seed: int
    counting: bool
    bn_training: bool
    loss: float
    seconds: float
    peak_bytes: int                 # measured (bookkeeping of live arrays), whole step
    weight_bytes: int               # every layer's weights
    gradient_bytes: int             # the weight gradients computed
    saved_bytes: int                # kept for the backward, at the end of the forward
    peak_activation_bytes: int      # the largest total of kept, live and gradient tensors
    output: np.ndarray | None = None

    def layer(self, name) -> LayerStep:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    @property
    def input_grad_multiplies(self):
        return sum(r.input_grad_multiplies or 0 for r in self.layers)

    @property
    def weight_grad_multiplies(self):
        return sum(r.weight_grad_multiplies or 0 for r in self.layers)


# ----------------------------------------------------------------------------- which layers
def trainable_mask(model, trainable=None) -> list:
    """One bool per layer of ``model.layers`` (the input: False).

    ``trainable``: None (the spec's own ``trainable:`` flags), True (every layer), False (none),
    a collection of layer names (exactly those), a callable ``f(layer) -> bool``, or a sequence
    of bools, one per layer."""
    layers = model.layers
    if trainable is None:
        mask = [bool(layer.trainable) for layer in layers]
    elif trainable is True or trainable is False:
        mask = [trainable] * len(layers)
    elif callable(trainable):
        mask = [bool(trainable(layer)) for layer in layers]
    elif isinstance(trainable, str):
        mask = [layer.name == trainable for layer in layers]
    else:
        items = list(trainable)
        if items and all(isinstance(v, (bool, np.bool_)) for v in items):
            if len(items) != len(layers):
                raise UsageError(f"trainable has {len(items)} flags but the model has "
                                 f"{len(layers)} layers (input included)")
            mask = [bool(v) for v in items]
        else:
            names = {layer.name for layer in layers}
            unknown = [v for v in items if v not in names]
            if unknown:
                raise UsageError("trainable names unknown layers: "
                                 + ", ".join(map(str, unknown[:5])))
            chosen = set(items)
            mask = [layer.name in chosen for layer in layers]
    mask[0] = False
    return mask


def has_trainable_params(layer, in_shapes) -> bool:
    shapes = layer.op.param_shapes(layer.attrs, in_shapes)
    return any(t and int(np.prod(shape)) > 0
               for t, (_role, shape, _init) in zip(_weight_trainable(layer), shapes))


def _weight_trainable(layer):
    """Per stored array of the layer (param_shapes order): is it trainable."""
    a = layer.op.Attrs(*layer.op.encode(layer.attrs))
    return [w.trainable for w in layer.op.weights if w.when is None or w.when(a)]


def gradient_plan(model, mask):
    """(weight_grad, input_grad, wants) per layer: computes a weight gradient; computes an input
    gradient; needs the gradient of its output (either)."""
    layers = model.layers
    index = {layer.name: i for i, layer in enumerate(layers)}
    summary = analyze_model(model, 1)
    shapes = [tuple(model.input_shape)] + [tuple(r.output_shape) for r in summary.layers]
    wgrad = [False] * len(layers)
    igrad = [False] * len(layers)
    wants = [False] * len(layers)
    for i, layer in enumerate(layers[1:], start=1):
        in_shapes = [shapes[index[n]] for n in layer.inputs]
        wgrad[i] = mask[i] and has_trainable_params(layer, in_shapes)
        igrad[i] = any(wants[index[n]] for n in layer.inputs)
        wants[i] = wgrad[i] or igrad[i]
    return wgrad, igrad, wants


# ----------------------------------------------------------------------------- memory bookkeeping
def _root(arr):
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


class Ledger:
    """Bytes of the distinct arrays held, each by one or more keys (key[0] is its kind: 'w'
    weights, 'wgrad' weight gradients, 'act', 'saved', 'grad')."""

    STATIC = ("w", "wgrad")

    def __init__(self):
        self.holders = {}       # id(root) -> [root, set of keys]
        self.by_key = {}        # key -> list of ids
        self.total = 0
        self.static = 0         # of that, weights and weight gradients
        self.peak = 0
        self.peak_dynamic = 0   # the largest total of the other kinds

    def hold(self, key, arr):
        if arr is None:
            return
        root = _root(arr)
        rid = id(root)
        entry = self.holders.get(rid)
        if entry is None:
            self.holders[rid] = [root, {key}]
            self.total += root.nbytes
            if key[0] in self.STATIC:
                self.static += root.nbytes
        else:
            entry[1].add(key)
        self.by_key.setdefault(key, []).append(rid)

    def drop(self, key):
        for rid in self.by_key.pop(key, ()):
            entry = self.holders.get(rid)
            if entry is None:
                continue
            entry[1].discard(key)
            if not entry[1]:
                self.total -= entry[0].nbytes
                if key[0] in self.STATIC:
                    self.static -= entry[0].nbytes
                del self.holders[rid]

    def bytes_of(self, key):
        return sum(self.holders[rid][0].nbytes for rid in set(self.by_key.get(key, ()))
                   if rid in self.holders)

    def bytes_of_kind(self, kind):
        """Distinct bytes held by keys of one kind."""
        return sum(root.nbytes for root, keys in self.holders.values()
                   if any(k[0] == kind for k in keys))

    def mark(self):
        self.peak = max(self.peak, self.total)
        self.peak_dynamic = max(self.peak_dynamic, self.total - self.static)


# ----------------------------------------------------------------------------- per-layer context
class Ctx:
    """What one layer's forward and backward share."""

    def __init__(self, layer, a, ws, need_in, need_w, counting, bn_train, dt):
        self.layer, self.a, self.ws = layer, a, ws
        self.need_in = need_in          # per input: compute its gradient
        self.need_w = need_w
        self.counting = counting
        self.bn_train = bn_train
        self.dt = dt
        self.saved = {}                 # name -> array (kept for the backward)
        self.n_in = 0
        self.n_w = 0

    @property
    def need_x(self):
        return any(self.need_in)


def _k():
    from . import kernels_backward
    return kernels_backward


def _fk():
    from . import kernels
    return kernels


def _lin_view(a):
    """The layer's attributes with the fused activation replaced by linear (index 0)."""
    v = type(a)(a)
    v["activation"] = 0
    return v


# ----------------------------------------------------------------------------- activations
def _act_keeps(op):
    """What an activation's backward reads: 'input' or 'output' (or nothing)."""
    return op.grad.saves[0] if op.grad and op.grad.saves else ""


def act_backward(op, a, g, x, y):
    """Gradient through the element-wise activation ``op`` (attrs ``a``): x its input, y its
    output (only the one its Grad says it keeps is given)."""
    k = _k()
    name = op.name
    if name == "linear":
        return g
    if name == "relu":
        return k.mask_open(g, y, 0.0, np.inf)
    if name == "relu6":
        return k.mask_open(g, y, 0.0, 6.0)
    if name == "sigmoid":
        return k.sigmoid_grad(g, y)
    if name == "tanh":
        return k.tanh_grad(g, y)
    if name == "softmax":
        return k.softmax_channels_grad(g, y)
    if name == "hard_sigmoid":
        if a.definition >= 2:
            return k.hard_sigmoid_grad(g, x, 0.2, 0.5)
        return k.hard_sigmoid_grad(g, x, 1.0 / 6.0, 0.5)
    if name == "swish":
        return k.swish_grad(g, x)
    if name == "hard_swish":
        return k.hard_swish_grad(g, x)
    if name == "gelu":
        return k.gelu_grad(g, x, a.approximate == 1)
    if name == "leaky_relu":
        return k.leaky_relu_grad(g, x, float(a.alpha))
    if name == "elu":
        return k.elu_grad(g, y, float(a.alpha))
    if name == "clip":
        lo = -np.inf if a.min is None else float(a.min)
        hi = np.inf if a.max is None else float(a.max)
        return k.mask_closed(g, x, lo, hi)
    raise NotImplementedError(f"no backward for activation '{name}'")


def _fused(a):
    from .ops.conv import FUSED
    op = FUSED[a.activation]
    return op, op.view(op.normalize({}))


def _epilogue_forward(c, z):
    """Bias already added (z); apply the fused activation, keeping what its backward reads."""
    op, av = _fused(c.a)
    if op.name == "linear":
        return z
    y = op.apply(z, av)
    keep = _act_keeps(op)
    if keep == "input":
        c.saved["pre"] = z
    elif keep == "output":
        c.saved["post"] = y
    return y


def _epilogue_backward(c, g):
    op, av = _fused(c.a)
    if op.name != "linear":
        g = act_backward(op, av, g, c.saved.get("pre"), c.saved.get("post"))
    return g


def _bias_grad(c, g):
    return _k().channel_sum(g) if c.a.bias else None


# ----------------------------------------------------------------------------- convolutions
def _pads(a, x):
    from .ops.base import window_hw
    return window_hw(a, x.shape[2], x.shape[3], False)


def _conv_parts(c, g, xp_shape, groups, w, x_saved):
    """Input and weight gradients of one convolution part with kernel w: (dxp or None, dw or
    None), counted into c.n_in / c.n_w."""
    k = _k()
    a = c.a
    args = (a.strides_h, a.strides_w, a.dilation_h, a.dilation_w, groups)
    dxp = dw = None
    if c.need_x:
        if c.counting:
            dxp, n = k.conv2d_input_grad_direct(g, w, *args, xp_shape[2], xp_shape[3])
            c.n_in += n
        else:
            dxp = k.conv2d_input_grad(g, w, *args, xp_shape[2], xp_shape[3])
    if c.need_w:
        kh, kw = w.shape[2], w.shape[3]
        if c.counting:
            dw, n = k.conv2d_weight_grad_direct(x_saved, g, kh, kw, *args)
            c.n_w += n
        else:
            dw = k.conv2d_weight_grad(x_saved, g, kh, kw, *args)
    return dxp, dw


def _crop(dxp, pads, h, w):
    _, pt, _, _, pl, _ = pads
    return np.ascontiguousarray(dxp[:, :, pt:pt + h, pl:pl + w])


def conv_forward(c, xs):
    x = xs[0]
    z, _ = c.layer.op.forward(xs, c.ws, _lin_view(c.a), False)
    if c.need_w:
        c.saved["x"] = x
    c.saved["xshape"] = x.shape
    return _epilogue_forward(c, np.ascontiguousarray(z, dtype=c.dt))


def _padded(x, a):
    ho, pt, pb, wo, pl, pr = _pads(a, x)
    return _fk().pad_hw(x, pt, pb, pl, pr)


def conv_backward(c, g, groups_of):
    g = np.ascontiguousarray(_epilogue_backward(c, g))
    n, cin, h, w = c.saved["xshape"]
    pads = _pads(c.a, np.empty((0, 0, h, w)))
    _, pt, pb, _, pl, pr = pads
    xp_shape = (n, cin, h + pt + pb, w + pl + pr)
    xp = _padded(c.saved["x"], c.a) if c.need_w else None
    dxp, dw = _conv_parts(c, g, xp_shape, groups_of(cin), c.ws[0], xp)
    dx = _crop(dxp, pads, h, w) if dxp is not None else None
    wg = [dw, _bias_grad(c, g)] if c.need_w else None
    if wg is not None and not c.a.bias:
        wg = wg[:1]
    return [dx], wg


def separable_forward(c, xs):
    x = xs[0]
    fk = _fk()
    a = c.a
    xp = _padded(x, a)
    ho, _, _, wo, _, _ = _pads(a, x)
    args = (a.strides_h, a.strides_w, a.dilation_h, a.dilation_w)
    mid = fk.depthwise_fast(xp, c.ws[0], *args, ho, wo)
    z = fk.conv2d_gemm(mid, c.ws[1], 1, 1, 1, 1, 1, ho, wo)
    if a.bias:
        z += c.ws[-1].reshape(1, -1, 1, 1)
    if c.need_w:
        c.saved["x"] = x
        c.saved["mid"] = mid
    c.saved["xshape"] = x.shape
    return _epilogue_forward(c, z)


def separable_backward(c, g):
    k = _k()
    a = c.a
    g = np.ascontiguousarray(_epilogue_backward(c, g))
    n, cin, h, w = c.saved["xshape"]
    pads = _pads(a, np.empty((0, 0, h, w)))
    _, pt, pb, _, pl, pr = pads
    wdw, wpw = c.ws[0], c.ws[1]
    ho, wo = g.shape[2], g.shape[3]
    # pointwise part (1x1, stride 1): its input gradient is needed for the depthwise kernel's
    # gradient or for the layer's input gradient
    dmid = dpw = None
    if c.need_w or c.need_x:
        if c.counting:
            dmid, cnt = k.conv2d_input_grad_direct(g, wpw, 1, 1, 1, 1, 1, ho, wo)
            c.n_in += cnt
        else:
            dmid = k.conv2d_input_grad(g, wpw, 1, 1, 1, 1, 1, ho, wo)
    if c.need_w:
        if c.counting:
            dpw, cnt = k.conv2d_weight_grad_direct(c.saved["mid"], g, 1, 1, 1, 1, 1, 1, 1)
            c.n_w += cnt
        else:
            dpw = k.conv2d_weight_grad(c.saved["mid"], g, 1, 1, 1, 1, 1, 1, 1)
    dx = ddw = None
    args = (a.strides_h, a.strides_w, a.dilation_h, a.dilation_w, cin)
    hp, wp = h + pt + pb, w + pl + pr
    if c.need_x:
        if c.counting:
            dxp, cnt = k.conv2d_input_grad_direct(dmid, wdw, *args, hp, wp)
            c.n_in += cnt
        else:
            dxp = k.conv2d_input_grad(dmid, wdw, *args, hp, wp)
        dx = _crop(dxp, pads, h, w)
    if c.need_w:
        xp = _padded(c.saved["x"], a)
        if c.counting:
            ddw, cnt = k.conv2d_weight_grad_direct(xp, dmid, wdw.shape[2], wdw.shape[3], *args)
            c.n_w += cnt
        else:
            ddw = k.conv2d_weight_grad(xp, dmid, wdw.shape[2], wdw.shape[3], *args)
    wg = None
    if c.need_w:
        wg = [ddw, dpw] + ([_bias_grad(c, g)] if a.bias else [])
    return [dx], wg


def _dense_rows(x, per_position):
    n, ch, h, w = x.shape
    if per_position:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * w, ch)
    return np.ascontiguousarray(x).reshape(n, -1)


def dense_backward(c, g):
    k = _k()
    a = c.a
    g = _epilogue_backward(c, g)
    gb = _bias_grad(c, np.ascontiguousarray(g))
    n, ch, h, w = c.saved["xshape"]
    g2 = _dense_rows(g, a.per_position)
    dx = dw = None
    if c.need_x:
        if c.counting:
            d2, cnt = k.dense_input_grad_direct(g2, c.ws[0])
            c.n_in += cnt
        else:
            d2 = g2 @ c.ws[0]
        if a.per_position:
            dx = np.ascontiguousarray(d2.reshape(n, h, w, ch).transpose(0, 3, 1, 2))
        else:
            dx = d2.reshape(n, ch, h, w)
    if c.need_w:
        x2 = _dense_rows(c.saved["x"], a.per_position)
        if c.counting:
            dw, cnt = k.dense_weight_grad_direct(x2, g2)
            c.n_w += cnt
        else:
            dw = g2.T @ x2
    wg = ([dw] + ([gb] if a.bias else [])) if c.need_w else None
    return [dx], wg


def tconv_backward(c, g):
    from .ops.resample import tconv_hw
    k = _k()
    a = c.a
    g = np.ascontiguousarray(_epilogue_backward(c, g))
    n, cin, h, w = c.saved["xshape"]
    ho, top, wo, left = tconv_hw(a, h, w)
    wt = c.ws[0]
    kh, kw = wt.shape[2], wt.shape[3]
    fh = (h - 1) * a.strides_h + a.dilation_h * (kh - 1) + 1
    fw = (w - 1) * a.strides_w + a.dilation_w * (kw - 1) + 1
    # the gradient of the full scatter output: g where the crop kept it, 0 elsewhere (rows
    # past the scatter, when the output was extended, receive nothing)
    gfull = np.zeros((n, g.shape[1], fh, fw), dtype=g.dtype)
    rh = min(ho, fh - top)
    rw = min(wo, fw - left)
    gfull[:, :, top:top + rh, left:left + rw] = g[:, :, :rh, :rw]
    args = (a.strides_h, a.strides_w, a.dilation_h, a.dilation_w, a.groups)
    dx = dw = None
    if c.need_x:
        if c.counting:
            dx, cnt = k.conv_transpose_input_grad_direct(gfull, wt, *args, h, w)
            c.n_in += cnt
        else:
            dx = k.conv_transpose_input_grad(gfull, wt, *args, h, w)
    if c.need_w:
        x = np.ascontiguousarray(c.saved["x"])
        if c.counting:
            dw, cnt = k.conv_transpose_weight_grad_direct(x, gfull, kh, kw, *args)
            c.n_w += cnt
        else:
            dw = k.conv_transpose_weight_grad(x, gfull, kh, kw, *args)
    wg = ([dw] + ([_bias_grad(c, g)] if a.bias else [])) if c.need_w else None
    return [dx], wg


# ----------------------------------------------------------------------------- batch norm
def _bn_weights(c):
    ws = list(c.ws)
    a = c.a
    ch = ws[-1].shape[0]
    gamma = ws.pop(0) if a.scale else np.ones(ch, dtype=c.dt)
    beta = ws.pop(0) if a.center else np.zeros(ch, dtype=c.dt)
    return gamma, beta, ws[0], ws[1]


def bn_forward(c, xs):
    x = np.ascontiguousarray(xs[0])
    gamma, beta, mean, var = _bn_weights(c)
    if c.bn_train:
        y, mu, inv = _k().batch_norm_train_forward(x, gamma, beta, c.a.epsilon)
        c.saved.update(x=x, mu=mu, inv=inv)
        return y
    if c.need_w:
        c.saved["x"] = x
    return _fk().batch_norm(x, gamma, beta, mean, var, c.a.epsilon)


def bn_backward(c, g):
    k = _k()
    a = c.a
    g = np.ascontiguousarray(g)
    gamma, beta, mean, var = _bn_weights(c)
    if c.bn_train:
        mu, inv = c.saved["mu"], c.saved["inv"]
    else:
        mu = mean.astype(np.float64)
        inv = 1.0 / np.sqrt(var.astype(np.float64) + a.epsilon)
    dx = None
    if c.need_x:
        if c.bn_train:
            dx = k.batch_norm_train_input_grad(c.saved["x"], g, gamma.astype(np.float64), mu,
                                               inv)
        else:
            dx = k.channel_scale(g, (gamma * inv).astype(c.dt))
    wg = None
    if c.need_w:
        dgamma, dbeta = k.normalized_sums(c.saved["x"], g, mu, inv)
        wg = []
        if a.scale:
            wg.append(dgamma.astype(c.dt))
        if a.center:
            wg.append(dbeta.astype(c.dt))
        wg += [None, None]              # moving mean and variance: not trained
    return [dx], wg


# ----------------------------------------------------------------------------- other param ops
def _affine(c, want_scale, want_bias, ch):
    ws = list(c.ws)
    scale = ws.pop(0) if want_scale else np.ones(ch, dtype=c.dt)
    bias = ws.pop(0) if want_bias else np.zeros(ch, dtype=c.dt)
    return scale, bias


def keep_input_forward(c, xs):
    """Ops whose backward reads the input (kept when a gradient is computed at all)."""
    y, _ = c.layer.op.forward(xs, c.ws, c.a, False)
    c.saved["x"] = xs[0]
    return y


def scale_bias_forward(c, xs):
    y, _ = c.layer.op.forward(xs, c.ws, c.a, False)
    if c.need_w and c.a.scale:
        c.saved["x"] = xs[0]
    return y


def scale_bias_backward(c, g):
    k = _k()
    a = c.a
    g = np.ascontiguousarray(g)
    scale, _ = _affine(c, a.scale, a.bias, g.shape[1])
    dx = (k.channel_scale(g, scale) if a.scale else g) if c.need_x else None
    wg = None
    if c.need_w:
        wg = []
        if a.scale:
            wg.append(k.channel_dot(g, np.ascontiguousarray(c.saved["x"])))
        if a.bias:
            wg.append(k.channel_sum(g))
    return [dx], wg


def layer_norm_backward(c, g):
    a = c.a
    x = np.ascontiguousarray(c.saved["x"])
    gamma, _ = _affine(c, a.scale, a.center, x.shape[1])
    dx, dgamma, dbeta = _k().layer_norm_channels_backward(x, np.ascontiguousarray(g),
                                                          gamma.astype(np.float64), a.epsilon)
    wg = None
    if c.need_w:
        wg = ([dgamma.astype(c.dt)] if a.scale else []) + ([dbeta.astype(c.dt)] if a.center
                                                          else [])
    return [dx if c.need_x else None], wg


def group_norm_backward(c, g, groups_of):
    a = c.a
    x = np.ascontiguousarray(c.saved["x"])
    gamma, _ = _affine(c, a.affine, a.affine, x.shape[1])
    dx, dgamma, dbeta = _k().group_norm_backward(x, np.ascontiguousarray(g), groups_of(x),
                                                 gamma.astype(np.float64), a.epsilon)
    wg = [dgamma.astype(c.dt), dbeta.astype(c.dt)] if c.need_w else None
    return [dx if c.need_x else None], wg


def prelu_backward(c, g):
    from .ops.activations import SLOPE_CHANNEL, SLOPE_SINGLE
    x = np.ascontiguousarray(c.saved["x"])
    n, ch, h, w = x.shape
    s = c.ws[0]
    if c.a.slopes == SLOPE_CHANNEL:
        s = s.reshape(ch, 1, 1)
    elif c.a.slopes == SLOPE_SINGLE:
        s = s.reshape(1, 1, 1)
    full = np.ascontiguousarray(np.broadcast_to(s, (ch, h, w)), dtype=c.dt)
    dx, ds = _k().prelu_grad(np.ascontiguousarray(g), x, full)
    wg = None
    if c.need_w:
        if c.a.slopes == SLOPE_CHANNEL:
            ds = ds.sum(axis=(1, 2))
        elif c.a.slopes == SLOPE_SINGLE:
            ds = np.array([ds.sum()])
        wg = [ds.astype(c.dt)]
    return [dx if c.need_x else None], wg


# ----------------------------------------------------------------------------- the op table
def plain_forward(c, xs):
    y, _ = c.layer.op.forward(xs, c.ws, c.a, False)
    return y


def activation_forward(c, xs):
    y, _ = c.layer.op.forward(xs, c.ws, c.a, False)
    keep = _act_keeps(c.layer.op)
    if keep == "input":
        c.saved["x"] = xs[0]
    elif keep == "output":
        c.saved["y"] = y
    return y


def activation_backward(c, g):
    return [act_backward(c.layer.op, c.a, np.ascontiguousarray(g), c.saved.get("x"),
                         c.saved.get("y"))], None


def shapes_forward(c, xs):
    """Ops whose backward reads only the inputs' shapes."""
    y, _ = c.layer.op.forward(xs, c.ws, c.a, False)
    c.saved["shapes"] = [x.shape for x in xs]
    return y


def inputs_forward(c, xs):
    y, _ = c.layer.op.forward(xs, c.ws, c.a, False)
    c.saved["xs"] = list(xs)
    return y


def io_forward(c, xs):
    y, _ = c.layer.op.forward(xs, c.ws, c.a, False)
    c.saved["x"] = xs[0]
    c.saved["y"] = y
    return y


def _sum_to(g, shape):
    if tuple(g.shape) == tuple(shape):
        return g
    return _k().sum_to(np.ascontiguousarray(g), shape[1], shape[2], shape[3])


def add_backward(c, g):
    scale = c.a.scale if c.a.scale is not None else 1.0
    out = []
    for i, shape in enumerate(c.saved["shapes"]):
        if not c.need_in[i]:
            out.append(None)
            continue
        gi = g if (i == 0 or scale == 1.0) else _k().scale_all(np.ascontiguousarray(g), scale)
        out.append(_sum_to(gi, shape))
    return out, None


def subtract_backward(c, g):
    shapes = c.saved["shapes"]
    da = _sum_to(g, shapes[0]) if c.need_in[0] else None
    db = _sum_to(_k().scale_all(np.ascontiguousarray(g), -1.0), shapes[1]) if c.need_in[1] \
        else None
    return [da, db], None


def multiply_backward(c, g):
    xs = c.saved["xs"]
    out = []
    for i, x in enumerate(xs):
        if not c.need_in[i]:
            out.append(None)
            continue
        p = g
        for j, other in enumerate(xs):
            if j != i:
                p = p * other
        out.append(_sum_to(np.ascontiguousarray(p, dtype=c.dt), x.shape))
    return out, None


def divide_backward(c, g):
    a, b = c.saved["xs"]
    da = _sum_to(np.ascontiguousarray(g / b), a.shape) if c.need_in[0] else None
    db = _sum_to(np.ascontiguousarray(-g * a / (b * b)), b.shape) if c.need_in[1] else None
    return [da, db], None


def concat_backward(c, g):
    out = []
    lo = 0
    for i, shape in enumerate(c.saved["shapes"]):
        hi = lo + shape[1]
        out.append(np.ascontiguousarray(g[:, lo:hi]) if c.need_in[i] else None)
        lo = hi
    return out, None


def slice_backward(c, g):
    shape = c.saved["shapes"][0]
    dx = np.zeros(shape, dtype=g.dtype)
    dx[:, c.a.begin:c.a.stop] = g
    return [dx], None


def channel_shuffle_backward(c, g):
    n, ch, h, w = g.shape
    grp = c.a.groups
    # forward: output j*groups + gi = input gi*(C/groups) + j; back: the inverse permutation
    dx = g.reshape(n, ch // grp, grp, h, w).transpose(0, 2, 1, 3, 4).reshape(n, ch, h, w)
    return [np.ascontiguousarray(dx)], None


def reshape_backward(c, g):
    return [np.ascontiguousarray(g).reshape(c.saved["shapes"][0])], None


def transpose_backward(c, g):
    p = (0, 1 + c.a.perm_c, 1 + c.a.perm_h, 1 + c.a.perm_w)
    inv = tuple(int(v) for v in np.argsort(p))
    return [np.ascontiguousarray(g.transpose(inv))], None


def zero_pad_backward(c, g):
    a = c.a
    shape = c.saved["shapes"][0]
    return [np.ascontiguousarray(g[:, :, a.padding_top:a.padding_top + shape[2],
                                   a.padding_left:a.padding_left + shape[3]])], None


def channel_pad_backward(c, g):
    a = c.a
    shape = c.saved["shapes"][0]
    extra = a.filters - shape[1]
    lo = extra // 2
    dx = np.zeros(shape, dtype=g.dtype)
    dx[:, :, ::a.strides_h, ::a.strides_w] = g[:, lo:lo + shape[1]]
    return [dx], None


def identity_backward(c, g):
    return [g], None


def max_pool_backward(c, g):
    from .ops.base import window_hw
    a = c.a
    x = np.ascontiguousarray(c.saved["x"])
    _, pt, _, _, pl, _ = window_hw(a, x.shape[2], x.shape[3], a.ceil_mode)
    dx = _k().max_pool2d_grad(x, np.ascontiguousarray(g), a.kernel_h, a.kernel_w, a.strides_h,
                              a.strides_w, a.dilation_h, a.dilation_w, pt, pl)
    return [dx], None


def avg_pool_backward(c, g):
    from .ops.base import window_hw
    a = c.a
    shape = c.saved["shapes"][0]
    _, pt, pb, _, pl, pr = window_hw(a, shape[2], shape[3], a.ceil_mode)
    dx = _k().avg_pool2d_grad(np.ascontiguousarray(g), shape[2], shape[3], a.kernel_h,
                              a.kernel_w, a.strides_h, a.strides_w, a.dilation_h, a.dilation_w,
                              pt, pb, pl, pr, bool(a.count_include_pad))
    return [dx], None


def global_avg_backward(c, g):
    n, ch, h, w = c.saved["shapes"][0]
    return [_k().expand_grad(np.ascontiguousarray(g), ch, h, w, 1.0 / (h * w))], None


def reduce_mean_backward(c, g):
    n, ch, h, w = c.saved["shapes"][0]
    cnt = int(np.prod([ch, h, w])) // int(np.prod(g.shape[1:]))
    return [_k().expand_grad(np.ascontiguousarray(g), ch, h, w, 1.0 / cnt)], None


def max_reduce_backward(c, g, axes):
    x = np.ascontiguousarray(c.saved["x"])
    y = np.ascontiguousarray(c.saved["y"])
    rc, rh, rw = axes(c.a)
    return [_k().reduce_max_grad(x, y, np.ascontiguousarray(g), rc, rh, rw)], None


def lrn_backward(c, g):
    a = c.a
    return [_k().lrn_backward(np.ascontiguousarray(c.saved["x"]), np.ascontiguousarray(g),
                              a.size, a.alpha, a.beta, a.k)], None


def rescaling_backward(c, g):
    return [_k().scale_all(np.ascontiguousarray(g), float(c.a.scale))], None


def scalar_backward(c, g):
    from .ops.normalize import SCALAR_OPERATIONS
    op = SCALAR_OPERATIONS[c.a.operation]
    if op in ("add", "subtract"):
        return [g], None
    k = float(c.a.value) if op == "multiply" else 1.0 / float(c.a.value)
    return [_k().scale_all(np.ascontiguousarray(g), k)], None


def normalization_backward(c, g):
    from .ops.normalize import KERAS_EPSILON
    ch = g.shape[1]
    var = np.ones(ch) if c.a.constants else c.ws[1].astype(np.float64)
    d = np.maximum(np.sqrt(var), KERAS_EPSILON)
    k = d if c.a.invert else 1.0 / d
    return [_k().channel_scale(np.ascontiguousarray(g), k.astype(c.dt))], None


def resize_backward(c, g):
    from .kernels_resample import _bilinear_taps
    n, ch, h, w = c.saved["shapes"][0]
    ho, wo = g.shape[2], g.shape[3]
    g = np.ascontiguousarray(g)
    if c.a.mode == 0:
        rows = (np.arange(ho) * h) // ho
        cols = (np.arange(wo) * w) // wo
        return [_k().resize_nearest_grad(g, rows, cols, h, w)], None
    r0, r1, ly = _bilinear_taps(h, ho)
    c0, c1, lx = _bilinear_taps(w, wo)
    return [_k().resize_bilinear_grad(g, r0, r1, ly, c0, c1, lx, h, w)], None


def _reduce_axes(a):
    return bool(a.axes & 1), bool(a.axes & 2), bool(a.axes & 4)


def _handlers():
    """op name -> (forward(ctx, xs) -> y, backward(ctx, g) -> (input grads, weight grads))."""
    act = (activation_forward, activation_backward)
    h = {
        "conv2d": (conv_forward, lambda c, g: conv_backward(c, g, lambda cin: c.a.groups)),
        "depthwise_conv2d": (conv_forward, lambda c, g: conv_backward(c, g, lambda cin: cin)),
        "separable_conv2d": (separable_forward, separable_backward),
        "dense": (conv_forward, dense_backward),
        "conv2d_transpose": (conv_forward, tconv_backward),   # keeps its input as conv does
        "batch_norm": (bn_forward, bn_backward),
        "scale_bias": (scale_bias_forward, scale_bias_backward),
        "layer_norm": (keep_input_forward, layer_norm_backward),
        "group_norm": (keep_input_forward,
                       lambda c, g: group_norm_backward(c, g, lambda x: c.a.groups)),
        "instance_norm": (keep_input_forward,
                          lambda c, g: group_norm_backward(c, g, lambda x: x.shape[1])),
        "prelu": (keep_input_forward, prelu_backward),
        "max_pool2d": (keep_input_forward, max_pool_backward),
        "avg_pool2d": (shapes_forward, avg_pool_backward),
        "global_avg_pool": (shapes_forward, global_avg_backward),
        "global_max_pool": (io_forward,
                            lambda c, g: max_reduce_backward(c, g, lambda a: (False, True, True))),
        "reduce_mean": (shapes_forward, reduce_mean_backward),
        "reduce_max": (io_forward, lambda c, g: max_reduce_backward(c, g, _reduce_axes)),
        "lrn": (keep_input_forward, lrn_backward),
        "add": (shapes_forward, add_backward),
        "subtract": (shapes_forward, subtract_backward),
        "multiply": (inputs_forward, multiply_backward),
        "divide": (inputs_forward, divide_backward),
        "concat": (shapes_forward, concat_backward),
        "slice": (shapes_forward, slice_backward),
        "channel_shuffle": (plain_forward, channel_shuffle_backward),
        "reshape": (shapes_forward, reshape_backward),
        "flatten": (shapes_forward, reshape_backward),
        "transpose": (plain_forward, transpose_backward),
        "zero_pad2d": (shapes_forward, zero_pad_backward),
        "channel_pad": (shapes_forward, channel_pad_backward),
        "dropout": (plain_forward, identity_backward),     # the identity in this step
        "rescaling": (plain_forward, rescaling_backward),
        "scalar": (plain_forward, scalar_backward),
        "normalization": (plain_forward, normalization_backward),
        "resize": (shapes_forward, resize_backward),
    }
    from .ops import OPS
    for op in OPS:
        if op.activation_cost is not None and op.name not in h and op.name != "prelu" \
                and hasattr(op, "apply"):
            h[op.name] = act
    return h


HANDLERS = None


def handlers():
    global HANDLERS
    if HANDLERS is None:
        HANDLERS = _handlers()
    return HANDLERS


def unsupported_ops():
    """Registered ops (besides the input) with no backward here."""
    from .ops import OPS
    return [op.name for op in OPS[1:] if op.name not in handlers()]


# ----------------------------------------------------------------------------- the step
def train_step(model, trainable=None, batch=1, seed=0, dtype="float64", counting=False,
               weights=None, bn_training=False, keep_output=False) -> StepResult:
    """One training step of ``model`` (a built Model, or a spec name or path built with its
    defaults). See the module doc; ``trainable`` as trainable_mask()."""
    if isinstance(model, str):
        model = load_spec(model).build()
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise UsageError(f"unknown dtype '{dtype}'; expected one of: {', '.join(DTYPES)}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UsageError(f"batch must be a positive integer, got {batch!r}")
    check_seed(seed)
    dt = DTYPES[dtype]
    summary = analyze_model(model, batch, dtype)
    if weights is not None:
        _check_weights(model, summary, weights)
    layers = model.layers
    index = {layer.name: i for i, layer in enumerate(layers)}
    table = handlers()
    missing = sorted({layer.op.name for layer in layers[1:] if layer.op.name not in table})
    if missing:
        raise UsageError(f"no backward pass for op(s) {', '.join(missing)}")
    mask = trainable_mask(model, trainable)
    wgrad, igrad, wants = gradient_plan(model, mask)
    last_use = list(range(len(layers)))
    for i, layer in enumerate(layers):
        for name in layer.inputs:
            last_use[index[name]] = i
    last_use[-1] = len(layers)

    ledger = Ledger()
    c, h, w = model.input_shape
    x0 = layer_rng(seed, -1 % (2**32)).standard_normal((batch, c, h, w)).astype(dt)
    live = {0: x0}
    ledger.hold(("act", 0), x0)
    ctxs = [None] * len(layers)
    all_ws = [[]]
    start = time.perf_counter()
    # ---- forward
    for i in range(1, len(layers)):
        layer = layers[i]
        xs = [live[index[n]] for n in layer.inputs]
        if weights is None:
            ws = make_weights(layer.op, layer.attrs, [x.shape[1:] for x in xs], seed, i, dt)
        else:
            ws = [np.asarray(v, dtype=dt) for v in weights[i]]
        all_ws.append(ws)
        for v in ws:
            ledger.hold(("w", i), v)
        a = layer.op.view(layer.attrs)
        need_in = [wants[index[n]] for n in layer.inputs]
        bn_train = layer.op.name == "batch_norm" and (bn_training or wgrad[i])
        ctx = Ctx(layer, a, ws, need_in, wgrad[i], counting, bn_train, dt)
        fwd, _ = table[layer.op.name]
        if wants[i]:
            y = fwd(ctx, xs)
        else:
            y = plain_forward(ctx, xs) if layer.op.name != "batch_norm" else bn_forward(ctx, xs)
            ctx.saved = {}
        y = np.ascontiguousarray(y, dtype=dt)
        if tuple(y.shape[1:]) != tuple(summary.layers[i - 1].output_shape):
            raise AssertionError(f"layer '{layer.name}': forward produced {y.shape[1:]}, the "
                                 f"shape rule says {summary.layers[i - 1].output_shape}")
        ctxs[i] = ctx
        live[i] = y
        ledger.hold(("act", i), y)
        for v in ctx.saved.values():
            for arr in (v if isinstance(v, list) else [v]):
                if isinstance(arr, np.ndarray):
                    ledger.hold(("saved", i), arr)
        ledger.mark()
        for name in set(layer.inputs):
            j = index[name]
            if last_use[j] == i:
                live.pop(j)
                ledger.drop(("act", j))
        del xs, y
    out = live.pop(len(layers) - 1)
    r = layer_rng(seed, LOSS_STREAM).standard_normal(out.shape).astype(dt)
    loss = float(np.sum(out.astype(np.float64) * r))
    saved_total = ledger.bytes_of_kind("saved")
    ledger.hold(("grad", len(layers) - 1), r)
    ledger.drop(("act", len(layers) - 1))
    ledger.mark()
    out_kept = out if keep_output else None
    del out

    # ---- backward
    grads = {len(layers) - 1: r}
    owned = {len(layers) - 1: False}
    rows = [None] * len(layers)
    grad_bytes = 0
    for i in range(len(layers) - 1, 0, -1):
        layer = layers[i]
        ctx = ctxs[i]
        row = summary.layers[i - 1]
        saved_bytes = ledger.bytes_of(("saved", i))
        wg = None
        if wants[i]:
            g = grads.pop(i, None)
            if g is None:            # the output does not reach the loss: its gradient is 0
                g = np.zeros((batch,) + tuple(row.output_shape), dtype=dt)
            _, bwd = table[layer.op.name]
            dxs, wg = bwd(ctx, g)
            if wg is not None:
                wg = [None if v is None else np.asarray(v, dtype=dt) for v in wg]
                flags = _weight_trainable(layer)
                wg = [v if t else None for v, t in zip(wg, flags)]
                for v in wg:
                    if v is not None:
                        ledger.hold(("wgrad", i), v)
                        grad_bytes += v.nbytes
            for k, name in enumerate(layer.inputs):
                j = index[name]
                d = dxs[k] if k < len(dxs) else None
                if not ctx.need_in[k] or d is None:
                    continue
                d = np.asarray(d, dtype=dt)
                if j in grads:
                    if owned[j]:
                        np.add(grads[j], d, out=grads[j])
                    else:
                        grads[j] = grads[j] + d
                        owned[j] = True
                    ledger.drop(("grad", j))
                    ledger.hold(("grad", j), grads[j])
                else:
                    grads[j] = d
                    owned[j] = False
                    ledger.hold(("grad", j), d)
            ledger.mark()
            del g, dxs
        ledger.drop(("grad", i))
        ledger.drop(("saved", i))
        ctx.saved = {}
        mode = ""
        if layer.op.name == "batch_norm":
            mode = "training" if ctx.bn_train else "inference"
        rows[i] = LayerStep(layer.name, layer.op.name, igrad[i], wgrad[i], row.macs,
                            ctx.n_in if counting else None, ctx.n_w if counting else None,
                            wg if wgrad[i] else None, mode, saved_bytes)
    seconds = time.perf_counter() - start
    weight_bytes = sum(v.nbytes for ws in all_ws for v in ws)
    return StepResult(rows[1:], batch, dtype, int(seed), bool(counting), bool(bn_training), loss,
                      seconds, ledger.peak, weight_bytes, grad_bytes, saved_total,
                      ledger.peak_dynamic, out_kept)
