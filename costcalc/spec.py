"""Declarative layer-graph specs: find, load, validate and expand them into a flat layer list.

A spec is one YAML file under ``specs/`` (see ``specs/README.md`` for the format). Loading keeps
line numbers, so every mistake is reported as ``file:line: layer 'name': what is wrong``.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from . import ops
from .errors import SpecError, UsageError
from .expr import ExprError, substitute
from .yamlload import LDict, LList, load_yaml, load_yaml_file

TOP_KEYS = ("name", "title", "kind", "description", "source", "params", "require", "input",
            "naming", "blocks", "layers", "expect", "notes")
ROW_KEYS = ops.base.ROW_KEYS       # keys of a row that are not attributes
RESERVED = ("i", "n", "input", "auto")   # repetition index and count, the input, Keras names
BLOCK_KEYS = ("args", "layers", "output", "doc", "prefix")
EXPECT_KEYS = ("quantity", "value", "source", "tolerance", "set", "input", "scope", "status",
               "note", "batch", "bound")
QUANTITIES = ("params", "trainable_params", "non_trainable_params", "weights", "macs", "flops",
              "other_ops", "activations", "peak_activations", "layers", "output_shape",
              "mac_share")
MAX_DEPTH = 16


def spec_dirs() -> list[Path]:
    """Where spec names are looked up: $COSTCALC_SPECS (path list), then the project's specs/."""
    dirs = [Path(p) for p in os.environ.get("COSTCALC_SPECS", "").split(os.pathsep) if p]
    dirs.append(Path(__file__).resolve().parent.parent / "specs")
    return dirs


def available() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in spec_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.yaml")):
                found.setdefault(p.stem, p)
    return found


def resolve(name_or_path: str) -> Path:
    """A spec name (``resnet50``) or a path to a YAML file -> the file's path."""
    text = str(name_or_path)
    p = Path(text)
    if text.endswith((".yaml", ".yml")) or os.sep in text or "/" in text:
        if not p.is_file():
            raise UsageError(f"spec file '{text}' does not exist; expected a path to a .yaml file "
                             "or a spec name (see `costcalc list`)")
        return p
    specs = available()
    if text in specs:
        return specs[text]
    hint = ops.closest(text, specs)
    did = f"; did you mean '{hint}'?" if hint else ""
    raise UsageError(f"unknown spec '{text}'{did} (see `costcalc list` for all "
                     f"{len(specs)} specs)")


@dataclasses.dataclass
class Layer:
    name: str
    op: type
    attrs: dict
    inputs: list
    line: int
    scope: tuple = ()          # enclosing block instances, outermost first
    block: str = ""            # the block definition this layer came from
    trainable: bool = True
    group: str = ""            # the top-level block row it belongs to ("" for top-level ops)


@dataclasses.dataclass
class Expectation:
    quantity: str
    value: object
    source: str
    line: int
    tolerance: float = 0.0     # relative; 0 = exact
    overrides: dict = dataclasses.field(default_factory=dict)
    input: tuple | None = None
    scope: str | None = None
    status: str = "check"      # or "source-disagrees"
    note: str = ""
    batch: int = 1
    bound: str = "equal"       # "upper": the published value is a maximum ("fewer than 25M")


@dataclasses.dataclass
class Model:
    """An expanded spec: the layers in topological order, ready to compile."""
    spec: "Spec"
    params: dict
    input_shape: tuple
    layers: list
    input_line: int
    aliases: dict = dataclasses.field(default_factory=dict)   # block instance -> output layer

    @property
    def path(self):
        return self.spec.path

    def compile(self):
        from .engine import FROZEN, NCOLS, Compiled
        index = {layer.name: i for i, layer in enumerate(self.layers)}
        n = len(self.layers)
        codes = np.zeros(n, dtype=np.int64)
        attrs = np.zeros((n, NCOLS), dtype=np.int64)
        in_ptr = np.zeros(n + 1, dtype=np.int64)
        edges = []
        encoded = {}            # repeated layers share one attribute dict: encode it once
        for i, layer in enumerate(self.layers):
            codes[i] = layer.op.code
            key = id(layer.attrs)
            fields = encoded.get(key)
            if fields is None:
                fields = encoded[key] = layer.op.encode(layer.attrs)
            attrs[i, :len(fields)] = fields
            attrs[i, FROZEN] = 0 if layer.trainable else 1
            edges.extend(index[name] for name in layer.inputs)
            in_ptr[i + 1] = len(edges)
        return Compiled(codes, attrs, in_ptr, np.array(edges, dtype=np.int64))


def _err(spec, line, msg, layer=None):
    if layer:
        msg = f"layer '{layer}': {msg}"
    return SpecError(msg, spec.path, line)


def _typed_like(default, value, name, spec, line):
    """Check an override against the type of the parameter's default."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _err(spec, line, f"parameter '{name}' expects true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise _err(spec, line, f"parameter '{name}' expects an integer, got {value!r}")
        value = int(value)
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _err(spec, line, f"parameter '{name}' expects a number, got {value!r}")
        value = float(value)
    return value


class Spec:
    """A loaded, validated spec file; :meth:`build` expands it for given parameters."""

    def __init__(self, data, path):
        self.path = Path(path) if path else None
        self.id = self.path.stem if self.path else "<spec>"
        if not isinstance(data, LDict):
            raise SpecError("a spec must be a YAML mapping with at least 'input' and 'layers'",
                            path, getattr(data, "line", 1))
        self.data = data
        for key in data:
            if key not in TOP_KEYS:
                hint = ops.closest(key, TOP_KEYS)
                raise _err(self, data.key_line(key), f"unknown key '{key}'"
                           + (f"; did you mean '{hint}'?" if hint else "")
                           + f" (expected one of: {', '.join(TOP_KEYS)})")
        for key in ("input", "layers"):
            if key not in data:
                raise _err(self, data.line, f"missing '{key}'; a spec needs 'input' "
                           "([C, H, W]) and 'layers'")
        self.title = str(data.get("title", self.id))
        self.kind = data.get("kind", "network")
        if self.kind not in ("network", "module"):
            raise _err(self, data.key_line("kind"), f"kind must be 'network' or 'module', got "
                       f"{self.kind!r}")
        self.description = str(data.get("description", "")).strip()
        self.source = data.get("source", "")
        self.defaults = data.get("params") or LDict()
        if not isinstance(self.defaults, dict):
            raise _err(self, data.key_line("params"), "'params' must be a mapping name: default")
        for key in self.defaults:
            if key in RESERVED:
                raise _err(self, self.defaults.key_line(key), f"parameter name '{key}' is "
                           f"reserved ({', '.join(RESERVED)}: repetition index, count, input, "
                           "automatic names)")
        naming = data.get("naming") or {}
        if not isinstance(naming, dict):
            raise _err(self, data.key_line("naming"), "'naming' must be a mapping")
        self.sep = str(naming.get("separator", "/"))
        self.repeat_name = str(naming.get("repeat", "{name}_block{i}"))
        self.blocks = data.get("blocks") or LDict()
        if not isinstance(self.blocks, dict):
            raise _err(self, data.key_line("blocks"), "'blocks' must be a mapping name: block")
        for bname, bdef in self.blocks.items():
            line = self.blocks.key_line(bname)
            if not isinstance(bdef, dict) or "layers" not in bdef:
                raise _err(self, line, f"block '{bname}' must be a mapping with 'layers' "
                           "(and optional 'args', 'output')")
            for key in bdef:
                if key not in BLOCK_KEYS:
                    raise _err(self, bdef.key_line(key), f"block '{bname}': unknown key '{key}' "
                               f"(expected one of: {', '.join(BLOCK_KEYS)})")
            if not isinstance(bdef.get("args") or {}, dict):
                raise _err(self, bdef.key_line("args"), f"block '{bname}': 'args' must be a "
                           "mapping name: default (~ for a required argument)")
            for key in bdef.get("args") or {}:
                if key in RESERVED:
                    raise _err(self, bdef["args"].key_line(key), f"block '{bname}': argument "
                               f"name '{key}' is reserved ({', '.join(RESERVED)}: repetition "
                               "index, count, input, automatic names)")
        if not isinstance(data["layers"], list) or not data["layers"]:
            raise _err(self, data.key_line("layers"), "'layers' must be a non-empty list")
        self.expectations = self._parse_expect(data.get("expect") or [])

    # ------------------------------------------------------------------ expectations
    def _parse_expect(self, items):
        if not isinstance(items, list):
            raise _err(self, self.data.key_line("expect"), "'expect' must be a list")
        out = []
        for k, item in enumerate(items):
            line = items.item_line(k) if isinstance(items, LList) else self.data.line
            if not isinstance(item, dict):
                raise _err(self, line, "each 'expect' entry must be a mapping with quantity, "
                           "value and source")
            for key in item:
                if key not in EXPECT_KEYS:
                    raise _err(self, item.key_line(key), f"unknown expect key '{key}' "
                               f"(expected one of: {', '.join(EXPECT_KEYS)})")
            for key in ("quantity", "value", "source"):
                if key not in item:
                    raise _err(self, line, f"expect entry lacks '{key}' (each needs quantity, "
                               "value and source)")
            q = item["quantity"]
            if q not in QUANTITIES:
                raise _err(self, item.key_line("quantity"), f"unknown quantity '{q}' "
                           f"(expected one of: {', '.join(QUANTITIES)})")
            tol = item.get("tolerance", 0)
            if isinstance(tol, str) and tol.strip().endswith("%"):
                try:
                    tol = float(tol.strip()[:-1]) / 100
                except ValueError:
                    tol = None
            elif tol == "exact":
                tol = 0.0
            if not isinstance(tol, (int, float)) or isinstance(tol, bool) or tol < 0:
                raise _err(self, item.key_line("tolerance"), f"tolerance must be 'exact', a "
                           f"relative number or a percentage like '5%', got {item['tolerance']!r}")
            status = item.get("status", "check")
            if status not in ("check", "source-disagrees"):
                raise _err(self, item.key_line("status"), "status must be 'check' or "
                           f"'source-disagrees', got {status!r}")
            overrides = item.get("set") or {}
            if not isinstance(overrides, dict):
                raise _err(self, item.key_line("set"), "'set' must be a mapping of parameters")
            inp = item.get("input")
            bound = item.get("bound", "equal")
            if bound not in ("equal", "upper", "lower"):
                raise _err(self, item.key_line("bound"), "bound must be 'upper' (the published "
                           f"value is a maximum), 'lower' or 'equal', got {bound!r}")
            value = item["value"]
            if isinstance(value, str):  # YAML 1.1 reads 120e6 as a string
                try:
                    value = float(value)
                except ValueError:
                    value = None
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float, list)):
                raise _err(self, item.key_line("value"), f"expect value must be a number or a "
                           f"[C, H, W] list, got {item['value']!r}")
            out.append(Expectation(
                quantity=q, value=value, source=str(item["source"]), line=line,
                tolerance=float(tol), overrides=dict(overrides),
                input=tuple(inp) if inp else None, scope=item.get("scope"), status=status,
                note=str(item.get("note", "")), batch=int(item.get("batch", 1)), bound=bound))
        return out

    # ------------------------------------------------------------------ parameters
    def resolve_params(self, overrides: dict | None = None) -> dict:
        params = dict(self.defaults)
        for name, value in (overrides or {}).items():
            if name not in self.defaults:
                known = ", ".join(self.defaults) or "none"
                hint = ops.closest(name, self.defaults)
                raise UsageError(f"unknown parameter '{name}'"
                                 + (f"; did you mean '{hint}'?" if hint else "")
                                 + f" (parameters of this spec: {known})", self.path,
                                 self.data.key_line("params") if "params" in self.data
                                 else self.data.line)
            value = _typed_like(self.defaults[name], value, name, self,
                                self.defaults.key_line(name) if isinstance(self.defaults, LDict)
                                else None)
            params[name] = value
        return params

    def check_requirements(self, params):
        """`require:` entries ({check: expr, message: text}) guard parameter values."""
        items = self.data.get("require") or []
        if not isinstance(items, list):
            raise _err(self, self.data.key_line("require"), "'require' must be a list of "
                       "{check: expression, message: text}")
        for k, item in enumerate(items):
            line = items.item_line(k) if isinstance(items, LList) else None
            if not isinstance(item, dict) or "check" not in item:
                raise _err(self, line, "each 'require' entry needs 'check' (an expression) and "
                           "'message'")
            try:
                ok = substitute("${" + str(item["check"]) + "}", params)
            except ExprError as exc:
                raise _err(self, line, f"require: {exc}") from None
            if not ok:
                shown = ", ".join(f"{n}={v}" for n, v in params.items())
                raise _err(self, line, f"parameters {shown} fail the check "
                           f"'{item['check']}': {item.get('message', 'not allowed')}")

    # ------------------------------------------------------------------ expansion
    def build(self, overrides: dict | None = None, input_shape=None) -> Model:
        params = self.resolve_params(overrides)
        line = self.data.key_line("input")
        if input_shape is None:
            try:
                shape = substitute(self.data["input"], params)
            except ExprError as exc:
                raise _err(self, line, f"input: {exc}") from None
        else:
            shape = list(input_shape)
        if not isinstance(shape, list) or len(shape) != 3 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
            raise _err(self, line, f"input must be [C, H, W] of positive integers, got {shape!r}")
        self.check_requirements(params)
        exp = _Expander(self, params)
        exp.run()
        return Model(self, params, tuple(shape), exp.layers, line, dict(exp.alias))


class _Expander:
    def __init__(self, spec: Spec, params: dict):
        self.spec = spec
        self.uids: dict = {}
        self.counting = True
        self.params = {**params, "auto": self.auto}
        self.layers = [Layer("input", ops.Input, {}, [], spec.data.key_line("input"))]
        self.defined = {"input": 0}       # full name -> layer index
        self.where = {"input": self.layers[0].line}
        self.alias = {}                   # block instance full name -> its output's full name
        self.group = ""

    def auto(self, prefix):
        """Keras's automatic layer names, in the order the spec creates them: conv2d, conv2d_1..."""
        prefix = str(prefix)
        n = self.uids.get(prefix, 0)
        if not self.counting:             # a skipped row's name: no layer is made
            return f"{prefix}_skipped"
        self.uids[prefix] = n + 1
        return prefix if n == 0 else f"{prefix}_{n}"

    def run(self):
        top = {"input": "input"}
        self.expand(self.spec.data["layers"], self.params, top, prefix="", default_input="input",
                    scope=(), block="", depth=0, name_prefix="")

    def full(self, prefix, name):
        return f"{prefix}{self.spec.sep}{name}" if prefix else name

    def lookup(self, ref, names, rows, k, line, layer):
        if not isinstance(ref, str):
            raise _err(self.spec, line, f"inputs must be layer names, got {ref!r}", layer)
        if ref in names:
            return names[ref]
        if ref in self.alias:
            return self.alias[ref]
        if ref in self.defined:
            return ref
        later = [r.get("name") for r in rows[k:] if isinstance(r, dict)]
        if ref in later:
            raise _err(self.spec, line, f"input '{ref}' is defined later; layers must be listed "
                       "in order, each after its inputs (a graph with a cycle cannot be)", layer)
        hint = ops.closest(ref, list(names) + list(self.defined))
        raise _err(self.spec, line, f"unknown input '{ref}'"
                   + (f"; did you mean '{hint}'?" if hint else "")
                   + " (expected the name of an earlier layer, or 'input')", layer)

    def expand(self, rows, scope_vars, names, prefix, default_input, scope, block, depth,
               name_prefix):
        """Expand rows into self.layers; return the full name of the last output. ``prefix`` is
        the enclosing block instance's path; ``name_prefix`` what layer names start with (the
        same, unless a block has prefix: false)."""
        spec = self.spec
        if depth > MAX_DEPTH:
            raise _err(spec, getattr(rows, "line", None), f"blocks nested deeper than {MAX_DEPTH}"
                       " (does a block call itself?)")
        prev = default_input
        auto_count: dict = {}
        for k, row in enumerate(rows):
            line = rows.item_line(k) if isinstance(rows, LList) else None
            if not isinstance(row, dict):
                raise _err(spec, line, f"a layer must be a mapping with 'op' or 'block', got {row!r}")
            has_op, has_block = "op" in row, "block" in row
            local = row.get("name")
            label = local if local is not None else row.get("op", row.get("block"))
            if has_op == has_block:
                raise _err(spec, line, "a layer needs exactly one of 'op' (an op from `costcalc "
                           "ops`) or 'block' (a block of this spec)", label)
            try:
                when = substitute(row.get("when", True), scope_vars)
                if local is not None:
                    self.counting = bool(when) if isinstance(when, (bool, int, float)) else True
                    local = substitute(local, scope_vars)
                    self.counting = True
                    label = local
                raw_inputs = substitute(row.get("inputs"), scope_vars)
            except ExprError as exc:
                raise _err(spec, line, str(exc), label) from None
            if raw_inputs is None:
                in_names = [prev]
            else:
                if isinstance(raw_inputs, str):
                    raw_inputs = [raw_inputs]
                if not isinstance(raw_inputs, list) or not raw_inputs:
                    raise _err(spec, row.key_line("inputs"), "inputs must be a layer name or a "
                               "non-empty list of names", label)
                in_names = [self.lookup(r, names, rows, k, row.key_line("inputs"), label)
                            for r in raw_inputs]
            if not isinstance(when, (bool, int, float)) or isinstance(when, str):
                raise _err(spec, row.key_line("when"), f"when must be true/false or an "
                           f"expression like '${{i > 1}}', got {when!r}", label)
            if not when:
                # A skipped layer passes its (first) input through: references to it still work.
                if local is not None:
                    names[str(local)] = in_names[0]
                prev = in_names[0]
                continue
            if depth == 0:
                self.group = str(local) if has_block else ""
            if has_op:
                prev = self.add_op(row, line, local, in_names, scope_vars, names, name_prefix,
                                   scope, block, auto_count)
            else:
                prev = self.add_block(row, line, local, in_names, scope_vars, names, prefix, scope,
                                      depth, name_prefix)
        return prev

    def _count(self, row, key, scope_vars, label, default=None):
        """A non-negative integer row key (repeat, start), or ``default`` when absent."""
        if key not in row:
            return default
        try:
            n = substitute(row[key], scope_vars)
        except ExprError as exc:
            raise _err(self.spec, row.key_line(key), str(exc), label) from None
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise _err(self.spec, row.key_line(key), f"{key} must be an integer >= 0, got {n!r}",
                       label)
        return n

    def add_op(self, row, line, local, in_names, scope_vars, names, prefix, scope, block,
               auto_count):
        spec = self.spec
        op_name = row["op"]
        op = ops.get_op(op_name)
        if op is None:
            hint = ops.closest(op_name, ops.op_names())
            raise _err(spec, row.key_line("op"), f"unknown op '{op_name}'"
                       + (f"; did you mean '{hint}'?" if hint else "")
                       + f" (known ops: {', '.join(ops.op_names())})", local or op_name)
        if local is None:
            n = auto_count.get(op_name, 0) + 1
            auto_count[op_name] = n
            local = op_name if n == 1 else f"{op_name}_{n}"
        label = str(local)
        for key in ("first",):
            if key in row:
                raise _err(spec, row.key_line(key), f"'{key}' is for block rows", label)
        if not (op.min_inputs() <= len(in_names) <= op.max_inputs()):
            want = (f"{op.min_inputs()}" if op.min_inputs() == op.max_inputs()
                    else f"{op.min_inputs()} to {op.max_inputs()}")
            raise _err(spec, row.key_line("inputs"), f"{op.name} takes {want} input(s), "
                       f"got {len(in_names)}", label)
        values = {}
        for key in row:
            if key in ROW_KEYS:
                continue
            at = op.attr(key)
            if at is None:
                known = ", ".join(a.name for a in op.attrs) or "none"
                hint = ops.closest(key, [a.name for a in op.attrs])
                raise _err(spec, row.key_line(key), f"{op.name} has no attribute '{key}'"
                           + (f"; did you mean '{hint}'?" if hint else "")
                           + f" (its attributes: {known})", label)
            try:
                values[key] = at.parse(substitute(row[key], scope_vars))
            except ExprError as exc:
                raise _err(spec, row.key_line(key), f"{key}: {exc}", label) from None
            except ValueError as exc:
                raise _err(spec, row.key_line(key), f"{op.name} attribute '{key}': {exc}",
                           label) from None
        for at in op.attrs:
            if at.required and at.name not in values:
                raise _err(spec, line, f"{op.name} needs attribute '{at.name}' ({at.doc})", label)
        try:
            attrs = op.normalize(values)
        except ops.AttrError as exc:
            at_line = row.key_line(exc.attr) if exc.attr in row else line
            raise _err(spec, at_line, f"{op.name} attribute '{exc.attr}': {exc}", label) from None
        trainable = row.get("trainable", True)
        try:
            trainable = substitute(trainable, scope_vars)
        except ExprError as exc:
            raise _err(spec, row.key_line("trainable"), str(exc), label) from None
        if not isinstance(trainable, bool):
            raise _err(spec, row.key_line("trainable"), f"trainable must be true or false, got "
                       f"{trainable!r}", label)
        n = self._count(row, "repeat", scope_vars, label)
        count = 1 if n is None else n
        start = self._count(row, "start", scope_vars, label, 1)
        out = in_names[0]
        for i in range(start, start + count):
            lname = str(local) if n is None else self.spec.repeat_name.format(name=local, i=i)
            full = self.full(prefix, lname)
            self.check_new(full, line)
            ins = in_names if i == start else [out]
            self.layers.append(Layer(full, op, attrs, list(ins), line, scope, block, trainable,
                                     self.group))
            self.defined[full] = len(self.layers) - 1
            self.where[full] = line
            out = full
        names[str(local)] = out
        return out

    def check_new(self, full, line):
        if full in self.defined or full in self.alias:
            first = self.where.get(full)
            raise _err(self.spec, line, f"duplicate layer name '{full}'"
                       + (f" (first defined on line {first})" if first else "")
                       + "; expected every layer name to be unique")

    def add_block(self, row, line, local, in_names, scope_vars, names, prefix, scope, depth,
                  name_prefix):
        spec = self.spec
        bname = row["block"]
        label = str(local) if local is not None else str(bname)
        if local is None:
            raise _err(spec, line, "a block row needs a 'name' (the block instance's name)", label)
        if bname not in spec.blocks:
            hint = ops.closest(bname, spec.blocks)
            raise _err(spec, row.key_line("block"), f"unknown block '{bname}'"
                       + (f"; did you mean '{hint}'?" if hint else "")
                       + f" (blocks of this spec: {', '.join(spec.blocks) or 'none'})", label)
        if len(in_names) != 1:
            raise _err(spec, row.key_line("inputs"), "a block takes exactly one input", label)
        args = {key: row[key] for key in row if key not in ROW_KEYS}
        first = row.get("first") or {}
        if not isinstance(first, dict):
            raise _err(spec, row.key_line("first"), "'first' must be a mapping of arguments for "
                       "the first repetition", label)
        n = self._count(row, "repeat", scope_vars, label)
        count = 1 if n is None else n
        start = self._count(row, "start", scope_vars, label, 1)
        out = in_names[0]
        for i in range(start, start + count):
            call = dict(args)
            this_block = bname
            if i == start:
                call.update({k: v for k, v in first.items() if k != "block"})
                this_block = first.get("block", bname)
                if this_block not in spec.blocks:
                    raise _err(spec, first.key_line("block"), f"unknown block '{this_block}'",
                               label)
            bdef = spec.blocks[this_block]
            declared = bdef.get("args") or LDict()
            for key in call:
                if key not in declared:
                    hint = ops.closest(key, declared)
                    src = first if (i == start and key in first) else row
                    raise _err(spec, src.key_line(key), f"block '{this_block}' has no argument "
                               f"'{key}'" + (f"; did you mean '{hint}'?" if hint else "")
                               + f" (its arguments: {', '.join(declared) or 'none'})", label)
            inner = dict(self.params)
            inner.update(i=i, n=count)
            for key, default in declared.items():
                if key in call:
                    try:
                        inner[key] = substitute(call[key], {**scope_vars, "i": i, "n": count})
                    except ExprError as exc:
                        src = first if (i == start and key in first) else row
                        raise _err(spec, src.key_line(key), f"{key}: {exc}", label) from None
                elif default is None:
                    raise _err(spec, line, f"block '{this_block}' needs argument '{key}'", label)
                else:
                    inner[key] = default
            lname = str(local) if n is None else spec.repeat_name.format(name=local, i=i)
            full = self.full(prefix, lname)
            self.check_new(full, line)
            inner_names = {"input": out}
            # prefix: false (Keras's auto-named conv2d_bn units): layer names keep the outer prefix
            inner_prefix = full if bdef.get("prefix", True) else name_prefix
            last = self.expand(bdef["layers"], inner, inner_names, full, out, scope + (full,),
                               this_block, depth + 1, inner_prefix)
            if "output" in bdef:
                oname = bdef["output"]
                if oname not in inner_names:
                    raise _err(spec, bdef.key_line("output"), f"block '{this_block}': output "
                               f"'{oname}' is not one of its layers")
                last = inner_names[oname]
            self.alias[full] = last
            self.where[full] = line
            out = last
        names[str(local)] = out
        return out


def load(name_or_path) -> Spec:
    path = resolve(name_or_path)
    return Spec(load_yaml_file(path), path)


def load_text(text: str, path="<spec>") -> Spec:
    return Spec(load_yaml(text, path), path)
