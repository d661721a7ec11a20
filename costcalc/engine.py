"""The count engine: a graph as flat arrays, one pass for shapes and counts.

A graph is compiled into
- ``codes``   int64[L]            op code of each layer (index into ``ops.OPS``), topological order;
- ``attrs``   int64[L, NCOLS]     each layer's int attribute fields (its op's ``Attrs``), then the
                                  engine's column FROZEN (1: the layer's params are not trainable);
- ``in_ptr``  int64[L + 1], ``in_idx`` int64[E]: layer i's inputs are in_idx[in_ptr[i]:in_ptr[i+1]].
:func:`propagate` fills every layer's (C, H, W) and (params, trainable, MACs, other ops,
activations); :func:`evaluate_many` does the same for many input shapes in one call, returning
totals only: it visits the inputs in sorted order and, where a pass reaches a layer whose output
shape is the previous pass's and that alone feeds the rest of the graph, reuses the rest
(:func:`evaluate_each`, one full pass per input, is its reference; their results are identical).
Counts are int64; a count that would leave int64 stops the pass with OVERFLOW.

This is ordinary Python, written so that Numba can compile it: one network is counted by running
it as it is (no compiled code needed, so ``costcalc summary`` starts fast); batches run it compiled
(``costcalc/jit.py`` compiles these functions with a dispatch generated from the registry). Both
give the same numbers (tests/test_engine.py, and NUMBA_DISABLE_JIT=1).
"""
from __future__ import annotations

import hashlib

import numpy as np

from . import ops
from .ops.base import OK, OVERFLOW, UNKNOWN_OP, cadd, cmul

# Columns of the per-layer count array and of the totals.
PARAMS, TRAINABLE, MACS, OTHER, ACTIVATIONS = range(5)
COUNT_COLUMNS = ("params", "trainable_params", "macs", "other_ops", "activations")
# Totals of evaluate_many: the five above, then flops and peak activations (elements).
FLOPS, PEAK = 5, 6
TOTAL_COLUMNS = COUNT_COLUMNS + ("flops", "peak_activations")

FROZEN = ops.nslots()          # the engine's column after every op's fields
NCOLS = FROZEN + 1
SMALL = 2097151                # 2**21 - 1: a product of three such numbers stays below 2**63


# ----------------------------------------------------------------------------- dispatch
def _layer_rules(op):
    """One op's rules over the engine's arrays, as plain Python: (shape, counts) functions.
    ``costcalc/jit.py`` generates the same two functions as source for Numba."""
    A = op.Attrs
    nf = len(A._fields)
    shape_rule, count_rule = op.shape, op.counts
    weights = [(w.shape, w.when, w.trainable) for w in op.weights]

    def shape(attrs, i, x, shapes, ins):
        return shape_rule(A(*attrs[i, :nf]), x, shapes, ins)

    def counts(attrs, i, x, y, shapes, ins):
        a = A(*attrs[i, :nf])
        p = 0
        t = 0
        for dims, when, trainable in weights:
            if when is None or when(a):
                n = 1
                for d in dims(a, x):
                    n = cmul(n, d)
                p = cadd(p, n)
                if trainable:
                    t = cadd(t, n)
        m, o = count_rule(a, x, y, shapes, ins)
        return p, t, m, o
    return shape, counts


_SHAPE, _COUNTS = zip(*(_layer_rules(op) for op in ops.OPS))


def shape_of(code, attrs, i, x, shapes, ins):
    """(failure or OK, C, H, W) of layer i (code > 0)."""
    if code <= 0 or code >= len(_SHAPE):
        return UNKNOWN_OP, 0, 0, 0
    return _SHAPE[code](attrs, i, x, shapes, ins)


def counts_of(code, attrs, i, x, y, shapes, ins):
    """(params, trainable params, MACs, other ops) of layer i, -1 where a count leaves int64."""
    return _COUNTS[code](attrs, i, x, y, shapes, ins)


def inputs_view(in_idx, in_ptr, i):
    """Layer i's input indices (compiled: a view without reference counting)."""
    return in_idx[in_ptr[i]:in_ptr[i + 1]]


def table_view(table):
    """A 2-D int64 table as the rules see it (compiled: a view without reference counting, so
    passing it down the inlined dispatch and taking rows of it cost nothing; the caller keeps
    ``table`` alive)."""
    return table


def first_input(shapes, ins):
    if len(ins) == 0:
        return (0, 0, 0)
    j = ins[0]
    return (shapes[j, 0], shapes[j, 1], shapes[j, 2])


# ----------------------------------------------------------------------------- one pass
def propagate(codes, attrs, in_ptr, in_idx, c0, h0, w0, shapes, counts):
    """Fill shapes[L, 3] and counts[L, 5]; return (failure, failing layer) or (OK, -1)."""
    for i in range(codes.shape[0]):
        ins = inputs_view(in_idx, in_ptr, i)
        code = codes[i]
        x = first_input(shapes, ins)
        if code == 0:
            err, c, h, w = OK, c0, h0, w0
        else:
            err, c, h, w = shape_of(code, attrs, i, x, shapes, ins)
        if err != OK:
            return err, i
        if c < 0 or h < 0 or w < 0:
            return OVERFLOW, i
        shapes[i, 0] = c
        shapes[i, 1] = h
        shapes[i, 2] = w
        if code == 0:
            p, t, m, o, act = 0, 0, 0, 0, 0
        else:
            p, t, m, o = counts_of(code, attrs, i, x, (c, h, w), shapes, ins)
            act = cmul(cmul(c, h), w)
        if attrs[i, FROZEN] != 0:
            t = 0
        if p < 0 or t < 0 or m < 0 or o < 0 or act < 0:
            return OVERFLOW, i
        counts[i, 0] = p
        counts[i, 1] = t
        counts[i, 2] = m
        counts[i, 3] = o
        counts[i, 4] = act
    return OK, -1


def last_uses(in_ptr, in_idx, n):
    last = np.arange(n)
    for i in range(n):
        for j in in_idx[in_ptr[i]:in_ptr[i + 1]]:
            if last[j] < i:
                last[j] = i
    last[n - 1] = n  # the network's output stays alive
    return last


def peak_alive(shapes, in_ptr, in_idx, last):
    """Largest total of elements alive at once, layers run in order, each freed after last use."""
    n = shapes.shape[0]
    alive = 0
    peak = 0
    for i in range(n):
        size = cmul(cmul(shapes[i, 0], shapes[i, 1]), shapes[i, 2])
        alive = cadd(alive, size)
        if alive < 0:
            return -1
        if alive > peak:
            peak = alive
        for j in in_idx[in_ptr[i]:in_ptr[i + 1]]:
            if last[j] == i:
                alive -= cmul(cmul(shapes[j, 0], shapes[j, 1]), shapes[j, 2])
                last[j] = -1  # an input listed twice is freed once
        if last[i] == i:  # never used: freed at once
            alive -= size
    return peak


def column_totals(counts, out):
    for k in range(counts.shape[1]):
        s = 0
        for i in range(counts.shape[0]):
            s = cadd(s, counts[i, k])
        out[k] = s


def evaluate_each(codes, attrs, in_ptr, in_idx, inputs, totals, status):
    """Reference for evaluate_many: one full propagate and peak pass per input, in input order."""
    n = codes.shape[0]
    shapes = np.zeros((n, 3), dtype=np.int64)
    counts = np.zeros((n, 5), dtype=np.int64)
    last0 = last_uses(in_ptr, in_idx, n)
    last = last0.copy()
    for p in range(inputs.shape[0]):
        err, layer = propagate(codes, attrs, in_ptr, in_idx,
                               inputs[p, 0], inputs[p, 1], inputs[p, 2], shapes, counts)
        status[p, 0] = err
        status[p, 1] = layer
        if err != OK:
            continue
        column_totals(counts, totals[p])
        totals[p, 5] = cadd(cmul(2, totals[p, 2]), totals[p, 3])
        last[:] = last0
        totals[p, 6] = peak_alive(shapes, in_ptr, in_idx, last)
        for k in range(7):
            if totals[p, k] < 0:
                status[p, 0] = OVERFLOW
                status[p, 1] = -1


# ----------------------------------------------------------------------------- many inputs
def graph_facts(in_ptr, in_idx, n):
    """Static facts of a graph for evaluate_many: last uses, what is freed after each step
    (free_idx[free_ptr[i]:free_ptr[i + 1]]: each tensor once), and the cuts: steps after which
    only the step's own output is alive, so every later layer depends on the input only through
    that output's shape."""
    last = last_uses(in_ptr, in_idx, n)
    free_ptr = np.zeros(n + 1, dtype=np.int64)
    for j in range(n):
        if last[j] < n:
            free_ptr[last[j] + 1] += 1
    for i in range(n):
        free_ptr[i + 1] += free_ptr[i]
    free_idx = np.zeros(free_ptr[n], dtype=np.int64)
    fill = free_ptr[:n].copy()
    for j in range(n):
        if last[j] < n:
            free_idx[fill[last[j]]] = j
            fill[last[j]] += 1
    delta = np.zeros(n + 1, dtype=np.int64)      # alive after step m: j <= m < last[j]
    for j in range(n):
        delta[j] += 1
        delta[min(last[j], n)] -= 1
    cut = np.zeros(n, dtype=np.bool_)
    alive = 0
    for i in range(n):
        alive += delta[i]
        cut[i] = alive == 1 and last[i] > i
    return free_ptr, free_idx, cut


def input_order(inputs):
    """Indices of inputs in (C, H, W) order (no sort when they already are)."""
    npts = inputs.shape[0]
    ordered = True
    for q in range(1, npts):
        c0, h0, w0 = inputs[q - 1, 0], inputs[q - 1, 1], inputs[q - 1, 2]
        c1, h1, w1 = inputs[q, 0], inputs[q, 1], inputs[q, 2]
        if c0 > c1 or (c0 == c1 and (h0 > h1 or (h0 == h1 and w0 > w1))):
            ordered = False
            break
    if ordered:
        return np.arange(npts)
    lo = inputs.min()
    hc, hh, hw = inputs[:, 0].max() + 1, inputs[:, 1].max() + 1, inputs[:, 2].max() + 1
    if lo >= 0 and hc < 2**20 and hh < 2**21 and hw < 2**21:
        # one key fits int64: (C, H, W) in mixed radix; equal keys are equal inputs
        return np.argsort((inputs[:, 0] * hh + inputs[:, 1]) * hw + inputs[:, 2])
    order = np.argsort(inputs[:, 2], kind="mergesort")
    order = order[np.argsort(inputs[order, 1], kind="mergesort")]
    return order[np.argsort(inputs[order, 0], kind="mergesort")]


def evaluate_many(codes, attrs_mem, in_ptr, in_idx, inputs, totals, status):
    """For each row (C, H, W) of inputs: totals[p, :7] and status[p] = (failure, layer).

    Results equal evaluate_each's (one full pass per input); the work is less. Inputs are
    visited in sorted order, and each pass stops at the first cut (see graph_facts) whose output
    shape equals the previous pass's: the rest of the graph is then unchanged, and its counts
    and alive-memory profile come from suffix sums kept from earlier passes. Nothing is
    allocated per input.
    """
    n = codes.shape[0]
    if n == 0 or inputs.shape[0] == 0:
        return
    free_ptr, free_idx, cut = graph_facts(in_ptr, in_idx, n)
    order = input_order(inputs)
    npts = inputs.shape[0]
    shapes_mem = np.zeros((n, 3), dtype=np.int64)
    shapes = table_view(shapes_mem)
    attrs = table_view(attrs_mem)
    cnt = np.zeros((n, 5), dtype=np.int64)
    size = np.zeros(n, dtype=np.int64)          # elements of each output (peak memory)
    alive_at = np.zeros(n, dtype=np.int64)      # elements alive at each step (-1: overflow)
    suf = np.zeros((n + 1, 5), dtype=np.int64)  # sums of cnt[j:] (checked)
    sufpeak = np.zeros(n + 1, dtype=np.int64)   # max of alive_at[j:] (-1: overflow)
    valid = 0               # layers 0..valid-1 of the kept state belong to the previous pass
    kept_err = OK           # the previous pass's layer failure, if any (at layer `valid`)
    for q in range(npts):
        p = order[q]
        err = OK
        err_layer = -1
        stop = -1
        alive = 0
        for i in range(n):
            code = codes[i]
            ins = inputs_view(in_idx, in_ptr, i)
            x = first_input(shapes, ins)
            if code == 0:
                c, h, w = inputs[p, 0], inputs[p, 1], inputs[p, 2]
            else:
                e, c, h, w = shape_of(code, attrs, i, x, shapes, ins)
                if e == OK and (c < 0 or h < 0 or w < 0):
                    e = OVERFLOW
                if e != OK:
                    err = e
                    err_layer = i
                    break
            same = i < valid and shapes[i, 0] == c and shapes[i, 1] == h and shapes[i, 2] == w
            shapes[i, 0] = c
            shapes[i, 1] = h
            shapes[i, 2] = w
            if 0 <= c <= SMALL and 0 <= h <= SMALL and 0 <= w <= SMALL:
                s = c * h * w           # cannot leave int64
            else:
                s = cmul(cmul(c, h), w)
            if code == 0:
                pp, t, m, o, act = 0, 0, 0, 0, 0
            else:
                pp, t, m, o = counts_of(code, attrs, i, x, (c, h, w), shapes, ins)
                if attrs[i, FROZEN] != 0:
                    t = 0
                act = s
            if pp < 0 or t < 0 or m < 0 or o < 0 or act < 0:
                err = OVERFLOW
                err_layer = i
                break
            cnt[i, 0] = pp
            cnt[i, 1] = t
            cnt[i, 2] = m
            cnt[i, 3] = o
            cnt[i, 4] = act
            size[i] = s
            alive = cadd(alive, s)
            alive_at[i] = alive
            if alive >= 0:
                for f in range(free_ptr[i], free_ptr[i + 1]):
                    alive -= size[free_idx[f]]
            if cut[i]:
                alive = s               # exactly this output is alive: later steps start clean
                if same and i + 1 < n:
                    stop = i
                    break
        if err != OK:
            # the kept state is the previous pass's up to this layer; beyond it, unknown
            valid = err_layer
            kept_err = err
            status[p, 0] = err
            status[p, 1] = err_layer
            continue
        if stop >= 0 and kept_err != OK:
            # the rest of the graph is the previous pass's, which failed at layer `valid`
            status[p, 0] = kept_err
            status[p, 1] = valid
            continue
        # suffix sums for the steps recomputed now (all of them when the pass ran to the end)
        top = n - 1 if stop < 0 else stop
        if stop < 0:
            for k in range(5):
                suf[n, k] = 0
            sufpeak[n] = 0
        for j in range(top, -1, -1):
            for k in range(5):
                suf[j, k] = cadd(cnt[j, k], suf[j + 1, k])
            if alive_at[j] < 0 or sufpeak[j + 1] < 0:
                sufpeak[j] = -1
            elif alive_at[j] > sufpeak[j + 1]:
                sufpeak[j] = alive_at[j]
            else:
                sufpeak[j] = sufpeak[j + 1]
        valid = n
        kept_err = OK
        for k in range(5):
            totals[p, k] = suf[0, k]
        totals[p, 5] = cadd(cmul(2, totals[p, 2]), totals[p, 3])
        totals[p, 6] = sufpeak[0]
        status[p, 0] = OK
        status[p, 1] = -1
        for k in range(7):
            if totals[p, k] < 0:
                status[p, 0] = OVERFLOW
                status[p, 1] = -1
    shapes_mem[0, 0] = attrs_mem[0, 0]      # both outlive their views


# ----------------------------------------------------------------------------- graphs
# Graphs this large are counted with the compiled engine even alone: Python takes about 10 us a
# layer, the compiled pass well under 1 us (loading the compiled code costs about 0.3 s).
COMPILE_ABOVE = 20000


class Compiled:
    """A graph as flat arrays (see the module doc)."""

    def __init__(self, codes, attrs, in_ptr, in_idx):
        self.codes = np.ascontiguousarray(codes, dtype=np.int64)
        self.attrs = np.ascontiguousarray(attrs, dtype=np.int64)
        self.in_ptr = np.ascontiguousarray(in_ptr, dtype=np.int64)
        self.in_idx = np.ascontiguousarray(in_idx, dtype=np.int64)

    def __len__(self):
        return len(self.codes)

    def key(self):
        """Identity of the graph's structure (same key: same compiled arrays)."""
        h = hashlib.sha256()
        for arr in (self.codes, self.attrs, self.in_ptr, self.in_idx):
            h.update(arr.tobytes())
        return h.hexdigest()

    def run(self, input_shape, compiled=None):
        """Shapes and per-layer counts for one input: (err, layer, shapes, counts, peak).
        ``compiled``: None picks by size (COMPILE_ABOVE); True or False forces it."""
        n = len(self.codes)
        shapes = np.zeros((n, 3), dtype=np.int64)
        counts = np.zeros((n, 5), dtype=np.int64)
        c, h, w = (np.int64(v) for v in input_shape)
        use = n > COMPILE_ABOVE if compiled is None else compiled
        if use:
            from .jit import engine as jitted
            fns = jitted()
            prop, peak_fn, last_fn = fns.propagate, fns.peak_alive, fns.last_uses
        else:
            prop, peak_fn, last_fn = propagate, peak_alive, last_uses
        err, layer = prop(self.codes, self.attrs, self.in_ptr, self.in_idx, c, h, w,
                          shapes, counts)
        peak = 0
        if err == OK:
            peak = peak_fn(shapes, self.in_ptr, self.in_idx, last_fn(self.in_ptr, self.in_idx, n))
            if peak < 0:
                err, layer = OVERFLOW, -1
        return int(err), int(layer), shapes, counts, int(peak)

    def run_many(self, inputs):
        """Totals (N, 7) and status (N, 2) for an (N, 3) array of input shapes, in one call."""
        from .jit import engine as jitted
        inputs = np.ascontiguousarray(inputs, dtype=np.int64).reshape(-1, 3)
        totals = np.zeros((len(inputs), len(TOTAL_COLUMNS)), dtype=np.int64)
        status = np.zeros((len(inputs), 2), dtype=np.int64)
        jitted().evaluate_many(self.codes, self.attrs, self.in_ptr, self.in_idx, inputs,
                               totals, status)
        return totals, status


def evaluate_layer(op, attrs: dict, in_shapes: list):
    """One layer's rules on given input shapes (no graph): (failure or OK, (C, H, W),
    (params, trainable params, MACs, other ops)). ``attrs`` as op.parse_attrs() gives them."""
    k = len(in_shapes)
    shapes = np.zeros((k + 1, 3), dtype=np.int64)
    for j, s in enumerate(in_shapes):
        shapes[j] = s
    row = np.zeros((k + 1, NCOLS), dtype=np.int64)
    fields = op.encode(attrs)
    row[k, :len(fields)] = fields
    ins = np.arange(k, dtype=np.int64)
    x = first_input(shapes, ins)
    err, c, h, w = _SHAPE[op.code](row, k, x, shapes, ins)
    if err != OK:
        return int(err), None, None
    if c < 0 or h < 0 or w < 0:
        return OVERFLOW, None, None
    counts = _COUNTS[op.code](row, k, x, (c, h, w), shapes, ins)
    if min(counts) < 0:
        return OVERFLOW, (int(c), int(h), int(w)), None
    return OK, (int(c), int(h), int(w)), tuple(int(v) for v in counts)
