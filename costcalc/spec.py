"""Declarative layer-graph specs: find, load, validate and expand them into a flat layer list.

A spec is one YAML file under ``specs/`` (see ``specs/README.md`` for the format). Loading keeps
line numbers, so every mistake is reported as ``file:line: layer 'name': what is wrong``.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import string
import sys
from pathlib import Path

import numpy as np

from . import ops
from .errors import (LIMITS, CostcalcError, SpecError, UsageError, _shown_path, raise_all,
                     shown)
from .expr import ExprError, Shape, names_used, substitute
from .yamlload import LDict, LList, load_yaml, load_yaml_file

TOP_KEYS = ("name", "title", "kind", "description", "source", "params", "derived", "require",
            "input", "naming", "blocks", "layers", "expect", "notes", "variants")
ROW_KEYS = ops.base.ROW_KEYS       # keys of a row that are not attributes
RESERVED = ("i", "n", "input", "auto", "shape")   # repetition index and count, the input, Keras
#                                                  names, a layer's shape
BLOCK_KEYS = ("args", "layers", "output", "doc", "prefix")
EXPECT_KEYS = ("quantity", "value", "source", "tolerance", "set", "input", "scope", "status",
               "note", "batch", "bound", "variant")
QUANTITIES = ("params", "trainable_params", "non_trainable_params", "weights", "macs", "flops",
              "other_ops", "activations", "peak_activations", "layers", "output_shape",
              "mac_share")
NAMING_KEYS = ("separator", "repeat")
# The limits on spec input live in errors.LIMITS (one place; specs/README.md lists them).
MAX_DEPTH = LIMITS["block_depth"]            # blocks inside blocks
MAX_LAYERS = LIMITS["layers"]                # layers of one expanded spec
MAX_STEPS = LIMITS["expansion_steps"]        # rows evaluated while expanding one spec
MAX_NAME = LIMITS["name_chars"]              # one layer or block instance name
INT64_MAX = 2 ** 63 - 1
_READS_INPUT = re.compile(r"\binput\s*\.")
_REPEAT_FIELD = re.compile(r"^(?:name|i(?::(?:0?[0-9]?d?|a|A))?)$")


def repeat_label(template, name, i):
    """naming.repeat for repetition i: ``{i:a}`` / ``{i:A}`` give a, b, ..., z, aa, ab, ...
    (EfficientNet's block2a, block2b); the other fields are str.format's."""
    if "{i:a}" not in template and "{i:A}" not in template:
        return template.format(name=name, i=i)
    if i < 1:
        raise ValueError(f"repetition {i} has no letter; {{i:a}} numbers from 1 (a) "
                         "(expected start: 1 or more)")
    letters, k = "", i
    while k:
        k, r = divmod(k - 1, 26)
        letters = chr(97 + r) + letters
    # placeholders: a template cannot hold control characters (checked at load)
    out = template.replace("{i:a}", "\0").replace("{i:A}", "\1").format(name=name, i=i)
    return out.replace("\0", letters).replace("\1", letters.upper())


def spec_dirs() -> list[Path]:
    """Where spec names are looked up: $COSTCALC_SPECS (path list), then the zoo: the source
    tree's specs/ next to the package, or in an installed wheel the package's zoo/ (setup.cfg
    maps specs/ to costcalc.zoo)."""
    dirs = [Path(p) for p in os.environ.get("COSTCALC_SPECS", "").split(os.pathsep) if p]
    here = Path(__file__).resolve().parent
    tree = here.parent / "specs"
    dirs.append(tree if tree.is_dir() else here / "zoo")
    return dirs


def available() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in spec_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.yaml")):
                found.setdefault(p.stem, p)
    return found


_VARIANT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_variant_memo: dict = {}      # (path, mtime_ns, size) -> variant names of that file


def variants() -> dict[str, Path]:
    """Named variants (``efficientnet-b3``) -> the family file that defines them. Only files with
    a top-level ``variants:`` key are parsed (so listing stays quick); a variant never hides a
    file of the same name (that is an error when the family loads)."""
    found: dict[str, Path] = {}
    files = available()
    for path in files.values():
        try:
            st = path.stat()
            key = (str(path), st.st_mtime_ns, st.st_size)
            if key not in _variant_memo:
                text = path.read_text(encoding="utf-8", errors="replace")
                names = []
                if re.search(r"^variants:", text, re.M):
                    data = load_yaml(text, path)
                    v = data.get("variants") if isinstance(data, dict) else None
                    names = [n for n in v if isinstance(n, str)] if isinstance(v, dict) else []
                _variant_memo[key] = names
        except (OSError, CostcalcError):
            continue                  # the file's own error shows when it is loaded by name
        for n in _variant_memo[key]:
            if n not in files:
                found.setdefault(n, path)
    return found


def resolve(name_or_path: str) -> Path:
    """A spec name (``resnet50``) or a path to a YAML file -> the file's path. A variant's name
    gives its family's file (see :func:`load`)."""
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
    named = variants()
    if text in named:
        return named[text]
    every = {**specs, **named}
    hint = ops.closest(text, every)
    did = f"; did you mean '{hint}'?" if hint else ""
    raise UsageError(f"unknown spec '{text}'{did} (see `costcalc list` for all "
                     f"{len(every)} specs)")


@dataclasses.dataclass(slots=True)
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
    variant: str = ""          # the named variant it holds for ("" = the family's defaults)


@dataclasses.dataclass
class Model:
    """An expanded spec: the layers in topological order, ready to compile."""
    spec: "Spec"
    params: dict
    input_shape: tuple
    layers: list
    input_line: int
    aliases: dict = dataclasses.field(default_factory=dict)   # block instance -> output layer
    reads_shapes: bool = False  # an expression read a shape: the graph depends on the input
    warnings: list = dataclasses.field(default_factory=list)  # "file:line: warning: ..." lines

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
        # layers share attribute dicts (Spec.attr_memo, across builds): encode each once; the
        # dict is kept with its fields, so an id is never reused for another dict
        encoded = self.spec.encode_memo
        for i, layer in enumerate(self.layers):
            codes[i] = layer.op.code
            hit = encoded.get(id(layer.attrs))
            if hit is None or hit[0] is not layer.attrs:
                if len(encoded) > 100_000:
                    encoded.clear()
                hit = encoded[id(layer.attrs)] = (layer.attrs, layer.op.encode(layer.attrs))
            fields = hit[1]
            attrs[i, :len(fields)] = fields
            attrs[i, FROZEN] = 0 if layer.trainable else 1
            edges.extend(index[name] for name in layer.inputs)
            in_ptr[i + 1] = len(edges)
        return Compiled(codes, attrs, in_ptr, np.array(edges, dtype=np.int64))


def _err(spec, line, msg, layer=None):
    if layer is not None and layer != "":
        msg = f"layer {shown(str(layer), 60)}: {msg}"
    if len(msg) > 500:             # a last guard: messages echo values through shown()
        msg = msg[:497] + "..."
    return SpecError(msg, spec.path, line)


def _fatal(spec, line, msg, layer=None):
    """An error that stops the expansion (a limit): not collected with the others."""
    exc = _err(spec, line, msg, layer)
    exc.fatal = True
    return exc


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _scalar_name(value, what, spec, line, layer=None):
    """A name written in the spec (op, block, layer, output): text, or an integer made text."""
    if _is_int(value):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise _err(spec, line, f"{what} must be a name (text), got {shown(value)}", layer)
    if len(value) > MAX_NAME:
        raise _err(spec, line, f"{what} {shown(value)} is {len(value):,} characters long; "
                   f"expected at most {MAX_NAME:,}", layer)
    if not value.isprintable():
        raise _err(spec, line, f"{what} {shown(value)} contains a control character; expected "
                   "printable text", layer)
    return value


def check_repeat_template(template, spec, line):
    """naming.repeat may use only {name} and {i} (optionally {i:02d}); checked at load."""
    if not isinstance(template, str) or not template:
        raise _err(spec, line, f"naming.repeat must be a text template such as "
                   f"'{{name}}_block{{i}}', got {shown(template)}")
    if len(template) > 200:
        raise _err(spec, line, f"naming.repeat is {len(template)} characters long; expected at "
                   "most 200")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise _err(spec, line, f"naming.repeat {shown(template)} is not a valid template "
                   f"({exc}); expected text with {{name}} and {{i}}") from None
    fields = set()
    for literal, field, fmt, conv in parts:
        if any(ord(c) < 32 or ord(c) == 127 for c in literal):
            raise _err(spec, line, f"naming.repeat {shown(template)} contains a control "
                       "character; expected printable text")
        if field is None:
            continue
        whole = field + (f":{fmt}" if fmt else "")
        if conv is not None or not _REPEAT_FIELD.match(whole):
            raise _err(spec, line, f"naming.repeat {shown(template)} uses "
                       f"{shown('{' + whole + ('!' + conv if conv else '') + '}')[1:-1]}; "
                       "expected only {name} and {i} (or {i:02d} for a width, {i:a} for "
                       "letters a, b, c ...)")
        fields.add(field)
    if "i" not in fields:
        raise _err(spec, line, f"naming.repeat {shown(template)} has no {{i}}; expected the "
                   "repetition number {i} in it, so that repetitions get different names")
    return template


def _typed_like(default, value, name, spec, line):
    """Check an override against the type of the parameter's default."""
    if isinstance(value, float) and not math.isfinite(value):
        raise _err(spec, line, f"parameter '{name}' expects a finite number, got {value}")
    if _is_int(value) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise _err(spec, line, f"parameter '{name}' expects a value in the signed 64-bit range, "
                   f"got {shown(value)}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _err(spec, line, f"parameter '{name}' expects true or false, got {shown(value)}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise _err(spec, line, f"parameter '{name}' expects an integer, got {shown(value)}")
        value = int(value)
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _err(spec, line, f"parameter '{name}' expects a number, got {shown(value)}")
        value = float(value)
    elif isinstance(default, str):
        if isinstance(value, (int, float)) or hasattr(value, "isoformat"):
            value = str(value)
        if not isinstance(value, str):
            raise _err(spec, line, f"parameter '{name}' expects text, got {shown(value)}")
        if len(value) > LIMITS["string_chars"]:
            raise _err(spec, line, f"parameter '{name}' is {len(value):,} characters long; "
                       f"expected at most {LIMITS['string_chars']:,}")
    return value



def _known_keys(spec, mapping, allowed, what):
    """The first key of ``mapping`` not in ``allowed``, as an error with the closest name."""
    for key in mapping:
        if key not in allowed:
            hint = ops.closest(key, allowed)
            raise _err(spec, mapping.key_line(key), f"unknown {what} {shown(key)}"
                       + (f"; did you mean '{hint}'?" if hint else "")
                       + f" (expected one of: {', '.join(allowed)})")

class Spec:
    """A loaded, validated spec file; :meth:`build` expands it for given parameters."""

    def __init__(self, data, path):
        self.attr_memo: dict = {}     # (op, parsed values) -> normalized attributes (add_op)
        self.encode_memo: dict = {}   # id(attributes) -> (attributes, engine fields) (compile)
        self.errors: list = []        # errors of independent entries, raised together at the end
        self.path = Path(path) if path else None
        self.id = self.path.stem if self.path else "<spec>"
        if not isinstance(data, LDict):
            raise SpecError("a spec must be a YAML mapping with at least 'input' and 'layers'",
                            path, getattr(data, "line", 1))
        self.data = data
        _known_keys(self, data, TOP_KEYS, "key")
        for key in ("input", "layers"):
            if key not in data:
                raise _err(self, data.line, f"missing '{key}'; a spec needs 'input' "
                           "([C, H, W]) and 'layers'")
        for key in ("title", "description"):
            if key in data and not isinstance(data[key], (str, int, float)):
                raise _err(self, data.key_line(key), f"'{key}' must be text, got "
                           f"{shown(data[key])}")
        self.title = str(data.get("title", self.id))
        self.kind = data.get("kind", "network")
        if self.kind not in ("network", "module"):
            raise _err(self, data.key_line("kind"), f"kind must be 'network' or 'module', got "
                       f"{shown(self.kind)}")
        self.description = str(data.get("description", "") or "").strip()
        self.source = data.get("source", "")
        if not isinstance(self.source, (str, dict)) or isinstance(self.source, dict) and not all(
                isinstance(v, (str, int, float)) for v in self.source.values()):
            raise _err(self, data.key_line("source"), "'source' must be text or a mapping of "
                       f"text (paper: ..., implementation: ...), got {shown(self.source)}")
        self.defaults = data.get("params") or LDict()
        if not isinstance(self.defaults, dict):
            raise _err(self, data.key_line("params"), "'params' must be a mapping name: default")
        for key, default in self.defaults.items():
            if key in RESERVED:
                raise _err(self, self.defaults.key_line(key), f"parameter name '{key}' is "
                           f"reserved ({', '.join(RESERVED)}: repetition index, count, input, "
                           "automatic names)")
            if not key.isidentifier():
                raise _err(self, self.defaults.key_line(key), f"parameter name {shown(key)} is "
                           "not a name expressions can use; expected letters, digits and _")
            if not isinstance(default, (bool, int, float, str)):
                raise _err(self, self.defaults.key_line(key), f"parameter '{key}' has the default "
                           f"{shown(default)}; expected a number, true/false or text")
            if isinstance(default, str) and len(default) > LIMITS["string_chars"]:
                raise _err(self, self.defaults.key_line(key), f"parameter '{key}' is "
                           f"{len(default):,} characters long; expected at most "
                           f"{LIMITS['string_chars']:,}")
        self.derived = data.get("derived") or LDict()
        if not isinstance(self.derived, dict):
            raise _err(self, data.key_line("derived"), "'derived' must be a mapping name: "
                       "expression (computed from the parameters, in order)")
        for key in self.derived:
            at = self.derived.key_line(key) if isinstance(self.derived, LDict) else None
            if key in RESERVED or not key.isidentifier():
                raise _err(self, at, f"derived name {shown(key)} is reserved or not a name "
                           f"expressions can use; expected letters, digits and _, not one of "
                           f"{', '.join(RESERVED)}")
            if key in self.defaults:
                raise _err(self, at, f"derived name '{key}' is also a parameter; expected a "
                           "new name (a derived value cannot be set)")
        naming = data.get("naming") or LDict()
        if not isinstance(naming, dict):
            raise _err(self, data.key_line("naming"), "'naming' must be a mapping with "
                       "separator and repeat")
        _known_keys(self, naming, NAMING_KEYS, "naming key")
        self.sep = naming.get("separator", "/")
        if not isinstance(self.sep, str) or len(self.sep) > 8 or any(
                ord(c) < 32 or ord(c) == 127 for c in self.sep):
            raise _err(self, naming.key_line("separator"), "naming.separator must be text of at "
                       f"most 8 printable characters, got {shown(self.sep)}")
        self.repeat_name = check_repeat_template(naming.get("repeat", "{name}_block{i}"), self,
                                                 naming.key_line("repeat"))
        self.blocks = data.get("blocks") or LDict()
        if not isinstance(self.blocks, dict):
            raise _err(self, data.key_line("blocks"), "'blocks' must be a mapping name: block")
        for bname, bdef in self.blocks.items():
            try:
                line = self.blocks.key_line(bname)
                if not isinstance(bdef, dict) or "layers" not in bdef:
                    raise _err(self, line, f"block {shown(bname)} must be a mapping with 'layers' "
                               "(and optional 'args', 'output')")
                for key in bdef:
                    if key not in BLOCK_KEYS:
                        hint = ops.closest(key, BLOCK_KEYS)
                        raise _err(self, bdef.key_line(key), f"block {shown(bname)}: unknown key "
                                   f"{shown(key)}" + (f"; did you mean '{hint}'?" if hint else "")
                                   + f" (expected one of: {', '.join(BLOCK_KEYS)})")
                if not isinstance(bdef["layers"], list) or not bdef["layers"]:
                    raise _err(self, bdef.key_line("layers"), f"block {shown(bname)}: 'layers' must "
                               f"be a non-empty list of layer rows, got {shown(bdef['layers'])}")
                if not isinstance(bdef.get("args") or {}, dict):
                    raise _err(self, bdef.key_line("args"), f"block {shown(bname)}: 'args' must be a "
                               "mapping name: default (~ for a required argument)")
                for key in bdef.get("args") or {}:
                    if key in RESERVED:
                        raise _err(self, bdef["args"].key_line(key), f"block {shown(bname)}: "
                                   f"argument name '{key}' is reserved ({', '.join(RESERVED)}: "
                                   "repetition index, count, input, automatic names)")
                    if not key.isidentifier():
                        raise _err(self, bdef["args"].key_line(key), f"block {shown(bname)}: "
                                   f"argument name {shown(key)} is not a name expressions can use; "
                                   "expected letters, digits and _")
                if "output" in bdef:
                    _scalar_name(bdef["output"], f"block {shown(bname)}: output", self,
                                 bdef.key_line("output"))
                if "prefix" in bdef and not isinstance(bdef["prefix"], bool):
                    raise _err(self, bdef.key_line("prefix"), f"block {shown(bname)}: prefix must "
                               f"be true or false, got {shown(bdef['prefix'])}")
            except SpecError as exc:
                self.errors.append(exc)
        if not isinstance(data["layers"], list) or not data["layers"]:
            self.errors.append(_err(self, data.key_line("layers"), "'layers' must be a non-empty "
                                    f"list of layer rows, got {shown(data['layers'])}"))
        self.variants = self._parse_variants(data.get("variants"))
        self.variant = ""
        self.expectations = self._parse_expect(data.get("expect") or [])
        raise_all(self.errors)

    # ------------------------------------------------------------------ variants
    def _parse_variants(self, raw) -> dict:
        """``variants: {name: {param: value, ..., title: text}}``: the names users type for a
        family's settings (EfficientNet B0-B7), each checked like a `--set`."""
        if raw is None:
            return {}
        at = self.data.key_line("variants")
        if not isinstance(raw, dict) or not raw:
            raise _err(self, at, "'variants' must be a mapping name: {parameter: value, ...}, "
                       f"got {shown(raw)}")
        out = {}
        for name, values in raw.items():
            try:
                line = raw.key_line(name) if isinstance(raw, LDict) else at
                if not isinstance(name, str) or not _VARIANT_NAME.match(name):
                    raise _err(self, line, f"variant name {shown(name)} is not a spec name; expected "
                               "lower-case letters, digits, '.', '-' and '_' (at most 64)")
                if self.path is not None and name != self.path.stem and name in available() and \
                        available()[name] != self.path:
                    raise _err(self, line, f"variant '{name}' has the name of the spec file "
                               f"{available()[name]}; expected a name no file has")
                if not isinstance(values, dict):
                    raise _err(self, line, f"variant '{name}' must be a mapping of parameter values "
                               f"(and an optional title), got {shown(values)}")
                checked, title = {}, None
                for key, v in values.items():
                    kl = values.key_line(key) if isinstance(values, LDict) else line
                    if key == "title" and key not in self.defaults:
                        if not isinstance(v, str):
                            raise _err(self, kl, f"variant '{name}': title must be text, got "
                                       f"{shown(v)}")
                        title = v
                        continue
                    if key not in self.defaults:
                        hint = ops.closest(key, self.defaults)
                        raise _err(self, kl, f"variant '{name}': unknown parameter {shown(key)}"
                                   + (f"; did you mean '{hint}'?" if hint else "")
                                   + f" (parameters of this spec: {', '.join(self.defaults) or 'none'})")
                    checked[key] = _typed_like(self.defaults[key], v, key, self, kl)
                out[name] = (checked, title, line)
            except SpecError as exc:
                self.errors.append(exc)
        return out

    def use_variant(self, name: str) -> None:
        """Make this spec the named variant: its values become the defaults, its name the id."""
        values, title, _ = self.variants[name]
        merged = LDict({**self.defaults, **values})
        merged.line = getattr(self.defaults, "line", 0)
        merged.key_lines = getattr(self.defaults, "key_lines", {})
        self.defaults = merged
        self.variant = self.id = name
        self.title = title or f"{self.title} ({name})"
        self.expectations = [e for e in self.expectations if e.variant == name]

    # ------------------------------------------------------------------ expectations
    def _parse_expect(self, items):
        if not isinstance(items, list):
            raise _err(self, self.data.key_line("expect"), "'expect' must be a list")
        out = []
        for k, item in enumerate(items):
            try:
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
                if not isinstance(q, str) or q not in QUANTITIES:
                    raise _err(self, item.key_line("quantity"), f"unknown quantity {shown(q)} "
                               f"(expected one of: {', '.join(QUANTITIES)})")
                tol = item.get("tolerance", 0)
                if isinstance(tol, str) and tol.strip().endswith("%"):
                    try:
                        tol = float(tol.strip()[:-1]) / 100
                    except ValueError:
                        tol = None
                elif tol == "exact":
                    tol = 0.0
                if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not (
                        math.isfinite(tol) and tol >= 0):
                    raise _err(self, item.key_line("tolerance"), f"tolerance must be 'exact', a "
                               f"relative number or a percentage like '5%', got "
                               f"{shown(item['tolerance'])}")
                status = item.get("status", "check")
                if status not in ("check", "source-disagrees"):
                    raise _err(self, item.key_line("status"), "status must be 'check' or "
                               f"'source-disagrees', got {shown(status)}")
                overrides = item.get("set") or LDict()
                if not isinstance(overrides, dict):
                    raise _err(self, item.key_line("set"), "'set' must be a mapping of parameters, "
                               f"got {shown(overrides)}")
                variant = item.get("variant", "")
                if variant and (not isinstance(variant, str) or variant not in self.variants):
                    raise _err(self, item.key_line("variant"), f"expect: unknown variant "
                               f"{shown(variant)} (variants of this spec: "
                               f"{', '.join(self.variants) or 'none'})")
                checked = dict(self.variants[variant][0]) if variant else {}
                for name, v in overrides.items():
                    at = overrides.key_line(name) if isinstance(overrides, LDict) else line
                    if name not in self.defaults:
                        hint = ops.closest(name, self.defaults)
                        raise _err(self, at, f"expect: unknown parameter {shown(name)}"
                                   + (f"; did you mean '{hint}'?" if hint else "")
                                   + f" (parameters of this spec: {', '.join(self.defaults) or 'none'})")
                    checked[name] = _typed_like(self.defaults[name], v, name, self, at)
                inp = item.get("input")
                if inp is not None and not (isinstance(inp, list) and len(inp) == 3 and all(
                        _is_int(v) and v > 0 for v in inp)):
                    raise _err(self, item.key_line("input"), "expect input must be [C, H, W] of "
                               f"positive integers, got {shown(inp)}")
                scope = item.get("scope")
                if scope is not None:
                    scope = _scalar_name(scope, "expect scope", self, item.key_line("scope"))
                batch = item.get("batch", 1)
                if not _is_int(batch) or batch < 1:
                    raise _err(self, item.key_line("batch"), "expect batch must be a positive "
                               f"integer, got {shown(batch)}")
                for key in ("note", "source"):
                    if key in item and not isinstance(item[key], (str, int, float)):
                        raise _err(self, item.key_line(key), f"expect {key} must be text, got "
                                   f"{shown(item[key])}")
                bound = item.get("bound", "equal")
                if bound not in ("equal", "upper", "lower"):
                    raise _err(self, item.key_line("bound"), "bound must be 'upper' (the published "
                               f"value is a maximum), 'lower' or 'equal', got {shown(bound)}")
                value = item["value"]
                if isinstance(value, str):  # YAML 1.1 reads 120e6 as a string
                    try:
                        value = float(value) if len(value) < 40 else None
                    except ValueError:
                        value = None
                if isinstance(value, float) and not math.isfinite(value):
                    value = None
                if isinstance(value, list) and not (len(value) == 3 and all(
                        _is_int(v) and v > 0 for v in value)):
                    value = None
                if value is None or isinstance(value, bool) or not isinstance(value, (int, float, list)):
                    raise _err(self, item.key_line("value"), f"expect value must be a finite number "
                               f"or a [C, H, W] list, got {shown(item['value'])}")
                if q == "output_shape" and not isinstance(value, list):
                    raise _err(self, item.key_line("value"), "an output_shape value must be a "
                               f"[C, H, W] list, got {shown(item['value'])}")
                if q != "output_shape" and isinstance(value, list):
                    raise _err(self, item.key_line("value"), f"a {q} value must be a number, got "
                               f"{shown(item['value'])}")
                out.append(Expectation(
                    quantity=q, value=value, source=str(item["source"]), line=line,
                    tolerance=float(tol), overrides=checked,
                    input=tuple(inp) if inp else None, scope=scope, status=status,
                    note=str(item.get("note", "")), batch=batch, bound=bound, variant=variant))
            except SpecError as exc:
                self.errors.append(exc)
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

    def check_requirements(self, params, shape=None):
        """`require:` entries ({check: expr, message: text}) guard parameter values and the
        network input (``input.h``); with no ``shape`` the checks that read it wait for one."""
        items = self.data.get("require") or []
        if not isinstance(items, list):
            raise _err(self, self.data.key_line("require"), "'require' must be a list of "
                       "{check: expression, message: text}")
        for k, item in enumerate(items):
            line = items.item_line(k) if isinstance(items, LList) else None
            if not isinstance(item, dict) or "check" not in item:
                raise _err(self, line, "each 'require' entry needs 'check' (an expression) and "
                           "'message'")
            check = item["check"]
            if isinstance(check, bool) or not isinstance(check, str):
                raise _err(self, line, f"require check must be an expression (text), got "
                           f"{shown(check)}")
            if shape is None and _READS_INPUT.search(check):
                continue
            scope = params if shape is None else {
                **params, "input": Shape(lambda: tuple(shape), "input")}
            try:
                ok = substitute("${" + check + "}", scope)
            except ExprError as exc:
                raise _err(self, line, f"require: {exc}") from None
            if not ok:
                values = ", ".join(f"{n}={shown(v, 30)}" for n, v in params.items())
                if shape is not None and _READS_INPUT.search(check):
                    values = f"input {'x'.join(map(str, shape))}, " + values
                message = shown(str(item.get("message", "not allowed")), 200)[1:-1]
                raise _err(self, line, f"parameters {values} fail the check "
                           f"{shown(check)}: {message}")

    def param_uses(self) -> set:
        """Names read by expressions anywhere but `input:` (layers, blocks, derived, require)."""
        if not hasattr(self, "_uses"):
            checks = [f"${{{item['check']}}}" for item in self.data.get("require") or []
                      if isinstance(item, dict) and isinstance(item.get("check"), str)]
            self._uses = names_used([self.data.get(k) for k in
                                     ("derived", "blocks", "layers", "naming")] + checks)
        return self._uses

    def input_bound_reads(self) -> bool:
        """Whether a parameter `input:` names (``$resolution``) is also read elsewhere, so each
        input of a sweep is a different network."""
        entries = self.data["input"] if isinstance(self.data["input"], list) else []
        named = set().union(*(names_used(e) for e in entries)) if entries else set()
        return bool(named & set(self.defaults) & self.param_uses())

    def bind_input(self, params: dict, shape: list, overrides: dict) -> dict:
        """``--input`` and the parameters must describe one network: an `input:` entry that is a
        parameter (``$resolution``) takes its value from the given input (so `--input 3x225x225`
        is `--set resolution=225`); a parameter the layers read that the input cannot set (a
        non-square input for one `resolution`, an entry computed from parameters) is refused."""
        entries = self.data["input"]
        if not isinstance(entries, list) or len(entries) != 3:
            return params
        line = self.data.key_line("input")
        bound: dict = {}
        for axis, entry, value in zip("CHW", entries, shape):
            m = re.match(r"^\$(?:([A-Za-z_]\w*)|\{\s*([A-Za-z_]\w*)\s*\})$", entry.strip()) \
                if isinstance(entry, str) else None
            name = m and (m.group(1) or m.group(2))
            if name in params and not isinstance(params[name], bool) and isinstance(
                    params[name], int):
                bound.setdefault(name, []).append((axis, value))
            elif isinstance(entry, str) and "$" in entry:
                try:
                    spec_value = substitute(entry, params)
                except ExprError:
                    continue
                read = names_used(entry) & set(params) & self.param_uses()
                if spec_value != value and read:
                    raise UsageError(
                        f"the input's {axis} is computed from {', '.join(sorted(read))} "
                        f"(input: {shown(entry)} = {shown(spec_value)}), which the layers also "
                        f"read, so --input with {axis}={value} would disagree with them; "
                        f"expected --set {sorted(read)[0]}=... instead", self.path, line)
        params = dict(params)
        for name, axes in bound.items():
            values = {v for _, v in axes}
            if len(values) == 1:
                (value,) = values
                if name in overrides and params[name] != value:
                    raise UsageError(
                        f"--input gives {name}={value} (input: {shown(entries)}) but --set "
                        f"{name}={params[name]}; expected one of them, or both the same",
                        self.path, line)
                params[name] = value
            elif name in self.param_uses():
                raise UsageError(
                    f"--input {'x'.join(map(str, shape))} gives {name} two values "
                    f"({', '.join(f'{a}={v}' for a, v in axes)}), and the layers read {name}; "
                    f"expected a square input", self.path, line)
        return params

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
            params = self.bind_input(params, shape, overrides or {})
        if not isinstance(shape, list) or len(shape) != 3 or not all(
                _is_int(v) and 0 < v <= INT64_MAX for v in shape):
            raise _err(self, line, "input must be [C, H, W] of positive integers below 2^63, "
                       f"got {shown(shape)}")
        self.check_requirements(params, tuple(shape))
        exp = _Expander(self, params, tuple(shape))
        exp.run()
        model = Model(self, params, tuple(shape), exp.layers, line, dict(exp.alias),
                      exp.reads_shapes, exp.unused())
        for text in model.warnings:          # once per process: verify builds a spec often
            if text not in _WARNED:
                _WARNED.add(text)
                print(text, file=sys.stderr)
        return model


_WARNED: set = set()


class _Expander:
    def __init__(self, spec: Spec, params: dict, input_shape=(1, 1, 1)):
        self.spec = spec
        self.shapes = {0: tuple(input_shape)}   # layer index -> (C, H, W), computed on demand
        self.reads_shapes = False
        self.uids: dict = {}
        self.counting = True
        self.params = {**params, "auto": self.auto}
        self.layers = [Layer("input", ops.Input, {}, [], spec.data.key_line("input"))]
        self.defined = {"input": 0}       # full name -> layer index
        self.where = {"input": self.layers[0].line}
        self.alias = {}                   # block instance full name -> its output's full name
        self.group = ""
        self.steps = 0                    # rows evaluated (MAX_STEPS)
        self.errors: list = []            # row errors, raised together after the expansion
        self.bounds: dict = {}            # block name -> (at least this many layers, steps)

    def auto(self, prefix):
        """Keras's automatic layer names, in the order the spec creates them: conv2d, conv2d_1..."""
        if not isinstance(prefix, str) or not prefix or len(prefix) > MAX_NAME:
            raise ExprError(f"auto() takes a layer name prefix (text of at most {MAX_NAME} "
                            f"characters), got {shown(prefix)}")
        n = self.uids.get(prefix, 0)
        if not self.counting:             # a skipped row's name: no layer is made
            return f"{prefix}_skipped"
        self.uids[prefix] = n + 1
        return prefix if n == 0 else f"{prefix}_{n}"

    def run(self):
        top = {"input": "input"}
        derived = self.spec.derived
        scope = self.with_shapes(self.params, top, "input")
        for key, value in derived.items():
            at = derived.key_line(key) if isinstance(derived, LDict) else None
            try:
                value = substitute(value, scope)
            except ExprError as exc:
                raise _err(self.spec, at, f"derived '{key}': {exc}") from None
            if not isinstance(value, (bool, int, float, str)):
                raise _err(self.spec, at, f"derived '{key}' is {shown(value)}; expected a "
                           "number, true/false or text")
            self.params[key] = scope[key] = value
        self.expand(self.spec.data["layers"], self.params, top, prefix="", default_input="input",
                    scope=(), block="", depth=0, name_prefix="")
        raise_all(self.errors)

    # ------------------------------------------------------------------ shapes
    def with_shapes(self, scope_vars, names, block_input):
        """The scope plus ``input`` (the block's input shape) and ``shape('name')``."""
        return {**scope_vars, "input": Shape(lambda: self.shape_of(block_input), "input"),
                "shape": self.shape_function(names)}

    def shape_function(self, names):
        def shape(ref):
            if not isinstance(ref, str):
                raise ExprError(f"shape() takes a layer name (text), got {shown(ref)}")
            try:
                full = self.lookup(ref, names, [], 0, None, None)
            except SpecError as exc:
                raise ExprError(f"shape({shown(ref)}): {exc.message}") from None
            return Shape(lambda: self.shape_of(full), f"shape({shown(ref)})")
        return shape

    def shape_of(self, full):
        """(C, H, W) of an expanded layer, by the ops' shape rules (engine.evaluate_layer) on
        the shapes of its inputs, computed once and only when an expression reads it."""
        from .engine import evaluate_layer
        self.reads_shapes = True
        stack = [self.defined[full]]
        while stack:
            j = stack[-1]
            if j in self.shapes:
                stack.pop()
                continue
            layer = self.layers[j]
            ins = [self.defined[name] for name in layer.inputs]
            missing = [k for k in ins if k not in self.shapes]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            in_shapes = [self.shapes[k] for k in ins]
            err, out, _ = evaluate_layer(layer.op, layer.attrs, in_shapes)
            if out is None:
                text = ("a size leaves the int64 range" if err == ops.OVERFLOW
                        else ops.explain(err, layer.op, layer.attrs, in_shapes))
                raise SpecError(f"layer '{layer.name}' ({layer.op.name}): {text}",
                                self.spec.path, layer.line)
            self.shapes[j] = out
        return self.shapes[self.defined[full]]

    def unused(self):
        """A warning for each layer whose output no layer reads (the last is the output)."""
        used = {name for layer in self.layers for name in layer.inputs}
        unused = [layer for layer in self.layers[1:-1] if layer.name not in used]
        if not unused:
            return []
        where = _shown_path(self.spec.path)
        return [f"{where}:{layer.line}: warning: layer '{layer.name}' ({layer.op.name}): its "
                "output is not used by any layer; expected every layer but the last (the "
                "network's output) to feed another" for layer in unused]

    def full(self, prefix, name, line=None):
        out = f"{prefix}{self.spec.sep}{name}" if prefix else name
        if len(out) > MAX_NAME:
            raise _err(self.spec, line, f"layer name {shown(out)} is {len(out):,} characters "
                       f"long; expected at most {MAX_NAME:,}")
        return out

    def lower_bound(self, bname, visiting=()):
        """(layers, rows) one instance of block ``bname`` makes at least, from its literal
        repeat counts (rows with when: or repeat: $expr count as making none): lets a repeat be
        refused before it is expanded."""
        if bname in self.bounds:
            return self.bounds[bname]
        bdef = self.spec.blocks.get(bname)
        layers = steps = 0
        cap = MAX_LAYERS + MAX_STEPS + 1
        for row in (bdef.get("layers") if isinstance(bdef, dict) else None) or []:
            steps += 1
            if not isinstance(row, dict) or row.get("when", True) is not True:
                continue
            rep = row.get("repeat")
            count = 1 if rep is None else (rep if _is_int(rep) and rep > 0 else 0)
            if "op" in row:
                layers += count
            elif isinstance(row.get("block"), str) and row["block"] not in visiting + (bname,):
                first = row.get("first")
                if isinstance(first, dict) and "block" in first:
                    count = max(count - 1, 0)
                inner = self.lower_bound(row["block"], visiting + (bname,))
                layers += count * inner[0]
                steps += count * inner[1]
            layers, steps = min(layers, cap), min(steps, cap)
        self.bounds[bname] = (layers, steps)
        return layers, steps

    def check_room(self, count, per_layers, per_steps, line, label, what):
        """Refuse before expanding: ``count`` repetitions of ``per_layers`` layers each."""
        if count > MAX_LAYERS:
            raise _fatal(self.spec, line, f"repeat {count:,} is more than the limit of "
                       f"{MAX_LAYERS:,} layers per spec; expected a smaller repeat", label)
        total = len(self.layers) + count * per_layers
        if total > MAX_LAYERS:
            raise _fatal(self.spec, line, f"{count:,} more repetitions of {what} ({per_layers:,} "
                       f"layer(s) each) would make over {MAX_LAYERS:,} layers, the limit per "
                       "spec; expected a smaller network", label)
        if self.steps + count * per_steps > MAX_STEPS:
            raise _fatal(self.spec, line, f"repeat {count:,} of {what} evaluates over "
                       f"{MAX_STEPS:,} rows, the limit per spec; expected a smaller network",
                       label)

    def lookup(self, ref, names, rows, k, line, layer):
        if not isinstance(ref, str):
            raise _err(self.spec, line, f"inputs must be layer names, got {shown(ref)}", layer)
        if ref in names:
            return names[ref]
        if ref in self.alias:
            return self.alias[ref]
        if ref in self.defined:
            return ref
        later = [r.get("name") for r in rows[k:] if isinstance(r, dict)
                 and isinstance(r.get("name"), str)]
        if ref in later:
            raise _err(self.spec, line, f"input {shown(ref)} is defined later; layers must be listed "
                       "in order, each after its inputs (a graph with a cycle cannot be)", layer)
        hint = ops.closest(ref, list(names) + list(self.defined))
        raise _err(self.spec, line, f"unknown input {shown(ref)}"
                   + (f"; did you mean '{hint}'?" if hint else "")
                   + " (expected the name of an earlier layer, or 'input')", layer)

    def expand(self, rows, scope_vars, names, prefix, default_input, scope, block, depth,
               name_prefix):
        """Expand rows into self.layers; return the full name of the last output. ``prefix`` is
        the enclosing block instance's path; ``name_prefix`` what layer names start with (the
        same, unless a block has prefix: false)."""
        spec = self.spec
        if depth > MAX_DEPTH:
            raise _fatal(spec, getattr(rows, "line", None), f"blocks nested deeper than {MAX_DEPTH}"
                       " (does a block call itself?)")
        if not isinstance(rows, list) or not rows:
            raise _err(spec, getattr(rows, "line", None), "'layers' must be a non-empty list of "
                       f"layer rows, got {shown(rows)}")
        prev = default_input
        auto_count: dict = {}
        scope_vars = self.with_shapes(scope_vars, names, default_input)
        for k, row in enumerate(rows):
            line = rows.item_line(k) if isinstance(rows, LList) else None
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise _fatal(spec, line, f"expanding the spec evaluates over {MAX_STEPS:,} rows, the "
                           "limit per spec; expected a smaller network")
            if not isinstance(row, dict):
                self.errors.append(_err(spec, line, "a layer must be a mapping with 'op' or "
                                        f"'block', got {shown(row)}"))
                continue
            try:
                has_op, has_block = "op" in row, "block" in row
                local = row.get("name")
                label = local if local is not None else row.get("op", row.get("block"))
                if not isinstance(label, (str, int)) or isinstance(label, bool):
                    label = None
                if has_op == has_block:
                    raise _err(spec, line, "a layer needs exactly one of 'op' (an op from `costcalc "
                               "ops`) or 'block' (a block of this spec)", label)
                try:
                    when = substitute(row.get("when", True), scope_vars)
                    if local is not None:
                        self.counting = bool(when) if isinstance(when, (bool, int, float)) else True
                        local = substitute(local, scope_vars)
                        self.counting = True
                        local = _scalar_name(local, "a layer name", spec, row.key_line("name"))
                        label = local
                    raw_inputs = substitute(row.get("inputs"), scope_vars)
                except ExprError as exc:
                    raise _err(spec, line, str(exc), label) from None
                finally:
                    self.counting = True
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
                               f"expression like '${{i > 1}}', got {shown(when)}", label)
                # A skipped layer passes its first input (or the one `pass:` names) through:
                # references to it still work. `pass:` is checked on every row, skipped or not.
                through = in_names[0]
                if "pass" in row:
                    at = row.key_line("pass")
                    try:
                        ref = substitute(row["pass"], scope_vars)
                    except ExprError as exc:
                        raise _err(spec, at, f"pass: {exc}", label) from None
                    through = self.lookup(ref, names, rows, k, at, label)
                    if through not in in_names:
                        written = ", ".join(map(str, raw_inputs or [prev]))
                        raise _err(spec, at, f"pass: {shown(ref)} is not one of the row's "
                                   f"inputs (expected one of: {shown(written, 200)[1:-1]})", label)
                if not when:
                    if local is not None:
                        names[str(local)] = through
                    prev = through
                    continue
                if depth == 0:
                    self.group = str(local) if has_block else ""
                if has_op:
                    prev = self.add_op(row, line, local, in_names, scope_vars, names, name_prefix,
                                       scope, block, auto_count)
                else:
                    prev = self.add_block(row, line, local, in_names, scope_vars, names, prefix, scope,
                                          depth, name_prefix)
            except SpecError as exc:
                if getattr(exc, "fatal", False):
                    raise
                # collected: the row passes its input through so later rows still connect
                self.errors.append(exc)
                if isinstance(local, (str, int)) and not isinstance(local, bool) and \
                        "$" not in str(local):
                    names.setdefault(str(local), prev)
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
            raise _err(self.spec, row.key_line(key), f"{key} must be an integer >= 0, got "
                       f"{shown(n)}", label)
        return n

    def add_op(self, row, line, local, in_names, scope_vars, names, prefix, scope, block,
               auto_count):
        spec = self.spec
        op_name = _scalar_name(row["op"], "op", spec, row.key_line("op"), local)
        op = ops.get_op(op_name)
        if op is None:
            hint = ops.closest(op_name, ops.op_names())
            raise _err(spec, row.key_line("op"), f"unknown op {shown(op_name)}"
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
            value = None
            try:
                value = substitute(row[key], scope_vars)
                values[key] = at.parse(value)
            except ExprError as exc:
                raise _err(spec, row.key_line(key), f"{key}: {exc}", label) from None
            except (ValueError, TypeError, OverflowError) as exc:
                msg = str(exc)
                if len(msg) > 200:      # the op's message echoes the whole value
                    msg = msg.replace(repr(value), shown(value))[:300]
                raise _err(spec, row.key_line(key), f"{op.name} attribute '{key}': {msg}",
                           label) from None
        # Rows repeated with the same values (blocks, repeats, the points of a sweep) share one
        # normalized attribute dict: it is only read after this.
        memo_key = (op, tuple(sorted(values.items())))
        try:
            attrs = spec.attr_memo.get(memo_key)
        except TypeError:               # an unhashable value: no sharing
            memo_key, attrs = None, None
        if attrs is None:
            attrs = self._normalized(op, values, row, line, label)
            if memo_key is not None and len(spec.attr_memo) < 4096:
                spec.attr_memo[memo_key] = attrs
        trainable = row.get("trainable", True)
        try:
            trainable = substitute(trainable, scope_vars)
        except ExprError as exc:
            raise _err(spec, row.key_line("trainable"), str(exc), label) from None
        if not isinstance(trainable, bool):
            raise _err(spec, row.key_line("trainable"), f"trainable must be true or false, got "
                       f"{shown(trainable)}", label)
        return self._append_op(row, line, local, label, op, attrs, trainable, in_names,
                               scope_vars, names, prefix, scope, block)

    def _normalized(self, op, values, row, line, label):
        spec = self.spec
        for at in op.attrs:
            if at.required and at.name not in values:
                raise _err(spec, line, f"{op.name} needs attribute '{at.name}' ({at.doc})", label)
        try:
            return op.normalize(values)
        except ops.AttrError as exc:
            at_line = row.key_line(exc.attr) if exc.attr in row else line
            raise _err(spec, at_line, f"{op.name} attribute '{exc.attr}': "
                       f"{shown(str(exc), 300)[1:-1]}", label) from None

    def _append_op(self, row, line, local, label, op, attrs, trainable, in_names, scope_vars,
                   names, prefix, scope, block):
        n = self._count(row, "repeat", scope_vars, label)
        count = 1 if n is None else n
        start = self._count(row, "start", scope_vars, label, 1)
        self.check_room(count, 1, 0, row.key_line("repeat") if n is not None else line, label,
                        f"op {op.name}")
        out = in_names[0]
        for i in range(start, start + count):
            lname = str(local) if n is None else self.repeat_label(local, i, line, label)
            full = self.full(prefix, lname, line)
            self.check_new(full, line)
            ins = in_names if i == start else [out]
            self.layers.append(Layer(full, op, attrs, list(ins), line, scope, block, trainable,
                                     self.group))
            self.defined[full] = len(self.layers) - 1
            self.where[full] = line
            out = full
        names[str(local)] = out
        return out

    def repeat_label(self, local, i, line, label):
        try:
            return repeat_label(self.spec.repeat_name, local, i)
        except ValueError as exc:
            raise _err(self.spec, line, f"naming.repeat: {exc}", label) from None

    def check_new(self, full, line):
        if full in self.defined or full in self.alias:
            first = self.where.get(full)
            raise _err(self.spec, line, f"duplicate layer name '{full}'"
                       + (f" (first defined on line {first})" if first else "")
                       + "; expected every layer name to be unique")

    def add_block(self, row, line, local, in_names, scope_vars, names, prefix, scope, depth,
                  name_prefix):
        spec = self.spec
        bname = _scalar_name(row["block"], "block", spec, row.key_line("block"), local)
        label = str(local) if local is not None else str(bname)
        if local is None:
            raise _err(spec, line, "a block row needs a 'name' (the block instance's name)", label)
        if bname not in spec.blocks:
            hint = ops.closest(bname, spec.blocks)
            raise _err(spec, row.key_line("block"), f"unknown block {shown(bname)}"
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
        at = row.key_line("repeat") if n is not None else line
        per_layers, per_steps = self.lower_bound(bname)
        self.check_room(count, per_layers, per_steps, at, label, f"block {shown(bname)}")
        out = in_names[0]
        for i in range(start, start + count):
            call = dict(args)
            this_block = bname
            if i == start:
                call.update({k: v for k, v in first.items() if k != "block"})
                this_block = first.get("block", bname)
                fline = first.key_line("block") if isinstance(first, LDict) else line
                this_block = _scalar_name(this_block, "first: block", spec, fline, label)
                if this_block not in spec.blocks:
                    raise _err(spec, fline, f"unknown block {shown(this_block)} (blocks of this "
                               f"spec: {', '.join(spec.blocks) or 'none'})", label)
            elif i == start + 2:
                # the second repetition (a regular one) shows what one makes: refuse the rest
                # before expanding them
                made, stepped = len(self.layers) - layers_before, self.steps - steps_before
                self.check_room(count - 2, made, stepped, at, label, f"block {shown(bname)}")
            if i == start + 1:
                layers_before, steps_before = len(self.layers), self.steps
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
                elif isinstance(default, (str, list)):
                    # a default may be an expression over the parameters, i, n, the earlier
                    # arguments and this instance's input (input.c)
                    try:
                        inner[key] = substitute(default, self.with_shapes(inner, names, out))
                    except ExprError as exc:
                        raise _err(spec, declared.key_line(key), f"block '{this_block}': "
                                   f"argument '{key}': {exc}", label) from None
                else:
                    inner[key] = default
            lname = str(local) if n is None else self.repeat_label(local, i, line, label)
            full = self.full(prefix, lname, line)
            self.check_new(full, line)
            inner_names = {"input": out}
            # prefix: false (Keras's auto-named conv2d_bn units): layer names take no prefix,
            # neither this instance's nor an enclosing block's
            inner_prefix = full if bdef.get("prefix", True) else ""
            last = self.expand(bdef["layers"], inner, inner_names, full, out, scope + (full,),
                               this_block, depth + 1, inner_prefix)
            if "output" in bdef:
                try:                 # the output may be an expression over the arguments
                    oname = substitute(bdef["output"], self.with_shapes(inner, inner_names, out))
                except ExprError as exc:
                    raise _err(spec, bdef.key_line("output"), f"block '{this_block}': output: "
                               f"{exc}", label) from None
                oname = _scalar_name(oname, f"block '{this_block}': output", spec,
                                     bdef.key_line("output"), label)
                if oname not in inner_names:
                    raise _err(spec, bdef.key_line("output"), f"block '{this_block}': output "
                               f"{shown(oname)} is not one of its layers (expected one of: "
                               f"{shown(', '.join(map(str, inner_names)), 200)[1:-1]})")
                last = inner_names[oname]
            self.alias[full] = last
            self.where[full] = line
            out = last
        names[str(local)] = out
        return out


def load(name_or_path) -> Spec:
    """A spec by name or path; a variant's name gives its family with the variant's values as
    the defaults (``--set`` still overrides them)."""
    path = resolve(name_or_path)
    spec = Spec(load_yaml_file(path), path)
    text = str(name_or_path)
    if text != path.stem and text in spec.variants:
        spec.use_variant(text)
    return spec


def load_text(text: str, path="<spec>") -> Spec:
    return Spec(load_yaml(text, path), path)
