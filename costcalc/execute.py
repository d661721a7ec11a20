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

from .analysis import analyze_model, parse_input
from .errors import UsageError
from .spec import Spec, load

DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclasses.dataclass
class LayerRun:
    name: str
    op: str
    output_shape: tuple
    macs: int               # analytic, for the batch
    executed_macs: int | None
    seconds: float

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
    peak_measured: int      # elements, whole batch
    peak_analytic: int
    checksum: float
    output: np.ndarray | None = None


def layer_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def make_weights(op, attrs, in_shapes, seed, index, dtype):
    """Deterministic weights for one layer, scaled so activations stay of order one."""
    rng = layer_rng(seed, index)
    out = []
    for _role, shape, init in op.param_shapes(attrs, in_shapes):
        if init == "fan_in":
            fan_in = int(np.prod(shape[1:]))
            w = rng.standard_normal(shape) * np.sqrt(2.0 / max(fan_in, 1))
        elif init == "positive":
            w = rng.uniform(0.5, 1.5, shape)
        else:  # small: bias, beta, mean
            w = rng.normal(0.0, 0.1, shape)
        out.append(np.ascontiguousarray(w, dtype=dtype))
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


def _available_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def plan(name_or_spec, overrides=None, input_shape=None, batch=1, dtype="float32"):
    """Validate a run request before any work: shapes (via the count engine), dtype, memory."""
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype '{dtype}'; expected one of: {', '.join(DTYPES)}")
    if not isinstance(batch, int) or batch < 1:
        raise UsageError(f"--batch must be a positive integer, got {batch}")
    spec = name_or_spec if isinstance(name_or_spec, Spec) else load(name_or_spec)
    model = spec.build(overrides, parse_input(input_shape))
    summary = analyze_model(model, batch)        # shape errors stop here, before any work
    itemsize = np.dtype(DTYPES[dtype]).itemsize
    # live activations + all weights + the largest im2col buffer, with a 1.5x margin
    biggest_cols = 0
    for row in summary.layers:
        biggest_cols = max(biggest_cols, row.macs // max(batch, 1) // max(row.output_shape[0], 1))
    need = (summary.totals["peak_activations"] + summary.totals["params"] + biggest_cols) \
        * itemsize * 1.5
    avail = _available_bytes()
    if need > avail:
        raise UsageError(f"{spec.id} at batch {batch} needs about {need / 2**30:.1f} GiB for "
                         f"activations and weights but {avail / 2**30:.1f} GiB is available; "
                         "expected a smaller --batch or --input")
    return model, summary


def run(name_or_spec, overrides=None, input_shape=None, batch=1, seed=0, dtype="float32",
        counting=False, progress=None, keep_output=False, weights=None) -> RunResult:
    """Run the graph numerically. ``progress(i, n, name)`` is called before each layer.

    ``weights``: optional, from ``model_weights(model, seed, dtype)`` for the same model; then
    no weights are generated during the run (arrays of another dtype are converted)."""
    model, summary = plan(name_or_spec, overrides, input_shape, batch, dtype)
    dt = DTYPES[dtype]
    if weights is not None:
        _check_weights(model, summary, weights)
    layers = model.layers
    views = [layer.op.view(layer.attrs) for layer in layers]
    index = {layer.name: i for i, layer in enumerate(layers)}
    last_use = list(range(len(layers)))
    for i, layer in enumerate(layers):
        for name in layer.inputs:
            last_use[index[name]] = i
    last_use[-1] = len(layers)

    c, h, w = model.input_shape
    x0 = layer_rng(seed, -1 % (2**32)).standard_normal((batch, c, h, w)).astype(dt)
    live = {0: x0}
    alive = x0.size
    peak = alive
    rows = []
    start = time.perf_counter()
    for i in range(1, len(layers)):
        layer = layers[i]
        if progress:
            progress(i, len(layers) - 1, layer.name)
        xs = [live[index[n]] for n in layer.inputs]
        in_shapes = [x.shape[1:] for x in xs]
        if weights is None:
            ws = make_weights(layer.op, layer.attrs, in_shapes, seed, i, dt)
        else:
            ws = [np.asarray(w, dtype=dt) for w in weights[i]]
        t0 = time.perf_counter()
        y, executed = layer.op.forward(xs, ws, views[i], counting)
        seconds = time.perf_counter() - t0
        y = np.ascontiguousarray(y, dtype=dt)
        row = summary.layers[i - 1]
        if tuple(y.shape[1:]) != row.output_shape:
            raise AssertionError(f"layer '{layer.name}': kernel produced {y.shape[1:]}, shape "
                                 f"rule says {row.output_shape}")
        live[i] = y
        alive += y.size
        peak = max(peak, alive)
        for name in set(layer.inputs):
            j = index[name]
            if last_use[j] == i:
                alive -= live.pop(j).size
        if last_use[i] == i:
            alive -= live.pop(i).size
        rows.append(LayerRun(layer.name, layer.op.name, row.output_shape, row.macs,
                             int(executed) if counting else None, seconds))
    total = time.perf_counter() - start
    out = live[len(layers) - 1]
    return RunResult(summary, rows, batch, dtype, seed, counting, total, peak,
                     summary.totals["peak_activations"], float(np.float64(out.astype(np.float64).sum())),
                     out if keep_output else None)
