"""Compile the count engine with Numba for batched evaluation (sweeps, very large graphs).

The engine (``engine.py``) and every op's rules are ordinary Python. This module generates only
the dispatch from op code to each op's rules (an ``if`` chain Numba can inline, built from the
registry), and compiles copies of the engine's functions whose global names point at compiled
copies of what they call. Numba's on-disk cache is keyed to a small stub file whose name is a hash
of everything the compiled code depends on: the bytecode and constants of every function reached
(not their comments or line numbers), the generated dispatch, and the Numba and Python versions.
An edit that changes no code reuses the cache; any change of code gets a new stub, and stubs of
other hashes (with their cache files) are removed once they are a day old.

With NUMBA_DISABLE_JIT=1 the same functions run as plain Python and give the same numbers.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
import time
import types
from pathlib import Path

ENTRIES = ("propagate", "peak_alive", "last_uses", "evaluate_each", "evaluate_many")
STALE_SECONDS = 86400


def cache_dir() -> Path:
    base = os.environ.get("COSTCALC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "costcalc")
    return Path(base)


# ----------------------------------------------------------------------------- the dispatch
def dispatch_source(ops_list) -> str:
    """The generated dispatch: per op, its rules over the engine's arrays (attribute fields read
    by name into the op's Attrs), then an if chain on the op code."""
    out = []
    for op in ops_list[1:]:
        k = op.code
        fields = ", ".join(f"attrs[i, {j}]" for j in range(len(op.Attrs._fields)))
        out.append(f"def _shape_{k}(attrs, i, x, shapes, ins):  # {op.name}\n"
                   f"    return _rule_shape_{k}(_A_{k}({fields}), x, shapes, ins)\n")
        body = [f"def _counts_{k}(attrs, i, x, y, shapes, ins):  # {op.name}",
                f"    a = _A_{k}({fields})", "    p = 0", "    t = 0"]
        for j, w in enumerate(op.weights):
            pad = "    "
            if w.when is not None:
                body.append(f"    if _when_{k}_{j}(a):")
                pad = "        "
            body.append(f"{pad}n = _prod(_dims_{k}_{j}(a, x))")
            body.append(f"{pad}p = cadd(p, n)")
            if w.trainable:
                body.append(f"{pad}t = cadd(t, n)")
        body += [f"    m, o = _rule_counts_{k}(a, x, y, shapes, ins)", "    return p, t, m, o", ""]
        out.append("\n".join(body))
    shape = ["def shape_of(code, attrs, i, x, shapes, ins):"]
    counts = ["def counts_of(code, attrs, i, x, y, shapes, ins):"]
    for op in ops_list[1:]:      # LLVM turns the chain into one jump table
        shape.append(f"    if code == {op.code}:\n"
                     f"        return _shape_{op.code}(attrs, i, x, shapes, ins)")
        counts.append(f"    if code == {op.code}:\n"
                      f"        return _counts_{op.code}(attrs, i, x, y, shapes, ins)")
    shape.append("    return UNKNOWN_OP, 0, 0, 0\n")
    counts.append("    return -1, -1, -1, -1\n")
    return "\n".join(out + shape + counts)


def _dispatch_namespace(ops_list):
    from .ops import base
    ns = {"cadd": base.cadd, "cmul": base.cmul, "UNKNOWN_OP": base.UNKNOWN_OP,
          "_prod": base.prod}
    for op in ops_list[1:]:
        k = op.code
        ns[f"_A_{k}"] = op.Attrs
        ns[f"_rule_shape_{k}"] = op.shape
        ns[f"_rule_counts_{k}"] = op.counts
        for j, w in enumerate(op.weights):
            ns[f"_dims_{k}_{j}"] = w.shape
            if w.when is not None:
                ns[f"_when_{k}_{j}"] = w.when
    return ns


# ----------------------------------------------------------------------------- fingerprints
def _codes(code):
    stack, out = [code], []
    while stack:
        c = stack.pop()
        out.append(c)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return out


def _referenced(fn):
    """(name, value) of the globals a function's code refers to."""
    g = fn.__globals__
    seen = []
    for c in _codes(fn.__code__):
        for name in c.co_names:
            if name in g and name not in seen:
                seen.append(name)
    return [(n, g[n]) for n in seen]


def _is_ours(v):
    return isinstance(v, types.FunctionType) and (v.__module__ or "").startswith("costcalc") \
        or (isinstance(v, types.FunctionType) and v.__module__ is None)


INLINED = ("shape_of", "counts_of", "first_input", "inputs_view")
INLINED_PREFIXES = ("_shape_", "_counts_", "_rule_", "_dims_", "_when_")


def _inlined(name):
    """Inlined into the engine's loops at Numba IR level: the dispatch and the rules it reaches.
    Helpers (cmul, window, ...) are compiled once and left to LLVM."""
    return name in INLINED or name.startswith(INLINED_PREFIXES)


class _Builder:
    """Rebinds plain functions into compiled copies (memoized), fingerprinting as it goes."""

    def __init__(self, overrides):
        self.overrides = overrides      # name -> plain function that replaces the global
        self.copies = {}
        self.prints = {}

    def fingerprint(self, fn) -> str:
        key = id(fn)
        if key in self.prints:
            return self.prints[key]
        self.prints[key] = "(recursive)"
        h = hashlib.sha256()
        for c in _codes(fn.__code__):
            h.update(c.co_code)
            h.update(repr([k for k in c.co_consts if not isinstance(k, types.CodeType)]).encode())
            h.update(repr(c.co_names).encode() + repr(c.co_varnames).encode())
        for name, v in _referenced(fn):
            v = self.overrides.get(name, v)
            h.update(name.encode())
            if _is_ours(v):
                h.update(self.fingerprint(v).encode())
            elif isinstance(v, type) and hasattr(v, "_fields"):
                h.update(repr((v.__name__, v._fields)).encode())
            elif isinstance(v, types.ModuleType):
                h.update(v.__name__.encode())
            elif isinstance(v, (int, float, str, tuple, bool)) or v is None:
                h.update(repr(v).encode())
            else:
                h.update(type(v).__name__.encode())
        self.prints[key] = h.hexdigest()
        return self.prints[key]

    def compiled(self, fn, numba, inline=False, entry_file=None):
        """A compiled copy of fn whose globals are compiled copies too."""
        key = (id(fn), inline, entry_file)
        if key in self.copies:
            return self.copies[key]
        g = dict(fn.__globals__)
        for name, v in _referenced(fn):
            v = self.overrides.get(name, v)
            if _is_ours(v):
                g[name] = self.compiled(v, numba, inline=_inlined(name))
            elif name in self.overrides:
                g[name] = v
        code = fn.__code__
        if entry_file is not None:     # Numba's cache is keyed to this file (see module doc)
            code = code.replace(co_filename=str(entry_file), co_firstlineno=1)
        copy = types.FunctionType(code, g, fn.__name__, fn.__defaults__, fn.__closure__)
        copy.__qualname__ = fn.__qualname__
        if entry_file is not None:
            out = numba.njit(cache=True)(copy)
        else:
            out = numba.njit(inline="always" if inline else "never")(copy)
        self.copies[key] = out
        return out


# ----------------------------------------------------------------------------- the entry points
def _nocount_view(numba):
    """in_idx[in_ptr[i]:in_ptr[i+1]] as an array view with no reference count (the engine's hot
    loop makes one per layer and input)."""
    from numba import carray, types as nt
    from numba.extending import intrinsic

    @intrinsic
    def int64_pointer(typingctx, address):
        sig = nt.CPointer(nt.int64)(address)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(nt.CPointer(nt.int64)))
        return sig, codegen

    def inputs_view(in_idx, in_ptr, i):
        return carray(int64_pointer(in_idx.ctypes.data + 8 * in_ptr[i]),
                      (in_ptr[i + 1] - in_ptr[i],))

    def table_view(table):
        return carray(int64_pointer(table.ctypes.data), (table.shape[0], table.shape[1]))
    return numba.njit(inline="always")(inputs_view), numba.njit(inline="always")(table_view)


def _cleanup(folder: Path, keep: str):
    now = time.time()
    for p in list(folder.glob("costcalc_engine_*.py")) + list(folder.glob("costcalc_dispatch_*")):
        if p.stem == keep:
            continue
        try:
            if now - p.stat().st_mtime < STALE_SECONDS:
                continue
            p.unlink()
            for f in (folder / "__pycache__").glob(p.stem + "*"):
                f.unlink()
        except OSError:
            pass


@functools.lru_cache(maxsize=1)
def engine():
    """The engine's entry points compiled (a namespace with ENTRIES)."""
    import numba

    from . import engine as plain
    from . import ops

    src = dispatch_source(ops.OPS)
    ns = _dispatch_namespace(ops.OPS)
    ns["__name__"] = "costcalc._dispatch"
    exec(compile(src, "<costcalc dispatch>", "exec"), ns)
    overrides = {"shape_of": ns["shape_of"], "counts_of": ns["counts_of"]}
    if not numba.config.DISABLE_JIT:
        overrides["inputs_view"], overrides["table_view"] = _nocount_view(numba)
    b = _Builder(overrides)
    digest = hashlib.sha256(src.encode())
    for name in ENTRIES:
        digest.update(b.fingerprint(getattr(plain, name)).encode())
    digest.update(f"{numba.__version__} {sys.version}".encode())
    stem = f"costcalc_engine_{digest.hexdigest()[:16]}"
    stub = None
    for folder in (cache_dir(), Path(tempfile.gettempdir()) / "costcalc"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stub = folder / f"{stem}.py"
            if not stub.exists():
                tmp = stub.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text("# Numba cache anchor of costcalc's compiled engine "
                               "(costcalc/jit.py); safe to delete.\n")
                os.replace(tmp, stub)
            _cleanup(folder, stem)
            break
        except OSError:
            stub = None
            continue
    out = types.SimpleNamespace()
    for name in ENTRIES:
        fn = getattr(plain, name)
        if stub is None:
            setattr(out, name, b.compiled(fn, numba))
        else:
            setattr(out, name, b.compiled(fn, numba, entry_file=stub))
    return out
