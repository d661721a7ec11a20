"""Property-based tests (hypothesis) over every registered op.

Random specs (YAML text) are drawn from the registry itself: each op's attributes and their kinds
give the values (small valid ones, and mutated ones: huge values up to 2^63-1 and beyond, zeros,
negative numbers, wrong types, inf/nan, odd paddings, windows larger than the input); ops with
several inputs take several earlier layers. Properties:

- load, build, summarize, sweep (a few resolutions) and, on small valid networks, a counting run
  raise nothing but costcalc's own CostcalcError;
- in counting mode the executed MACs equal the analytic MACs of every layer (and the kernels'
  output shapes equal the shape rules', which execute.run checks);
- the engines agree: plain Python equals compiled (``Compiled.run``), ``run_many`` equals both,
  and sweep's totals equal summarize's at the same point (params, MACs, FLOPs, peak);
- overflow is reported identically everywhere: a point that overflows in summarize is an
  overflow row in sweep and in run_many and vice versa, and every count shown is in [0, 2^63).

Budget: ``make test`` runs a fixed, derandomized number of examples (about a minute on one core);
COSTCALC_FUZZ_EXAMPLES=N (``make fuzz``) multiplies it to N examples for the main property.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import hypothesis  # noqa: E402  (the `test` extra)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from costcalc import ops  # noqa: E402
from costcalc.analysis import summarize  # noqa: E402
from costcalc.errors import CostcalcError, CountOverflowError  # noqa: E402
from costcalc.execute import run  # noqa: E402
from costcalc.ops import base  # noqa: E402
from costcalc.spec import load_text  # noqa: E402
from costcalc.sweep import sweep  # noqa: E402

INT64_MAX = 2**63 - 1
OPS = [op for op in ops.OPS if op.name != "input"]

# ----------------------------------------------------------------------------- budget
FUZZ = int(os.environ.get("COSTCALC_FUZZ_EXAMPLES", "0") or 0)


MAIN = 1500                     # make test's examples of the main property (about 15 s)


def budget(default):
    """Examples of one property: the fixed default (make test), or with COSTCALC_FUZZ_EXAMPLES
    that many for the main property and the others scaled alike."""
    if FUZZ <= 0:
        return default
    return max(default, FUZZ * default // MAIN)


def fuzz_settings(n):
    return settings(max_examples=budget(n), deadline=None, derandomize=FUZZ <= 0,
                    database=None if FUZZ <= 0 else hypothesis.database.InMemoryExampleDatabase(),
                    suppress_health_check=list(HealthCheck), print_blob=True)


# ----------------------------------------------------------------------------- YAML text
def yaml_value(v) -> str:
    """A value as YAML flow text (what a spec author would write)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        text = repr(v)
        if "e" in text and "." not in text.split("e")[0]:   # YAML 1.1 floats need a dot
            m, e = text.split("e")
            text = f"{m}.0e{e}"
        return text
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yaml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def spec_text(input_shape, rows) -> str:
    lines = [f"input: {yaml_value(list(input_shape))}", "layers:"]
    for row in rows:
        lines.append("  - " + yaml_value(row))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- values by kind
HUGE = st.sampled_from([2**31, 2**32 + 1, 2**40, 2**62, 2**62 + 1, INT64_MAX - 1, INT64_MAX,
                        2**63, 2**64, 10**30])
BAD_SCALAR = st.sampled_from([0, -1, -2**63, 2.5, 1.0, -0.5, float("inf"), float("-inf"),
                              float("nan"), "abc", "", True, False, None, [], [1, 2, 3],
                              {"a": 1}, "3", "same "])


def small_int(name, minimum):
    hi = {"filters": 8, "units": 8, "depth_multiplier": 2, "groups": 4, "size": 7,
          "stop": 8, "begin": 4}.get(name, 4)
    return st.integers(max(minimum, 0), max(hi, minimum))


def int_value(at, mutate):
    good = small_int(at.name, at.minimum)
    if not mutate:
        return good
    return st.one_of(good, HUGE, BAD_SCALAR, st.integers(-5, 300))


def pair_value(at, mutate, lo=None, hi=3):
    lo = at.minimum if lo is None else lo
    one = st.integers(lo, max(hi, lo))
    good = st.one_of(one, st.lists(one, min_size=2, max_size=2))
    if not mutate:
        return good
    wild = st.one_of(one, HUGE, BAD_SCALAR, st.integers(-3, 40))
    return st.one_of(good, wild, st.lists(wild, min_size=2, max_size=2),
                     st.lists(one, min_size=0, max_size=4))


def four_value(mutate, hi=2):
    one = st.integers(0, hi)
    good = st.one_of(one, st.lists(one, min_size=2, max_size=2),
                     st.lists(st.lists(one, min_size=2, max_size=2), min_size=2, max_size=2))
    if not mutate:
        return good
    wild = st.one_of(one, HUGE, BAD_SCALAR)
    return st.one_of(good, wild, st.lists(wild, min_size=2, max_size=2),
                     st.lists(st.lists(wild, min_size=2, max_size=2), min_size=2, max_size=2),
                     st.lists(st.lists(one, min_size=1, max_size=3), min_size=1, max_size=3))


def padding_value(mutate):
    good = st.one_of(st.sampled_from(["valid", "same"]), four_value(False, 1))
    if not mutate:
        return good
    return st.one_of(good, four_value(True), st.sampled_from(["VALID", "full", "causal"]))


def float_value(at, mutate):
    lo = at.minimum if at.minimum is not None else -3.0
    good = st.floats(lo, 3.0, allow_nan=False, allow_infinity=False)
    if at.name in ("epsilon",):
        good = st.floats(1e-6, 0.1)
    elif at.name in ("k",):
        good = st.floats(0.5, 3.0)
    elif at.name in ("scale", "alpha", "beta", "offset", "rate"):
        good = st.floats(max(lo, 0.0), 2.0)
    if not mutate:
        return good
    return st.one_of(good, BAD_SCALAR, st.sampled_from([1e308, -1e308, 10**400]))


def triple_value(at, op, mutate):
    if op.name == "transpose":
        good = st.permutations([0, 1, 2])
    else:                                            # reshape: filled in from the input later
        good = st.lists(st.integers(-1, 6).filter(bool), min_size=3, max_size=3)
    if not mutate:
        return good
    wild = st.one_of(st.integers(-3, 8), HUGE, BAD_SCALAR)
    return st.one_of(good, st.lists(wild, min_size=0, max_size=4))


def axes_value(mutate):
    names = st.sampled_from(["c", "h", "w", "channels", "height", "width", 1, 2, 3, "H"])
    good = st.one_of(names, st.lists(names, min_size=1, max_size=3))
    if not mutate:
        return good
    return st.one_of(good, st.sampled_from([0, 4, -1, "x", [], True, 1.0, [0, 1]]))


def attr_strategy(op, at, mutate):
    """Values of one attribute (``mutate``: also wrong ones)."""
    kind = type(at).__name__
    if kind == "Int":
        return int_value(at, mutate)
    if kind == "Bool":
        good = st.booleans()
        return st.one_of(good, BAD_SCALAR, st.sampled_from(["yes", "true", 1])) if mutate else good
    if kind == "Choice":
        good = st.sampled_from(at.choices)
        return st.one_of(good, st.sampled_from(["bogus", 1, None, "RELU"])) if mutate else good
    if kind == "OptionalPair":
        if op.name == "resize":
            return pair_value(at, mutate, lo=max(at.minimum, 1), hi=3)
        return st.one_of(st.none(), pair_value(at, mutate, lo=0, hi=1))
    if kind == "Pair":
        hi = 3 if at.name != "strides" else 2
        return pair_value(at, mutate, hi=hi)
    if kind == "Padding":
        return padding_value(mutate)
    if kind == "Pad4":
        return four_value(mutate)
    if kind == "Triple":
        return triple_value(at, op, mutate)
    if kind == "Axes":
        return axes_value(mutate)
    if kind == "Float":
        return float_value(at, mutate)
    if kind == "Str":
        return st.text(max_size=5) if not mutate else st.one_of(st.text(max_size=5), BAD_SCALAR)
    raise AssertionError(f"attribute kind {kind} of {op.name}.{at.name} has no strategy: add one")


@st.composite
def op_row(draw, op, mutate):
    """{op: name, attr: value, ...} for one op."""
    row = {"op": op.name}
    # mutated rows: one or two attributes drawn wild (or left out), the others good, so that
    # most rows get past the first attribute and the rules see the odd values
    wild = set()
    if mutate and op.attrs:
        names = [at.name for at in op.attrs]
        wild = set(draw(st.lists(st.sampled_from(names), min_size=1, max_size=2)))
    for at in op.attrs:
        give = at.required or draw(st.booleans())
        if at.name in wild and draw(st.integers(0, 7)) == 0:
            give = not give                          # a missing required attribute, too
        if give:
            row[at.name] = draw(attr_strategy(op, at, at.name in wild))
    if mutate and draw(st.integers(0, 14)) == 0:
        row["no_such_attribute"] = 1
    # rows the normalizers refuse anyway, drawn less often when valid ones are wanted
    if not mutate:
        if op.name == "resize":
            which = draw(st.sampled_from(["scale", "size"]))
            row.pop("scale" if which == "size" else "size", None)
            if which not in row:
                row[which] = draw(attr_strategy(op, op.attr(which), False))
        if op.name == "clip" and "min" in row and "max" in row and row["min"] > row["max"]:
            row["min"], row["max"] = row["max"], row["min"]
        if op.name == "scale_bias" and row.get("scale") is False and row.get("bias") is False:
            row["bias"] = True
        if op.name == "reshape" and list(row["shape"]).count(-1) > 1:
            row["shape"] = [1, 1, -1]
        if op.name == "slice" and row.get("begin", 0) >= row["stop"]:
            row["begin"] = 0
    return row


# helpers that give multi-input ops inputs of different (broadcastable) shapes
HELPERS = [
    {"name": "full", "op": "relu"},
    {"name": "chan", "op": "global_avg_pool", "inputs": "input"},
    {"name": "pos", "op": "reduce_mean", "axes": "c", "inputs": "input"},
    {"name": "one", "op": "reduce_max", "axes": ["c", "h", "w"], "inputs": "input"},
    {"name": "wide", "op": "conv2d", "filters": 2, "kernel": 1, "inputs": "input"},
    {"name": "half", "op": "max_pool2d", "kernel": 2, "inputs": "input"},
]


@st.composite
def network(draw, mutate=False, huge_input=False):
    """(spec text, input shape, rows) of a random network over the registry."""
    dim = st.integers(1, 12)
    if huge_input:
        dim = st.one_of(st.integers(1, 12), HUGE.filter(lambda v: v <= INT64_MAX))
    c = draw(st.integers(1, 8) if not huge_input else dim)
    shape = (c, draw(dim), draw(dim))
    rows = []
    names = ["input"]
    if draw(st.booleans()):
        k = draw(st.integers(1, len(HELPERS)))
        for h in HELPERS[:k]:
            rows.append(dict(h))
            names.append(h["name"])
    n = draw(st.integers(1, 3))
    for i in range(n):
        op = draw(st.sampled_from(OPS))
        row = {"name": f"l{i}"}
        row.update(draw(op_row(op, mutate)))
        lo, hi = op.min_inputs(), min(op.max_inputs(), 3)
        k = draw(st.integers(lo, hi))
        if k != 1 or draw(st.booleans()) or len(names) > 1:
            ins = [draw(st.sampled_from(names)) for _ in range(k)]
            if k == 1 and draw(st.booleans()):
                row["inputs"] = ins[0]
            else:
                row["inputs"] = ins
        rows.append(row)
        names.append(row["name"])
    return spec_text(shape, rows), shape, rows


def op_network(op, mutate):
    """A network whose last layer is ``op`` (so every op is drawn as often as any other)."""
    @st.composite
    def strat(draw):
        text, shape, rows = draw(network(mutate))
        row = {"name": "target"}
        row.update(draw(op_row(op, mutate)))
        names = ["input"] + [r["name"] for r in rows]
        k = draw(st.integers(op.min_inputs(), min(op.max_inputs(), 3)))
        row["inputs"] = [draw(st.sampled_from(names)) for _ in range(k)]
        rows = rows + [row]
        return spec_text(shape, rows), shape, rows
    return strat()


# ----------------------------------------------------------------------------- checks
def in_range(v):
    return isinstance(v, (int, np.integer)) and 0 <= int(v) <= INT64_MAX


def summary_or_error(spec, input_shape=None):
    """summarize's result, or the CostcalcError it raised (nothing else may escape)."""
    try:
        return summarize(spec, None, input_shape)
    except CostcalcError as exc:
        check_message(exc)
        return exc


def check_message(exc):
    """A user-visible error is one short line per error (it never echoes a huge value)."""
    for text in str(exc).strip().splitlines():
        assert text and len(text) < 600, text[:2000]


def check_summary(s):
    for row in s.layers:
        for v in (row.params, row.trainable_params, row.macs, row.other_ops, row.flops,
                  row.activations):
            assert in_range(v), (row.name, row.op, v)
        assert all(in_range(d) and d >= 1 for d in row.output_shape), (row.name, row.output_shape)
    for k, v in s.totals.items():
        assert in_range(v), (k, v)


def expected_totals(py):
    """What run_many must give for one Compiled.run result: (status, totals or None). Totals
    are summed exactly; one that leaves int64 (FLOPs = 2 MACs + other included) is an
    overflow."""
    err, layer, shapes, counts, peak = py
    if err != ops.OK:
        return err, None
    tot = [int(counts[:, k].astype(object).sum()) for k in range(5)]
    tot += [2 * tot[2] + tot[3], int(peak)]
    if any(v > INT64_MAX or v < 0 for v in tot):
        return ops.OVERFLOW, None
    return ops.OK, tot


def check_engines(model, inputs=None):
    """Plain Python == compiled (per layer) == run_many (totals, for one input or many)."""
    g = model.compile()
    inputs = [tuple(model.input_shape)] if inputs is None else inputs
    results = []
    for shape in inputs:
        py = g.run(shape, compiled=False)
        jit = g.run(shape, compiled=True)
        assert (py[0], py[1]) == (jit[0], jit[1]), (shape, py[:2], jit[:2])
        if py[0] == ops.OK:
            assert (py[2] == jit[2]).all() and (py[3] == jit[3]).all() and py[4] == jit[4]
            assert (py[3] >= 0).all() and py[4] >= 0
        results.append(py)
    totals, status = g.run_many(np.array(inputs, dtype=np.int64))
    for k, (shape, py) in enumerate(zip(inputs, results)):
        err, want = expected_totals(py)
        assert int(status[k, 0]) == err, (shape, ops.brief(status[k, 0]), ops.brief(err))
        if want is not None:
            assert [int(v) for v in totals[k]] == want, (shape, totals[k], want)
            if err == py[0] and py[1] >= 0:
                assert int(status[k, 1]) == py[1]
    return results[0]


def check_sweep(spec, c, resolutions):
    res = sweep(spec, None, None, list(resolutions)) if len(resolutions) > 1 else \
        sweep(spec, None, f"{c}x{resolutions[0]}x{resolutions[0]}")
    for i, r in enumerate(resolutions):
        s = summary_or_error(spec, f"{c}x{r}x{r}")
        state = int(res.state[i])
        if isinstance(s, CountOverflowError):
            assert state == 2, (r, state, res.reasons.get(i), str(s))
        elif isinstance(s, CostcalcError):
            assert state != 0, (r, str(s))
            assert state == 1, (r, str(s), res.reasons.get(i))
        else:
            assert state == 0, (r, res.reasons.get(i))
            t = res.point(i)["totals"]
            for k in ("params", "trainable_params", "macs", "flops", "other_ops",
                      "activations", "peak_activations"):
                assert t[k] == s.totals[k], (r, k, t[k], s.totals[k])
                assert in_range(t[k])


SMALL_WORK = 2_000_000          # counted multiplies and other ops of a network run in the test


def check_run(spec, s):
    if s.totals["macs"] + s.totals["other_ops"] > SMALL_WORK or \
            s.totals["params"] > SMALL_WORK or s.totals["peak_activations"] > SMALL_WORK:
        return
    if any(d > 4096 for row in s.layers for d in row.output_shape):
        return
    result = run(spec, counting=True, batch=1, dtype="float64", keep_output=True)
    for lr, row in zip(result.layers, s.layers):
        assert lr.executed_macs == row.macs, (lr.name, lr.op, lr.executed_macs, row.macs)
    # the fast kernels (im2col + GEMM, depthwise, ...) give the counting kernels' output
    fast = run(spec, counting=False, batch=1, dtype="float64", keep_output=True)
    assert fast.output.shape == result.output.shape
    np.testing.assert_allclose(fast.output, result.output, rtol=1e-6, atol=1e-9)


def check_all(text, shape, execute=True):
    try:
        spec = load_text(text, "fuzz.yaml")
        model = spec.build()
    except CostcalcError as exc:
        check_message(exc)
        return None
    check_engines(model)
    s = summary_or_error(spec)
    if not isinstance(s, CostcalcError):
        check_summary(s)
    c, h, w = shape
    res = sorted({h, max(1, h // 2), min(h + 3, INT64_MAX)})
    check_sweep(spec, c, res)
    if execute and not isinstance(s, CostcalcError):
        check_run(spec, s)
    return s


# ----------------------------------------------------------------------------- properties
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_every_attribute_kind_has_a_strategy(op):
    for at in op.attrs:
        attr_strategy(op, at, True)
        attr_strategy(op, at, False)


@fuzz_settings(MAIN)
@given(st.data())
def test_valid_networks_over_every_op(data):
    """Small valid networks ending in any op: no foreign exception, engines and sweep agree,
    executed MACs equal the analytic ones."""
    op = data.draw(st.sampled_from(OPS), label="op")
    text, shape, _ = data.draw(op_network(op, mutate=False), label="spec")
    check_all(text, shape)


@fuzz_settings(500)
@given(network(mutate=False))
def test_valid_random_chains(net):
    text, shape, _ = net
    check_all(text, shape)


@fuzz_settings(2500)
@given(st.data())
def test_mutated_attributes_raise_only_costcalc_errors(data):
    """Huge, zero, negative, wrongly typed, inf/nan values: a CostcalcError or a consistent
    result, never a traceback; numbers shown are in [0, 2^63)."""
    op = data.draw(st.sampled_from(OPS), label="op")
    text, shape, _ = data.draw(op_network(op, mutate=True), label="spec")
    check_all(text, shape)


@fuzz_settings(1500)
@given(st.data())
def test_huge_inputs_overflow_identically(data):
    """Inputs up to 2^63-1: summarize, sweep, run_many, plain and compiled engines report the
    same overflow (a CountOverflowError, never a wrapped or negative number)."""
    op = data.draw(st.sampled_from(OPS), label="op")
    text, shape, _ = data.draw(network(mutate=False, huge_input=True), label="prefix")
    spec_rows = data.draw(op_row(op, data.draw(st.booleans(), label="mutate")), label="row")
    text = text + "  - " + yaml_value({"name": "target", **spec_rows}) + "\n"
    check_all(text, shape, execute=False)


@fuzz_settings(600)
@given(st.data())
def test_run_many_equals_one_pass_per_input(data):
    """run_many (sorted inputs, passes stopped at cuts whose shape repeats, suffix sums) equals
    one plain-Python pass per input, for many inputs at once, failing and overflowing ones
    included."""
    text, shape, _ = data.draw(network(mutate=False), label="spec")
    try:
        model = load_text(text, "fuzz.yaml").build()
    except CostcalcError:
        return
    dim = st.one_of(st.integers(1, 14), st.sampled_from([2**20, 2**31, 2**40, 2**62, INT64_MAX]))
    inputs = data.draw(st.lists(st.tuples(st.integers(1, 9) | dim, dim, dim), min_size=1,
                                max_size=12), label="inputs")
    if data.draw(st.booleans(), label="repeat"):
        inputs = inputs + inputs[::-1]
    check_engines(model, inputs)


# ----------------------------------------------------------------------------- regressions
# Failures the properties found, kept as plain cases (the op's own examples keep the rules fixed).
REGRESSIONS = [
    # pool, depthwise and im2col kernels allocated `stride` phase planes (MemoryError)
    ((1, 1, 1), [{"op": "max_pool2d", "kernel": 1, "strides": 2**62}]),
    ((2, 5, 5), [{"op": "avg_pool2d", "kernel": 2, "strides": [1, 2**40], "padding": 1}]),
    ((2, 3, 3), [{"op": "depthwise_conv2d", "kernel": 2, "strides": 2**62}]),
    ((2, 3, 3), [{"op": "conv2d", "filters": 2, "kernel": 2, "strides": [2**62, 2**32]}]),
    ((2, 3, 3), [{"op": "separable_conv2d", "filters": 2, "kernel": 2, "strides": 2**62}]),
    # epsilon 0 (or LRN's k = alpha = 0) on a zero variance: ZeroDivisionError in the kernels
    ((1, 1, 1), [{"op": "instance_norm", "epsilon": 0}]),
    ((1, 2, 3), [{"op": "layer_norm", "epsilon": 0}]),
    ((4, 1, 1), [{"op": "group_norm", "groups": 4, "epsilon": 0}]),
    ((2, 2, 2), [{"op": "lrn", "k": 0, "alpha": 0}]),
    # a float attribute given as an integer beyond the float range: OverflowError
    ((1, 1, 1), [{"op": "leaky_relu", "alpha": 10**400}]),
]


@pytest.mark.parametrize("case", REGRESSIONS, ids=lambda c: c[1][-1]["op"])
def test_regressions(case):
    shape, rows = case
    check_all(spec_text(shape, rows), shape)
