"""Safe YAML loading that keeps line numbers and refuses duplicate keys.

Mappings come back as :class:`LDict` (a dict with ``.line`` and ``.key_line(key)``) and sequences as
:class:`LList` (``.line`` and ``.item_line(i)``), so every later error can say ``file:line``.
Only plain data is built (``yaml.SafeLoader``): no object construction. Hostile input is bounded
(``errors.LIMITS``): file size, nesting depth, alias uses and the values aliases copy; integers
must fit in int64, floats must be finite; dates stay the text they were written as.
"""
from __future__ import annotations

import math

import yaml

from .errors import LIMITS, SpecError, shown

INT64_MAX = 2 ** 63 - 1


class LDict(dict):
    line: int = 0
    key_lines: dict

    def key_line(self, key) -> int:
        try:
            return self.key_lines.get(key, self.line)
        except (TypeError, AttributeError):
            return self.line


class LList(list):
    line: int = 0
    item_lines: list

    def item_line(self, i: int) -> int:
        try:
            return self.item_lines[i]
        except (IndexError, AttributeError):
            return self.line


class _Loader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self.depth = 0
        self.alias_uses = 0
        self.alias_nodes = 0
        self.sizes: dict = {}          # id(node) -> (values when expanded, nesting depth)

    def _fail(self, msg, mark):
        raise SpecError(msg, self.name, mark.line + 1 if mark else None)

    def _size(self, node, mark):
        """(values, depth) of ``node`` with its aliases expanded, memoized per node."""
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if node.end_mark is None:        # still being composed: an alias inside its own anchor
            self._fail("an alias refers to the anchor it is inside (a recursive structure); "
                       "expected an alias of a finished value", mark)
        if isinstance(node, yaml.ScalarNode):
            out = (1, 1)
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else [
                n for pair in node.value for n in pair]
            total, depth = 1, 0
            for child in children:
                n, d = self._size(child, mark)
                total, depth = total + n, max(depth, d)
            out = (total, depth + 1)
        self.sizes[key] = out
        return out

    def compose_node(self, parent, index):
        event = self.peek_event()
        self.depth += 1
        try:
            if self.depth > LIMITS["yaml_depth"]:
                self._fail(f"YAML nested deeper than {LIMITS['yaml_depth']} levels; expected a "
                           "spec of mappings and lists a few levels deep", event.start_mark)
            if isinstance(event, yaml.AliasEvent):
                self.alias_uses += 1
                if self.alias_uses > LIMITS["yaml_aliases"]:
                    self._fail(f"more than {LIMITS['yaml_aliases']} YAML aliases (*name); "
                               "expected at most that many", event.start_mark)
                target = self.anchors.get(event.anchor)
                if target is not None:
                    size, depth = self._size(target, event.start_mark)
                    self.alias_nodes += size
                    if self.alias_nodes > LIMITS["yaml_alias_nodes"]:
                        self._fail(f"YAML aliases expand to more than "
                                   f"{LIMITS['yaml_alias_nodes']:,} values (an alias bomb?); "
                                   "expected aliases of small values", event.start_mark)
                    if self.depth + depth - 1 > LIMITS["yaml_depth"]:
                        self._fail(f"YAML nested deeper than {LIMITS['yaml_depth']} levels once "
                                   f"alias *{shown(event.anchor)[1:-1]} is expanded; expected a "
                                   "spec a few levels deep", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _line(node):
    return node.start_mark.line + 1


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    out = LDict()
    out.line = _line(node)
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            hint = (" (YAML reads yes/no/on/off/true/false as booleans: quote the key)"
                    if isinstance(key, bool) else "")
            raise SpecError(f"a mapping key must be text, got {shown(key)}{hint}",
                            loader.name, _line(key_node))
        if key in out:
            raise SpecError(f"duplicate key {shown(key)} (first given on line "
                            f"{out.key_lines[key]}); each key may appear once per mapping",
                            loader.name, _line(key_node))
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = _line(key_node)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = _line(node)
    out.item_lines = [_line(child) for child in node.value]
    return out


def _construct_int(loader: _Loader, node):
    text = str(node.value).replace("_", "").lstrip("+-")
    if len(text) > 30:        # int() of thousands of digits is slow, and far past int64 anyway
        value = None
    else:
        value = yaml.SafeLoader.construct_yaml_int(loader, node)
    if value is None or not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise SpecError(f"integer {shown(str(node.value))[1:-1]} is outside the signed 64-bit "
                        "range; expected |value| < 2^63", loader.name, _line(node))
    return value


def _construct_float(loader: _Loader, node):
    value = yaml.SafeLoader.construct_yaml_float(loader, node)
    if not math.isfinite(value):
        raise SpecError(f"{shown(str(node.value))[1:-1]} is not a finite number; expected a "
                        "finite number (no .inf or .nan)", loader.name, _line(node))
    return value


def _construct_timestamp(loader: _Loader, node):
    return str(node.value)         # a date stays the text it was written as


def _refuse(loader: _Loader, node):
    raise SpecError(f"YAML tag {shown(node.tag)[1:-1]} is not supported in a spec; expected plain "
                    "text, numbers, booleans, lists and mappings", loader.name, _line(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse)
_Loader.add_constructor(None, _refuse)


def _line_of_offset(text: str, pos: int) -> int:
    return text.count("\n", 0, max(pos, 0)) + 1


def load_yaml(text: str, path=None):
    """Parse ``text``; YAML syntax errors become one-line :class:`SpecError` with the line."""
    if len(text) > LIMITS["spec_bytes"]:
        raise SpecError(f"spec is {len(text):,} characters; expected at most "
                        f"{LIMITS['spec_bytes']:,} ({LIMITS['spec_bytes'] // 2**20} MiB)", path)
    nul = text.find("\0")
    if nul >= 0:
        raise SpecError(f"a NUL character at offset {nul}; expected UTF-8 text, not a binary "
                        "file", path, _line_of_offset(text, nul))
    if text.startswith("\ufeff"):
        text = text[1:]
    loader = None
    try:
        loader = _Loader(text)
        loader.name = path
        return loader.get_single_data()
    except SpecError:
        raise
    except RecursionError:
        raise SpecError(f"YAML nested too deeply; expected at most {LIMITS['yaml_depth']} levels",
                        path) from None
    except yaml.reader.ReaderError as exc:
        raise SpecError(f"character #x{exc.character:04x} at offset {exc.position} is not allowed "
                        "in YAML; expected printable UTF-8 text", path,
                        _line_of_offset(text, exc.position)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(str(exc.problem or "syntax error").split())
        ctx = f" ({' '.join(str(exc.context).split())})" if exc.context else ""
        kind = "syntax error" if isinstance(exc, (yaml.scanner.ScannerError,
                                                  yaml.parser.ParserError)) else "error"
        raise SpecError(f"YAML {kind}: {what[:200]}{ctx[:200]}; expected valid YAML", path,
                        line) from None
    except yaml.YAMLError as exc:
        raise SpecError("YAML error: " + " ".join(str(exc).split())[:300], path) from None
    finally:
        if loader is not None:
            loader.dispose()


def decode(data: bytes, path=None) -> str:
    """The text of a spec file: UTF-8 (a BOM is allowed), else a one-line error."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        pos = exc.start
        line = data.count(b"\n", 0, pos) + 1
        hint = ""
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            hint = " (it looks like UTF-16)"
        raise SpecError(f"not UTF-8 text: byte 0x{data[pos]:02x} at offset {pos} cannot be "
                        f"decoded{hint}; expected a UTF-8 text file", path, line) from None


def load_yaml_file(path):
    limit = LIMITS["spec_bytes"]
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", path) from None
    if len(data) > limit:
        raise SpecError(f"spec file is larger than {limit:,} bytes ({limit // 2**20} MiB); "
                        "expected a smaller spec", path)
    return load_yaml(decode(data, path), path)
