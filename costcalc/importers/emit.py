"""An imported model as a readable spec: YAML text, one row per layer in flow style (as
specs/*.yaml are written), and the Spec that loading it gives.

The text has a title, `source:` (file, format, producer, opset), `notes:` (what the import
chose), `input:`, a `require:` entry stating the model's input channels, and `layers:`; a row
whose name had to be changed carries the file's own name as a trailing comment. Loading the
text gives exactly the counts of the import: it is the import (``load`` is
``load_text(to_spec_text(read(path)))``, as an ImportedSpec).
"""
from __future__ import annotations

import json
import math
import os
import re
import struct

from ..spec import Spec
from ..yamlload import load_yaml

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*\Z")
# plain YAML scalars that would not read back as the same text
_YAML_WORDS = {"y", "yes", "n", "no", "true", "false", "on", "off", "null", "nan", "inf"}


def text(value: str) -> str:
    """A YAML scalar for a string: plain when it reads back as itself, else double-quoted
    (JSON's escapes are a subset of YAML's double-quoted style)."""
    if _PLAIN.match(value) and value.lower() not in _YAML_WORDS and not value.endswith(":"):
        return value
    return json.dumps(value, ensure_ascii=False)


def number(v) -> str:
    """A number as YAML that reads back as that number: floats with a dot (PyYAML reads 1e-05
    as text), float32 values at their shortest round-trip digits (9.999999747e-05 -> 0.0001)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if not math.isfinite(v):
        raise ValueError(f"not a finite number: {v!r}")
    r = repr(v)
    try:
        f32 = struct.unpack("<f", struct.pack("<f", v))[0]
    except OverflowError:
        f32 = None
    if f32 == v:                                # a float32 value: its shortest digits
        for digits in range(1, 10):
            s = f"{v:.{digits}g}"
            if struct.unpack("<f", struct.pack("<f", float(s)))[0] == v:
                r = s
                break
    if "e" in r or "E" in r:
        mant, exp = r.lower().split("e")
        if "." not in mant:
            mant += ".0"
        r = f"{mant}e{'-' if exp.startswith('-') else '+'}{exp.lstrip('+-').zfill(2)}"
    elif "." not in r and "inf" not in r and "nan" not in r:
        r += ".0"
    return r


def value(v) -> str:
    if isinstance(v, str):
        return text(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if v is None:
        return "~"
    return number(v)


def row_text(row: dict) -> str:
    parts = []
    for key, v in row.items():
        if key.startswith("_"):
            continue
        parts.append(f"{key}: {value(v)}")
    line = "  - {" + ", ".join(parts) + "}"
    original = row.get("_original")
    if original is not None:
        line += "   # " + comment(f"file: {original}")
    return line


def comment(s: str) -> str:
    """Text safe inside a YAML comment: one line, printable."""
    return "".join(c if c.isprintable() else "?" for c in str(s))


def to_spec_text(imp) -> str:
    src = imp.source
    what = ", ".join(f"{k} {v}" for k, v in src.items() if k != "file")
    out = [f"# Imported from {comment(src.get('file', '?'))} by `costcalc import` "
           f"({comment(what)}).",
           "# Loading this spec gives the counts of the model file itself; params are the",
           "# weight elements its layers use (see README \"Importing models\").",
           f"title: {text(imp.title)}",
           "kind: network",
           "source: {" + ", ".join(f"{text(str(k))}: {value(v)}" for k, v in src.items()) + "}"]
    if imp.notes:
        out.append("notes:")
        out.extend(f"  - {text(n)}" for n in imp.notes)
    c, h, w = imp.input
    out.append(f"input: [{c}, {h}, {w}]")
    out.append("require:")
    out.append(f"  - {{check: \"input.c == {c}\", message: \"the model's input has {c} "
               f"channel{'s' if c != 1 else ''}\"}}")
    out.append("layers:")
    out.extend(row_text(r) for r in imp.rows)
    return "\n".join(out) + "\n"


class ImportedSpec(Spec):
    """The Spec of an imported model file. Building it at another input (``--input``) imports
    the file again at that input (its shapes, reshape targets and resize sizes follow), so an
    imported model takes --input and sweeps as a spec does."""

    imported = None
    file = None
    dynamic_error = None

    @classmethod
    def from_file(cls, path, input_shape=None):
        from . import ImportFormatError, read
        try:
            imp = read(path, input_shape)
        except ImportFormatError as exc:
            if getattr(exc, "dynamic", False) and input_shape is None:
                # dynamic dimensions: the spec exists, and building it needs --input
                spec = cls(load_yaml(_PLACEHOLDER, path), path)
                spec.file, spec.dynamic_error = path, exc
                spec.id = os.path.basename(str(path))
                return spec
            raise
        spec = cls(load_yaml(to_spec_text(imp), path), path)
        spec.imported, spec.file = imp, path
        spec.id = os.path.basename(str(path))     # resnet.onnx: not the spec named resnet
        return spec

    def build(self, overrides=None, input_shape=None):
        if input_shape is not None:
            shape = tuple(int(v) for v in input_shape)
            if self.imported is None or shape != tuple(self.imported.input):
                other = self._at(shape)
                return Spec.build(other, overrides, None)
        elif self.dynamic_error is not None:
            raise self.dynamic_error
        return Spec.build(self, overrides, input_shape)

    def _at(self, shape):
        cache = self.__dict__.setdefault("_at_cache", {})
        if shape not in cache:
            if len(cache) > 64:
                cache.clear()
            cache[shape] = ImportedSpec.from_file(self.file, shape)
        return cache[shape]


_PLACEHOLDER = """title: "imported model (its input has dynamic dimensions: give --input CxHxW)"
input: [1, 1, 1]
layers:
  - {name: placeholder, op: linear}
"""
