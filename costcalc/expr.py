"""Small, safe expressions in spec values: ``$name`` and ``${expr}``.

A value that is exactly ``$name`` or ``${expr}`` becomes the expression's value (a number stays a
number); ``${...}`` inside a longer string is interpolated as text. Expressions may use numbers,
strings, names in scope, arithmetic, comparisons, ``and/or/not``, ``a if c else b`` and the
functions below. Nothing else (no attributes, no calls of other names) is evaluated.
"""
from __future__ import annotations

import ast
import math
import operator
import re

FUNCTIONS = {
    "int": int, "float": float, "round": round, "min": min, "max": max, "abs": abs,
    "ceil": math.ceil, "floor": math.floor, "str": str,
}

_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_CMPOPS = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}


class ExprError(Exception):
    pass


def _eval(node, scope):
    if isinstance(node, ast.Expression):
        return _eval(node.body, scope)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in scope:
            return scope[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        known = ", ".join(sorted(scope)) or "none"
        raise ExprError(f"unknown name '{node.id}' (names in scope: {known})")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _eval(node.left, scope), _eval(node.right, scope)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ExprError("exponent too large")
        return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, scope))
    if isinstance(node, ast.BoolOp):
        vals = node.values
        if isinstance(node.op, ast.And):
            out = True
            for v in vals:
                out = _eval(v, scope)
                if not out:
                    return out
            return out
        out = False
        for v in vals:
            out = _eval(v, scope)
            if out:
                return out
        return out
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, scope)
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, scope) else node.orelse, scope)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, scope) for e in node.elts]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        # the fixed functions, or one the spec expander puts in scope (auto)
        fn = FUNCTIONS.get(node.func.id) or scope.get(node.func.id)
        if callable(fn):
            if node.keywords:
                raise ExprError("keyword arguments are not supported in expressions")
            return fn(*[_eval(a, scope) for a in node.args])
    raise ExprError(f"'{ast.unparse(node)}' is not allowed in an expression "
                    f"(allowed: numbers, names, arithmetic, comparisons, if/else, "
                    f"{', '.join(sorted(FUNCTIONS))})")


def evaluate(text: str, scope: dict):
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot parse expression '{text}': {exc.msg}") from None
    try:
        return _eval(tree, scope)
    except ExprError:
        raise
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise ExprError(f"expression '{text}' failed: {exc}") from None


_WHOLE = re.compile(r"^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{(.*)\})$", re.S)
_PART = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([^{}]*)\})")


def substitute(value, scope: dict):
    """Evaluate ``$``-expressions in ``value`` (recursively through lists and dicts)."""
    if isinstance(value, str):
        if "$" not in value:
            return value
        m = _WHOLE.match(value.strip())
        if m:
            return evaluate(m.group(1) or m.group(2), scope)
        return _PART.sub(lambda mm: str(evaluate(mm.group(1) or mm.group(2), scope)), value)
    if isinstance(value, list):
        return _copy_list(value, [substitute(v, scope) for v in value])
    if isinstance(value, dict):
        out = {k: substitute(v, scope) for k, v in value.items()}
        return out
    return value


def _copy_list(src, items):
    out = type(src)(items)
    for attr in ("line", "item_lines"):
        if hasattr(src, attr):
            setattr(out, attr, getattr(src, attr))
    return out
