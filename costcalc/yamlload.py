"""Safe YAML loading that keeps line numbers and refuses duplicate keys.

Mappings come back as :class:`LDict` (a dict with ``.line`` and ``.key_line(key)``) and sequences as
:class:`LList` (``.line`` and ``.item_line(i)``), so every later error can say ``file:line``.
Only plain data is built (``yaml.SafeLoader``): no object construction.
"""
from __future__ import annotations

import yaml

from .errors import SpecError


class LDict(dict):
    line: int = 0
    key_lines: dict

    def key_line(self, key) -> int:
        return self.key_lines.get(key, self.line)


class LList(list):
    line: int = 0
    item_lines: list

    def item_line(self, i: int) -> int:
        try:
            return self.item_lines[i]
        except (IndexError, AttributeError):
            return self.line


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    out = LDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise SpecError(f"a mapping key must be a plain value, got {key!r}",
                            loader.name, key_node.start_mark.line + 1) from None
        if key in out:
            raise SpecError(f"duplicate key {key!r} (first given on line {out.key_lines[key]}); "
                            "each key may appear once per mapping",
                            loader.name, key_node.start_mark.line + 1)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(text: str, path=None):
    """Parse ``text``; YAML syntax errors become one-line :class:`SpecError` with the line."""
    loader = _Loader(text)
    loader.name = path
    try:
        return loader.get_single_data()
    except SpecError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = exc.problem or "syntax error"
        ctx = f" ({exc.context})" if exc.context else ""
        raise SpecError(f"YAML syntax error: {what}{ctx}; expected valid YAML", path, line) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}", path) from None
    finally:
        loader.dispose()


def load_yaml_file(path):
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", path) from None
    return load_yaml(text, path)
