"""Numeric forward passes: run a spec's graph on real tensors.

The executor runs the layers in spec order with deterministic weights and input (``seed``), frees
each activation after its last use, and measures what it did: each layer's output shape (checked
against the propagated one), time, the multiplies its kernels executed (counting mode), and the
peak total of live activations (checked against the analytic peak).
"""
from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from .analysis import INT64_MAX, analyze_model, load_spec, parse_input, shown
from .errors import UsageError

DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclasses.dataclass
class LayerRun:
    name: str
    op: str
    output_shape: tuple
    macs: int               # analytic, for the batch
    executed_macs: int | None
    seconds: float
    # The layer whose output pass computed this one (run(fuse=True)): its seconds are 0.0 and
    # its time is in that layer's seconds. None: the layer ran on its own.
    fused_into: str | None = None

    @property
    def gflops(self):
        return 2 * self.macs / self.seconds / 1e9 if self.seconds > 0 else float("nan")


@dataclasses.dataclass
class RunResult:
    summary: object
    layers: list
    batch: int
    dtype: str
    seed: int
    counting: bool
    seconds: float
    # elements, whole batch: the largest total of the layers' outputs (their arrays' sizes)
    # alive at once in spec order, each freed after its last use; with fusion, a fused layer's
    # output counts as if stored (its array is never allocated: the real peak is at most this)
    peak_measured: int
    peak_analytic: int
    checksum: float
    output: np.ndarray | None = None


def layer_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


WEIGHT_CHUNK = 1 << 20      # float64 values drawn at a time (8 MiB)


def make_weights(op, attrs, in_shapes, seed, index, dtype):
    """Deterministic weights for one layer, scaled so activations stay of order one.

    Drawn in float64 chunks of WEIGHT_CHUNK values straight into the result (the generator's
    stream is the same as one call for the whole array): a large layer (VGG's fc6, 103 M
    weights) then needs its weights in ``dtype`` and 8 MiB, not three float64 copies."""
    rng = layer_rng(seed, index)
    out = []
    for _role, shape, init in op.param_shapes(attrs, in_shapes):
        w = np.empty(shape, dtype=dtype)
        flat = w.reshape(-1)
        scale = np.sqrt(2.0 / max(int(np.prod(shape[1:])), 1)) if init == "fan_in" else None
        for lo in range(0, flat.size, WEIGHT_CHUNK):
            k = min(WEIGHT_CHUNK, flat.size - lo)
            if init == "fan_in":
                part = rng.standard_normal(k)
                part *= scale
            elif init == "positive":
                part = rng.uniform(0.5, 1.5, k)
            else:  # small: bias, beta, mean
                part = rng.normal(0.0, 0.1, k)
            flat[lo:lo + k] = part
        out.append(w)
    return out


def model_weights(model, seed=0, dtype="float32") -> list:
    """Every layer's weights exactly as run() makes them, indexed like ``model.layers`` (the
    input's entry is empty). Pass the list as ``run(..., weights=...)`` to keep weight generation
    out of a timed forward pass (benchmarks) or to share it between runs."""
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype '{dtype}'; expected one of: {', '.join(DTYPES)}")
    summary = analyze_model(model, 1)
    shapes = [tuple(model.input_shape)] + [tuple(row.output_shape) for row in summary.layers]
    index = {layer.name: i for i, layer in enumerate(model.layers)}
    out = [[]]
    for i, layer in enumerate(model.layers[1:], start=1):
        in_shapes = [shapes[index[n]] for n in layer.inputs]
        out.append(make_weights(layer.op, layer.attrs, in_shapes, seed, i, DTYPES[dtype]))
    return out


def _check_weights(model, summary, weights):
    """Given weights must have one entry per layer with the shapes param_shapes() says."""
    layers = model.layers
    if len(weights) != len(layers):
        raise UsageError(f"weights has {len(weights)} entries but the model has {len(layers)} "
                         "layers (input included); expected model_weights(model, ...)")
    shapes = [tuple(model.input_shape)] + [tuple(row.output_shape) for row in summary.layers]
    index = {layer.name: i for i, layer in enumerate(layers)}
    for i, layer in enumerate(layers[1:], start=1):
        in_shapes = [shapes[index[n]] for n in layer.inputs]
        want = [tuple(shape) for _, shape, _ in layer.op.param_shapes(layer.attrs, in_shapes)]
        got = [tuple(np.shape(w)) for w in weights[i]]
        if got != want:
            raise UsageError(f"weights of layer '{layer.name}' have shapes {got}, expected {want}")


def available_bytes() -> int:
    """Memory a new allocation can get: Linux's MemAvailable (free pages plus the page cache and
    other memory the kernel can reclaim), else the free pages; 1 TiB where neither is known.
    The run and sweep guards both ask this."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


_available_bytes = available_bytes        # the name tests replace


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= int(seed) <= INT64_MAX:
        raise UsageError(f"--seed must be an integer from 0 to {INT64_MAX:,}, got "
                         f"{shown(seed)}")
    return int(seed)


def _layer_scratch(layer, in_shapes, out_shape, batch):
    """Elements a layer's fast-path kernels allocate besides its inputs and output:
    (persistent, transient). persistent: {scratch slot: elements} of kernels._buffer, which
    keeps each slot at its largest request for the rest of the run; transient: arrays that
    live only during the layer (padded copy, subsampled or strided copies, Winograd's filter
    transform, the fused activation's copy of the output)."""
    from .ops.base import window_hw
    name = layer.op.name
    a = layer.op.view(layer.attrs)
    c_out, ho, wo = out_shape
    out = batch * c_out * ho * wo
    persistent: dict = {}
    transient = 0
    x = in_shapes[0] if in_shapes else (0, 0, 0)
    c_in, h, w = x
    fused = getattr(a, "activation", 0) != 0
    if name in ("conv2d", "depthwise_conv2d", "separable_conv2d"):
        _, pt, pb, _, pl, pr = window_hw(a, h, w, False)
        hp, wp = h + pt + pb, w + pl + pr
        if pt or pb or pl or pr:
            transient += batch * c_in * hp * wp                 # pad_hw's copy
        kh, kw, sh, sw = a.kernel_h, a.kernel_w, a.strides_h, a.strides_w
        if name == "conv2d":
            groups = a.groups
            cg = c_in // max(groups, 1)
            tiles = batch * ((ho + 1) // 2) * ((wo + 1) // 2)
            if kh == kw == 3 and sh == sw == 1 and a.dilation_h == a.dilation_w == 1 \
                    and groups == 1 and cg >= 96 and tiles >= 1500:   # kernels.WINOGRAD_*
                # a band of tile rows at a time (kernels.winograd_band_rows, WINOGRAD_BAND)
                tw = (wo + 1) // 2
                band = min(max((1 << 22) // (16 * (c_in + c_out) * tw), -(-1500 // tw), 1),
                           batch * ((ho + 1) // 2))
                persistent["winograd_v"] = max(16 * c_in * band * tw, 1 << 16)
                persistent["winograd_m"] = max(16 * c_out * band * tw, 1 << 16)
                transient += 60 * c_out * c_in                  # U = G w G^T and its steps
            elif groups == 1 and batch > 1 and ho * wo < 100 \
                    and c_in * kh * kw * batch * ho * wo <= 1 << 23:   # kernels.BATCHED_GEMM_*
                # the whole batch's columns and one product (kernels._batched_product)
                persistent["cols"] = max(c_in * kh * kw * batch * ho * wo, 1 << 16)
                persistent["product"] = max(c_out * batch * ho * wo, 1 << 16)
                if kh == kw == 1 and not (sh == sw == 1 and hp == ho and wp == wo):
                    transient += batch * c_in * ho * wo         # _subsample's copy
                if (kh, kw) != (1, 1) and sw > 1:
                    transient += c_in * hp * wp                 # im2col's phase split
            elif kh == kw == 1:
                if not (sh == sw == 1 and hp == ho and wp == wo):
                    transient += batch * c_in * ho * wo         # _subsample's copy
            elif groups == 1 and c_in * kh * kw * ho * wo > 1 << 23:  # kernels.IM2COL_BAND
                rows = max((1 << 23) // (c_in * kh * kw * wo), 1)  # a band of output rows
                persistent["cols"] = max(c_in * kh * kw * rows * wo, 1 << 16)
                persistent["product"] = max(c_out * rows * wo, 1 << 16)
                if sw > 1:
                    transient += c_in * hp * wp                 # im2col's phase split
            else:
                persistent["cols"] = max(cg * kh * kw * ho * wo, 1 << 16)
                if sw > 1:
                    transient += cg * hp * wp                   # im2col's phase split
        else:
            mid = batch * c_in * getattr(a, "depth_multiplier", 1) * ho * wo
            if sw > 1:
                transient += hp * wp                            # the phase planes
            transient += wp * ho                                # the accumulator row(s)
            if name == "separable_conv2d":
                transient += mid
    elif name == "conv2d_transpose":
        # the uncropped output the scatter writes: (H-1)*s + d*(k-1) + 1 (or the output, if
        # output_padding makes that larger)
        fh = max((h - 1) * a.strides_h + a.dilation_h * (a.kernel_h - 1) + 1, ho)
        fw = max((w - 1) * a.strides_w + a.dilation_w * (a.kernel_w - 1) + 1, wo)
        full = batch * c_out * fh * fw
        transient += full + (c_out // max(a.groups, 1)) * a.kernel_h * a.kernel_w * h * w
    elif name == "dense":
        if getattr(a, "per_position", False):
            transient += batch * c_in * h * w + out             # the transposed copies
    else:
        transient += out                                       # a temporary of the output
    if fused:
        transient += out                                       # the activation's copy
    return persistent, transient


def memory_estimate(model, summary, batch, dtype="float32") -> int:
    """Bytes a forward pass allocates at its peak (the model tested against measured RSS in
    tests/test_hardening.py): the analytic peak of live activations + the kernels' scratch
    slots at their largest (they are kept between layers) + the largest layer's weights,
    transient kernel buffers and its output again (y and its contiguous/converted copy may
    coexist) + the input batch drawn in float64, all in ``dtype``, + 32 MiB (weight chunks, BLAS buffers)."""
    itemsize = np.dtype(DTYPES[dtype]).itemsize
    shapes = [tuple(model.input_shape)] + [tuple(row.output_shape) for row in summary.layers]
    index = {layer.name: i for i, layer in enumerate(model.layers)}
    slots: dict = {}
    per_layer = 0
    for i, layer in enumerate(model.layers[1:], start=1):
        in_shapes = [shapes[index[n]] for n in layer.inputs]
        persistent, transient = _layer_scratch(layer, in_shapes, shapes[i], batch)
        for k, v in persistent.items():
            slots[k] = max(slots.get(k, 0), v)
        row = summary.layers[i - 1]
        per_layer = max(per_layer, transient + row.params)
    c, h, w = model.input_shape
    first = batch * c * h * w * 8 // itemsize           # the input is drawn in float64
    elements = summary.totals["peak_activations"] + sum(slots.values()) + max(per_layer, first)
    return elements * itemsize + (32 << 20)      # BLAS thread buffers, allocator slack


def plan(name_or_spec, overrides=None, input_shape=None, batch=1, dtype="float32", seed=0):
    """Validate a run request before any work: shapes and every count (via analysis, whose
    overflow rules stop a point that leaves int64), dtype, seed, memory."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise UsageError(f"unknown dtype '{shown(dtype)}'; expected one of: {', '.join(DTYPES)}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UsageError(f"--batch must be a positive integer, got {shown(batch)}")
    check_seed(seed)
    spec = load_spec(name_or_spec)
    model = spec.build(overrides, parse_input(input_shape))
    summary = analyze_model(model, batch, dtype)   # shape and overflow errors stop here
    need = memory_estimate(model, summary, batch, dtype)
    avail = _available_bytes()
    if need > avail:
        raise UsageError(f"{spec.id} at batch {batch} needs about {need / 2**30:.1f} GiB for "
                         f"activations, weights and kernel buffers but {avail / 2**30:.1f} GiB "
                         "is available; expected a smaller --batch or --input")
    return model, summary


FUSE_HEADS = ("conv2d", "depthwise_conv2d", "separable_conv2d")   # forward(..., post=)
# (add is a head too, of its own relu: Add.forward(..., post=))
CLIP_OPS = ("relu", "relu6")


def fusion_plan(layers, views, shapes):
    """{head index: [indices of the layers its output pass computes, in order]}.

    A head is a convolution (FUSE_HEADS) with a linear activation of its own. It takes in,
    while each one is the single consumer of the previous one's output (and that output is not
    the network's): a batch_norm, then a relu/relu6; or, instead of or after those, a
    two-input add of same-shape tensors whose other input is computed before the head, and a
    relu/relu6 after the add. An add that no convolution takes in (its other input comes
    later) takes in its own relu/relu6 the same way. Every other layer runs on its own.
    ``shapes``: each layer's output shape (C, H, W), indexed like ``layers``."""
    index = {layer.name: i for i, layer in enumerate(layers)}
    consumers = [[] for _ in layers]
    for i, layer in enumerate(layers):
        for name in layer.inputs:
            consumers[index[name]].append(i)
    last = len(layers) - 1

    def single(j):
        """The one consumer of j's output (which it reads once), or None."""
        if j == last or len(consumers[j]) != 1:
            return None
        return consumers[j][0]

    out, taken = {}, set()
    for i, layer in enumerate(layers):
        if layer.op.name == "add" and len(layer.inputs) == 2 and \
                shapes[index[layer.inputs[0]]] == shapes[index[layer.inputs[1]]] == shapes[i]:
            k = single(i)          # an add's own relu (when no convolution took the add in)
            if k is not None and layers[k].op.name in CLIP_OPS and i not in taken:
                out[i] = [k]
                taken.add(k)
            continue
        if layer.op.name not in FUSE_HEADS or _activation_name(views[i]) != "linear":
            continue
        chain, cur, stage = [], i, 0          # stage: 0 start, 1 after BN, 2 after clip, 3 add
        while True:
            k = single(cur)
            if k is None:
                break
            op = layers[k].op.name
            if op == "batch_norm" and stage == 0:
                stage = 1
            elif op in CLIP_OPS and stage in (0, 1):
                stage = 2
            elif op in CLIP_OPS and stage == 3:
                stage = 4
            elif op == "add" and stage in (0, 1, 2) and len(layers[k].inputs) == 2 \
                    and len(set(layers[k].inputs)) == 2:
                other = index[[n for n in layers[k].inputs if n != layers[cur].name][0]]
                if other >= i or shapes[other] != shapes[cur]:
                    break
                stage = 3
            else:
                break
            chain.append(k)
            cur = k
        if chain:
            out[i] = chain
            taken.update(chain)
    return out


def _activation_name(view):
    from .ops.conv import FUSED
    return FUSED[view.activation].name


def _post_for(layers, views, chain, chain_ws, live, index, head):
    """The kernels.Post that computes the layers of ``chain`` after ``head``'s product
    (``chain_ws``: their weights, by index)."""
    from .kernels import CLIPS, Post, bn_coefficients
    kw = {}
    cur = layers[head].name
    for k in chain:
        layer, a = layers[k], views[k]
        op = layer.op.name
        if op == "batch_norm":
            ws = list(chain_ws[k])
            var, mean = ws[-1], ws[-2]
            gamma = ws.pop(0) if a.scale else np.ones_like(var)
            beta = ws.pop(0) if a.center else np.zeros_like(var)
            kw["scale"], kw["shift"] = bn_coefficients(gamma, beta, mean, var, a.epsilon)
        elif op == "add":
            other = [n for n in layer.inputs if n != cur][0]
            kw["res"] = live[index[other]]
            kw["rscale"] = a.scale if a.scale is not None else 1.0
            kw["res_first"] = layer.inputs[0] == other
        else:
            lo, hi = CLIPS[op]
            if "res" in kw:
                kw["lo2"], kw["hi2"] = lo, hi
            else:
                kw["lo1"], kw["hi1"] = lo, hi
        cur = layer.name
    return Post(**kw)


def _layer_order_peak(layers, index, sizes):
    """Peak of live elements when the layers run one at a time in spec order, each output
    freed after its last use (the network's output kept)."""
    last_use = list(range(len(layers)))
    for i, layer in enumerate(layers):
        for name in layer.inputs:
            last_use[index[name]] = i
    last_use[-1] = len(layers)
    alive = peak = sizes[0]
    for i in range(1, len(layers)):
        alive += sizes[i]
        peak = max(peak, alive)
        for name in set(layers[i].inputs):
            j = index[name]
            if last_use[j] == i:
                alive -= sizes[j]
        if last_use[i] == i:
            alive -= sizes[i]
    return peak


def run(name_or_spec, overrides=None, input_shape=None, batch=1, seed=0, dtype="float32",
        counting=False, progress=None, keep_output=False, weights=None,
        fuse=True) -> RunResult:
    """Run the graph numerically. ``progress(i, n, name)`` is called before each layer.

    ``weights``: optional, from ``model_weights(model, seed, dtype)`` for the same model; then
    no weights are generated during the run (arrays of another dtype are converted).

    ``fuse`` (not in counting mode, which runs every layer on its own and counts its
    multiplies): a convolution computes the batch norm, relu/relu6 and residual add that follow
    it (``fusion_plan``) in its output pass, on each part of the output right after its
    product (a sample; a band of Winograd tile rows); the same math, rounded where the
    separate layers round. The convolution's LayerRun holds the time of all of them;
    each layer folded into it has seconds 0.0 and ``fused_into`` = the convolution's name.
    ``fuse=False``: one layer at a time."""
    model, summary = plan(name_or_spec, overrides, input_shape, batch, dtype, seed)
    dt = DTYPES[dtype]
    if weights is not None:
        _check_weights(model, summary, weights)
    layers = model.layers
    views = [layer.op.view(layer.attrs) for layer in layers]
    index = {layer.name: i for i, layer in enumerate(layers)}
    shapes = [tuple(model.input_shape)] + [tuple(row.output_shape) for row in summary.layers]
    fused = fusion_plan(layers, views, shapes) if fuse and not counting else {}
    step = list(range(len(layers)))          # where each layer runs: its head if fused
    head_of = {}
    for h, chain in fused.items():
        for k in chain:
            step[k] = h
            head_of[k] = h
    last_use = list(step)                    # the step after which a tensor is freed
    for i, layer in enumerate(layers):
        for name in layer.inputs:
            j = index[name]
            last_use[j] = max(last_use[j], step[i])
    last_use[-1] = len(layers)

    c, h, w = model.input_shape
    x0 = layer_rng(seed, -1 % (2**32)).standard_normal((batch, c, h, w)).astype(dt)
    live = {0: x0}
    sizes = [x0.size] + [0] * (len(layers) - 1)
    rows = [None] * (len(layers) - 1)

    def ws_of(k):
        if weights is None:
            in_shapes = [shapes[index[n]] for n in layers[k].inputs]
            return make_weights(layers[k].op, layers[k].attrs, in_shapes, seed, k, dt)
        return [np.asarray(w, dtype=dt) for w in weights[k]]

    start = time.perf_counter()
    for i in range(1, len(layers)):
        layer = layers[i]
        if progress:
            progress(i, len(layers) - 1, layer.name)
        if i in head_of:
            continue                # computed by its head's output pass
        xs = [live[index[n]] for n in layer.inputs]
        ws = ws_of(i)
        chain = fused.get(i, ())
        chain_ws = {k: ws_of(k) for k in chain}      # made (or converted) before the timer
        t0 = time.perf_counter()
        if chain:       # the folded layers' own work (batch norm's coefficients) is timed
            post = _post_for(layers, views, chain, chain_ws, live, index, i)
            y, executed = layer.op.forward(xs, ws, views[i], counting, post=post)
            del post
        else:
            y, executed = layer.op.forward(xs, ws, views[i], counting)
        seconds = time.perf_counter() - t0
        y = np.ascontiguousarray(y, dtype=dt)
        done = [i, *chain]
        for k in done:
            row = summary.layers[k - 1]
            if tuple(y.shape[1:]) != row.output_shape:
                raise AssertionError(f"layer '{layers[k].name}': kernel produced {y.shape[1:]}, "
                                     f"shape rule says {row.output_shape}")
            rows[k - 1] = LayerRun(layers[k].name, layers[k].op.name, row.output_shape, row.macs,
                                   int(executed) if counting else None,
                                   seconds if k == i else 0.0,
                                   None if k == i else layer.name)
        out_i = done[-1]
        live[out_i] = y
        for k in done:
            sizes[k] = y.size
            for name in set(layers[k].inputs):
                j = index[name]
                if last_use[j] == i and j in live:
                    del live[j]
        if last_use[out_i] == i:
            del live[out_i]
        del xs, ws, y, chain_ws          # freed now, not when the next layer rebinds them (memory_estimate)
    total = time.perf_counter() - start
    out = live[len(layers) - 1]
    return RunResult(summary, rows, batch, dtype, seed, counting, total,
                     _layer_order_peak(layers, index, sizes),
                     summary.totals["peak_activations"], float(np.float64(out.astype(np.float64).sum())),
                     out if keep_output else None)
