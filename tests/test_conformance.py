"""One conformance test over the op registry, by op and example.

For every example an op declares (attributes, input shapes, and the output and counts derived by
hand): the shape rule and counts equal the example's values, in plain Python and compiled; the
forward kernel's output has the shape the rule says; in counting mode the executed multiplies
equal the analytic MACs; the kernel equals the op's naive twin (tests/naive.py, written apart from
the implementation); and PyTorch agrees where it has the op (tests/torch_oracle.py). An op with no
example, no kernel, no twin or no oracle entry (unless it says why) fails ``test_op_is_complete``;
``test_an_incomplete_op_is_caught`` shows that it does.
"""
import numpy as np
import pytest

import naive
from costcalc import ops
from costcalc.engine import evaluate_layer
from costcalc.execute import make_weights

try:
    import torch
    import torch_oracle
except ImportError:          # torch is optional (make oracle); the oracle checks skip
    torch = torch_oracle = None

OPS = [op for op in ops.OPS if op.name != "input"]
CASES = [(op, k) for op in OPS for k in range(len(op.examples))]
BATCH = 2


def case_id(case):
    op, k = case
    return f"{op.name}-{k}"


def problems(op, twins, oracle_ops) -> list:
    """What an op's declaration lacks (empty: complete)."""
    out = []
    if not op.summary or not op.formulas.get("output"):
        out.append("no summary or output formula")
    for key in ("params", "MACs", "other ops"):
        if key not in op.formulas:
            out.append(f"no '{key}' formula")
    good = [e for e in op.examples if e.fails is None]
    if not good:
        out.append("no example with an output and counts")
    covered = {e.fails for e in op.examples if e.fails is not None}
    for f in op.failures():
        if f not in covered:
            out.append(f"failure '{ops.FAILURES[f].brief}' has no example")
    if op.forward is ops.Op.forward and not op.no_kernel_reason:
        out.append("no forward kernel")
    if op.name not in twins and not op.no_kernel_reason:
        out.append("no naive twin in tests/naive.py")
    if oracle_ops is not None and op.torch_equivalent and op.name not in oracle_ops \
            and not op.no_kernel_reason:
        out.append("no PyTorch oracle entry (or torch_equivalent = False with a reason)")
    if not op.torch_equivalent and not op.no_torch_reason:
        out.append("torch_equivalent = False without no_torch_reason")
    return out


ORACLE_OPS = torch_oracle.OPS if torch_oracle else None


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_op_is_complete(op):
    # without torch (make oracle) the oracle entries cannot be listed: that check is skipped
    assert problems(op, naive.TWINS, ORACLE_OPS) == []


def test_an_incomplete_op_is_caught():
    class Half(ops.Op):          # deliberately incomplete: never registered
        name = "half"
        summary = "an op with rules but nothing else"
        formulas = {"output": "same as input", "params": "0", "MACs": "0", "other ops": "0"}
    found = problems(Half, naive.TWINS, {})
    assert "no example with an output and counts" in found
    assert "no forward kernel" in found
    assert "no naive twin in tests/naive.py" in found
    assert any("PyTorch" in p for p in found)
    # and one complete op passes
    assert problems(ops.get_op("conv2d"), naive.TWINS, {"conv2d": None}) == []


def _attrs(op, ex):
    return op.parse_attrs(ex.attrs)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rules_equal_the_hand_derived_example(case):
    op, k = case
    ex = op.examples[k]
    attrs = _attrs(op, ex)
    err, shape, counts = evaluate_layer(op, attrs, ex.inputs)
    if ex.fails is not None:
        assert err == ex.fails, (ops.FAILURES.get(err).brief if err else "no failure",
                                 ops.FAILURES[ex.fails].brief)
        # the message is a sentence with the values filled in
        text = ops.explain(err, op, attrs, ex.inputs)
        assert "{" not in text and len(text) > 20
        return
    assert err == ops.OK, ops.explain(err, op, attrs, ex.inputs)
    assert shape == ex.output
    assert counts == (ex.params, ex.trainable, ex.macs, ex.other)


SINGLE = [c for c in CASES if len(c[0].examples[c[1]].inputs) == 1]


@pytest.mark.parametrize("case", SINGLE, ids=case_id)
def test_compiled_rules_equal_python(case):
    """The same example through the compiled engine (one-layer graph)."""
    from costcalc.engine import NCOLS, Compiled
    op, k = case
    ex = op.examples[k]
    attrs = _attrs(op, ex)
    row = np.zeros((2, NCOLS), dtype=np.int64)
    fields = op.encode(attrs)
    row[1, :len(fields)] = fields
    g = Compiled(np.array([0, op.code]), row, np.array([0, 0, 1]), np.array([0]))
    py = g.run(ex.inputs[0], compiled=False)
    jit = g.run(ex.inputs[0], compiled=True)
    assert py[0] == jit[0] and py[1] == jit[1]
    if py[0] == ops.OK:
        assert (py[2] == jit[2]).all() and (py[3] == jit[3]).all() and py[4] == jit[4]


def _inputs(ex, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((BATCH,) + s) for s in ex.inputs]


GOOD = [c for c in CASES if c[0].examples[c[1]].fails is None and not c[0].no_kernel_reason]


@pytest.mark.parametrize("case", GOOD, ids=case_id)
def test_kernel_shape_counting_and_twin(case):
    op, k = case
    ex = op.examples[k]
    attrs = _attrs(op, ex)
    xs = _inputs(ex, k)
    ws = make_weights(op, attrs, ex.inputs, 3, 1, np.float64)
    view = op.view(attrs)
    y, _ = op.forward([x.copy() for x in xs], ws, view, False)
    assert y.shape == (BATCH,) + ex.output
    yc, executed = op.forward([x.copy() for x in xs], ws, view, True)
    assert executed == BATCH * ex.macs
    np.testing.assert_allclose(yc, y, rtol=1e-9, atol=1e-12)
    twin = naive.TWINS[op.name](xs, ws, attrs)
    np.testing.assert_allclose(y, twin, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in GOOD if c[0].torch_equivalent], ids=case_id)
def test_pytorch_agrees(case):
    if torch_oracle is None:
        pytest.skip("torch not installed (make oracle installs the CPU build)")
    op, k = case
    ex = op.examples[k]
    attrs = _attrs(op, ex)
    xs = _inputs(ex, k)
    ws = make_weights(op, attrs, ex.inputs, 3, 1, np.float64)
    want = [tuple(w.shape) for w in ws]
    assert torch_oracle.expected_weight_shapes(op.name, attrs, ex.inputs) == want
    y, _ = op.forward([x.copy() for x in xs], ws, op.view(attrs), False)
    ty = torch_oracle.OPS[op.name]([torch.from_numpy(x) for x in xs],
                                   [torch.from_numpy(w) for w in ws], attrs)
    np.testing.assert_allclose(y, ty.numpy(), rtol=1e-9, atol=1e-12)
