"""Sweeps: how cost grows with resolution, width, depth and bottleneck size (issue #6).

A sweep is the cartesian grid of its axes, each a list of values:

- a spec parameter: ``name=v1,v2,...`` (a list) or ``name=start:stop:step`` (a range: start,
  start+step, ... up to stop, stop included when it is on the grid; the step may be negative, not
  0). A single value (``classes=10``) is a fixed override, not an axis.
- the input size: in ``--input CxHxW`` each of C, H and W may be a list or a range, optionally in
  braces (``3x128,160,224x128,160,224``, ``'3x{128:224:32}x{96,128}'``): C, H and W are then
  separate axes ("input C", "input H", "input W"). ``--resolution VALUES`` sweeps square inputs
  H = W (axis "input HxW"), with C from ``--input`` or the spec's ``input:``.

:func:`sweep` validates the request and groups the points; the engine computes. A point's spec
parameters are expanded into a graph once per distinct value of the parameters the layers use:
a parameter that only feeds ``input:`` or ``require:`` (MobileNet's ``resolution``) never causes
a rebuild, and builds that compile to the same graph (equal ``Compiled.key()``) are evaluated
together: all points of one graph go to one batched engine call (``Compiled.run_many``).
A point that cannot be evaluated (a failing ``require:`` check, an input too small for a window,
a count that leaves int64) is a row with its reason.

Growth exponents: along each numeric axis, with the other axes held at each of their values
(one "line" per combination), the least-squares slope of log(quantity) on log(axis value) over
the line's valid points, for params, MACs, FLOPs, activations and peak activations. A quantity
proportional to value**k gives exactly k (MACs of a 'same'-padded convolution vs resolution: 2).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import re
import time
from decimal import Decimal, InvalidOperation

import numpy as np

from . import ops
from .analysis import scaled_overflow
from .errors import CostcalcError, SpecError, UsageError
from .expr import ExprError, substitute
from .spec import Spec

MAX_POINTS = 10_000_000          # larger grids need confirm=True (--yes)
HARD_MAX_POINTS = 100_000_000    # more would not fit in memory
INT64_MAX = 2**63 - 1
MAX_EXPLAINED = 10_000           # invalid points explained in full; later ones briefly
QUANTITIES = ("params", "macs", "flops", "activations", "peak_activations")
QUANTITY_LABELS = {"params": "params", "macs": "MACs", "flops": "FLOPs",
                   "activations": "activations", "peak_activations": "peak act."}
OK, INVALID, OVERFLOW = "ok", "invalid", "overflow"
BYTES_PER_ELEMENT = 4            # float32, as `costcalc summary`


# ----------------------------------------------------------------------------- axis syntax
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _shown(value) -> str:
    from .analysis import shown
    return shown(value)


def check_value(value, where: str, text=None):
    """A command-line value must be finite and, if an integer, fit in int64."""
    shown = _shown(text if text is not None else value)
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{where}: '{shown}' is not a finite number; expected a number "
                         "within the float range (about +-1.8e308)")
    if isinstance(value, int) and not isinstance(value, bool) and \
            not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise UsageError(f"{where}: {shown} does not fit in int64; expected an integer from "
                         f"{-INT64_MAX - 1:,} to {INT64_MAX:,}")
    if isinstance(value, (list, tuple)):
        for v in value:
            check_value(v, where, text)
    elif isinstance(value, dict):
        for v in value.values():
            check_value(v, where, text)
    return value


def scalar(text: str, where: str, empty_ok: bool = False):
    """One value as `--set name=value` reads it: a plain number (1e-3, 2, -0.5) as a number,
    anything else as YAML reads it; never an infinite, NaN or out-of-int64 number."""
    import yaml
    text = text.strip()
    if not text:
        if empty_ok:
            return ""
        raise UsageError(f"{where}: empty value; expected a list like 1,2,3 or a range "
                         "start:stop:step")
    if _NUMBER.match(text):
        if any(ch in text for ch in ".eE"):
            value = float(text)
        elif len(text.lstrip("+-")) > 25:
            raise UsageError(f"{where}: {_shown(text)} does not fit in int64; expected an "
                             f"integer from {-INT64_MAX - 1:,} to {INT64_MAX:,}")
        else:
            value = int(text)
        return check_value(value, where, text)
    try:
        value = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError):
        return text
    return check_value(value, where, text)


_scalar = scalar


def _range_values(text: str, where: str) -> list:
    parts = text.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise UsageError(f"{where}: '{_shown(text)}' is not a range start:stop:step (for example "
                         "16:192:16)")
    if not all(_NUMBER.match(p.strip()) for p in parts):
        raise UsageError(f"{where}: range '{_shown(text)}' needs numbers for start, stop and "
                         "step")
    try:
        start, stop, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise UsageError(f"{where}: range '{_shown(text)}' needs numbers for start, stop and "
                         "step") from None
    integral = all(not any(ch in p for ch in ".eE") for p in parts)
    for end, p in zip((start, stop, step), parts):
        if integral:
            check_value(int(end) if abs(end) < Decimal(2) ** 64 else 2**64, where, p.strip())
        elif not math.isfinite(float(end)) or (end != 0 and abs(end) < Decimal("1e-300")):
            raise UsageError(f"{where}: range end '{_shown(p.strip())}' is not a finite number "
                             "within the float range; expected a range like 0.25:1.0:0.25")
    if step == 0:
        raise UsageError(f"{where}: range '{_shown(text)}' has a step of 0; expected a step that "
                         "moves from start to stop")
    if (stop - start) * step < 0:
        raise UsageError(f"{where}: range '{_shown(text)}' is empty (the step {step} moves away "
                         f"from {stop}); expected start <= stop for a positive step")
    steps = (stop - start) / step
    if steps >= HARD_MAX_POINTS:
        raise UsageError(f"{where}: range '{_shown(text)}' has more than {HARD_MAX_POINTS:,} "
                         f"values (about {float(steps):.3g}); a sweep holds at most "
                         f"{HARD_MAX_POINTS:,} points")
    count = int(steps) + 1
    if integral:
        start, step = int(start), int(step)
        return list(range(start, start + count * step, step))
    return [float(start + k * step) for k in range(count)]


def parse_values(text: str, where: str = "value") -> list:
    """'a,b,c' -> [a, b, c]; 'start:stop:step' -> the range; either may be in braces."""
    raw = str(text).strip()
    if raw.startswith("{") and raw.endswith("}"):
        raw = raw[1:-1].strip()
    if "{" in raw or "}" in raw:
        raise UsageError(f"{where}: unbalanced braces in '{_shown(text)}'")
    if ":" in raw:
        if "," in raw:
            raise UsageError(f"{where}: '{_shown(text)}' mixes a list and a range; expected "
                             "v1,v2,... or start:stop:step")
        return _range_values(raw, where)          # distinct and ordered by construction
    values = [_scalar(part, where) for part in raw.split(",")]
    seen = set()
    for v in values:
        key = (type(v).__name__, v) if isinstance(v, bool) else v
        try:
            if key in seen:
                raise UsageError(f"{where}: value {_shown(repr(v))} is listed twice")
            seen.add(key)
        except TypeError:        # an unhashable YAML value: the spec's type check reports it
            pass
    return values


def parse_sets(items) -> dict:
    """`--set` texts ('name=v1,v2' / 'name=a:b:step' / 'name=v') -> {name: [values]}."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set '{_shown(item)}' is not name=values (for example --set "
                             "alpha=0.25,0.5,1.0 or --set depth=20:56:12)")
        name, text = item.split("=", 1)
        name = name.strip()
        if not name:
            raise UsageError(f"--set '{_shown(item)}' has no parameter name")
        if name in out:
            raise UsageError(f"--set {_shown(name)} is given twice; list all its values in one --set "
                             f"({name}=v1,v2,...)")
        out[name] = parse_values(text, f"--set {name}")
    return out


def _split_input(text: str) -> list[str]:
    """'3x{128,160}x{128:224:32}' -> ['3', '{128,160}', '{128:224:32}'] (x outside braces)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch in "xX" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _dimension_values(text, where: str) -> list[int]:
    """Input sizes from text (a list or range) or from a list: positive integers in int64."""
    if isinstance(text, (list, tuple, range)):
        values, check = list(text), list(text)
    else:
        values = parse_values(text, where)
        # a range is monotonic: its ends bound it (and its type is that of its first value)
        check = values[:1] + values[-1:] if ":" in str(text) else values
    if not values:
        raise UsageError(f"{where}: no values")
    for v in check:
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise UsageError(f"{where}: expected positive integers, got {_shown(repr(v))}")
        if v > INT64_MAX:
            raise UsageError(f"{where}: {_shown(v)} does not fit in int64 (at most "
                             f"{INT64_MAX:,})")
    return values


def parse_input_grid(text) -> list:
    """--input text -> [C, H, W], each None (from the spec) or a list of positive integers."""
    if text is None:
        return [None, None, None]
    if isinstance(text, (list, tuple)):
        if len(text) != 3:
            raise UsageError(f"input {_shown(repr(text))} is not [C, H, W]")
        return [_dimension_values(v if isinstance(v, (list, tuple, range)) else [v],
                                  f"--input {name}") for v, name in zip(text, "CHW")]
    text = str(text).strip()
    parts = _split_input(text)
    if len(parts) == 1 and re.fullmatch(r"\s*\d+\s*,\s*\d+\s*,\s*\d+\s*", text):
        parts = text.split(",")           # the plain C,H,W form of `costcalc summary`
    if len(parts) != 3:
        raise UsageError(f"--input '{_shown(text)}' is not CxHxW; each of C, H, W is a number, a list "
                         "or a range (for example 3x128,160,224x128,160,224 or "
                         "'3x{128:224:32}x{128:224:32}')")
    return [_dimension_values(p, f"--input {name}") for p, name in zip(parts, "CHW")]


# ----------------------------------------------------------------------------- results
@dataclasses.dataclass
class Axis:
    name: str
    kind: str            # "param" or "input"
    values: list
    numeric: bool = None  # numbers (not booleans): growth exponents apply

    def __post_init__(self):
        if self.numeric is None:
            self.numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               for v in self.values)


@dataclasses.dataclass
class Sweep:
    """A sweep's points (in grid order: the first axis varies slowest) and their counts."""
    spec: Spec
    axes: list
    fixed: dict                  # single-valued --set overrides
    inputs: np.ndarray           # (N, 3) input shape of each point (0 where unknown)
    totals: np.ndarray           # (N, 7) engine.TOTAL_COLUMNS (0 where not ok)
    state: np.ndarray            # (N,) 0 ok, 1 invalid, 2 overflow
    reasons: dict                # point index -> why it is not ok
    exponents: list              # dicts: axis, at, points, slopes {quantity: float | None}
    builds: int = 0              # graphs expanded from the spec
    graphs: int = 0              # distinct compiled graphs
    engine_calls: int = 0
    seconds: float = 0.0

    @property
    def shape(self):
        return tuple(len(a.values) for a in self.axes)

    def __len__(self):
        return len(self.state)

    def point_values(self, i: int) -> dict:
        """{axis name: value} of point i."""
        idx = np.unravel_index(i, self.shape) if self.axes else ()
        return {a.name: a.values[int(k)] for a, k in zip(self.axes, idx)}

    def status(self, i: int) -> str:
        return (OK, INVALID, OVERFLOW)[int(self.state[i])]

    def column(self, quantity: str) -> np.ndarray:
        from .engine import TOTAL_COLUMNS
        return self.totals[:, TOTAL_COLUMNS.index(quantity)]

    def point(self, i: int) -> dict:
        """One point as plain data (what --format json prints per point)."""
        from .engine import TOTAL_COLUMNS
        ok = self.state[i] == 0
        d = {"values": self.point_values(i),
             "input_shape": [int(v) for v in self.inputs[i]] if self.inputs[i].all() else None,
             "status": self.status(i), "reason": self.reasons.get(i)}
        if ok:
            t = {k: int(v) for k, v in zip(TOTAL_COLUMNS, self.totals[i])}
            t["non_trainable_params"] = t["params"] - t["trainable_params"]
            t["peak_activation_bytes"] = t["peak_activations"] * BYTES_PER_ELEMENT
            d["totals"] = t
        else:
            d["totals"] = None
        return d


# ----------------------------------------------------------------------------- grid building
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def structural_params(spec: Spec) -> list[str]:
    """Parameters the layers can depend on: those named in a $-expression anywhere under
    `layers:` or `blocks:` (an over-approximation: any identifier in such a string counts).
    The others only feed `input:` and `require:`, so their values never change the graph."""
    found: set = set()

    def walk(node):
        if isinstance(node, str):
            if "$" in node:
                found.update(_NAME.findall(node))
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(k)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec.data.get("layers"))
    walk(spec.data.get("blocks"))
    walk(spec.data.get("derived"))
    return [name for name in spec.defaults if name in found]


_READS_SHAPE = re.compile(r"\binput\s*\.|\bshape\s*\(")


def reads_shapes(spec: Spec) -> bool:
    """Whether an expression under `layers:`, `blocks:`, `derived:` or `require:` may read a
    shape (input.c, shape('x').h), or a parameter `input:` names is read elsewhere (the input
    sets it: Spec.bind_input): then the graph depends on the input and each input is built on
    its own (an over-approximation, like structural_params)."""
    def walk(node):
        if isinstance(node, str):
            return "$" in node and _READS_SHAPE.search(node) is not None
        if isinstance(node, dict):
            return any(walk(k) or walk(v) for k, v in node.items())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False
    checks = [item.get("check") for item in spec.data.get("require") or []
              if isinstance(item, dict) and isinstance(item.get("check"), str)]
    return (any(walk(spec.data.get(key)) for key in ("layers", "blocks", "derived"))
            or any(_READS_SHAPE.search(c) for c in checks) or spec.input_bound_reads())


def _spec_input(spec: Spec, params: dict):
    """The spec's input: for these parameters, or raise SpecError."""
    line = spec.data.key_line("input")
    try:
        shape = substitute(spec.data["input"], params)
    except ExprError as exc:
        raise SpecError(f"input: {exc}", spec.path, line) from None
    if not isinstance(shape, list) or len(shape) != 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= INT64_MAX
            for v in shape):
        raise SpecError(f"input must be [C, H, W] of positive integers, got {shape!r}",
                        spec.path, line)
    return [int(v) for v in shape]


def _brief_reason(err: int, layer) -> str:
    what = ops.brief(err)
    return f"layer '{layer.name}' ({layer.op.name}): {what}" if layer is not None else what


class _Graph:
    """One compiled graph and the points evaluated on it."""

    def __init__(self, model, compiled):
        self.model = model
        self.compiled = compiled
        self.points: list = []       # arrays of point indices
        self.inputs: list = []       # matching (k, 3) input arrays


# The work guard's cost model (measured on the 2-core development machine, resnet50): one graph
# build + compile ~20 us per layer; the batched engine ~3 ns per point and layer; rendering
# ~10 us per point; a rendered row holds ~1.5 KB of Python objects while the table is built.
BUILD_SECONDS_PER_LAYER = 25e-6
POINT_SECONDS_PER_LAYER = 5e-9
ROW_SECONDS = 10e-6
ROW_MEMORY = 1500
ROW_OUTPUT = {"table": 150, "markdown": 160, "csv": 110, "json": 700}
MAX_SECONDS = 60                 # longer sweeps need confirm=True (--yes)
MAX_OUTPUT = 256 << 20           # so do outputs over 256 MiB


def _available_bytes() -> int:
    from .execute import available_bytes          # one reading of free memory
    return available_bytes()


def estimate_work(spec: Spec, axes: list, fixed: dict, npoints: int, fmt: str = "table"):
    """(seconds, output bytes, memory bytes, builds, layers) a sweep is expected to take."""
    structural = set(structural_params(spec))
    builds = math.prod(len(a.values) for a in axes if a.kind == "param"
                       and a.name in structural)
    overrides = dict(fixed)
    overrides.update({a.name: a.values[0] for a in axes if a.kind == "param"})
    try:
        layers = len(spec.build(overrides).layers)
    except CostcalcError:
        try:
            layers = len(spec.build(fixed).layers)
        except CostcalcError:
            layers = max(len(spec.data.get("layers") or []), 1)
    seconds = (builds * layers * BUILD_SECONDS_PER_LAYER
               + npoints * (layers * POINT_SECONDS_PER_LAYER + ROW_SECONDS))
    output = npoints * ROW_OUTPUT.get(fmt, 700)
    memory = npoints * (ROW_MEMORY + (ROW_OUTPUT.get(fmt, 700) if fmt != "json" else 2000))
    return seconds, output, memory, builds, layers


def guard_work(spec: Spec, axes: list, fixed: dict, npoints: int, confirm: bool,
               fmt: str = "table"):
    """Stop a sweep whose estimated work or output is large unless confirmed (--yes), and one
    whose table would not fit in memory even then."""
    seconds, output, memory, builds, layers = estimate_work(spec, axes, fixed, npoints, fmt)
    avail = _available_bytes()
    what = (f"{npoints:,} point{'s' if npoints != 1 else ''}, {builds:,} graph build(s) of "
            f"{layers:,} layers")
    if memory > avail:
        raise UsageError(f"the sweep ({what}) needs about {memory / 2**30:.1f} GiB to build its "
                         f"{fmt} output but {avail / 2**30:.1f} GiB is available; expected "
                         "fewer values")
    if confirm:
        return
    reasons = []
    if npoints > MAX_POINTS:
        reasons.append(f"over {MAX_POINTS:,} points")
    if seconds > MAX_SECONDS:
        reasons.append(f"about {seconds / 60:.0f} min of work" if seconds >= 90 else
                       f"about {seconds:.0f} s of work")
    if output > MAX_OUTPUT:
        reasons.append(f"about {output / 2**20:,.0f} MiB of {fmt} output")
    if reasons:
        raise UsageError(f"the sweep ({what}) is large: {', '.join(reasons)}; pass --yes to "
                         "run it anyway, or use fewer values")


def sweep(name_or_path, params: dict | None = None, input_shape=None, resolution=None, *,
          confirm: bool = False, progress=None, fmt: str = "table") -> Sweep:
    """Evaluate every point of the grid.

    ``params``: {name: value or [values]} (lists of two or more values are axes, in order);
    ``input_shape``: None, 'CxHxW' with lists/ranges (see the module doc) or [C, H, W] lists;
    ``resolution``: None, or values ('128,160' / '128:224:32' / a list) of square inputs;
    ``confirm``: allow a large sweep (guard_work: over MAX_POINTS points, MAX_SECONDS of
    estimated work or MAX_OUTPUT bytes of ``fmt`` output); ``progress(advance, total)`` is
    called as work is done (total: parameter combinations + points).
    """
    t0 = time.perf_counter()
    from .analysis import load_spec
    spec = load_spec(name_or_path)
    params = dict(params or {})
    # ---- validate names and values (a mistake here is the command's error, exit 2)
    fixed, axes = {}, []
    for name, values in params.items():
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if not values:
            raise UsageError(f"--set {name} has no values")
        for v in values:
            check_value(v, f"--set {name}")
            spec.resolve_params({name: v})       # unknown name or wrong type: raises
        if len(values) == 1:
            fixed[name] = values[0]
        else:
            axes.append(Axis(name, "param", values))
    dims = parse_input_grid(input_shape)
    if resolution is not None:
        res = _dimension_values(resolution, "--resolution")
        if any(d is not None and len(d) > 1 for d in dims[1:]):
            raise UsageError("--resolution and lists of H or W in --input both sweep the input "
                             "size; use one of them")
        res = [int(v) for v in res]
        dims[1] = dims[2] = None             # --resolution replaces H and W of --input
        if len(res) > 1:
            axes.append(Axis("input HxW", "input", res, numeric=True))
    input_axes = []                         # (component indexes, values)
    for k, name in enumerate("CHW"):
        if dims[k] is not None and len(dims[k]) > 1:
            axes.append(Axis(f"input {name}", "input", dims[k], numeric=True))
            input_axes.append(((k,), dims[k]))
    if resolution is not None and len(res) > 1:
        input_axes.insert(0, ((1, 2), res))
    taken = [a.name for a in axes]
    if len(set(taken)) != len(taken):
        raise UsageError("an axis is given twice")
    npoints = math.prod(len(a.values) for a in axes) if axes else 1
    if npoints > HARD_MAX_POINTS:
        raise UsageError(f"the grid has {npoints:,} points; a sweep holds at most "
                         f"{HARD_MAX_POINTS:,}")
    guard_work(spec, axes, fixed, npoints, confirm, fmt)
    fixed_dims = [None if d is None or len(d) > 1 else d[0] for d in dims]
    if resolution is not None and len(res) == 1:
        fixed_dims[1] = fixed_dims[2] = res[0]
    # spec input needed when some component is neither fixed nor swept
    swept = {k for ks, _ in input_axes for k in ks}
    need_spec_input = any(fixed_dims[k] is None and k not in swept for k in range(3))

    param_axes = [a for a in axes if a.kind == "param"]
    n_param = math.prod(len(a.values) for a in param_axes) if param_axes else 1
    n_input = npoints // n_param
    total_work = n_param + npoints

    def tick(k):
        if progress is not None and k:
            progress(k, total_work)

    # input shapes of one parameter combination's points (input axes vary fastest)
    in_grid = np.zeros((n_input, 3), dtype=np.int64)
    for k in range(3):
        if fixed_dims[k] is not None:
            in_grid[:, k] = fixed_dims[k]
    if input_axes:
        idx = np.indices([len(v) for _, v in input_axes]).reshape(len(input_axes), -1)
        for (ks, values), col in zip(input_axes, idx):
            for k in ks:
                in_grid[:, k] = np.asarray(values, dtype=np.int64)[col]

    structural = [n for n in structural_params(spec) if n in {a.name for a in param_axes}]
    per_input = reads_shapes(spec) and n_input > 1
    inputs = np.zeros((npoints, 3), dtype=np.int64)
    totals = np.zeros((npoints, 7), dtype=np.int64)
    state = np.zeros(npoints, dtype=np.int8)
    reasons: dict = {}
    builds: dict = {}           # structural values -> _Graph or the build's error message
    graphs: dict = {}           # Compiled.key() -> _Graph
    n_builds = 0
    combos = itertools.product(*[a.values for a in param_axes]) if param_axes else [()]
    for ci, combo in enumerate(combos):
        first = ci * n_input
        span = np.arange(first, first + n_input)
        overrides = dict(fixed)
        overrides.update({a.name: v for a, v in zip(param_axes, combo)})
        block = in_grid.copy()
        try:
            resolved = spec.resolve_params(overrides)
            if need_spec_input:
                shape = _spec_input(spec, resolved)
                for k in range(3):
                    if fixed_dims[k] is None and k not in swept:
                        block[:, k] = shape[k]
                inputs[span] = block
            else:
                inputs[span] = block
            spec.check_requirements(resolved)
        except CostcalcError as exc:
            state[span] = 1
            for i in span:
                reasons[int(i)] = exc.message
            tick(1 + n_input)                   # its points are done too
            continue
        skey = tuple(repr(resolved[n]) for n in structural)
        if per_input:
            # the graph depends on the input shape: one build per distinct input
            failed = 0
            for j in range(n_input):
                row = tuple(int(v) for v in block[j])
                graph = builds.get(skey + (row,))
                if graph is None:
                    n_builds += 1
                    try:
                        model = spec.build(overrides, row)
                        compiled = model.compile()
                    except CostcalcError as exc:
                        graph = exc.message
                    else:
                        graph = graphs.setdefault(compiled.key(), _Graph(model, compiled))
                    builds[skey + (row,)] = graph
                if isinstance(graph, str):
                    state[span[j]] = 1
                    reasons[int(span[j])] = graph
                    failed += 1
                else:
                    graph.points.append(span[j:j + 1])
                    graph.inputs.append(block[j:j + 1])
            tick(1 + failed)                    # the others are ticked when evaluated
            continue
        graph = builds.get(skey)
        if graph is None:
            n_builds += 1
            try:
                model = spec.build(overrides, tuple(int(v) for v in block[0]))
                compiled = model.compile()
            except CostcalcError as exc:
                graph = exc.message
            else:
                graph = graphs.setdefault(compiled.key(), _Graph(model, compiled))
            builds[skey] = graph
        if isinstance(graph, str):
            state[span] = 1
            for i in span:
                reasons[int(i)] = graph
            tick(1 + n_input)
        else:
            graph.points.append(span)
            graph.inputs.append(block)
            tick(1)

    # ---- one batched engine call per graph
    calls = 0
    explained = 0
    for graph in graphs.values():
        if not graph.points:
            continue
        p = np.concatenate(graph.points)
        x = np.concatenate(graph.inputs)
        tot, st = graph.compiled.run_many(x)
        calls += 1
        # the derived columns (peak bytes = peak x 4) obey the rule summary applies
        derived = scaled_overflow(tot, 1, BYTES_PER_ELEMENT)
        bad_derived = (st[:, 0] == ops.OK) & (derived >= 0)
        st[bad_derived, 0] = ops.OVERFLOW
        st[bad_derived, 1] = -1
        totals[p] = tot
        for b in np.nonzero(st[:, 0] != ops.OK)[0]:
            i, err, layer = int(p[b]), int(st[b, 0]), int(st[b, 1])
            state[i] = 2 if err == ops.OVERFLOW else 1
            totals[i] = 0
            if explained < MAX_EXPLAINED:
                explained += 1
                reasons[i] = _explain(graph, x[b], err, layer)
            else:
                reasons[i] = _brief_reason(err, graph.model.layers[layer] if layer >= 0
                                           else None)
        tick(len(p))
    result = Sweep(spec, axes, fixed, inputs, totals, state, reasons, [], n_builds,
                   len(graphs), calls)
    result.exponents = growth_exponents(result)
    result.seconds = time.perf_counter() - t0
    return result


def _explain(graph: _Graph, inp, err: int, layer: int) -> str:
    """The one-line reason of an invalid point, exactly as `costcalc summary` gives it (the
    same function decides: analysis.evaluate)."""
    from .analysis import evaluate, layer_error
    model = dataclasses.replace(graph.model, input_shape=tuple(int(v) for v in inp))
    try:
        evaluate(model, 1, "float32", graph.compiled)
    except CostcalcError as exc:
        return exc.message
    _, _, shapes, _, _ = graph.compiled.run(model.input_shape)
    return layer_error(model, err, layer, shapes).message


# ----------------------------------------------------------------------------- exponents
def _slopes(x: np.ndarray, y: np.ndarray, ok: np.ndarray):
    """Least-squares slope of y on x per row, over the entries where ok; NaN with < 2 distinct
    x. x: (m,), y and ok: (lines, m)."""
    w = ok.astype(float)
    n = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = (w * x).sum(axis=1) / n
        ym = np.where(ok, y, 0.0).sum(axis=1) / n
        dx = (x[None, :] - xm[:, None]) * w
        sxx = (dx * dx).sum(axis=1)
        sxy = (dx * np.where(ok, y - ym[:, None], 0.0)).sum(axis=1)
        slope = sxy / sxx
    slope[(n < 2) | (sxx <= 1e-300)] = np.nan
    slope[np.abs(slope) < 1e-12] = 0.0           # a constant quantity: exactly 0, not -1e-30
    return slope, n.astype(int)


def growth_exponents(result: Sweep) -> list:
    """Per numeric axis and line (the other axes at each of their values): the slope of
    log(quantity) on log(axis value) over the line's valid points with a positive quantity."""
    from .engine import TOTAL_COLUMNS
    out = []
    shape = result.shape
    ok_all = (result.state == 0).reshape(shape) if result.axes else None
    for a_i, axis in enumerate(result.axes):
        if not axis.numeric or len(axis.values) < 2:
            continue
        xv = np.asarray(axis.values, dtype=float)
        xpos = xv > 0
        x = np.log(np.where(xpos, xv, 1.0))
        others = [k for k in range(len(shape)) if k != a_i]
        lines = math.prod(shape[k] for k in others) if others else 1
        ok = np.moveaxis(ok_all, a_i, -1).reshape(lines, len(xv)) & xpos[None, :]
        slopes, counts = {}, None
        for q in QUANTITIES:
            col = result.totals[:, TOTAL_COLUMNS.index(q)].reshape(shape)
            qv = np.moveaxis(col, a_i, -1).reshape(lines, len(xv)).astype(float)
            good = ok & (qv > 0)
            # a quantity that is 0 somewhere on a line has no exponent there
            zero = (ok & (qv <= 0)).any(axis=1)
            s, n = _slopes(x, np.log(np.where(good, qv, 1.0)), good)
            s[zero] = np.nan
            slopes[q] = s
            counts = n if counts is None else np.maximum(counts, n)
        other_idx = np.indices([shape[k] for k in others]).reshape(len(others), -1) \
            if others else np.zeros((0, 1), dtype=int)
        for line in range(lines):
            at = {result.axes[k].name: result.axes[k].values[int(other_idx[j, line])]
                  for j, k in enumerate(others)}
            out.append({"axis": axis.name, "at": at, "points": int(counts[line]),
                        "exponents": {q: (None if math.isnan(slopes[q][line])
                                          else float(slopes[q][line])) for q in QUANTITIES}})
    return out


# ----------------------------------------------------------------------------- output
def _value_text(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _shape_text(shape) -> str:
    return "x".join(str(int(v)) for v in shape) if all(shape) else "-"


def _grid_values(result: Sweep) -> dict:
    """{axis name: list of each point's value}, in point order."""
    if not result.axes:
        return {}
    idx = np.indices(result.shape).reshape(len(result.axes), -1)
    out = {}
    for a, col in zip(result.axes, idx):
        values = np.empty(len(a.values), dtype=object)
        values[:] = list(a.values)
        out[a.name] = values[col].tolist()
    return out


def points_table(result: Sweep, fmt: str):
    """Headers and rows of the points table."""
    from .engine import TOTAL_COLUMNS
    param_axes = [a for a in result.axes if a.kind == "param"]
    headers = [a.name for a in param_axes] + ["input", "params", "MACs", "FLOPs",
                                              "activations", "peak act.", "peak bytes",
                                              "status"]
    cols = [TOTAL_COLUMNS.index(q) for q in ("params", "macs", "flops", "activations",
                                             "peak_activations")]
    values = _grid_values(result)
    t = result.totals[:, cols]
    numbers = np.concatenate([t, t[:, -1:] * BYTES_PER_ELEMENT], axis=1).tolist()
    shapes = [_shape_text(x) for x in result.inputs.tolist()]
    ok = (result.state == 0).tolist()
    rows = []
    for i in range(len(result)):
        row = [values[a.name][i] for a in param_axes] + [shapes[i]]
        if ok[i]:
            row += numbers[i] + [OK]
        else:
            row += [None] * 6 + [f"{result.status(i)}: {result.reasons.get(i, '')}"]
        rows.append(row)
    return headers, rows


def _exp_text(v, fmt) -> object:
    if v is None:
        return None
    return round(v, 4) if fmt in ("table", "markdown") else v


def exponents_table(result: Sweep, fmt: str, max_lines: int = 12):
    """Headers and rows of the growth exponents: one row per line, or per axis a summary
    (mean, min..max over its lines) when an axis has more than max_lines lines."""
    headers = ["axis", "at", "points"] + [QUANTITY_LABELS[q] for q in QUANTITIES]
    rows = []
    by_axis: dict = {}
    for e in result.exponents:
        by_axis.setdefault(e["axis"], []).append(e)
    for axis, lines in by_axis.items():
        if len(lines) <= max_lines:
            for e in lines:
                at = ", ".join(f"{k}={_value_text(v)}" for k, v in e["at"].items()) or "-"
                rows.append([axis, at, e["points"]] +
                            [_exp_text(e["exponents"][q], fmt) for q in QUANTITIES])
            continue
        cells = []
        for q in QUANTITIES:
            vals = [e["exponents"][q] for e in lines if e["exponents"][q] is not None]
            if not vals:
                cells.append(None)
            elif fmt in ("table", "markdown"):
                cells.append(f"{sum(vals) / len(vals):.4f} ({min(vals):.4f}..{max(vals):.4f})")
            else:
                cells.append(sum(vals) / len(vals))
        rows.append([axis, f"mean (min..max) of {len(lines)} lines",
                     sum(e["points"] for e in lines)] + cells)
    return headers, rows


def _points_json(result: Sweep) -> list:
    """Every point as Sweep.point(i) gives it, built column-wise."""
    from .engine import TOTAL_COLUMNS
    values = _grid_values(result)
    names = list(values)
    t = result.totals
    extra = np.stack([t[:, 0] - t[:, 1], t[:, TOTAL_COLUMNS.index("peak_activations")]
                      * BYTES_PER_ELEMENT], axis=1).tolist()
    keys = list(TOTAL_COLUMNS) + ["non_trainable_params", "peak_activation_bytes"]
    totals = t.tolist()
    inputs = result.inputs.tolist()
    state = result.state.tolist()
    out = []
    for i in range(len(result)):
        ok = state[i] == 0
        out.append({
            "values": {n: values[n][i] for n in names},
            "input_shape": inputs[i] if all(inputs[i]) else None,
            "status": (OK, INVALID, OVERFLOW)[state[i]],
            "reason": result.reasons.get(i),
            "totals": dict(zip(keys, totals[i] + extra[i])) if ok else None,
        })
    return out


def sweep_dict(result: Sweep) -> dict:
    from .render import source_text
    ok = int((result.state == 0).sum())
    return {
        "spec": result.spec.id,
        "title": result.spec.title,
        "source": source_text(result.spec.source),
        "axes": [{"name": a.name, "kind": a.kind, "values": list(a.values)}
                 for a in result.axes],
        "fixed": dict(result.fixed),
        "points": _points_json(result),
        "exponents": result.exponents,
        "exponent_method": "least-squares slope of log(quantity) on log(axis value) along each "
                           "numeric axis, the other axes held at each of their values",
        "summary": {"points": len(result), "ok": ok,
                    "invalid": int((result.state == 1).sum()),
                    "overflow": int((result.state == 2).sum()),
                    "builds": result.builds, "graphs": result.graphs,
                    "engine_calls": result.engine_calls},
        "conventions": "MAC = one multiply-accumulate; FLOPs = 2 x MACs + other ops; "
                       "params include biases and batch-norm statistics; peak bytes = peak "
                       "activations x 4 (float32) (see `costcalc ops`)",
    }


def render_sweep(result: Sweep, fmt: str = "table") -> str:
    from .render import dumps, table
    if fmt == "json":
        return dumps(sweep_dict(result))
    headers, rows = points_table(result, fmt)
    e_headers, e_rows = exponents_table(result, fmt)
    if fmt == "csv":
        out = table(headers, rows, "csv")
        if e_rows:
            out += "\n\n" + table(e_headers, e_rows, "csv")
        return out
    h = "### " if fmt == "markdown" else ""
    axes = " x ".join(f"{a.name} ({len(a.values)})" for a in result.axes) or "no axes"
    fixed = ", ".join(f"{k}={_value_text(v)}" for k, v in result.fixed.items())
    ok = int((result.state == 0).sum())
    bad = len(result) - ok
    out = [f"{h}{result.spec.id}: {result.spec.title}", "",
           f"Sweep of {len(result):,} point{'s' if len(result) != 1 else ''}: {axes}"
           + (f"; fixed {fixed}" if fixed else ""),
           "", table(headers, rows, fmt), "",
           f"{ok:,} of {len(result):,} points evaluated"
           + (f", {bad:,} not (reason in the status column)" if bad else "")
           + f"; {result.builds} graph build(s), {result.graphs} distinct graph(s), "
           f"{result.engine_calls} batched engine call(s)."]
    if e_rows:
        out += ["", f"{h}Growth exponents: least-squares slope of log(quantity) on log(axis "
                "value), the other axes held at each of their values", "",
                table(e_headers, e_rows, fmt)]
    out += ["", "MAC = one multiply-accumulate; FLOPs = 2 x MACs + other ops; peak bytes = peak "
            "activations x 4 (float32). Rules: `costcalc ops`."]
    return "\n".join(out)


# `costcalc.sweep(name, alpha=[...])` (the API, a DataFrame) is this module, called
from ._callable import make_callable  # noqa: E402

make_callable(__name__, "costcalc.api:sweep")
