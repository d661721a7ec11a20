"""Small, safe expressions in spec values: ``$name`` and ``${expr}``.

A value that is exactly ``$name`` or ``${expr}`` becomes the expression's value (a number stays a
number); ``${...}`` inside a longer string is interpolated as text. Expressions may use numbers,
strings, names in scope, arithmetic, comparisons, ``and/or/not``, ``a if c else b`` and the
functions below. Nothing else (no attributes, no calls of other names) is evaluated.
"""
from __future__ import annotations

import ast
import functools
import math
import operator
import re

from .errors import LIMITS, shown

INT64_MAX = 2 ** 63 - 1



def make_divisible(v, divisor=8, min_value=None):
    """Keras's ``_make_divisible`` (keras/src/applications/mobilenet_v2.py): ``v`` rounded to
    the nearest multiple of ``divisor``, at least ``min_value`` (``divisor`` when None), and
    never more than 10% below ``v``."""
    for what, x in (("v", v), ("divisor", divisor)):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ExprError(f"make_divisible: {what} must be a number, got {shown(x)}")
    if isinstance(divisor, float) and divisor != int(divisor) or divisor <= 0:
        raise ExprError(f"make_divisible: divisor must be a positive integer, got {shown(divisor)}")
    divisor = int(divisor)
    if min_value is not None and (isinstance(min_value, bool)
                                  or not isinstance(min_value, (int, float))):
        raise ExprError(f"make_divisible: min_value must be a number or None, got "
                        f"{shown(min_value)}")
    if abs(v) > 2 ** 62:
        raise ExprError(f"make_divisible: v {shown(v)} is too large; expected |v| < 2^62")
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


FUNCTIONS = {
    "int": int, "float": float, "round": round, "min": min, "max": max, "abs": abs,
    "ceil": math.ceil, "floor": math.floor, "str": str, "make_divisible": make_divisible,
}
KEYWORDS = {make_divisible: ("v", "divisor", "min_value")}   # functions that take key=value


class Shape:
    """A layer's output shape in an expression (``input.c``, ``shape('conv1').h``): computed
    only when one of c, h, w is read. ``get`` returns (C, H, W) or raises."""

    __slots__ = ("get", "what")

    def __init__(self, get, what):
        self.get = get
        self.what = what

    def attr(self, name):
        if name not in ("c", "h", "w"):
            raise ExprError(f"{self.what} has no '{name}'; expected .c, .h or .w")
        return self.get()["chw".index(name)]

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


def check_value(value, what="a value"):
    """Refuse a value an expression may not produce: a function, a non-finite float, an integer
    outside int64, a string or list past the limits (``errors.LIMITS``), or any other type."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise ExprError(f"{what} {shown(value)} is outside the signed 64-bit range; expected "
                            "|value| < 2^63")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExprError(f"{what} {value} is not a finite number; expected a finite number")
        return value
    if isinstance(value, str):
        if len(value) > LIMITS["string_chars"]:
            raise ExprError(f"{what} is a string of {len(value):,} characters; expected at most "
                            f"{LIMITS['string_chars']:,}")
        return value
    if isinstance(value, (list, tuple)):
        if len(value) > LIMITS["list_items"]:
            raise ExprError(f"{what} is a list of {len(value):,} items; expected at most "
                            f"{LIMITS['list_items']:,}")
        return value
    if isinstance(value, dict):
        return value
    if isinstance(value, Shape):
        return value
    if callable(value):
        raise ExprError(f"{what} is a function; expected a call such as max(a, b) or "
                        "auto('conv2d')")
    raise ExprError(f"{what} of type {type(value).__name__} is not allowed; expected a number, "
                    "a string, a boolean or a list")


def _size_of(v):
    return len(v) if isinstance(v, (str, list, tuple)) else None


def _check_binop(op, left, right):
    """Refuse, before computing it, a result that would be huge."""
    if isinstance(op, ast.Pow):
        for v in (left, right):
            if not isinstance(v, (int, float)):
                return
        if isinstance(right, (int, float)) and abs(right) > 64:
            raise ExprError(f"exponent {shown(right)} too large; expected at most 64")
        if isinstance(left, int) and isinstance(right, int) and right > 0 and \
                (abs(left).bit_length() - 1) * right >= 64:
            raise ExprError(f"{shown(left)} ** {right} is outside the signed 64-bit range; "
                            "expected |value| < 2^63")
    elif isinstance(op, ast.Mult):
        for seq, times in ((left, right), (right, left)):
            n = _size_of(seq)
            if n is not None and isinstance(times, int) and not isinstance(times, bool):
                limit = LIMITS["string_chars"] if isinstance(seq, str) else LIMITS["list_items"]
                if n * max(times, 0) > limit:
                    raise ExprError(f"repeating a {type(seq).__name__} of {n:,} by "
                                    f"{shown(times)} gives more than {limit:,} "
                                    f"{'characters' if isinstance(seq, str) else 'items'}")
    elif isinstance(op, ast.Add):
        a, b = _size_of(left), _size_of(right)
        if a is not None and b is not None and type(left) is type(right):
            limit = LIMITS["string_chars"] if isinstance(left, str) else LIMITS["list_items"]
            if a + b > limit:
                raise ExprError(f"joining gives more than {limit:,} "
                                f"{'characters' if isinstance(left, str) else 'items'}")


def _eval(node, scope):
    if isinstance(node, ast.Expression):
        return _eval(node.body, scope)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (bool, int, float, str)) or node.value is None:
            return check_value(node.value, "constant")
        raise ExprError(f"constant {shown(node.value)} is not allowed; expected a number, a "
                        "string, True, False or None")
    if isinstance(node, ast.Name):
        if node.id in scope:
            value = scope[node.id]
            if callable(value):
                raise ExprError(f"'{node.id}' is a function; expected a call such as "
                                f"{node.id}('conv2d')")
            return value
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        if node.id in FUNCTIONS:
            raise ExprError(f"'{node.id}' is a function; expected a call such as "
                            f"{node.id}(x)")
        known = ", ".join(sorted(k for k in scope if not callable(scope[k]))) or "none"
        raise ExprError(f"unknown name {shown(node.id)} (names in scope: {shown(known, 300)[1:-1]})")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _eval(node.left, scope), _eval(node.right, scope)
        _check_binop(node.op, left, right)
        return check_value(_BINOPS[type(node.op)](left, right), "the result")
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return check_value(_UNARY[type(node.op)](_eval(node.operand, scope)), "the result")
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
    if isinstance(node, ast.Attribute):
        base = _eval(node.value, scope)
        if isinstance(base, Shape):
            return base.attr(node.attr)
        raise ExprError(f"'{_short(ast.unparse(node))}' is not allowed in an expression: only "
                        "a shape has attributes (input.c, shape('name').h)")
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, scope) else node.orelse, scope)
    if isinstance(node, (ast.List, ast.Tuple)):
        return check_value([_eval(e, scope) for e in node.elts], "list")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        # the fixed functions, or one the spec expander puts in scope (auto)
        fn = FUNCTIONS.get(node.func.id) or scope.get(node.func.id)
        if callable(fn):
            allowed = KEYWORDS.get(fn, ()) if not isinstance(fn, type) else ()
            if any(k.arg is None or k.arg not in allowed for k in node.keywords) or any(
                    isinstance(a, ast.Starred) for a in node.args):
                raise ExprError("keyword and * arguments are not supported in expressions"
                                + (f" (except {', '.join(allowed)} of {node.func.id})"
                                   if allowed else ""))
            args = [_eval(a, scope) for a in node.args]
            if any(isinstance(a, Shape) for a in args):
                raise ExprError(f"{node.func.id}() of a shape; expected one of its sizes, such "
                                "as input.c, input.h or input.w")
            if node.keywords:
                kwargs = {k.arg: _eval(k.value, scope) for k in node.keywords}
                if len(args) > len(allowed) or any(k in allowed[:len(args)] for k in kwargs) \
                        or len(kwargs) != len(node.keywords):
                    raise ExprError(f"{node.func.id}() got an argument twice or too many "
                                    f"(its arguments: {', '.join(allowed)})")
                return check_value(fn(*args, **kwargs), f"the result of {node.func.id}()")
            if fn is str and (len(args) != 1 or isinstance(args[0], (list, tuple, dict))):
                raise ExprError("str() takes one number or string; expected str(x)")
            return check_value(fn(*args), f"the result of {node.func.id}()")
    raise ExprError(f"'{_short(ast.unparse(node))}' is not allowed in an expression "
                    f"(allowed: numbers, names, arithmetic, comparisons, if/else, "
                    f"{', '.join(sorted(FUNCTIONS))})")


def _short(text, limit=60):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


@functools.lru_cache(maxsize=4096)
def _parse(text):
    """The syntax tree of an expression (kept: a repeated block evaluates the same texts with
    other values; the tree is only read)."""
    return ast.parse(text, mode="eval")


def names_used(value) -> set:
    """Every name the ``$``-expressions in ``value`` (text, or lists and dicts of it) read; an
    expression that does not parse reads nothing here (evaluating it reports the error)."""
    found: set = set()
    if isinstance(value, str):
        if "$" in value:
            for m in _PART.finditer(value):
                if m.group(1):
                    found.add(m.group(1))
                    continue
                try:
                    tree = _parse(m.group(2))
                except (SyntaxError, ValueError, RecursionError):
                    continue
                found.update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    elif isinstance(value, list):
        for v in value:
            found |= names_used(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            found |= names_used(v)
    return found


def evaluate(text: str, scope: dict):
    if not isinstance(text, str):
        raise ExprError(f"an expression must be text, got {shown(text)}")
    if len(text) > LIMITS["expr_chars"]:
        raise ExprError(f"expression of {len(text):,} characters ('{_short(text, 40)}'); "
                        f"expected at most {LIMITS['expr_chars']:,}")
    try:
        tree = _parse(text.strip())
    except SyntaxError as exc:
        raise ExprError(f"cannot parse expression '{_short(text)}': {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ExprError(f"cannot parse expression '{_short(text)}': nested too deeply or "
                        f"invalid ({type(exc).__name__})") from None
    try:
        value = check_value(_eval(tree, scope), "the value")
        if isinstance(value, Shape) or isinstance(value, list) and any(
                isinstance(v, Shape) for v in value):
            raise ExprError(f"'{_short(text)}' is a shape; expected one of its sizes, such as "
                            "input.c, input.h or input.w")
        return value
    except ExprError:
        raise
    except RecursionError:
        raise ExprError(f"expression '{_short(text)}' is nested too deeply") from None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, ArithmeticError) as exc:
        raise ExprError(f"expression '{_short(text)}' failed: {_short(exc, 160)}") from None


# one expression, the whole value: `${...}` holds no braces, so "${a}_x_${b}" is a text with two
_WHOLE = re.compile(r"^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([^{}]*)\})$", re.S)
_PART = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([^{}]*)\})")


def substitute(value, scope: dict):
    """Evaluate ``$``-expressions in ``value`` (recursively through lists and dicts)."""
    if isinstance(value, str):
        if "$" not in value:
            return value
        m = _WHOLE.match(value.strip())
        if m:
            return evaluate(m.group(1) or m.group(2), scope)
        if len(value) > LIMITS["string_chars"]:
            raise ExprError(f"a text with expressions of {len(value):,} characters; expected at "
                            f"most {LIMITS['string_chars']:,}")
        out = _PART.sub(lambda mm: _text(evaluate(mm.group(1) or mm.group(2), scope)), value)
        return check_value(out, "the text")
    if isinstance(value, list):
        return _copy_list(value, [substitute(v, scope) for v in value])
    if isinstance(value, dict):
        out = {k: substitute(v, scope) for k, v in value.items()}
        return out
    return value


def _text(value):
    if isinstance(value, (list, tuple, dict)):
        raise ExprError(f"cannot put {shown(value)} into a text; expected a number or a string")
    return str(value)


def _copy_list(src, items):
    out = type(src)(items)
    for attr in ("line", "item_lines"):
        if hasattr(src, attr):
            setattr(out, attr, getattr(src, attr))
    return out
