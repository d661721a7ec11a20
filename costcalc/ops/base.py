"""What an op declaration is made of: attribute kinds, weights, failures, examples, the registry.

An op is one class (see ``Op``) and everything about it is found there: its named attributes, its
shape rule, its counting rule, the weight shapes its params come from, the failures its rules can
report (each with its message), the formulas shown by ``costcalc ops``, its forward kernel and its
examples (attributes and input shapes with the output and counts derived by hand).

Rules are plain Python over int64 values, written so that Numba can compile them too: the count
engine runs them as Python for one network (no compiled code is needed) and compiles them, with a
generated dispatch, for batched sweeps (``costcalc/jit.py``). A rule reads attributes by name
(``a.filters``, ``a.kernel_h``): ``a`` is the op's ``Attrs`` named tuple, filled from the layer's
int64 attribute vector. Every product or sum that can grow uses the checked helpers below, which
return -1 instead of wrapping; the engine reports a -1 as "a count leaves int64".

This module imports no Numba: ``costcalc summary`` stays fast.
"""
from __future__ import annotations

import collections
import difflib
import math

from ..errors import shown

INT64_MAX = 9223372036854775807

# ----------------------------------------------------------------------------- checked arithmetic
# Non-negative int64 in, -1 out when the result would leave int64 (or an operand is already -1).


SQRT_INT64 = 3037000499        # floor(sqrt(2^63 - 1)): a product of two smaller numbers fits


def cmul(a, b):
    if a < 0 or b < 0:
        return -1
    if a <= SQRT_INT64 and b <= SQRT_INT64:     # the common case, without a division
        return a * b
    if a == 0 or b == 0:
        return 0
    if a > INT64_MAX // b:
        return -1
    return a * b


def cadd(a, b):
    if a < 0 or b < 0:
        return -1
    if a > INT64_MAX - b:
        return -1
    return a + b


def cmul3(a, b, c):
    return cmul(cmul(a, b), c)


def cmul4(a, b, c, d):
    return cmul(cmul(cmul(a, b), c), d)


def csub1(a):
    """a - 1 for a >= 1, 0 for a == 0, -1 for -1 (comparisons of a window of a elements)."""
    if a < 0:
        return -1
    if a == 0:
        return 0
    return a - 1


def prod(dims):
    """The product of a tuple of sizes, checked."""
    n = 1
    for d in dims:
        n = cmul(n, d)
    return n


def volume(x):
    """C*H*W of a (C, H, W) tuple, checked."""
    return cmul3(x[0], x[1], x[2])


# ----------------------------------------------------------------------------- failures
class Failure:
    """One way a shape rule can fail: its code (what the rule returns) and its message.

    ``message`` is a format string over: every attribute's value by name ({filters}, {kernel}),
    {input} (the first input's CxHxW), {inputs} (all of them), {c_in}, {h_in}, {w_in}, and what
    ``values(attrs, in_shapes)`` adds. ``brief`` is the short reason shown in sweep tables.
    """

    def __init__(self, code, message, brief, values=None):
        self.code, self.message, self.brief, self.values = code, message, brief, values

    def explain(self, attrs: dict, in_shapes: list) -> str:
        first = tuple(in_shapes[0]) if in_shapes else (0, 0, 0)
        fields = {k: (fmt_value(v)) for k, v in attrs.items()}
        fields.update(input=fmt_shape(first), inputs=", ".join(fmt_shape(s) for s in in_shapes),
                      c_in=int(first[0]), h_in=int(first[1]), w_in=int(first[2]))
        if self.values:
            fields.update(self.values(attrs, in_shapes))
        return self.message.format(**fields)


FAILURES: dict = {}
OK = 0


class FailureCode(int):
    """The code of a registered failure: an int (what rules return, what Numba sees) that
    Op.failures() can tell from any other integer constant."""


def failure(message: str, brief: str, values=None) -> int:
    """Register a failure; the returned code is what a shape rule returns for it."""
    code = FailureCode(len(FAILURES) + 1)
    FAILURES[int(code)] = Failure(code, message, brief, values)
    return code


def fmt_shape(shape) -> str:
    return "x".join(str(int(v)) for v in shape)


def fmt_value(v):
    if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, int) for x in v):
        return f"{v[0]}x{v[1]}" if v[0] != v[1] else str(v[0])
    return v


# Failures of the engine itself (no op's rule returns them).
OVERFLOW = failure("a count leaves the int64 range (over 9.2e18); expected a smaller input or "
                   "network", "a count leaves the int64 range (over 9.2e18)")
UNKNOWN_OP = failure("op code unknown to the engine (a registry bug)", "unknown op code")


# ----------------------------------------------------------------------------- attribute kinds
REQUIRED = object()
PAD_VALID, PAD_SAME, PAD_EXPLICIT = 0, 1, 2


def _int(v, minimum, what="an integer"):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (
            isinstance(v, float) and not math.isfinite(v)) or int(v) != v:
        raise ValueError(f"expected {what}, got {shown(v)}")
    if v < minimum:
        raise ValueError(f"expected an integer >= {minimum}, got {shown(v)}")
    if v > INT64_MAX:
        raise ValueError(f"expected an integer below 2^63, got {shown(v)}")
    return int(v)


class Attr:
    """One named attribute. ``fields`` are the names it fills in the op's int64 ``Attrs``
    (rules read them); ``encode`` gives their values. Floats and strings fill no field unless a
    rule needs them (a counted float fills ``has_<name>``: 1 when given)."""

    kind = ""
    forward_only = False

    def __init__(self, name, default=REQUIRED, doc=""):
        self.name, self.default, self.doc = name, default, doc

    @property
    def required(self):
        return self.default is REQUIRED

    def parsed_default(self):
        if "_parsed" not in self.__dict__:
            self._parsed = self.parse(self.default)
        return self._parsed

    @property
    def fields(self):
        return (self.name,)

    def parse(self, v):
        raise NotImplementedError

    def encode(self, value):
        return (int(value),)

    def describe(self):
        d = "required" if self.required else f"default {self.default!r}"
        return f"{self.name} ({self.kind}, {d})"


class Int(Attr):
    kind = "int"

    def __init__(self, name, default=REQUIRED, doc="", minimum=1):
        super().__init__(name, default, doc)
        self.minimum = minimum

    def parse(self, v):
        return _int(v, self.minimum)


class Bool(Attr):
    kind = "bool"

    def parse(self, v):
        if not isinstance(v, bool):
            raise ValueError(f"expected true or false, got {shown(v)}")
        return v


class Choice(Attr):
    """One of ``choices``; its field is the index (rules compare with ``code(name)``)."""
    kind = "choice"

    def __init__(self, name, choices, default=REQUIRED, doc=""):
        super().__init__(name, default, doc)
        self.choices = tuple(choices)

    def code(self, value):
        return self.choices.index(value)

    def parse(self, v):
        if v not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}, got {shown(v)}")
        return v

    def encode(self, value):
        return (self.choices.index(value),)

    def describe(self):
        return super().describe()[:-1] + f"; one of {', '.join(self.choices)})"


class Pair(Attr):
    """An integer or [height, width]; fields ``<name>_h``, ``<name>_w``."""
    kind = "pair"

    def __init__(self, name, default=REQUIRED, doc="", minimum=1):
        super().__init__(name, default, doc)
        self.minimum = minimum

    @property
    def fields(self):
        return (f"{self.name}_h", f"{self.name}_w")

    def parse(self, v):
        if isinstance(v, (list, tuple)):
            if len(v) != 2:
                raise ValueError(f"expected an integer or [height, width], got {shown(v)}")
            return (_int(v[0], self.minimum), _int(v[1], self.minimum))
        n = _int(v, self.minimum, "an integer or [height, width]")
        return (n, n)

    def encode(self, value):
        return tuple(value)


def _four(v, what):
    try:
        if isinstance(v, (list, tuple)):
            if len(v) == 2 and all(isinstance(x, (list, tuple)) for x in v):
                (t, b), (l, r) = v
                return tuple(_int(x, 0) for x in (t, b, l, r))
            if len(v) == 2:
                ph, pw = (_int(x, 0) for x in v)
                return (ph, ph, pw, pw)
            raise ValueError
        n = _int(v, 0)
        return (n, n, n, n)
    except (ValueError, TypeError):
        raise ValueError(f"expected {what}, got {shown(v)}") from None


class Padding(Attr):
    """valid | same (TensorFlow) | int | [h, w] | [[top, bottom], [left, right]]; fields
    ``pad_mode`` (PAD_VALID, PAD_SAME, PAD_EXPLICIT) and ``pad_top`` .. ``pad_right``."""
    kind = "padding"
    fields = ("pad_mode", "pad_top", "pad_bottom", "pad_left", "pad_right")

    def __init__(self, name="padding", default="valid",
                 doc="valid, same (TensorFlow), or explicit per side"):
        super().__init__(name, default, doc)

    def parse(self, v):
        if v in ("valid", "same"):
            return v
        return _four(v, "'valid', 'same', an integer, [h, w] or [[top, bottom], [left, right]]")

    def encode(self, value):
        if value == "valid":
            return (PAD_VALID, 0, 0, 0, 0)
        if value == "same":
            return (PAD_SAME, 0, 0, 0, 0)
        return (PAD_EXPLICIT,) + tuple(value)


class Pad4(Attr):
    """Numbers per side: int | [h, w] | [[top, bottom], [left, right]]; fields
    ``<name>_top``, ``<name>_bottom``, ``<name>_left``, ``<name>_right``."""
    kind = "pad4"

    @property
    def fields(self):
        return tuple(f"{self.name}_{s}" for s in ("top", "bottom", "left", "right"))

    def parse(self, v):
        return _four(v, "an integer, [h, w] or [[top, bottom], [left, right]]")

    def encode(self, value):
        return tuple(value)


class Triple(Attr):
    """Three integers, one per sample axis (C, H, W); fields ``<name>_c``, ``_h``, ``_w``."""
    kind = "triple"

    def __init__(self, name, default=REQUIRED, doc="", minimum=0):
        super().__init__(name, default, doc)
        self.minimum = minimum

    @property
    def fields(self):
        return (f"{self.name}_c", f"{self.name}_h", f"{self.name}_w")

    def parse(self, v):
        if not isinstance(v, (list, tuple)) or len(v) != 3:
            raise ValueError(f"expected [C, H, W] (three integers), got {shown(v)}")
        return tuple(_int(x, self.minimum) for x in v)

    def encode(self, value):
        return tuple(value)


AXIS_NAMES = {"c": 1, "channels": 1, "h": 2, "height": 2, "w": 4, "width": 4}
AXIS_NUMBERS = {1: 1, 2: 2, 3: 4}        # NCHW axes as ONNX and PyTorch number them


class Axes(Attr):
    """A set of sample axes: names (c, h, w) or NCHW numbers (1, 2, 3); field: a bit mask
    (C = 1, H = 2, W = 4)."""
    kind = "axes"

    def parse(self, v):
        items = v if isinstance(v, (list, tuple)) else [v]
        mask = 0
        for item in items:
            if isinstance(item, str) and item.lower() in AXIS_NAMES:
                bit = AXIS_NAMES[item.lower()]
            elif isinstance(item, int) and not isinstance(item, bool) and item in AXIS_NUMBERS:
                bit = AXIS_NUMBERS[item]
            else:
                raise ValueError("expected axes among c, h, w (or NCHW numbers 1, 2, 3; the "
                                 f"batch axis 0 cannot be reduced), got {shown(v)}")
            mask |= bit
        if not mask:
            raise ValueError(f"expected at least one axis, got {shown(v)}")
        return tuple(n for n, b in (("c", 1), ("h", 2), ("w", 4)) if mask & b)

    def encode(self, value):
        return (sum({"c": 1, "h": 2, "w": 4}[n] for n in value),)


class Float(Attr):
    """A number used by forward passes only; ``counted=True`` gives rules ``has_<name>``."""
    kind = "float"

    def __init__(self, name, default=REQUIRED, doc="", counted=False, minimum=None):
        super().__init__(name, default, doc)
        self.counted, self.minimum = counted, minimum

    @property
    def fields(self):
        return (f"has_{self.name}",) if self.counted else ()

    def parse(self, v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"expected a finite number, got {shown(v)}")
        try:
            f = float(v)            # an int beyond the float range raises OverflowError
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            raise ValueError(f"expected a finite number, got {shown(v)}")
        if self.minimum is not None and f < self.minimum:
            raise ValueError(f"expected a number >= {self.minimum}, got {shown(v)}")
        return f

    def encode(self, value):
        return (0 if value is None else 1,) if self.counted else ()


class Str(Attr):
    kind = "str"
    fields = ()

    def parse(self, v):
        if not isinstance(v, str):
            raise ValueError(f"expected a string, got {shown(v)}")
        return v

    def encode(self, value):
        return ()


# ----------------------------------------------------------------------------- weights, examples
class Weight:
    """One stored array: ``shape(a, x)`` gives its dims from the attributes and the first input's
    (C, H, W); ``when(a)`` says whether the layer has it. Params are the sum of their sizes;
    trainable params those with ``trainable=True``. ``init`` picks the deterministic values of
    numeric passes: fan_in (kernels), positive (0.5..1.5), small (normal, 0.1)."""

    def __init__(self, role, shape, when=None, trainable=True, init=None):
        self.role, self.shape, self.when, self.trainable = role, shape, when, trainable
        self.init = init or {"kernel": "fan_in", "gamma": "positive", "var": "positive",
                             "scale": "positive"}.get(role, "small")


class Grad:
    """What an op's backward pass costs and keeps, per sample (issue 13; the rules are shown by
    `costcalc ops` and counted by costcalc/training.py):

    - ``macs``: the op multiplies-accumulates (convolutions of any groups, dense, transposed
      convolution); its input gradient costs its forward MACs and so does its weight gradient
      (../shared/CONVENTIONS.md), each only when needed;
    - ``input``: other ops of the input gradient(s) per element of ``per`` (the output's, or
      'input': the first input's), a number or ``f(a) -> number`` of the op's int fields;
    - ``weight``: other ops of the weight gradients per element of ``per`` beyond the MACs (bias
      and batch-norm sums), counted when the layer is trainable;
    - ``saves``: what the backward reads that the forward produced: 'input' (the first input),
      'inputs' (all), 'output'; ``saves_when``: 'weight' (only when the weight gradient is
      computed: a convolution's input), 'any' (whenever a gradient is computed, the default);
    - ``per``: 'output', 'input', or 'each input' (per output element and per input: a merge);
      ``extra``: more other ops per output element, once; ``broadcast``: an input smaller
      than the output sums its gradient over the repeated axes (one add per output element);
    - ``train_input``, ``train_weight``: batch norm in training mode (batch statistics);
    - ``why``: the derivation in a few words (shown by `costcalc ops`)."""

    def __init__(self, input=0, weight=0, per="output", saves=(), saves_when="any", macs=False,
                 extra=0, broadcast=False, train_input=None, train_weight=None, why=""):
        self.input, self.weight, self.per, self.saves = input, weight, per, tuple(saves)
        self.saves_when, self.macs, self.why = saves_when, macs, why
        self.extra, self.broadcast = extra, broadcast
        self.train_input, self.train_weight = train_input, train_weight

    def cost(self, part, a, training=False) -> int:
        """Other ops per element of the input (``part`` 'input') or weight gradient."""
        v = self.input if part == "input" else self.weight
        if training:
            t = self.train_input if part == "input" else self.train_weight
            v = v if t is None else t
        return int(v(a) if callable(v) else v)


class Example:
    """A layer with its output and counts derived by hand (checked by tests/test_conformance.py).

    ``input`` is the (C, H, W) of a single input; ``inputs`` a list for several. ``fails`` names
    the failure (a code from ``failure()``) the rules must report instead."""

    def __init__(self, attrs=None, input=None, inputs=None, output=None, params=0,
                 trainable=None, macs=0, other=0, fails=None, note=""):
        self.attrs = dict(attrs or {})
        self.inputs = [tuple(s) for s in (inputs if inputs is not None else [input])]
        self.output = tuple(output) if output is not None else None
        self.params, self.macs, self.other = params, macs, other
        self.trainable = params if trainable is None else trainable
        self.fails, self.note = fails, note


# ----------------------------------------------------------------------------- ops
class Op:
    """Base of every op. A subclass declares (see the module doc):

    name, summary, inputs (n or (min, max)), attrs (Attr instances), weights (Weight instances),
    shape(a, x, shapes, ins) -> (failure or OK, C, H, W), counts(a, x, y, shapes, ins) ->
    (MACs, other ops), formulas (the rules in words), forward(xs, ws, a, counting) ->
    (output, multiplies executed), examples.

    ``x`` and ``y`` are the first input's and the output's (C, H, W); ``shapes[j]`` is layer j's
    (C, H, W) and ``ins`` the indices of this layer's inputs (for ops with several).
    """

    name = ""
    summary = ""
    inputs = 1
    attrs: tuple = ()
    weights: tuple = ()
    formulas: dict = {}
    examples: tuple = ()
    aliases: tuple = ()
    grad = None                 # a Grad: the backward pass's rules (every op declares one)
    activation_cost = None      # activations: other ops per element; fusable ones are listed
    fusable = False             # may be a conv/dense layer's `activation:` (Keras)
    no_kernel_reason = ""       # an op without a forward pass must say why
    torch_equivalent = True     # False: PyTorch has no such op; no_torch_reason says why
    no_torch_reason = ""
    code = -1
    Attrs = None                # the named tuple of int fields (set by register)

    @staticmethod
    def shape(a, x, shapes, ins):
        return OK, x[0], x[1], x[2]

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, 0

    @classmethod
    def min_inputs(cls):
        return cls.inputs if isinstance(cls.inputs, int) else cls.inputs[0]

    @classmethod
    def max_inputs(cls):
        return cls.inputs if isinstance(cls.inputs, int) else cls.inputs[1]

    @classmethod
    def attr(cls, name):
        idx = cls.__dict__.get("_attr_index")
        if idx is None:
            idx = cls._attr_index = {at.name: at for at in cls.attrs}
        return idx.get(name)

    @classmethod
    def fields(cls):
        return tuple(f for at in cls.attrs for f in at.fields)

    @classmethod
    def normalize(cls, values: dict) -> dict:
        """Defaults filled in; a hook for derived defaults (pool strides = kernel) and checks
        between attributes (raise AttrError)."""
        out = {}
        for at in cls.attrs:
            if at.name in values:
                out[at.name] = values[at.name]
            elif at.required or at.default is None:
                out[at.name] = None
            else:
                out[at.name] = at.parsed_default()
        return out

    @classmethod
    def parse_attrs(cls, raw: dict) -> dict:
        """Attribute values as a spec row gives them -> parsed and normalized (ValueError or
        AttrError says what is wrong)."""
        values = {}
        for key, v in raw.items():
            at = cls.attr(key)
            if at is None:
                raise AttrError(key, f"{cls.name} has no attribute '{key}'")
            try:
                values[key] = at.parse(v)
            except ValueError as exc:
                raise AttrError(key, str(exc)) from None
        for at in cls.attrs:
            if at.required and at.name not in values:
                raise AttrError(at.name, f"{cls.name} needs attribute '{at.name}'")
        return cls.normalize(values)

    @classmethod
    def encode(cls, values: dict) -> tuple:
        return tuple(v for at in cls.attrs for v in at.encode(values[at.name]))

    @classmethod
    def view(cls, values: dict):
        """What forward() reads: the int fields and the float and string attributes by name."""
        enc = dict(zip(cls.fields(), cls.encode(values)))
        for at in cls.attrs:
            if isinstance(at, (Float, Str)):
                enc[at.name] = values[at.name]
        return _View(enc)

    @classmethod
    def param_shapes(cls, values: dict, in_shapes) -> list:
        """The stored arrays as (role, shape, init): the one params rule, evaluated in Python."""
        a = cls.Attrs(*cls.encode(values))
        x = tuple(int(v) for v in in_shapes[0]) if in_shapes else (0, 0, 0)
        return [(w.role, tuple(int(d) for d in w.shape(a, x)), w.init)
                for w in cls.weights if w.when is None or w.when(a)]

    @classmethod
    def failures(cls) -> list:
        """The failures this op's shape rule can report: found in the rule's code and in the
        helpers of this package it calls (window_shape reports WINDOW and OVERFLOW)."""
        found, seen, todo = [], set(), [cls.shape]
        while todo:
            fn = todo.pop()
            if id(fn) in seen:
                continue
            seen.add(id(fn))
            for code in _rule_codes(fn):
                for name in code.co_names:
                    v = fn.__globals__.get(name)
                    if isinstance(v, FailureCode) and v not in found:
                        found.append(v)
                    elif callable(v) and getattr(v, "__module__", "").startswith("costcalc.ops") \
                            and hasattr(v, "__code__"):
                        todo.append(v)
        return found

    @staticmethod
    def forward(xs, ws, a, counting):
        raise NotImplementedError


def _rule_codes(fn):
    stack, out = [fn.__code__], []
    while stack:
        c = stack.pop()
        out.append(c)
        stack.extend(k for k in c.co_consts if hasattr(k, "co_code"))
    return out


class _View(dict):
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class AttrError(ValueError):
    """A check between attributes failed (raised by normalize); ``attr`` names the one to blame."""

    def __init__(self, attr, message):
        super().__init__(message)
        self.attr = attr


OPS: list = []          # by op code; code 0 is the graph input
_BY_NAME: dict = {}


# Keys of a spec row that are not attributes (costcalc/spec.py): no op may use them as names.
ROW_KEYS = ("name", "op", "block", "inputs", "when", "pass", "repeat", "start", "first",
            "trainable")


def register(cls):
    for at in cls.attrs:
        if at.name in ROW_KEYS:
            raise ValueError(f"op '{cls.name}': attribute name '{at.name}' is a spec row key")
    names = (cls.name,) + tuple(cls.aliases)
    for n in names:
        if n in _BY_NAME:
            raise ValueError(f"op name '{n}' registered twice")
    cls._attr_index = {at.name: at for at in cls.attrs}
    cls.code = len(OPS)
    cls.Attrs = collections.namedtuple(f"{cls.__name__}Attrs", cls.fields() or ("unused",))
    if not cls.fields():
        cls.encode = classmethod(lambda c, values: (0,))
    OPS.append(cls)
    for n in names:
        _BY_NAME[n] = cls
    return cls


def op_names():
    return [op.name for op in OPS if op.name != "input"]


def get_op(name):
    """The op class called ``name`` (or one of its aliases), or None."""
    return _BY_NAME.get(name) if name != "input" else None


def closest(name, names):
    m = difflib.get_close_matches(str(name), list(names), n=1, cutoff=0.5)
    return m[0] if m else None


def nslots():
    return max(len(op.Attrs._fields) for op in OPS)


# ----------------------------------------------------------------------------- sliding windows
WINDOW = failure(
    "{op} window {window} (kernel {kernel}, dilation {dilation}, padding {padding!r}) is larger "
    "than its input {input}; expected an input of at least the window size (a larger --input, "
    "or less downsampling before this layer)",
    "a window larger than its input (input too small)",
    values=lambda attrs, shapes: {
        "window": "x".join(str(d * (k - 1) + 1) for k, d in zip(
            attrs.get("kernel", (1, 1)), attrs.get("dilation", (1, 1)))),
        "kernel": "x".join(map(str, attrs.get("kernel", (1, 1)))),
        "dilation": "x".join(map(str, attrs.get("dilation", (1, 1)))),
        "padding": fmt_value(attrs.get("padding", "valid")), "op": attrs.get("_op", "the")})


def window(size, k, s, d, mode, p_lo, p_hi, ceil_mode):
    """Output size and (pad_lo, pad_hi) of a sliding window along one axis; out <= 0: no window
    fits (the caller reports WINDOW); out -1: a size leaves int64.

    floor((size + p_lo + p_hi - d*(k-1) - 1) / s) + 1 (../shared/CONVENTIONS.md). 'same' follows
    TensorFlow (output ceil(size/s), an odd total pad puts the extra at the end). ceil_mode is
    Caffe's and PyTorch's: round up, but the last window must start inside the input or the
    left padding (so a window longer than the input by less than a stride gives one output).
    """
    keff = cadd(cmul(d, k - 1), 1)
    if keff < 0:
        return -1, 0, 0
    if mode == PAD_SAME:
        out = (size + s - 1) // s if size <= INT64_MAX - s else size // s + 1
        total = cadd(cmul(out - 1, s), keff) - size
        if total < 0:
            total = 0
        return out, total // 2, total - total // 2
    if mode == PAD_VALID:
        p_lo = 0
        p_hi = 0
    padded = cadd(cadd(size, p_lo), p_hi)
    if padded < 0:
        return -1, p_lo, p_hi
    span = padded - keff
    if ceil_mode:
        # PyTorch's pooling_output_shape: floor((span + s - 1) / s) + 1 (floor: span may be
        # negative, a window longer than the padded input still gives one output when it
        # starts inside it and hangs past the end by less than a stride: 2x2, 3x3/2 -> 1x1)
        out = (span + s - 1) // s + 1 if span <= INT64_MAX - s else span // s + 2
        if out > 0 and (out - 1) * s >= size + p_lo:
            out -= 1
        return max(out, 0), p_lo, p_hi
    if span < 0:
        return 0, p_lo, p_hi
    return span // s + 1, p_lo, p_hi


def window_attrs(kernel_default=REQUIRED, strides_default=1):
    """kernel, strides, padding, dilation: the attributes of every sliding-window op."""
    return (Pair("kernel", kernel_default, doc="window height and width"),
            Pair("strides", strides_default, doc="step along height and width"),
            Padding(),
            Pair("dilation", 1, doc="spacing of the window's taps"))


def window_hw(a, h, w, ceil_mode):
    """(H_out, top, bottom, W_out, left, right) for an op with window_attrs()."""
    ho, pt, pb = window(h, a.kernel_h, a.strides_h, a.dilation_h, a.pad_mode, a.pad_top,
                        a.pad_bottom, ceil_mode)
    wo, pl, pr = window(w, a.kernel_w, a.strides_w, a.dilation_w, a.pad_mode, a.pad_left,
                        a.pad_right, ceil_mode)
    return ho, pt, pb, wo, pl, pr
