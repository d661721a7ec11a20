"""``costcalc verify``: every spec's expected values against the computed ones.

Each expectation names its quantity, the published value, its source and a tolerance (exact for
printed integers, relative for rounded figures). Known-wrong published figures carry
``status: source-disagrees``: they are shown with the exact value and pass only while they still
disagree (if they ever agree, the spec or the entry is wrong and verify fails).
"""
from __future__ import annotations

import math

from .analysis import analyze_model
from .errors import CostcalcError, UsageError
from .spec import available, load

PASS, FAIL, DISAGREES = "pass", "FAIL", "source disagrees"


def _in_scope(name: str, scope: str, seps) -> bool:
    if name == scope:
        return True
    return any(name.startswith(scope + sep) for sep in seps)


def _scoped(summary, scope):
    if scope is None:
        return summary.layers
    seps = ("/", summary.spec.sep)
    if isinstance(scope, str) and scope.startswith("op:"):
        wanted = set(scope[3:].split("|"))
        rows = [r for r in summary.layers if r.op in wanted]
    else:
        # a layer or block instance by its name path, or a top-level row (a stage) by its name
        groups = {layer.name: layer.group for layer in summary.model.layers}
        rows = [r for r in summary.layers
                if _in_scope(r.name, str(scope), seps) or groups[r.name] == scope
                or scope in r.scope]
    if not rows:
        raise UsageError(f"scope '{scope}' matches no layer")
    return rows


def _weights(summary, rows):
    """Weights only (the papers' "params"): the stored arrays whose role is "kernel" (conv and
    dense kernels), from each op's weight declaration; no biases, no batch-norm numbers."""
    layers = {layer.name: layer for layer in summary.model.layers}
    shapes = {"input": tuple(summary.model.input_shape)}
    shapes.update({r.name: r.output_shape for r in summary.layers})
    total = 0
    for r in rows:
        layer = layers[r.name]
        in_shapes = [shapes[n] for n in layer.inputs]
        for role, shape, _ in layer.op.param_shapes(layer.attrs, in_shapes):
            if role == "kernel":
                total += math.prod(shape)
    return total


def measure(summary, quantity: str, scope=None):
    """The computed value of ``quantity`` (optionally only over layers in ``scope``)."""
    if quantity == "output_shape":
        if scope:
            scope = summary.model.aliases.get(scope, scope)   # a block instance: its output
            rows = [r for r in summary.layers if r.name == scope]
            if not rows:
                raise UsageError(f"no layer named '{scope}'")
            return list(rows[-1].output_shape)
        return list(summary.output_shape)
    if scope is None and quantity in summary.totals:
        return summary.totals[quantity]
    rows = _scoped(summary, scope)
    if quantity == "weights":
        return _weights(summary, rows)
    if quantity == "mac_share":
        return 100.0 * sum(r.macs for r in rows) / summary.totals["macs"]
    if quantity == "layers":
        return len(rows)
    if quantity == "non_trainable_params":
        return sum(r.params - r.trainable_params for r in rows)
    if quantity in ("params", "trainable_params", "macs", "flops", "other_ops", "activations"):
        return sum(getattr(r, quantity) for r in rows)
    raise UsageError(f"quantity '{quantity}' cannot be scoped")


def _matches(expected, computed, tol, bound="equal") -> tuple[bool, object]:
    if isinstance(expected, list) or isinstance(computed, list):
        return list(expected) == list(computed), ("" if list(expected) == list(computed)
                                                  else "shape differs")
    diff = computed - expected
    if bound == "upper":
        return computed <= expected * (1 + tol), diff
    if bound == "lower":
        return computed >= expected * (1 - tol), diff
    if tol == 0:
        return diff == 0, diff
    return abs(diff) <= tol * abs(expected) + 1e-12, diff


def verify_spec(spec) -> list[dict]:
    rows = []
    built: dict = {}
    for e in spec.expectations:
        key = (tuple(sorted(e.overrides.items())), e.input, e.batch)
        implied = spec.variants[e.variant][0] if e.variant else {}   # shown by the name
        row = {"spec": e.variant or spec.id,
               "quantity": e.quantity + (f" [{e.scope}]" if e.scope else ""),
               "setting": ", ".join(f"{k}={v}" for k, v in e.overrides.items()
                                    if k not in implied or implied[k] != v)
               + (f" input={'x'.join(map(str, e.input))}" if e.input else ""),
               "expected": e.value, "computed": None, "difference": None,
               "tolerance": ({"upper": "<= ", "lower": ">= "}.get(e.bound, "")
                             + ("exact" if e.tolerance == 0 else f"{e.tolerance:.2%}")),
               "source": e.source, "note": e.note, "line": e.line, "status": FAIL}
        try:
            if key not in built:
                built[key] = analyze_model(spec.build(e.overrides, e.input), e.batch)
            computed = measure(built[key], e.quantity, e.scope)
        except CostcalcError as exc:
            row["note"] = f"error: {exc}"
            rows.append(row)
            continue
        ok, diff = _matches(e.value, computed, e.tolerance, e.bound)
        row["computed"], row["difference"] = computed, diff
        if e.status == "source-disagrees":
            row["status"] = DISAGREES if not ok else FAIL
            if ok:
                row["note"] = ("marked source-disagrees but agrees: check the spec or the entry. "
                               + row["note"])
        else:
            row["status"] = PASS if ok else FAIL
        rows.append(row)
    return rows


def verify(names=None) -> list[dict]:
    names = list(names) if names else sorted(available())
    rows = []
    for name in names:
        rows.extend(verify_spec(load(name)))
    return rows
