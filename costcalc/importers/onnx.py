"""ONNX models as costcalc spec rows, without the onnx package.

Two parts:

1. A minimal reader of the protobuf wire format for the messages of onnx/onnx.proto that
   describe structure (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
   ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto). It reads names, dims, data
   types, attributes and the values of small tensors (the int64 constants that shape chains
   need, the scalars of Clip or x / sqrt(2)); weight payloads (raw_data, float_data, ...) are
   skipped by their length and never copied. Files over 1 MiB are memory-mapped, so the pages of
   the weights are not even read, and external data files are never opened: a 500 MB model
   imports as fast as its structure. Field numbers are those of onnx/onnx.proto (cited at each
   message below).

2. A translator of the graph into spec rows, in topological order: each ONNX node becomes the
   costcalc op it means (Conv -> conv2d, Gemm -> dense, ...), patterns become the op they
   compute (Mul(x, Sigmoid(x)) -> swish, the Erf form of GELU -> gelu, Reshape-Transpose-Reshape
   on channels -> channel_shuffle, Transpose to channels-last + LayerNormalization / MatMul +
   Transpose back -> layer_norm / dense per position), and nodes that only compute shapes
   (Shape, Gather, Constant, ConstantOfShape, Cast, Concat, ... on constants) are folded away.
   Shapes follow the ONNX operator definitions; a sample is (C, H, W): a tensor (N, C, H, W) is
   the map C x H x W, (N, F) is F x 1 x 1 and (N, A, B) is A x B x 1.
"""
from __future__ import annotations

import math
import mmap
import os
import re
import struct

from ..errors import LIMITS, shown
from . import Imported, ImportFormatError

MAX_VALUES = 4096        # tensors of at most this many elements keep their values
MMAP_BYTES = 1 << 20     # files larger than this are memory-mapped


# ============================================================================ wire format
class _Bad(Exception):
    def __init__(self, what, pos):
        super().__init__(what)
        self.what, self.pos = what, pos


def _varint(b, i, end):
    """(value, next position) of the base-128 varint at b[i]."""
    result = shift = 0
    while True:
        if i >= end:
            raise _Bad("a number runs past the end of its message", i)
        byte = b[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise _Bad("a number longer than 10 bytes", i)


def _signed(v):
    """An int64 / int32 field's varint (two's complement on 64 bits) as a Python int."""
    return v - (1 << 64) if v >= 1 << 63 else v


def _fields(b, i, end):
    """(field number, wire type, value) of each field of the message in b[i:end]: wire 0 a
    varint, 1 and 5 the position of 8 / 4 bytes, 2 the (start, end) of the bytes."""
    while i < end:
        key, i = _varint(b, i, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _Bad("a field numbered 0", i)
        if wire == 0:
            v, i = _varint(b, i, end)
            yield field, 0, v
        elif wire == 2:
            n, i = _varint(b, i, end)
            if i + n > end:
                raise _Bad("a field runs past the end of its message", i)
            yield field, 2, (i, i + n)
            i += n
        elif wire == 5:
            if i + 4 > end:
                raise _Bad("a 4-byte field runs past the end", i)
            yield field, 5, i
            i += 4
        elif wire == 1:
            if i + 8 > end:
                raise _Bad("an 8-byte field runs past the end", i)
            yield field, 1, i
            i += 8
        else:
            raise _Bad(f"wire type {wire} (groups are not used by ONNX)", i)


def _str(b, span):
    return bytes(b[span[0]:span[1]]).decode("utf-8", errors="replace")


def _f32(v):
    """A float32 value as the shortest decimal that reads back as it (9.99999997e-07 is
    1e-06): what the exporter's author wrote."""
    for digits in range(1, 10):
        x = float(f"{v:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", x))[0] == v:
            return x
    return v


def _ints(b, wire, v, out, signed=True):
    """A repeated integer field, packed (wire 2) or not (wire 0), appended to ``out``."""
    if wire == 0:
        out.append(_signed(v) if signed else v)
    elif wire == 2:
        i, end = v
        while i < end:
            x, i = _varint(b, i, end)
            out.append(_signed(x) if signed else x)


def _floats(b, wire, v, out):
    if wire == 5:
        out.append(struct.unpack_from("<f", b, v)[0])
    elif wire == 2:
        i, end = v
        out.extend(struct.unpack_from(f"<{(end - i) // 4}f", b, i))


# TensorProto.DataType (onnx.proto, enum DataType)
FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, STRING, BOOL, FLOAT16, DOUBLE, UINT32, \
    UINT64 = range(1, 14)
BFLOAT16 = 16
FLOAT_TYPES = {FLOAT, FLOAT16, DOUBLE, BFLOAT16, 17, 18, 19, 20, 23, 24}
INT_TYPES = {UINT8, INT8, UINT16, INT16, INT32, INT64, BOOL, UINT32, UINT64, 21, 22, 25, 26}
_RAW = {FLOAT: "f", UINT8: "B", INT8: "b", UINT16: "H", INT16: "h", INT32: "i", INT64: "q",
        BOOL: "?", FLOAT16: "e", DOUBLE: "d", UINT32: "I", UINT64: "Q", BFLOAT16: "H"}
TYPE_NAMES = {0: "undefined", FLOAT: "float32", UINT8: "uint8", INT8: "int8", UINT16: "uint16",
              INT16: "int16", INT32: "int32", INT64: "int64", STRING: "string", BOOL: "bool",
              FLOAT16: "float16", DOUBLE: "float64", UINT32: "uint32", UINT64: "uint64",
              14: "complex64", 15: "complex128", BFLOAT16: "bfloat16"}


class Tensor:
    """A TensorProto's structure: name, dims, data type, and its values when small and stored
    in the file (``values`` None otherwise); ``external``: the data is in another file."""
    __slots__ = ("name", "dims", "dtype", "values", "external")

    def __init__(self):
        self.name, self.dims, self.dtype, self.values, self.external = "", [], 0, None, False


def _tensor(b, start, end) -> Tensor:
    """TensorProto (onnx.proto `message TensorProto`): dims = 1, data_type = 2, segment = 3,
    float_data = 4 (packed), int32_data = 5 (packed), string_data = 6, int64_data = 7 (packed),
    name = 8, raw_data = 9, double_data = 10 (packed), uint64_data = 11 (packed),
    doc_string = 12, external_data = 13, data_location = 14 (EXTERNAL = 1)."""
    t = Tensor()
    raw = None
    typed = []                  # (field, wire, value) of the typed data fields
    for f, wire, v in _fields(b, start, end):
        if f == 1:
            _ints(b, wire, v, t.dims)
        elif f == 2 and wire == 0:
            t.dtype = _signed(v)
        elif f == 8 and wire == 2:
            t.name = _str(b, v)
        elif f == 9 and wire == 2:
            raw = v
        elif f in (4, 5, 7, 10, 11):
            typed.append((f, wire, v))
        elif f == 13:
            t.external = True
        elif f == 14 and wire == 0 and v == 1:
            t.external = True
    n = 1
    for d in t.dims:
        n *= d
    if t.external or n > MAX_VALUES or n < 0:
        return t
    if raw is not None:
        code = _RAW.get(t.dtype)
        size = struct.calcsize(code) if code else 0
        if code and raw[1] - raw[0] == n * size:
            vals = list(struct.unpack_from(f"<{n}{code}", b, raw[0]))
            if t.dtype == BFLOAT16:
                vals = [struct.unpack("<f", struct.pack("<I", x << 16))[0] for x in vals]
            t.values = vals
        return t
    vals = []
    for f, wire, v in typed:
        if f == 4:
            _floats(b, wire, v, vals)
        elif f in (5, 7):
            _ints(b, wire, v, vals)
        elif f == 11:
            _ints(b, wire, v, vals, signed=False)
        elif f == 10:
            if wire == 1:
                vals.append(struct.unpack_from("<d", b, v)[0])
            elif wire == 2:
                vals.extend(struct.unpack_from(f"<{(v[1] - v[0]) // 8}d", b, v[0]))
    if t.dtype in (FLOAT16, BFLOAT16) and vals:     # stored as bit patterns in int32_data
        if t.dtype == FLOAT16:
            vals = [struct.unpack("<e", struct.pack("<H", x & 0xFFFF))[0] for x in vals]
        else:
            vals = [struct.unpack("<f", struct.pack("<I", (x & 0xFFFF) << 16))[0] for x in vals]
    if t.dtype == BOOL:
        vals = [bool(x) for x in vals]
    if len(vals) == n:
        t.values = vals
    elif n == 0:
        t.values = []
    return t


class Node:
    __slots__ = ("inputs", "outputs", "name", "op_type", "domain", "attrs", "index")

    def __init__(self):
        self.inputs, self.outputs, self.name, self.op_type, self.domain = [], [], "", "", ""
        self.attrs = {}
        self.index = 0


GRAPH_ATTR = "<graph>"


def _attribute(b, start, end):
    """AttributeProto (onnx.proto `message AttributeProto`): name = 1, f = 2, i = 3, s = 4,
    t = 5, g = 6, floats = 7, ints = 8, strings = 9, tensors = 10, graphs = 11, doc_string = 13,
    tp = 14, type_protos = 15, type = 20 (FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5, FLOATS 6,
    INTS 7, STRINGS 8, TENSORS 9, GRAPHS 10, SPARSE_TENSOR 11, SPARSE_TENSORS 12),
    ref_attr_name = 21, sparse_tensor = 22, sparse_tensors = 23. Returns (name, value):
    a number, a string, a list, a Tensor, or GRAPH_ATTR for a subgraph (not read)."""
    name, kind = "", 0
    f_val = i_val = s_val = t_val = None
    floats, ints, strings, tensors = [], [], [], []
    graph = False
    for f, wire, v in _fields(b, start, end):
        if f == 1 and wire == 2:
            name = _str(b, v)
        elif f == 20 and wire == 0:
            kind = v
        elif f == 2 and wire == 5:
            f_val = _f32(struct.unpack_from("<f", b, v)[0])
        elif f == 3 and wire == 0:
            i_val = _signed(v)
        elif f == 4 and wire == 2:
            s_val = _str(b, v)
        elif f == 5 and wire == 2:
            t_val = _tensor(b, *v)
        elif f in (6, 11, 22, 23):
            graph = True
        elif f == 7:
            _floats(b, wire, v, floats)
            floats[:] = [_f32(x) for x in floats]
        elif f == 8:
            _ints(b, wire, v, ints)
        elif f == 9 and wire == 2:
            strings.append(_str(b, v))
        elif f == 10 and wire == 2:
            tensors.append(_tensor(b, *v))
    by_kind = {1: f_val, 2: i_val, 3: s_val, 4: t_val, 6: floats, 7: ints, 8: strings,
               9: tensors}
    if kind in by_kind and (by_kind[kind] is not None):
        return name, by_kind[kind]
    if graph or kind in (5, 10, 11, 12):
        return name, GRAPH_ATTR
    for val in (f_val, i_val, s_val, t_val):
        if val is not None:
            return name, val
    for val in (ints, floats, strings, tensors):
        if val:
            return name, val
    return name, []


def _node(b, start, end) -> Node:
    """NodeProto (onnx.proto `message NodeProto`): input = 1, output = 2, name = 3,
    op_type = 4, attribute = 5, doc_string = 6, domain = 7, overload = 8."""
    n = Node()
    for f, wire, v in _fields(b, start, end):
        if wire != 2:
            continue
        if f == 1:
            n.inputs.append(_str(b, v))
        elif f == 2:
            n.outputs.append(_str(b, v))
        elif f == 3:
            n.name = _str(b, v)
        elif f == 4:
            n.op_type = _str(b, v)
        elif f == 7:
            n.domain = _str(b, v)
        elif f == 5:
            key, val = _attribute(b, *v)
            n.attrs[key] = val
    return n


def _value_info(b, start, end):
    """ValueInfoProto (onnx.proto `message ValueInfoProto`): name = 1, type = 2. TypeProto:
    tensor_type = 1 (TypeProto.Tensor: elem_type = 1, shape = 2); TensorShapeProto: dim = 1;
    Dimension: dim_value = 1, dim_param = 2. Returns (name, elem_type, dims): dims None without
    a shape, each dim an int, a parameter name (str) or None when unknown."""
    name, elem, dims = "", 0, None
    for f, wire, v in _fields(b, start, end):
        if f == 1 and wire == 2:
            name = _str(b, v)
        elif f == 2 and wire == 2:
            for f2, w2, v2 in _fields(b, *v):
                if f2 != 1 or w2 != 2:
                    continue
                for f3, w3, v3 in _fields(b, *v2):
                    if f3 == 1 and w3 == 0:
                        elem = v3
                    elif f3 == 2 and w3 == 2:
                        dims = []
                        for f4, w4, v4 in _fields(b, *v3):
                            if f4 != 1 or w4 != 2:
                                continue
                            d = None
                            for f5, w5, v5 in _fields(b, *v4):
                                if f5 == 1 and w5 == 0:
                                    d = _signed(v5)
                                elif f5 == 2 and w5 == 2:
                                    d = _str(b, v5) or None
                            dims.append(d)
    return name, elem, dims


class Graph:
    def __init__(self):
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self.value_info = {}
        self.name = ""
        self.sparse = 0


def _graph(b, start, end, g=None) -> Graph:
    """GraphProto (onnx.proto `message GraphProto`): node = 1, name = 2, initializer = 5,
    doc_string = 10, input = 11, output = 12, value_info = 13, quantization_annotation = 14,
    sparse_initializer = 15 (SparseTensorProto: values = 1, indices = 2, dims = 3). A second
    occurrence of the graph field merges into ``g`` (protobuf's rule for a message field)."""
    g = g or Graph()
    limit = LIMITS["layers"]
    for f, wire, v in _fields(b, start, end):
        if wire != 2:
            continue
        if f == 1:
            node = _node(b, *v)
            node.index = len(g.nodes)
            g.nodes.append(node)
            if len(g.nodes) > limit:
                raise _Bad(f"more than {limit:,} nodes (costcalc's layer limit)", v[0])
        elif f == 5:
            g.initializers.append(_tensor(b, *v))
        elif f == 15:
            t = Tensor()
            for f2, w2, v2 in _fields(b, *v):
                if f2 == 3:
                    _ints(b, w2, v2, t.dims)
                elif f2 == 1 and w2 == 2:
                    inner = _tensor(b, *v2)
                    t.name, t.dtype = inner.name, inner.dtype
            g.initializers.append(t)
            g.sparse += 1
        elif f == 11:
            g.inputs.append(_value_info(b, *v))
        elif f == 12:
            g.outputs.append(_value_info(b, *v))
        elif f == 13:
            vi = _value_info(b, *v)
            g.value_info[vi[0]] = vi
        elif f == 2:
            g.name = _str(b, v)
    return g


class Model:
    def __init__(self):
        self.ir_version = 0
        self.producer_name = self.producer_version = ""
        self.opsets = {}
        self.graph = None
        self.functions = set()


# ModelProto fields (onnx.proto `message ModelProto`) and the wire type each has: ir_version = 1,
# producer_name = 2, producer_version = 3, domain = 4, model_version = 5, doc_string = 6,
# graph = 7, opset_import = 8, metadata_props = 14, training_info = 20, functions = 25,
# configuration = 26.
MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}


def _model(b, size) -> Model:
    m = Model()
    graphs = []
    for f, wire, v in _fields(b, 0, size):
        if f == 1 and wire == 0:
            m.ir_version = v
        elif f == 2 and wire == 2:
            m.producer_name = _str(b, v)
        elif f == 3 and wire == 2:
            m.producer_version = _str(b, v)
        elif f == 7 and wire == 2:
            graphs.append(v)
        elif f == 8 and wire == 2:
            # OperatorSetIdProto (onnx.proto): domain = 1, version = 2
            domain, version = "", 0
            for f2, w2, v2 in _fields(b, *v):
                if f2 == 1 and w2 == 2:
                    domain = _str(b, v2)
                elif f2 == 2 and w2 == 0:
                    version = _signed(v2)
            m.opsets[domain] = version
        elif f == 25 and wire == 2:
            # FunctionProto (onnx.proto): name = 1, domain = 10
            fname, fdomain = "", ""
            for f2, w2, v2 in _fields(b, *v):
                if f2 == 1 and w2 == 2:
                    fname = _str(b, v2)
                elif f2 == 10 and w2 == 2:
                    fdomain = _str(b, v2)
            m.functions.add((fdomain, fname))
    if not graphs:
        raise _Bad("no graph (ModelProto field 7)", size)
    for span in graphs:
        m.graph = _graph(b, *span, m.graph)
    return m


class _File:
    """The bytes of a file: memory-mapped when large (pages of skipped weights are never
    read), else read whole."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "rb")
        self.size = os.fstat(self.f.fileno()).st_size
        self.map = None
        if self.size > MMAP_BYTES:
            self.map = mmap.mmap(self.f.fileno(), 0, access=mmap.ACCESS_READ)
            self.data = self.map
        else:
            self.data = self.f.read()

    def close(self):
        if self.map is not None:
            self.map.close()
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def looks_like_onnx(path) -> bool:
    """Whether the file is a protobuf ModelProto: its top-level fields are those of ModelProto
    with their wire types, it has an ir_version and a graph, and they end exactly at the end of
    the file (each field is skipped by its length: fast on a large file)."""
    try:
        with _File(path) as fh:
            b, size = fh.data, fh.size
            seen = set()
            for f, wire, v in _fields(b, 0, size):
                if f in MODEL_FIELDS and MODEL_FIELDS[f] != wire:
                    return False
                seen.add(f)
            return 7 in seen and (1 in seen or 8 in seen)
    except (_Bad, OSError, ValueError):
        return False


def parse(path) -> Model:
    """The Model of an ONNX file (structure only), or ImportFormatError."""
    try:
        with _File(path) as fh:
            return _model(fh.data, fh.size)
    except _Bad as exc:
        raise ImportFormatError(f"not a valid ONNX file: {exc.what} at byte {exc.pos:,}; "
                                "expected a ModelProto as onnx.save / torch.onnx.export write it",
                                path) from None
    except (OSError, ValueError) as exc:
        raise ImportFormatError(f"cannot be read ({getattr(exc, 'strerror', None) or exc}); "
                                "expected a readable ONNX file", path) from None


# ============================================================================ values
class Const:
    """A tensor known when importing: dims, data type, values when small (else None)."""
    __slots__ = ("dims", "dtype", "values")

    def __init__(self, dims, dtype=FLOAT, values=None):
        self.dims = tuple(int(d) for d in dims)
        self.dtype = dtype
        self.values = values if values is None or len(values) == _numel(self.dims) else None

    def scalar(self):
        """The one value of a one-element constant (None if not known)."""
        if _numel(self.dims) == 1 and self.values:
            return self.values[0]
        return None


class Act:
    """A tensor computed from the network input: ONNX dims (batch first), the costcalc row it
    comes from (-1: the network input), and how its dims map onto that row's C x H x W:
    "nchw" (dims[1:] padded with 1s), "nhwc" (a channels-last view [N, H, W, C] of the row's
    map, not materialized), "grouped" ([N, g, C/g, H, W] view) or "shuffled" (its transpose
    [N, C/g, g, H, W]); ``groups`` for the last two."""
    __slots__ = ("dims", "src", "layout", "groups", "cache")

    def __init__(self, dims, src, layout="nchw", groups=0):
        self.dims = tuple(int(d) for d in dims)
        self.src, self.layout, self.groups, self.cache = src, layout, groups, None


UNKNOWN = "<unknown>"        # the output of a node that could not be translated


class _Unsupported(Exception):
    def __init__(self, reason=None):
        super().__init__(reason)
        self.reason = reason


def _numel(dims):
    n = 1
    for d in dims:
        n *= d
    return n


def _embed(dims):
    """C x H x W of an "nchw" tensor of rank 2..4 (batch first)."""
    r = len(dims)
    if r == 4:
        return tuple(dims[1:])
    if r == 3:
        return (dims[1], dims[2], 1)
    if r == 2:
        return (dims[1], 1, 1)
    raise _Unsupported(f"a tensor of rank {r} {list(dims)} (costcalc maps (N, C, H, W), "
                       "(N, C, L) and (N, F) tensors)")


def _broadcast(a, b):
    a, b = tuple(a), tuple(b)
    r = max(len(a), len(b))
    a = (1,) * (r - len(a)) + a
    b = (1,) * (r - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise _Unsupported(f"shapes {list(a)} and {list(b)} that do not broadcast")
    return tuple(out)


def _strides(dims):
    s, acc = [], 1
    for d in reversed(dims):
        s.append(acc)
        acc *= d
    return list(reversed(s))


def _index_map(out_dims, in_dims):
    """For each element of out_dims (row-major), the flat index of the broadcast element of
    in_dims (right-aligned, size-1 axes repeated)."""
    r = len(out_dims)
    ind = (1,) * (r - len(in_dims)) + tuple(in_dims)
    ist = _strides(ind)
    idx = []
    for flat in range(_numel(out_dims)):
        rem, k = flat, 0
        for ax in range(r - 1, -1, -1):
            coord = rem % out_dims[ax]
            rem //= out_dims[ax]
            if ind[ax] != 1:
                k += coord * ist[ax]
        idx.append(k)
    return idx


def _axis(a, rank, what="axis"):
    a = int(a)
    if not -rank <= a < rank:
        raise _Unsupported(f"{what} {a} outside a tensor of rank {rank}")
    return a + rank if a < 0 else a


def _int_div(a, b):
    if b == 0:
        raise _Unsupported("an integer division by zero in a shape computation")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


_BINARY = {
    "Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
    "Div": None, "Pow": lambda a, b: a ** b, "Max": max, "Min": min,
    "Equal": lambda a, b: a == b, "Less": lambda a, b: a < b, "Greater": lambda a, b: a > b,
    "LessOrEqual": lambda a, b: a <= b, "GreaterOrEqual": lambda a, b: a >= b,
    "And": lambda a, b: bool(a) and bool(b), "Or": lambda a, b: bool(a) or bool(b),
    "Xor": lambda a, b: bool(a) != bool(b), "Mod": None, "BitShift": None,
}
_UNARY = {
    "Neg": lambda a: -a, "Abs": abs, "Floor": math.floor, "Ceil": math.ceil,
    "Sqrt": lambda a: math.sqrt(a) if a >= 0 else None,
    "Reciprocal": lambda a: 1 / a if a else None,
    "Not": lambda a: not a, "Relu": lambda a: max(a, 0), "Identity": lambda a: a,
    "Sign": lambda a: (a > 0) - (a < 0), "Round": round,
    "Exp": lambda a: math.exp(a) if a < 700 else None,
    "Log": lambda a: math.log(a) if a > 0 else None,
    "Sigmoid": lambda a: 1 / (1 + math.exp(-a)) if a > -700 else 0.0,
    "Tanh": math.tanh, "Erf": math.erf, "Sin": math.sin, "Cos": math.cos,
}
_COMPARE = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor",
            "Not"}
SHAPE_OPS = {"Shape", "Size", "Gather", "Constant", "ConstantOfShape", "Cast", "CastLike",
             "Concat", "Unsqueeze", "Squeeze", "Slice", "Range", "Reshape", "Expand", "Where",
             "Identity", "Transpose", "Flatten", "Split", "Tile", "ReduceProd", "ReduceSum",
             "ReduceMax", "ReduceMin", "ReduceMean", "GatherElements", "Dropout",
             "DequantizeLinear", "QuantizeLinear", "Sum", "Mean", "Clip"} \
    | set(_BINARY) | set(_UNARY)


# ============================================================================ translation
def _ints_attr(node, key, default=None):
    v = node.attrs.get(key, default)
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        return [int(x) for x in v]
    return [int(v)]


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


_AUTO_LEAF = re.compile(r"(?P<op>[A-Za-z]+)(_\d+)?\Z")
_WEIGHT_SUFFIX = re.compile(r"(_w_0|_b_0|_s_0|_scale_0|_bias_0|\.weight|\.bias|_weight|_bias|"
                            r"/weight|/kernel(:0)?|/bias(:0)?|_W|_B)\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Translator:
    def __init__(self, model: Model, path, input_shape=None):
        self.model, self.g, self.path = model, model.graph, path
        self.opset = model.opsets.get("", model.opsets.get("ai.onnx", 0))
        self.input_shape = tuple(input_shape) if input_shape else None
        self.values = {}             # tensor name -> Const | Act | UNKNOWN
        self.rows = []               # {"op", "attrs", "inputs" (row ids), "node", "dims"}
        self.notes = []
        self.failed = {}             # op type -> [count, first node name, first reason]
        self.consumed = set()        # node indices a pattern already translated
        self.folded = 0              # nodes folded away as constants (shape computations)
        self.note_once = set()

    # ------------------------------------------------------------------ helpers
    def note(self, text):
        if text not in self.note_once:
            self.note_once.add(text)
            self.notes.append(text)

    def label(self, node):
        return node.name or (node.outputs[0] if node.outputs else f"#{node.index}")

    def fail(self, node, reason):
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        entry = self.failed.setdefault(key, [0, self.label(node), reason])
        entry[0] += 1
        if entry[2] is None and reason:
            entry[2] = reason

    def emit(self, node, op, attrs, srcs, dims, layout="nchw", groups=0, suffix=None):
        """A new row of op ``op`` reading rows ``srcs`` (-1: the input), for ONNX node
        ``node`` (its name names the row; ``suffix`` tells rows of one node apart)."""
        if dims[0] != self.batch:
            raise _Unsupported(f"an output of shape {list(dims)} that changes the batch axis "
                               f"({self.batch}); expected the batch first and unchanged")
        rid = len(self.rows)
        self.rows.append({"op": op, "attrs": attrs, "inputs": list(srcs), "node": node,
                          "dims": tuple(dims), "suffix": suffix})
        return Act(dims, rid, layout, groups)

    def act(self, v, node, what="input"):
        """An "nchw" Act: a channels-last view is materialized by a transpose row."""
        if not isinstance(v, Act):
            raise _Unsupported(f"a constant {what} where an activation is expected")
        if v.layout == "nchw":
            return v
        if v.layout == "nhwc":
            if v.cache is None:
                v.cache = self.emit(node, "transpose", {"perm": [1, 2, 0]}, [v.src], v.dims,
                                    suffix="to_channels_last")
            return v.cache
        raise _Unsupported(f"a rank-5 view {list(v.dims)} of channel groups (costcalc knows it "
                           "only inside a Reshape-Transpose-Reshape channel shuffle)")

    def const(self, v, what):
        if not isinstance(v, Const):
            raise _Unsupported(f"{what} computed from the input (expected a constant)")
        return v

    def const_values(self, v, what):
        c = self.const(v, what)
        if c.values is None:
            raise _Unsupported(f"{what} whose values are not stored in the file")
        return c.values

    def consumers(self, name):
        return self.uses.get(name, [])

    def single(self, name, op_types=None):
        """The one node reading tensor ``name`` (None if several, or if it is an output)."""
        users = self.consumers(name)
        if len(users) != 1 or name in self.output_names:
            return None
        node = self.g.nodes[users[0]]
        if node.index in self.consumed or (op_types and node.op_type not in op_types):
            return None
        return node

    def other_input(self, node, name):
        """The value of the input of a two-input node that is not tensor ``name``."""
        if len(node.inputs) != 2:
            return None
        a, b = node.inputs
        if a == name and b != name:
            return self.values.get(b)
        if b == name and a != name:
            return self.values.get(a)
        return None

    # ------------------------------------------------------------------ driver
    def run(self) -> Imported:
        g = self.g
        inits = {t.name: t for t in g.initializers}
        for t in g.initializers:
            self.values[t.name] = Const(t.dims, t.dtype, t.values)
            if t.external:
                self.note("weights are stored in an external data file, which is not read "
                          "(only their shapes are needed)")
        real_inputs = [vi for vi in g.inputs if vi[0] not in inits]
        if not real_inputs:
            raise ImportFormatError("the graph has no input (every graph input is an "
                                    "initializer); expected one image input", self.path)
        if len(real_inputs) > 1:
            names = ", ".join(repr(vi[0]) for vi in real_inputs[:4])
            raise ImportFormatError(f"the graph has {len(real_inputs)} inputs ({names}); "
                                    "expected one input tensor (costcalc counts networks with "
                                    "one image input)", self.path)
        self.input_name, elem, dims = real_inputs[0]
        self.dims_in = self.input_dims(elem, dims)
        self.batch = self.dims_in[0]
        self.values[self.input_name] = Act(self.dims_in, -1)
        self.output_names = [vi[0] for vi in g.outputs]
        if not self.output_names:
            raise ImportFormatError("the graph has no outputs; expected at least one",
                                    self.path)
        order = self.live_order()
        self.uses = {}
        for k in order:
            for name in g.nodes[k].inputs:
                if name:
                    self.uses.setdefault(name, []).append(k)
        # constants first (weights, shape targets, the scalars patterns look at), then the
        # nodes that depend on the input, each group in topological order
        dep = {self.input_name}
        for k in order:
            node = g.nodes[k]
            if any(n in dep for n in node.inputs):
                dep.update(node.outputs)
        staged = [k for k in order if not any(o in dep for o in g.nodes[k].outputs)]
        staged += [k for k in order if any(o in dep for o in g.nodes[k].outputs)]
        for k in staged:
            node = g.nodes[k]
            if k in self.consumed:
                continue
            self.translate(node)
        if self.failed:
            self.raise_failed()
        outs = [self.values.get(n) for n in self.output_names]
        acts = [v for v in outs if isinstance(v, Act)]
        if not acts:
            raise ImportFormatError("no output is computed from the input; expected a "
                                    "network whose outputs depend on its input", self.path)
        for v in acts:
            if v.layout != "nchw":
                try:
                    self.act(v, g.nodes[order[-1]])
                except _Unsupported as exc:
                    raise ImportFormatError(f"an output is {exc.reason}", self.path) from None
        if not self.rows:
            self.emit(g.nodes[order[-1]] if order else Node(), "linear", {}, [-1],
                      self.dims_in)
        if len(acts) > 1:
            self.note(f"the file has {len(acts)} outputs; costcalc's output is the last layer, "
                      "and the other outputs' layers are counted too")
        self.check_declared(outs)
        if self.folded:
            self.note(f"{self.folded} nodes that only compute shapes or transform constants "
                      "(Shape, Gather, Constant, ConstantOfShape, Cast, Concat, Unsqueeze, ...) "
                      "are folded away and not counted")
        self.unused_initializers(order)
        ops = {self.g.nodes[k].op_type for k in order}
        if "Conv" in ops and "BatchNormalization" not in ops:
            self.note("the file has no BatchNormalization nodes: an exporter folds eval-mode "
                      "batch norm into the convolutions before it (scaled weights, a bias), so "
                      "a network built with batch norm has fewer params here than its "
                      "framework reports (the BN statistics are not in the file)")
        rows = self.named_rows()
        return Imported(rows=rows, input=_embed(self.dims_in), source=self.source(),
                        title=self.title(), notes=self.notes)

    def input_dims(self, elem, dims):
        name = self.input_name
        if dims is None:
            if self.input_shape is None:
                raise self.dynamic(f"input '{name}' has no shape")
            dims = [None] + list(self.input_shape)
        rank = len(dims)
        if rank not in (2, 4):
            kind = {1: "a vector", 3: "(N, C, L): a 1-D signal",
                    5: "(N, C, D, H, W): a 3-D volume"}.get(rank, f"rank {rank}")
            raise ImportFormatError(
                f"input '{name}' has shape {_dims_text(dims)}, {kind}; costcalc counts 2-D "
                "maps: expected an input (N, C, H, W) or (N, features)", self.path)
        if elem not in (0,) and elem not in FLOAT_TYPES:
            raise ImportFormatError(f"input '{name}' is {TYPE_NAMES.get(elem, elem)} data; "
                                    "expected a float image or feature input", self.path)
        n = dims[0]
        batch = n if isinstance(n, int) and n > 0 else 1
        if isinstance(n, int) and n > 1:
            self.note(f"the file's batch is {n}: counts are per sample (batch 1), as for every "
                      "spec")
        rest = list(dims[1:])
        if self.input_shape is not None:
            c, h, w = self.input_shape
            want = [c, h, w] if rank == 4 else [c]
            if rank == 2 and (h, w) != (1, 1):
                raise ImportFormatError(f"--input {c}x{h}x{w} for a model whose input is "
                                        f"(N, features) {_dims_text(dims)}; expected {c}x1x1",
                                        self.path)
            if isinstance(rest[0], int) and rest[0] > 0 and rest[0] != c:
                raise ImportFormatError(f"--input gives {c} channels, and the model's input "
                                        f"'{name}' has {rest[0]} ({_dims_text(dims)}); expected "
                                        f"--input {rest[0]}x...", self.path)
            if [d for d in rest] != want and all(isinstance(d, int) and d > 0 for d in rest):
                self.note(f"imported at input {'x'.join(map(str, self.input_shape))} (--input); "
                          f"the file's input is {_dims_text(dims)}")
            rest = want
        bad = [d for d in rest if not (isinstance(d, int) and d > 0)]
        if bad:
            raise self.dynamic(f"input '{name}' has dynamic dimensions {_dims_text(dims)}")
        return (batch,) + tuple(rest)

    def dynamic(self, what):
        exc = ImportFormatError(f"{what}; expected --input CxHxW to fix them (for example "
                                "--input 3x224x224)", self.path)
        exc.dynamic = True
        return exc

    def live_order(self):
        """Indices of the nodes that lead to an output, in a topological order (the file's
        order where it is one)."""
        g = self.g
        producer = {}
        for node in g.nodes:
            for o in node.outputs:
                if o:
                    producer[o] = node.index
        live, stack = set(), [producer[n] for n in self.output_names if n in producer]
        while stack:
            k = stack.pop()
            if k in live:
                continue
            live.add(k)
            for name in g.nodes[k].inputs:
                if name in producer and producer[name] not in live:
                    stack.append(producer[name])
        dead = len(g.nodes) - len(live)
        if dead:
            self.note(f"{dead} nodes do not lead to an output: not counted")
        known = set(self.values)
        order, done, pending = [], set(), [k for k in range(len(g.nodes)) if k in live]
        while pending:
            rest = []
            for k in pending:
                node = g.nodes[k]
                if all(not n or n in known for n in node.inputs):
                    order.append(k)
                    done.add(k)
                    known.update(o for o in node.outputs if o)
                else:
                    rest.append(k)
            if len(rest) == len(pending):
                node = g.nodes[rest[0]]
                missing = [n for n in node.inputs if n and n not in known]
                what = ("a cycle" if missing and missing[0] in producer else
                        "a tensor that no node, input or initializer provides")
                raise ImportFormatError(f"node {self.label(node)!r} ({node.op_type}) reads "
                                        f"{missing[0]!r}, {what}; expected a valid ONNX graph",
                                        self.path)
            pending = rest
        return order

    def translate(self, node):
        ins = [self.values.get(n) if n else None for n in node.inputs]
        n_out = len(node.outputs)
        supported = node.domain in ("", "ai.onnx") and (node.op_type in HANDLERS
                                                         or node.op_type in SHAPE_OPS)
        if any(isinstance(v, str) for v in ins):
            if not supported:
                self.fail(node, self.domain_reason(node))
            self.set_outputs(node, [UNKNOWN] * n_out)
            return
        if not supported:
            self.fail(node, self.domain_reason(node))
            self.set_outputs(node, [UNKNOWN] * n_out)
            return
        try:
            if not any(isinstance(v, Act) for v in ins) and node.op_type != "Shape":
                outs = self.fold(node, ins)
                self.folded += 1
            else:
                handler = HANDLERS.get(node.op_type)
                if handler is None:
                    raise _Unsupported("on an activation (costcalc folds it only when it "
                                       "computes shapes from constants)")
                outs = handler(self, node, ins)
        except _Unsupported as exc:
            self.fail(node, exc.reason)
            outs = [UNKNOWN] * n_out
        except (ValueError, TypeError, ZeroDivisionError, OverflowError, IndexError) as exc:
            self.fail(node, f"attributes that cannot be read ({type(exc).__name__}: "
                            f"{shown(str(exc), 60)})")
            outs = [UNKNOWN] * n_out
        self.set_outputs(node, outs)

    def domain_reason(self, node):
        if (node.domain, node.op_type) in self.model.functions:
            return "a model-local function (export with functions inlined)"
        if node.domain not in ("", "ai.onnx"):
            return f"an operator of domain '{node.domain}'"
        return None

    def set_outputs(self, node, outs):
        for name, v in zip(node.outputs, outs):
            if name:
                self.values[name] = v

    def raise_failed(self):
        items = sorted(self.failed.items())
        parts = []
        for op, (count, first, reason) in items:
            extra = f": {reason}" if reason else ""
            parts.append(f"{op} ({count}, first {first!r}{extra})")
        n = len(items)
        raise ImportFormatError(
            f"{n} unsupported op type{'s' if n != 1 else ''}: {', '.join(parts)}; expected the "
            "ops listed in README \"Importing models\"", self.path)

    def check_declared(self, outs):
        """Each graph output with a static declared shape must have the computed shape (a
        disagreement means this importer read an op differently from the exporter)."""
        if self.input_shape is not None:
            return
        for (name, elem, dims), v in zip(self.g.outputs, outs):
            if not isinstance(v, Act) or not dims or not all(isinstance(d, int) and d > 0
                                                              for d in dims):
                continue
            if tuple(dims[1:]) != v.dims[1:]:
                raise ImportFormatError(f"output {name!r}: computed shape {list(v.dims)}, the "
                                        f"file declares {list(dims)}; please report this "
                                        "model (an op read differently)", self.path)

    def unused_initializers(self, order):
        used = set()
        for k in order:
            used.update(self.g.nodes[k].inputs)
        n = elements = 0
        for t in self.g.initializers:
            if t.name not in used and t.dtype in FLOAT_TYPES and t.name != self.input_name:
                n += 1
                elements += _numel(t.dims)
        if n:
            self.note(f"{n} float initializers ({elements:,} elements) are not used by any "
                      "layer: not counted")

    def source(self):
        m = self.model
        producer = " ".join(p for p in (m.producer_name, m.producer_version) if p)
        src = {"file": os.path.basename(str(self.path)), "format": "onnx"}
        if producer:
            src["producer"] = producer
        src["opset"] = self.opset
        src["ir_version"] = m.ir_version
        return src

    def title(self):
        m = self.model
        who = f", {m.producer_name} {m.producer_version}".rstrip() if m.producer_name else ""
        return f"{os.path.basename(str(self.path))} (ONNX{who})"

    # ------------------------------------------------------------------ names
    def named_rows(self):
        """The rows with their names: the node's name made readable (PyTorch's scope path
        '/layer1/layer1.0/conv1/Conv' becomes 'layer1.0/conv1': the op leaf is dropped when
        the scope holds one node's rows), or a name from the node's weight or output tensor;
        rows of one node are told apart by a suffix (':0', ':1' for the pieces of a Split);
        names are made valid and unique, the file's own name kept as "_original"."""
        bases = [self.base_name(r["node"], r) for r in self.rows]
        scopes = {}
        for r, (parts, scope) in zip(self.rows, bases):
            if scope is not None:
                scopes.setdefault(scope, set()).add(id(r["node"]))
        names, used = [], {"input"}
        for r, (parts, scope) in zip(self.rows, bases):
            node = r["node"]
            name = scope if scope is not None and len(scopes[scope]) == 1 else "/".join(parts)
            if r["suffix"] is not None:
                name = f"{name}:{r['suffix']}"
            name = _CONTROL.sub("?", name).replace("$", "_")
            if not name or name == "input" or _looks_numeric(name):
                name = f"{node.op_type or 'layer'}_{name}" if name else node.op_type or "layer"
            if len(name) > 200:
                name = name[:160] + "..." + name[-30:]
            base, j = name, 2
            while name in used:
                name = f"{base}_{j}"
                j += 1
            used.add(name)
            names.append(name)
        out = []
        for r, name in zip(self.rows, names):
            row = {"name": name, "op": r["op"]}
            srcs = ["input" if s < 0 else names[s] for s in r["inputs"]]
            prev = names[len(out) - 1] if out else "input"
            if srcs != [prev]:
                row["inputs"] = srcs if len(srcs) != 1 else srcs[0]
            row.update(r["attrs"])
            original = r["node"].name
            if original and original != name:
                row["_original"] = original
            out.append(row)
        return out

    def base_name(self, node, row):
        """(parts, scope): the name's parts, and the scope that names the layer when it is
        the scope's only layer (None when the name has no op leaf to drop)."""
        raw = node.name
        if not raw:
            raw = ""
            for n in node.inputs[1:]:
                if n and isinstance(self.values.get(n), Const) and n in self.init_names:
                    stem = _WEIGHT_SUFFIX.sub("", n)
                    if stem and stem != n:
                        raw = stem
                        break
            if not raw:
                raw = node.outputs[0] if node.outputs and node.outputs[0] else node.op_type
            return [raw], None
        parts = [p for p in raw.strip("/").split("/") if p] or [raw]
        squashed = []
        for i, p in enumerate(parts):            # '/layer1/layer1.0/conv1': drop 'layer1'
            if i + 1 < len(parts) and parts[i + 1].startswith(p + "."):
                continue
            squashed.append(p)
        parts = squashed
        m = _AUTO_LEAF.match(parts[-1])
        if len(parts) >= 2 and m and m.group("op") == node.op_type:
            return parts, "/".join(parts[:-1])
        return parts, None

    @property
    def init_names(self):
        if not hasattr(self, "_init_names"):
            self._init_names = {t.name for t in self.g.initializers} | self.const_names()
        return self._init_names

    def const_names(self):
        out = set()
        for node in self.g.nodes:
            if node.op_type in ("ConstantOfShape", "Constant"):
                out.update(node.outputs)
        return out

    # ------------------------------------------------------------------ constant folding
    def fold(self, node, ins):
        op = node.op_type
        fn = FOLDS.get(op)
        if fn is not None:
            return fn(self, node, ins)
        if op in _UNARY or op in ("Cast", "CastLike", "Identity", "DequantizeLinear",
                                  "QuantizeLinear"):
            x = ins[0]
            f = _UNARY.get(op, lambda a: a)
            vals = None
            if x.values is not None:
                try:
                    vals = [f(v) for v in x.values]
                    if any(v is None for v in vals):
                        vals = None
                except (ValueError, OverflowError, TypeError, ZeroDivisionError):
                    vals = None
            dtype = x.dtype
            if op == "Cast":
                dtype = int(node.attrs.get("to", x.dtype))
                if vals is not None and dtype in INT_TYPES:
                    vals = [int(v) if dtype != BOOL else bool(v) for v in vals]
                elif vals is not None and dtype in FLOAT_TYPES:
                    vals = [float(v) for v in vals]
            if op == "CastLike" and len(ins) > 1 and ins[1] is not None:
                dtype = ins[1].dtype
            if op in _COMPARE:
                dtype = BOOL
            return [Const(x.dims, dtype, vals)] + [None] * (len(node.outputs) - 1)
        if op in _BINARY or op in ("Sum", "Mean"):
            return [self.fold_binary(node, [v for v in ins if v is not None])]
        raise _Unsupported("on constants (not a shape computation costcalc can fold)")

    def fold_binary(self, node, ins):
        op = node.op_type
        dims = ins[0].dims
        for x in ins[1:]:
            dims = _broadcast(dims, x.dims)
        dtype = BOOL if op in _COMPARE else ins[0].dtype
        n = _numel(dims)
        if n > MAX_VALUES or any(x.values is None for x in ins):
            return Const(dims, dtype, None)
        cols = [[x.values[i] for i in _index_map(dims, x.dims)] for x in ins]
        integer = ins[0].dtype in INT_TYPES

        def f(a, b):
            if op == "Div":
                return _int_div(a, b) if integer else (a / b if b else None)
            if op == "Mod":
                if not b:
                    return None
                return math.fmod(a, b) if node.attrs.get("fmod") else a % b
            if op in ("Sum", "Mean"):
                return a + b
            if op == "BitShift":
                return a << b if _s(node.attrs.get("direction")) == "LEFT" else a >> b
            return _BINARY[op](a, b)

        vals = cols[0]
        for col in cols[1:]:
            vals = [f(a, b) for a, b in zip(vals, col)]
            if any(v is None for v in vals):
                return Const(dims, dtype, None)
        if op == "Mean":
            vals = [v / len(ins) for v in vals]
        return Const(dims, dtype, vals)


def _looks_numeric(name):
    try:
        float(name)
        return True
    except ValueError:
        return False


def _dims_text(dims):
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


# ============================================================================ folds
def _f_constant(t, node, ins):
    a = node.attrs
    if isinstance(a.get("value"), Tensor):
        v = a["value"]
        return [Const(v.dims, v.dtype, v.values)]
    if "value_float" in a:
        return [Const((), FLOAT, [float(a["value_float"])])]
    if "value_floats" in a:
        return [Const((len(a["value_floats"]),), FLOAT, list(a["value_floats"]))]
    if "value_int" in a:
        return [Const((), INT64, [int(a["value_int"])])]
    if "value_ints" in a:
        return [Const((len(a["value_ints"]),), INT64, list(a["value_ints"]))]
    raise _Unsupported("a Constant without a value the importer can read (sparse or string)")


def _f_constant_of_shape(t, node, ins):
    dims = t.const_values(ins[0], "the shape")
    if any(d < 0 for d in dims):
        raise _Unsupported(f"a negative dimension in {dims}")
    v = node.attrs.get("value")
    dtype, fill = FLOAT, 0.0
    if isinstance(v, Tensor):
        dtype = v.dtype
        if v.values:
            fill = v.values[0]
    n = _numel(dims)
    return [Const(dims, dtype, [fill] * n if n <= MAX_VALUES else None)]


def _f_shape(t, node, ins):
    x = ins[0]
    dims = list(x.dims)
    start = int(node.attrs.get("start", 0))
    end = node.attrs.get("end")
    r = len(dims)
    start = max(0, min(r, start + r if start < 0 else start))
    end = r if end is None else max(0, min(r, int(end) + r if int(end) < 0 else int(end)))
    vals = dims[start:end]
    return [Const((len(vals),), INT64, vals)]


def _f_size(t, node, ins):
    return [Const((), INT64, [_numel(ins[0].dims)])]


def _gather_dims(data_dims, idx_dims, axis):
    return tuple(data_dims[:axis]) + tuple(idx_dims) + tuple(data_dims[axis + 1:])


def _f_gather(t, node, ins):
    data, idx = ins[0], ins[1]
    axis = _axis(node.attrs.get("axis", 0), len(data.dims))
    dims = _gather_dims(data.dims, idx.dims, axis)
    if data.values is None or idx.values is None or _numel(dims) > MAX_VALUES:
        return [Const(dims, data.dtype, None)]
    size = data.dims[axis]
    outer = _numel(data.dims[:axis])
    inner = _numel(data.dims[axis + 1:])
    vals = []
    for o in range(outer):
        for i in idx.values:
            i = int(i)
            if not -size <= i < size:
                raise _Unsupported(f"a Gather index {i} outside axis size {size}")
            i = i + size if i < 0 else i
            base = (o * size + i) * inner
            vals.extend(data.values[base:base + inner])
    return [Const(dims, data.dtype, vals)]


def _axes_of(t, node, ins, pos=1):
    """Axes from the attribute (older opsets) or the input (newer ones)."""
    if "axes" in node.attrs:
        return _ints_attr(node, "axes")
    if len(ins) > pos and ins[pos] is not None:
        return [int(v) for v in t.const_values(ins[pos], "the axes")]
    return None


def _unsqueeze_dims(t, node, ins, dims):
    axes = _axes_of(t, node, ins)
    if axes is None:
        raise _Unsupported("Unsqueeze without axes")
    r = len(dims) + len(axes)
    axes = sorted(_axis(a, r) for a in axes)
    out = list(dims)
    for a in axes:
        out.insert(a, 1)
    return tuple(out)


def _squeeze_dims(t, node, ins, dims):
    axes = _axes_of(t, node, ins)
    r = len(dims)
    if axes is None:
        return tuple(d for d in dims if d != 1)
    axes = {_axis(a, r) for a in axes}
    for a in axes:
        if dims[a] != 1:
            raise _Unsupported(f"Squeeze of axis {a} of size {dims[a]}")
    return tuple(d for i, d in enumerate(dims) if i not in axes)


def _reshape_dims(t, node, ins, dims):
    shape = [int(v) for v in t.const_values(ins[1], "the target shape")] if len(ins) > 1 \
        else _ints_attr(node, "shape")
    if shape is None:
        raise _Unsupported("Reshape without a shape")
    allowzero = int(node.attrs.get("allowzero", 0))
    out, infer = [], None
    for i, s in enumerate(shape):
        if s == 0 and not allowzero:
            if i >= len(dims):
                raise _Unsupported(f"a 0 (copy) at axis {i} of a rank-{len(dims)} tensor")
            out.append(dims[i])
        elif s == -1:
            if infer is not None:
                raise _Unsupported("two -1 entries in a Reshape target")
            infer = i
            out.append(1)
        elif s < 0:
            raise _Unsupported(f"a Reshape target entry {s}")
        else:
            out.append(s)
    total = _numel(dims)
    if infer is not None:
        rest = _numel(out)
        if rest == 0 or total % rest:
            raise _Unsupported(f"a Reshape of {list(dims)} to {shape}: the element count does "
                               "not divide")
        out[infer] = total // rest
    if _numel(out) != total:
        raise _Unsupported(f"a Reshape of {list(dims)} ({total} elements) to {shape}")
    return tuple(out)


def _f_same_values(fn):
    def fold(t, node, ins):
        x = ins[0]
        dims = fn(t, node, ins, x.dims)
        return [Const(dims, x.dtype, x.values)]
    return fold


def _flatten_dims(node, dims):
    axis = _axis(node.attrs.get("axis", 1), len(dims) + 1)
    return (_numel(dims[:axis]), _numel(dims[axis:]))


def _f_flatten(t, node, ins):
    x = ins[0]
    return [Const(_flatten_dims(node, x.dims), x.dtype, x.values)]


def _transpose_values(values, dims, perm):
    out_dims = [dims[p] for p in perm]
    ist = _strides(dims)
    vals = []
    for flat in range(_numel(out_dims)):
        rem, k = flat, 0
        for ax in range(len(out_dims) - 1, -1, -1):
            coord = rem % out_dims[ax]
            rem //= out_dims[ax]
            k += coord * ist[perm[ax]]
        vals.append(values[k])
    return vals


def _perm_of(node, rank):
    perm = _ints_attr(node, "perm")
    if perm is None:
        perm = list(range(rank - 1, -1, -1))
    if sorted(perm) != list(range(rank)):
        raise _Unsupported(f"perm {perm} for a tensor of rank {rank}")
    return perm


def _f_transpose(t, node, ins):
    x = ins[0]
    perm = _perm_of(node, len(x.dims))
    dims = tuple(x.dims[p] for p in perm)
    vals = _transpose_values(x.values, x.dims, perm) if x.values is not None else None
    return [Const(dims, x.dtype, vals)]


def _f_concat(t, node, ins):
    xs = [x for x in ins if x is not None]
    rank = len(xs[0].dims)
    axis = _axis(node.attrs.get("axis", 0), rank)
    dims = list(xs[0].dims)
    dims[axis] = sum(x.dims[axis] for x in xs)
    for x in xs:
        if len(x.dims) != rank or any(a != b for i, (a, b) in enumerate(zip(x.dims, dims))
                                      if i != axis):
            raise _Unsupported(f"a Concat of constants of shapes {[list(x.dims) for x in xs]}")
    if any(x.values is None for x in xs) or _numel(dims) > MAX_VALUES:
        return [Const(dims, xs[0].dtype, None)]
    outer = _numel(dims[:axis])
    vals = []
    for o in range(outer):
        for x in xs:
            inner = _numel(x.dims[axis:])
            vals.extend(x.values[o * inner:(o + 1) * inner])
    return [Const(dims, xs[0].dtype, vals)]


def _slice_params(t, node, ins, dims):
    """[(axis, start, stop, step)] of a Slice (inputs from opset 10, attributes before)."""
    r = len(dims)
    if len(ins) >= 3:
        starts = [int(v) for v in t.const_values(ins[1], "the starts")]
        ends = [int(v) for v in t.const_values(ins[2], "the ends")]
        axes = ([int(v) for v in t.const_values(ins[3], "the axes")]
                if len(ins) > 3 and ins[3] is not None else list(range(len(starts))))
        steps = ([int(v) for v in t.const_values(ins[4], "the steps")]
                 if len(ins) > 4 and ins[4] is not None else [1] * len(starts))
    else:
        starts, ends = _ints_attr(node, "starts"), _ints_attr(node, "ends")
        if starts is None or ends is None:
            raise _Unsupported("Slice without starts and ends")
        axes = _ints_attr(node, "axes") or list(range(len(starts)))
        steps = [1] * len(starts)
    out = []
    for a, s, e, st in zip(axes, starts, ends, steps):
        a = _axis(a, r)
        n = dims[a]
        if st == 0:
            raise _Unsupported("a Slice step of 0")
        if st > 0:
            s = max(0, min(n, s + n if s < 0 else s))
            e = max(0, min(n, e + n if e < 0 else e))
        else:
            s = max(-1, min(n - 1, s + n if s < 0 else s))
            e = max(-1, min(n - 1, e + n if e < 0 else e))
        out.append((a, s, e, st))
    return out


def _slice_len(s, e, st):
    if st > 0:
        return max(0, -(-(e - s) // st))
    return max(0, -(-(s - e) // -st))


def _f_slice(t, node, ins):
    x = ins[0]
    params = _slice_params(t, node, ins, x.dims)
    dims = list(x.dims)
    ranges = [range(d) for d in dims]
    for a, s, e, st in params:
        ranges[a] = range(s, e, st)
        dims[a] = len(ranges[a])
    if x.values is None or _numel(dims) > MAX_VALUES:
        return [Const(dims, x.dtype, None)]
    ist = _strides(x.dims)
    vals = []

    def walk(ax, base):
        if ax == len(dims):
            vals.append(x.values[base])
            return
        for i in ranges[ax]:
            walk(ax + 1, base + i * ist[ax])
    walk(0, 0)
    return [Const(dims, x.dtype, vals)]


def _f_range(t, node, ins):
    start, limit, delta = (t.const(v, "a Range bound").scalar() for v in ins[:3])
    if None in (start, limit, delta) or delta == 0:
        raise _Unsupported("a Range whose bounds are not stored")
    n = max(0, math.ceil((limit - start) / delta))
    if n > MAX_VALUES:
        return [Const((n,), ins[0].dtype, None)]
    return [Const((n,), ins[0].dtype, [start + i * delta for i in range(n)])]


def _f_expand(t, node, ins):
    x = ins[0]
    shape = [int(v) for v in t.const_values(ins[1], "the shape")]
    dims = _broadcast(x.dims, shape)
    if x.values is None or _numel(dims) > MAX_VALUES:
        return [Const(dims, x.dtype, None)]
    return [Const(dims, x.dtype, [x.values[i] for i in _index_map(dims, x.dims)])]


def _f_tile(t, node, ins):
    x = ins[0]
    reps = [int(v) for v in t.const_values(ins[1], "the repeats")]
    dims = tuple(d * r for d, r in zip(x.dims, reps))
    return [Const(dims, x.dtype, None)]


def _f_where(t, node, ins):
    c, a, b = ins[:3]
    dims = _broadcast(_broadcast(c.dims, a.dims), b.dims)
    if any(v.values is None for v in (c, a, b)) or _numel(dims) > MAX_VALUES:
        return [Const(dims, a.dtype, None)]
    cv = [c.values[i] for i in _index_map(dims, c.dims)]
    av = [a.values[i] for i in _index_map(dims, a.dims)]
    bv = [b.values[i] for i in _index_map(dims, b.dims)]
    return [Const(dims, a.dtype, [x if k else y for k, x, y in zip(cv, av, bv)])]


def _reduce_dims(t, node, ins, dims):
    axes = _axes_of(t, node, ins)
    r = len(dims)
    keep = int(node.attrs.get("keepdims", 1))
    if not axes:
        if int(node.attrs.get("noop_with_empty_axes", 0)) and axes is not None:
            return tuple(dims), []
        axes = list(range(r))
    axes = sorted({_axis(a, r) for a in axes})
    out = [1 if i in axes else d for i, d in enumerate(dims)] if keep else \
        [d for i, d in enumerate(dims) if i not in axes]
    return tuple(out), axes


_REDUCE = {"ReduceProd": math.prod, "ReduceSum": sum, "ReduceMax": max, "ReduceMin": min,
           "ReduceMean": lambda v: sum(v) / len(v)}


def _f_reduce(t, node, ins):
    x = ins[0]
    dims, axes = _reduce_dims(t, node, ins, x.dims)
    if x.values is None or not axes:
        return [Const(dims, x.dtype, None if axes else x.values)]
    groups = {}
    ist = _strides(x.dims)
    for flat in range(_numel(x.dims)):
        key = tuple((flat // ist[ax]) % x.dims[ax] for ax in range(len(x.dims))
                    if ax not in axes)
        groups.setdefault(key, []).append(x.values[flat])
    fn = _REDUCE[node.op_type]
    vals = [fn(v) for _, v in sorted(groups.items())]
    return [Const(dims, x.dtype, vals)]


def _split_sizes(t, node, ins, size):
    split = None
    if "split" in node.attrs:
        split = _ints_attr(node, "split")
    elif len(ins) > 1 and ins[1] is not None:
        split = [int(v) for v in t.const_values(ins[1], "the split sizes")]
    n = len(node.outputs)
    if split is None:
        n = int(node.attrs.get("num_outputs", n))
        part = -(-size // n)
        split = [min(part, max(0, size - part * k)) for k in range(n)]
    if sum(split) != size or any(s < 0 for s in split):
        raise _Unsupported(f"split sizes {split} of an axis of size {size}")
    return split


def _f_split(t, node, ins):
    x = ins[0]
    axis = _axis(node.attrs.get("axis", 0), len(x.dims))
    sizes = _split_sizes(t, node, ins, x.dims[axis])
    outs = []
    for s in sizes:
        dims = list(x.dims)
        dims[axis] = s
        outs.append(Const(dims, x.dtype, None))
    return outs


def _f_dropout(t, node, ins):
    x = ins[0]
    return [Const(x.dims, x.dtype, x.values), Const(x.dims, BOOL, None)]


def _f_clip(t, node, ins):
    x = ins[0]
    lo = node.attrs.get("min")
    hi = node.attrs.get("max")
    if len(ins) > 1 and ins[1] is not None:
        lo = ins[1].scalar()
    if len(ins) > 2 and ins[2] is not None:
        hi = ins[2].scalar()
    vals = None
    if x.values is not None and not (len(ins) > 1 and ins[1] is not None and lo is None) \
            and not (len(ins) > 2 and ins[2] is not None and hi is None):
        vals = [min(max(v, lo) if lo is not None else v, hi) if hi is not None else
                (max(v, lo) if lo is not None else v) for v in x.values]
    return [Const(x.dims, x.dtype, vals)]


FOLDS = {
    "Clip": _f_clip,
    "Constant": _f_constant, "ConstantOfShape": _f_constant_of_shape, "Shape": _f_shape,
    "Size": _f_size, "Gather": _f_gather,
    "Unsqueeze": _f_same_values(_unsqueeze_dims), "Squeeze": _f_same_values(_squeeze_dims),
    "Reshape": _f_same_values(_reshape_dims), "Flatten": _f_flatten,
    "Transpose": _f_transpose, "Concat": _f_concat, "Slice": _f_slice, "Range": _f_range,
    "Expand": _f_expand, "Tile": _f_tile, "Where": _f_where, "Split": _f_split,
    "ReduceProd": _f_reduce, "ReduceSum": _f_reduce, "ReduceMax": _f_reduce,
    "ReduceMin": _f_reduce, "ReduceMean": _f_reduce, "Dropout": _f_dropout,
}


# ============================================================================ layers
def _pair(v):
    return v[0] if v[0] == v[1] else [v[0], v[1]]


def _padding(t, b, l, r):
    if t == b == l == r:
        return t
    if t == b and l == r:
        return [t, l]
    return [[t, b], [l, r]]


def _window(n, k, s, d, lo, hi, ceil=False):
    keff = d * (k - 1) + 1
    span = n + lo + hi - keff
    if span < 0:
        raise _Unsupported(f"a window of {keff} larger than its padded input of {n + lo + hi}")
    if ceil:
        out = -(-span // s) + 1
        if (out - 1) * s >= n + lo:          # the last window would start in the padding
            out -= 1
    else:
        out = span // s + 1
    return out


def _same_pads(n, k, s, d, mode):
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    small, big = total // 2, total - total // 2
    return (small, big) if mode == "SAME_UPPER" else (big, small)


def _window_attrs(t, node, x, kernel, what="Conv"):
    """(strides, dilations, (top, bottom, left, right)) of a 2-D window op."""
    strides = _ints_attr(node, "strides") or [1, 1]
    dil = _ints_attr(node, "dilations") or [1, 1]
    if len(kernel) != 2 or len(strides) != 2 or len(dil) != 2:
        raise _Unsupported(f"a {len(kernel)}-D {what} (costcalc counts 2-D maps)")
    if min(strides) < 1 or min(dil) < 1 or min(kernel) < 1:
        raise _Unsupported(f"kernel {kernel}, strides {strides}, dilations {dil}")
    auto = _s(node.attrs.get("auto_pad", "NOTSET")) or "NOTSET"
    h, w = x.dims[2], x.dims[3]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        t_, b_ = _same_pads(h, kernel[0], strides[0], dil[0], auto)
        l_, r_ = _same_pads(w, kernel[1], strides[1], dil[1], auto)
    elif auto == "VALID":
        t_ = b_ = l_ = r_ = 0
    elif auto == "NOTSET":
        pads = _ints_attr(node, "pads") or [0, 0, 0, 0]
        if len(pads) != 4:
            raise _Unsupported(f"pads {pads} (expected 4 for a 2-D window)")
        t_, l_, b_, r_ = pads
        if min(pads) < 0:
            raise _Unsupported(f"negative pads {pads}")
    else:
        raise _Unsupported(f"auto_pad {auto!r}")
    return strides, dil, (t_, b_, l_, r_)


def _window_row(attrs, kernel, strides, dil, pads, keep_strides=False):
    attrs["kernel"] = _pair(kernel)
    if strides != [1, 1] or keep_strides:
        attrs["strides"] = _pair(strides)
    if any(pads):
        attrs["padding"] = _padding(*pads)
    if dil != [1, 1]:
        attrs["dilation"] = _pair(dil)
    return attrs


def _map_in(t, v, node):
    x = t.act(v, node)
    if len(x.dims) != 4:
        raise _Unsupported(f"an input of shape {list(x.dims)}; expected (N, C, H, W)")
    return x


def h_conv(t, node, ins):
    x = ins[0]
    if isinstance(x, Act) and len(x.dims) in (3, 5):
        raise _Unsupported(f"a {len(x.dims) - 2}-D convolution (costcalc counts 2-D maps)")
    x = _map_in(t, x, node)
    w = t.const(ins[1], "weights")
    if len(w.dims) != 4:
        raise _Unsupported(f"a {len(w.dims) - 2}-D convolution (costcalc counts 2-D maps)")
    m, cg, kh, kw = w.dims
    group = int(node.attrs.get("group", 1))
    kernel = _ints_attr(node, "kernel_shape") or [kh, kw]
    if kernel != [kh, kw]:
        raise _Unsupported(f"kernel_shape {kernel} and weights {list(w.dims)} that disagree")
    c = x.dims[1]
    if group < 1 or cg * group != c or m % group:
        raise _Unsupported(f"weights {list(w.dims)} with group {group} on {c} input channels")
    strides, dil, pads = _window_attrs(t, node, x, kernel)
    ho = _window(x.dims[2], kh, strides[0], dil[0], pads[0], pads[1])
    wo = _window(x.dims[3], kw, strides[1], dil[1], pads[2], pads[3])
    bias = len(ins) > 2 and ins[2] is not None
    if bias and _numel(t.const(ins[2], "the bias").dims) != m:
        raise _Unsupported(f"a bias of shape {list(ins[2].dims)} for {m} filters")
    attrs = _window_row({"filters": m}, kernel, strides, dil, pads)
    if group != 1:
        attrs["groups"] = group
    if not bias:
        attrs["bias"] = False
    return [t.emit(node, "conv2d", attrs, [x.src], (x.dims[0], m, ho, wo))]


def h_conv_transpose(t, node, ins):
    x = ins[0]
    if isinstance(x, Act) and len(x.dims) in (3, 5):
        raise _Unsupported(f"a {len(x.dims) - 2}-D transposed convolution (costcalc counts "
                           "2-D maps)")
    x = _map_in(t, x, node)
    w = t.const(ins[1], "weights")
    if len(w.dims) != 4:
        raise _Unsupported(f"a {len(w.dims) - 2}-D transposed convolution")
    cin, mg, kh, kw = w.dims
    group = int(node.attrs.get("group", 1))
    c = x.dims[1]
    if cin != c or group < 1 or c % group:
        raise _Unsupported(f"weights {list(w.dims)} with group {group} on {c} input channels")
    m = mg * group
    kernel = _ints_attr(node, "kernel_shape") or [kh, kw]
    strides = _ints_attr(node, "strides") or [1, 1]
    dil = _ints_attr(node, "dilations") or [1, 1]
    outpad = _ints_attr(node, "output_padding") or [0, 0]
    if kernel != [kh, kw] or len(strides) != 2 or len(dil) != 2 or len(outpad) != 2:
        raise _Unsupported("a transposed convolution that is not 2-D")
    auto = _s(node.attrs.get("auto_pad", "NOTSET")) or "NOTSET"
    out_shape = _ints_attr(node, "output_shape")
    pads = _ints_attr(node, "pads") or [0, 0, 0, 0]
    full = [strides[i] * (x.dims[2 + i] - 1) + outpad[i] + dil[i] * (kernel[i] - 1) + 1
            for i in range(2)]
    if out_shape or auto in ("SAME_UPPER", "SAME_LOWER"):
        want = out_shape[-2:] if out_shape else [x.dims[2] * strides[0], x.dims[3] * strides[1]]
        pads = [0, 0, 0, 0]
        for i in range(2):
            total = full[i] - want[i]
            if total < 0:
                raise _Unsupported(f"output_shape {want} larger than the full output {full}")
            small, big = total // 2, total - total // 2
            lo, hi = (small, big) if auto != "SAME_LOWER" else (big, small)
            pads[i], pads[i + 2] = lo, hi
    elif auto == "VALID":
        pads = [0, 0, 0, 0]
    if len(pads) != 4 or min(pads) < 0:
        raise _Unsupported(f"pads {pads}")
    pt, pl, pb, pr = pads
    ho, wo = full[0] - pt - pb, full[1] - pl - pr
    if ho < 1 or wo < 1:
        raise _Unsupported("a transposed convolution cropped to nothing")
    bias = len(ins) > 2 and ins[2] is not None
    attrs = {"filters": m, "kernel": _pair(kernel)}
    if strides != [1, 1]:
        attrs["strides"] = _pair(strides)
    if any(pads):
        attrs["padding"] = _padding(pt, pb, pl, pr)
    if any(outpad):
        attrs["output_padding"] = _pair(outpad)
    if dil != [1, 1]:
        attrs["dilation"] = _pair(dil)
    if group != 1:
        attrs["groups"] = group
    if not bias:
        attrs["bias"] = False
    return [t.emit(node, "conv2d_transpose", attrs, [x.src], (x.dims[0], m, ho, wo))]


def _bias_of(t, node, out, units):
    """The Add right after a MatMul / Gemm that adds a constant of `units` values: its node
    (consumed as the layer's bias) or None."""
    add = t.single(out, ("Add",))
    if add is None:
        return None
    other = t.other_input(add, out)
    if isinstance(other, Const) and _numel(other.dims) == units and \
            (not other.dims or other.dims[-1] == units):
        return add
    return None


def h_gemm(t, node, ins):
    a, b = ins[0], ins[1]
    if not isinstance(a, Act) or isinstance(b, Act):
        raise _Unsupported("a product of two activations, or of a constant by an activation "
                           "(costcalc counts a layer's weights times its input)")
    a = t.act(a, node)
    if len(a.dims) != 2:
        raise _Unsupported(f"an input of shape {list(a.dims)}; expected (N, features)")
    if int(node.attrs.get("transA", 0)):
        raise _Unsupported("transA = 1 (the batch would be the reduced axis)")
    bd = t.const(b, "weights").dims
    if len(bd) != 2:
        raise _Unsupported(f"weights of shape {list(bd)}")
    k, m = (bd[1], bd[0]) if int(node.attrs.get("transB", 0)) else bd
    if k != a.dims[1]:
        raise _Unsupported(f"weights {list(bd)} for {a.dims[1]} input features")
    bias = len(ins) > 2 and ins[2] is not None
    if bias and _numel(t.const(ins[2], "the bias").dims) not in (m,):
        raise _Unsupported(f"a bias C of shape {list(ins[2].dims)} for {m} units")
    alpha, beta = node.attrs.get("alpha", 1.0), node.attrs.get("beta", 1.0)
    if alpha != 1.0 or (bias and beta != 1.0):
        t.note("Gemm alpha/beta scalings are taken as folded into the weights (not counted)")
    attrs = {"units": m}
    last = node
    if not bias:
        add = _bias_of(t, node, node.outputs[0], m)
        if add is not None:
            t.consumed.add(add.index)
            bias, last = True, add
    if not bias:
        attrs["bias"] = False
    out = t.emit(last, "dense", attrs, [a.src], (a.dims[0], m))
    return _finish(t, node, last, out)


def _finish(t, node, last, out):
    """Outputs of a node whose pattern ended at another node ``last``: that node's output is
    set here, the node's own left unset."""
    if last is not node:
        t.set_outputs(last, [out])
        return [UNKNOWN_CONSUMED] * len(node.outputs)
    return [out]


UNKNOWN_CONSUMED = "<consumed>"      # an intermediate value inside a translated pattern


def h_matmul(t, node, ins):
    a, b = ins[0], ins[1]
    if not isinstance(a, Act) or isinstance(b, Act):
        raise _Unsupported("a product of two activations, or of a constant by an activation "
                           "(costcalc counts a layer's weights times its input)")
    bd = t.const(b, "weights").dims
    if len(bd) != 2:
        raise _Unsupported(f"weights of shape {list(bd)} (expected a matrix)")
    k, m = bd
    per_position = False
    if a.layout == "nhwc" and len(a.dims) == 4 and a.dims[3] == k:
        per_position = True
        src, dims = a.src, (a.dims[0], a.dims[1], a.dims[2], m)
    else:
        a = t.act(a, node)
        if len(a.dims) != 2:
            raise _Unsupported(f"an input of shape {list(a.dims)} (a MatMul over its last "
                               "axis: costcalc's dense acts on features (N, F) or on the "
                               "channels of a map)")
        if a.dims[1] != k:
            raise _Unsupported(f"weights {list(bd)} for {a.dims[1]} input features")
        src, dims = a.src, (a.dims[0], m)
    attrs = {"units": m}
    last = node
    add = _bias_of(t, node, node.outputs[0], m)
    if add is not None:
        t.consumed.add(add.index)
        last = add
    else:
        attrs["bias"] = False
    if per_position:
        attrs["per_position"] = True
        out = t.emit(last, "dense", attrs, [src], (dims[0], m, dims[1], dims[2]),)
        out = Act(dims, out.src, "nhwc")
    else:
        out = t.emit(last, "dense", attrs, [src], dims)
    return _finish(t, node, last, out)


def _per_channel(t, c, x):
    """The channel count a constant gives per channel of activation x (it broadcasts as one
    value per channel), 0 for one value, or raise."""
    r = len(x.dims)
    if len(c.dims) > r:
        raise _Unsupported(f"a constant of shape {list(c.dims)} on a tensor of rank {r}")
    cd = (1,) * (r - len(c.dims)) + tuple(c.dims)
    ch = r - 1 if x.layout == "nhwc" else 1
    others = [d for i, d in enumerate(cd) if i != ch and d != 1]
    if others or (cd[ch] not in (1, x.dims[ch])):
        raise _Unsupported(f"a constant of shape {list(c.dims)} on {list(x.dims)} (expected a "
                           "scalar or one value per channel)")
    return 0 if cd[ch] == 1 else cd[ch]


def h_batch_norm(t, node, ins):
    x = t.act(ins[0], node)
    if len(x.dims) not in (2, 4):
        raise _Unsupported(f"an input of shape {list(x.dims)}")
    c = x.dims[1]
    for k, what in enumerate(("scale", "bias", "mean", "variance"), 1):
        v = t.const(ins[k], f"the {what}")
        if _numel(v.dims) != c:
            raise _Unsupported(f"a {what} of shape {list(v.dims)} for {c} channels")
    for o in node.outputs[1:]:
        if o and t.consumers(o):
            raise _Unsupported("training-mode outputs (running statistics) that are used")
    eps = float(node.attrs.get("epsilon", 1e-5))
    out = t.emit(node, "batch_norm", {"epsilon": eps}, [x.src], x.dims)
    return [out] + [UNKNOWN_CONSUMED] * (len(node.outputs) - 1)


def h_instance_norm(t, node, ins):
    x = _map_in(t, ins[0], node)
    eps = float(node.attrs.get("epsilon", 1e-5))
    return [t.emit(node, "instance_norm", {"affine": True, "epsilon": eps}, [x.src], x.dims)]


def h_group_norm(t, node, ins):
    x = _map_in(t, ins[0], node)
    g = int(node.attrs.get("num_groups", 1))
    eps = float(node.attrs.get("epsilon", 1e-5))
    c = x.dims[1]
    if _numel(t.const(ins[1], "the scale").dims) != c:
        raise _Unsupported(f"a scale of shape {list(ins[1].dims)}; expected one per channel "
                           "(opset 21)")
    return [t.emit(node, "group_norm", {"groups": g, "epsilon": eps}, [x.src], x.dims)]


def h_layer_norm(t, node, ins):
    x = ins[0]
    if not isinstance(x, Act):
        raise _Unsupported("a constant input")
    r = len(x.dims)
    axis = _axis(node.attrs.get("axis", -1), r)
    eps = float(node.attrs.get("epsilon", 1e-5))
    channels_last = (x.layout == "nhwc" and axis == 3) or (x.layout == "nchw" and r == 2
                                                            and axis == 1)
    if not channels_last:
        raise _Unsupported(f"normalization over axes {list(range(axis, r))} of {list(x.dims)} "
                           "(costcalc's layer_norm normalizes the channels at each position: "
                           "a channels-last tensor, axis -1)")
    c = x.dims[-1]
    if _numel(t.const(ins[1], "the scale").dims) != c:
        raise _Unsupported(f"a scale of shape {list(ins[1].dims)} for {c} channels")
    attrs = {"epsilon": eps}
    if len(ins) < 3 or ins[2] is None:
        attrs["center"] = False
    for o in node.outputs[1:]:
        if o and t.consumers(o):
            raise _Unsupported("its mean / inverse deviation outputs are used")
    if x.layout == "nhwc":
        out = t.emit(node, "layer_norm", attrs, [x.src], (x.dims[0], c, x.dims[1], x.dims[2]))
        out = Act(x.dims, out.src, "nhwc")
    else:
        out = t.emit(node, "layer_norm", attrs, [x.src], x.dims)
    return [out] + [UNKNOWN_CONSUMED] * (len(node.outputs) - 1)


def _unary(op, attrs_fn=None):
    def handler(t, node, ins):
        x = ins[0]
        if not isinstance(x, Act):
            raise _Unsupported("a constant input")
        x = _layout_ok(t, x, node)
        return [_elementwise(t, node, op, attrs_fn(t, node, ins) if attrs_fn else {}, x)]
    return handler


def _elementwise(t, node, op, attrs, x, last=None):
    """An element-wise row on x, keeping its layout (a channels-last view stays one)."""
    last = last or node
    if x.layout == "nhwc":
        out = t.emit(last, op, attrs, [x.src], (x.dims[0], x.dims[3], x.dims[1], x.dims[2]))
        return Act(x.dims, out.src, "nhwc")
    return t.emit(last, op, attrs, [x.src], x.dims)


def _leaky(t, node, ins):
    return {"alpha": float(node.attrs.get("alpha", 0.01))}


def _elu(t, node, ins):
    return {"alpha": float(node.attrs.get("alpha", 1.0))}


def _hard_sigmoid_attrs(node):
    alpha = float(node.attrs.get("alpha", 0.2))
    beta = float(node.attrs.get("beta", 0.5))
    if abs(alpha - 1 / 6) < 1e-6 and abs(beta - 0.5) < 1e-6:
        return {"definition": "pytorch"}
    if abs(alpha - 0.2) < 1e-6 and abs(beta - 0.5) < 1e-6:
        return {"definition": "onnx"}
    return None


def h_hard_sigmoid(t, node, ins):
    x = ins[0]
    if not isinstance(x, Act):
        raise _Unsupported("a constant input")
    attrs = _hard_sigmoid_attrs(node)
    if attrs is None:
        t.note("HardSigmoid with alpha/beta other than ONNX's (0.2, 0.5) or PyTorch's (1/6, "
               "0.5) is counted as hard_sigmoid (the same count)")
        attrs = {"definition": "onnx"}
    out = node.outputs[0]
    mul = t.single(out, ("Mul",))
    if mul is not None and attrs["definition"] == "pytorch" and \
            _same(t.values.get(_other_name(mul, out)), x):
        t.consumed.add(mul.index)
        res = _elementwise(t, node, "hard_swish", {}, _layout_ok(t, x, node), last=mul)
        return _finish(t, node, mul, res)
    return [_elementwise(t, node, "hard_sigmoid", attrs, _layout_ok(t, x, node))]


def _layout_ok(t, x, node):
    return x if x.layout in ("nchw", "nhwc") else t.act(x, node)


def _same(a, b):
    """Whether two values are the same activation (an alias or view of one row's output)."""
    return isinstance(a, Act) and isinstance(b, Act) and a.src == b.src and \
        a.dims == b.dims and a.layout == b.layout


def _other_name(node, name):
    if len(node.inputs) != 2:
        return None
    a, b = node.inputs
    return b if a == name else a if b == name else None


def h_sigmoid(t, node, ins):
    x = ins[0]
    if not isinstance(x, Act):
        raise _Unsupported("a constant input")
    x = _layout_ok(t, x, node)
    out = node.outputs[0]
    mul = t.single(out, ("Mul",))
    if mul is not None and _same(t.values.get(_other_name(mul, out)), x):
        t.consumed.add(mul.index)
        res = _elementwise(t, node, "swish", {}, x, last=mul)
        return _finish(t, node, mul, res)
    return [_elementwise(t, node, "sigmoid", {}, x)]


def h_clip(t, node, ins):
    x = ins[0]
    if not isinstance(x, Act):
        raise _Unsupported("a constant input")
    lo = node.attrs.get("min")
    hi = node.attrs.get("max")
    if len(ins) > 1 and ins[1] is not None:
        lo = t.const(ins[1], "the minimum").scalar()
        if lo is None:
            raise _Unsupported("a minimum whose value is not stored")
    if len(ins) > 2 and ins[2] is not None:
        hi = t.const(ins[2], "the maximum").scalar()
        if hi is None:
            raise _Unsupported("a maximum whose value is not stored")
    if lo is not None and not math.isfinite(lo) and lo < 0:
        lo = None
    if hi is not None and not math.isfinite(hi) and hi > 0:
        hi = None
    x = _layout_ok(t, x, node)
    if lo == 0 and hi is not None and abs(hi - 6) < 1e-6:
        return [_elementwise(t, node, "relu6", {}, x)]
    if lo == 0 and hi is None:
        return [_elementwise(t, node, "relu", {}, x)]
    attrs = {}
    if lo is not None:
        attrs["min"] = float(lo)
    if hi is not None:
        attrs["max"] = float(hi)
    return [_elementwise(t, node, "clip", attrs, x)]


def h_prelu(t, node, ins):
    x = t.act(ins[0], node)
    s = t.const(ins[1], "the slopes")
    dims = tuple(s.dims)
    while dims and dims[0] == 1 and len(dims) > 1:
        dims = dims[1:]
    c = x.dims[1]
    n = _numel(dims)
    rank = len(x.dims)
    full = (1,) * (rank - len(s.dims)) + tuple(s.dims)
    if n == 1:
        slopes = "single"
    elif n == c and (full[1] == c or t.opset < 7):
        slopes = "channel"            # (PRelu-6 and older: a slope of C values is per channel)
    elif full[1:] == tuple(x.dims[1:]):
        slopes = "element"
    else:
        raise _Unsupported(f"slopes of shape {list(s.dims)} on {list(x.dims)}")
    return [t.emit(node, "prelu", {"slopes": slopes}, [x.src], x.dims)]


def h_softmax(t, node, ins):
    x = ins[0]
    if not isinstance(x, Act):
        raise _Unsupported("a constant input")
    x = _layout_ok(t, x, node)
    r = len(x.dims)
    default = -1 if t.opset >= 13 else 1
    axis = _axis(node.attrs.get("axis", default), r)
    ch = r - 1 if x.layout == "nhwc" else 1
    spatial = _numel(x.dims[2:]) if x.layout == "nchw" else _numel(x.dims[1:3])
    if axis != ch and spatial > 1:
        t.note("a Softmax over another axis than the channels is counted as softmax (the "
               "same count: 3 per element)")
    return [_elementwise(t, node, "softmax", {}, x)]


def _gelu(t, node, ins):
    approx = _s(node.attrs.get("approximate", "none")) or "none"
    return {"approximate": approx} if approx != "none" else {}


def _is(v, k, tol=1e-4):
    return isinstance(v, Const) and v.scalar() is not None and abs(v.scalar() - k) <= tol


def h_erf_gelu_start(t, node, ins):
    """Div(x, sqrt 2) (or Mul(x, 1/sqrt 2)) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5), or
    Mul(0.5) before Mul(x), as torch.onnx exports F.gelu below opset 20: one gelu row.
    Returns None when the chain is not exactly that (nothing is consumed then)."""
    x, c = ins[0], ins[1]
    if not isinstance(x, Act):
        return None
    if not (node.op_type == "Div" and _is(c, math.sqrt(2))
            or node.op_type == "Mul" and _is(c, 1 / math.sqrt(2))):
        return None
    erf = t.single(node.outputs[0], ("Erf",))
    add = erf and t.single(erf.outputs[0], ("Add",))
    if add is None or not _is(t.other_input(add, erf.outputs[0]), 1.0, 1e-6):
        return None
    m1 = t.single(add.outputs[0], ("Mul",))
    m2 = m1 and t.single(m1.outputs[0], ("Mul",))
    if m2 is None:
        return None
    a = t.other_input(m1, add.outputs[0])
    b = t.other_input(m2, m1.outputs[0])
    if not (_same(a, x) and _is(b, 0.5, 1e-6) or _is(a, 0.5, 1e-6) and _same(b, x)):
        return None
    for n in (erf, add, m1, m2):
        t.consumed.add(n.index)
    res = _elementwise(t, node, "gelu", {}, _layout_ok(t, x, node), last=m2)
    return _finish(t, node, m2, res)


def h_binary(t, node, ins):
    op = node.op_type
    if op in ("Div", "Mul") and len(ins) == 2:
        done = h_erf_gelu_start(t, node, ins)
        if done is not None:
            return done
    vals = [v for v in ins if v is not None]
    acts = [v for v in vals if isinstance(v, Act)]
    consts = [v for v in vals if isinstance(v, Const)]
    if op == "Sum" or (op in ("Add", "Mul") and not consts):
        if consts:
            raise _Unsupported("a Sum with constant inputs")
        if len(acts) == 1:
            return [acts[0]]
        return [_act_binary(t, node, {"Sum": "add", "Add": "add", "Mul": "multiply"}[op], acts)]
    if not consts:
        return [_act_binary(t, node, {"Sub": "subtract", "Div": "divide"}[op], acts)]
    if len(vals) != 2:
        raise _Unsupported("more than two inputs")
    x = acts[0]
    c = consts[0]
    const_first = isinstance(ins[0], Const)
    if x.layout not in ("nchw", "nhwc"):
        x = t.act(x, node)
    if _broadcast(x.dims, c.dims) != x.dims:
        raise _Unsupported(f"a constant of shape {list(c.dims)} that enlarges {list(x.dims)}")
    per = _per_channel(t, c, x)
    if per == 0:
        value = c.scalar()
        if value is None:
            value = 1.0
            t.note("a scalar constant whose value is not stored is taken as 1 (the count "
                   "does not depend on it)")
        if op == "Div" and const_first:
            raise _Unsupported("a constant divided by an activation (a reciprocal)")
        if op == "Sub" and const_first:
            t.note("c - x by a scalar c is counted as the scalar op x - c (the same count)")
        operation = {"Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "divide"}[op]
        if op == "Div" and value == 0:
            raise _Unsupported("a division by the constant 0")
        return [_elementwise(t, node, "scalar", {"operation": operation,
                                                 "value": float(value)}, x)]
    # one value per channel: scale_bias (Mul / Div: scale, Add / Sub: bias), a Mul followed
    # by an Add of per-channel constants is one scale_bias with both
    if op == "Div" and const_first:
        raise _Unsupported("a constant divided by an activation (a reciprocal)")
    if op == "Sub" and const_first:
        t.note("c - x by a per-channel constant c is counted as a per-channel bias (the same "
               "count)")
    attrs = {"scale": op in ("Mul", "Div"), "bias": op in ("Add", "Sub")}
    last = node
    if op in ("Mul", "Div"):
        add = t.single(node.outputs[0], ("Add", "Sub"))
        if add is not None:
            other = t.other_input(add, node.outputs[0])
            if isinstance(other, Const) and _broadcast(x.dims, other.dims) == x.dims:
                try:
                    per2 = _per_channel(t, other, x)
                except _Unsupported:
                    per2 = 0
                if per2 and not (add.op_type == "Sub" and add.inputs[0] != node.outputs[0]):
                    t.consumed.add(add.index)
                    attrs["bias"], last = True, add
    res = _elementwise(t, node, "scale_bias", attrs, x, last=last)
    return _finish(t, node, last, res)


def _act_binary(t, node, op, acts):
    layouts = {a.layout for a in acts}
    if layouts == {"nhwc"}:
        dims = acts[0].dims
        for a in acts[1:]:
            dims = _broadcast(dims, a.dims)
        out = t.emit(node, op, {}, [a.src for a in acts], (dims[0], dims[3], dims[1], dims[2]))
        return Act(dims, out.src, "nhwc")
    acts = [t.act(a, node) for a in acts]
    rank = len(acts[0].dims)
    if any(len(a.dims) != rank for a in acts):
        raise _Unsupported(f"activations of ranks {[len(a.dims) for a in acts]} broadcast "
                           "together (expected one rank)")
    dims = acts[0].dims
    for a in acts[1:]:
        dims = _broadcast(dims, a.dims)
    return t.emit(node, op, {}, [a.src for a in acts], dims)


def _pool(kind):
    def handler(t, node, ins):
        x = ins[0]
        if isinstance(x, Act) and len(x.dims) in (3, 5):
            raise _Unsupported(f"a {len(x.dims) - 2}-D pooling (costcalc counts 2-D maps)")
        x = _map_in(t, x, node)
        kernel = _ints_attr(node, "kernel_shape")
        if kernel is None:
            raise _Unsupported("no kernel_shape")
        strides, dil, pads = _window_attrs(t, node, x, kernel, f"{node.op_type}")
        ceil = bool(int(node.attrs.get("ceil_mode", 0)))
        if kind == "avg_pool2d" and dil != [1, 1]:
            raise _Unsupported("a dilated average pool")
        ho = _window(x.dims[2], kernel[0], strides[0], dil[0], pads[0], pads[1], ceil)
        wo = _window(x.dims[3], kernel[1], strides[1], dil[1], pads[2], pads[3], ceil)
        if len(node.outputs) > 1 and node.outputs[1] and t.consumers(node.outputs[1]):
            raise _Unsupported("its Indices output is used")
        attrs = _window_row({}, kernel, strides, dil, pads, keep_strides=True)
        if ceil:
            attrs["ceil_mode"] = True
        if kind == "avg_pool2d" and int(node.attrs.get("count_include_pad", 0)):
            attrs["count_include_pad"] = True
        out = t.emit(node, kind, attrs, [x.src], (x.dims[0], x.dims[1], ho, wo))
        return [out] + [UNKNOWN_CONSUMED] * (len(node.outputs) - 1)
    return handler


def _global(kind):
    def handler(t, node, ins):
        x = _map_in(t, ins[0], node)
        return [t.emit(node, kind, {}, [x.src], (x.dims[0], x.dims[1], 1, 1))]
    return handler


def h_reduce(t, node, ins):
    x = ins[0]
    if not isinstance(x, Act):
        raise _Unsupported("a constant input")
    dims, axes = _reduce_dims(t, node, ins, x.dims)
    if not axes:
        return [x]
    kind = "mean" if node.op_type == "ReduceMean" else "max"
    pool = "global_avg_pool" if kind == "mean" else "global_max_pool"
    if 0 in axes:
        raise _Unsupported("a reduction over the batch axis")
    keep = int(node.attrs.get("keepdims", 1))
    if x.layout == "nhwc":                 # axes of [N, H, W, C] on the row's C x H x W
        src_axes = sorted({1: 2, 2: 3, 3: 1}[a] for a in axes)
        n, h, w, c = x.dims
        if src_axes == [2, 3]:
            out = t.emit(node, pool, {}, [x.src], (n, c, 1, 1))
            return [Act(dims, out.src, "nhwc") if keep else Act(dims, out.src)]
        if keep:
            kept = [c, h, w]
            for a in src_axes:
                kept[a - 1] = 1
            out = t.emit(node, f"reduce_{kind}", {"axes": src_axes}, [x.src], (n, *kept))
            return [Act(dims, out.src, "nhwc")]
    x = t.act(x, node)
    if len(x.dims) == 4 and axes == [2, 3]:
        return [t.emit(node, pool, {}, [x.src], dims)]
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.dims))
    out = t.emit(node, f"reduce_{kind}", {"axes": list(axes)}, [x.src], kept)
    if _embed(dims) != _embed(kept):
        out = t.emit(node, "reshape", {"shape": list(_embed(dims))}, [out.src], dims,
                     suffix="reshape")
    return [Act(dims, out.src)]


def h_concat(t, node, ins):
    vals = [v for v in ins if v is not None]
    if any(isinstance(v, Const) for v in vals):
        raise _Unsupported("constant inputs concatenated with activations")
    rank = len(vals[0].dims)
    axis = _axis(node.attrs.get("axis", 1), rank)
    if all(v.layout == "nhwc" for v in vals) and axis == 3:
        dims = list(vals[0].dims)
        dims[3] = sum(v.dims[3] for v in vals)
        out = t.emit(node, "concat", {}, [v.src for v in vals],
                     (dims[0], dims[3], dims[1], dims[2]))
        return [Act(dims, out.src, "nhwc")]
    vals = [t.act(v, node) for v in vals]
    if axis != 1:
        raise _Unsupported(f"a concatenation along axis {axis} of {list(vals[0].dims)} "
                           "(costcalc concatenates channels, axis 1)")
    if len(vals) == 1:
        return [vals[0]]
    dims = list(vals[0].dims)
    for v in vals[1:]:
        if len(v.dims) != rank or tuple(v.dims[2:]) != tuple(dims[2:]):
            raise _Unsupported(f"inputs of shapes {[list(v.dims) for v in vals]}")
    dims[1] = sum(v.dims[1] for v in vals)
    return [t.emit(node, "concat", {}, [v.src for v in vals], dims)]


def h_split(t, node, ins):
    x = t.act(ins[0], node)
    axis = _axis(node.attrs.get("axis", 0), len(x.dims))
    if axis != 1:
        raise _Unsupported(f"a split along axis {axis} of {list(x.dims)} (costcalc slices "
                           "channels, axis 1)")
    sizes = _split_sizes(t, node, ins, x.dims[1])
    outs, begin = [], 0
    for name, size in zip(node.outputs, sizes):
        dims = list(x.dims)
        dims[1] = size
        if name and t.consumers(name) or name in t.output_names:
            outs.append(t.emit(node, "slice", {"begin": begin, "stop": begin + size},
                               [x.src], dims, suffix=str(len(outs))))
        else:
            outs.append(UNKNOWN_CONSUMED)
        begin += size
    return outs


def h_slice(t, node, ins):
    x = t.act(ins[0], node)
    params = _slice_params(t, node, ins, x.dims)
    dims = list(x.dims)
    chan = None
    for a, s, e, st in params:
        n = _slice_len(s, e, st)
        if n == dims[a] and st == 1 and s == 0:
            continue                                   # the whole axis
        if a != 1 or st != 1:
            raise _Unsupported(f"a slice of axis {a} (step {st}) of {list(x.dims)} "
                               "(costcalc slices channels, axis 1, with step 1)")
        if n == 0:
            raise _Unsupported("an empty slice")
        chan = (s, e)
        dims[1] = n
    if chan is None:
        return [x]
    return [t.emit(node, "slice", {"begin": chan[0], "stop": chan[1]}, [x.src], dims)]


def h_pad(t, node, ins):
    x = t.act(ins[0], node)
    r = len(x.dims)
    if "pads" in node.attrs or "paddings" in node.attrs:
        pads = _ints_attr(node, "pads" if "pads" in node.attrs else "paddings")
        value = float(node.attrs.get("value", 0.0))
    else:
        pads = [int(v) for v in t.const_values(ins[1], "the pads")]
        value = 0.0
        if len(ins) > 2 and ins[2] is not None:
            value = t.const(ins[2], "the pad value").scalar() or 0.0
    if len(ins) > 3 and ins[3] is not None:           # opset 18: the axes the pads are for
        axes = [_axis(a, r) for a in t.const_values(ins[3], "the axes")]
        full = [0] * (2 * r)
        for k, a in enumerate(axes):
            full[a], full[a + r] = pads[k], pads[k + len(axes)]
        pads = full
    if len(pads) != 2 * r:
        raise _Unsupported(f"pads {pads} for a tensor of rank {r}")
    if r != 4:
        raise _Unsupported(f"padding a tensor of shape {list(x.dims)}")
    if min(pads) < 0:
        raise _Unsupported(f"negative pads {pads} (cropping)")
    if pads[0] or pads[1] or pads[4] or pads[5]:
        raise _Unsupported(f"pads {pads} of the batch or channel axes")
    top, left, bottom, right = pads[2], pads[3], pads[6], pads[7]
    if not any((top, left, bottom, right)):
        return [x]
    mode = _s(node.attrs.get("mode", "constant")) or "constant"
    if mode != "constant" or value:
        t.note(f"{mode} padding{' with value ' + str(value) if value else ''} is counted as "
               "zero_pad2d (the same shape; padding does no arithmetic)")
    dims = (x.dims[0], x.dims[1], x.dims[2] + top + bottom, x.dims[3] + left + right)
    return [t.emit(node, "zero_pad2d", {"padding": _padding(top, bottom, left, right)},
                   [x.src], dims)]


def _reshaped(t, node, x, dims):
    """x (nchw) seen as dims: the same row when its C x H x W does not change, else a
    flatten (to F x 1 x 1 from a map) or reshape row."""
    if len(dims) < 2 or len(dims) > 4:
        raise _Unsupported(f"a tensor of shape {list(dims)} (costcalc maps ranks 2 to 4)")
    if dims[0] != x.dims[0]:
        raise _Unsupported(f"a reshape of {list(x.dims)} to {list(dims)} that changes the "
                           "batch axis")
    if _embed(dims) == _embed(x.dims):
        return Act(dims, x.src)
    target = _embed(dims)
    if target[1:] == (1, 1):
        return t.emit(node, "flatten", {}, [x.src], dims)
    return t.emit(node, "reshape", {"shape": list(target)}, [x.src], dims)


def h_reshape(t, node, ins):
    x = ins[0]
    if not isinstance(x, Act):
        raise _Unsupported("a constant input")
    dims = _reshape_dims(t, node, ins, x.dims)
    if x.layout == "shuffled" and len(dims) == 4:
        n, cg, g, h, w = x.dims
        if dims == (n, cg * g, h, w):
            return [t.emit(node, "channel_shuffle", {"groups": g}, [x.src], dims)]
    if x.layout in ("grouped", "shuffled"):
        if x.layout == "grouped" and len(dims) == 4 and dims == (x.dims[0], x.dims[1] *
                                                                  x.dims[2], *x.dims[3:]):
            return [Act(dims, x.src)]
        x = t.act(x, node)
    x = t.act(x, node)
    if len(dims) == 5 and len(x.dims) == 4:
        n, c, h, w = x.dims
        if dims[0] == n and dims[1] * dims[2] == c and tuple(dims[3:]) == (h, w):
            return [Act(dims, x.src, "grouped", dims[1])]
    return [_reshaped(t, node, x, dims)]


def h_flatten(t, node, ins):
    x = t.act(ins[0], node)
    axis = _axis(node.attrs.get("axis", 1), len(x.dims) + 1)
    dims = _flatten_dims(node, x.dims)
    if axis == 0:
        if x.dims[0] != 1:
            raise _Unsupported("a Flatten at axis 0 of a batch of several samples")
        return [_reshaped(t, node, x, (1, dims[1]))]
    if axis > 1 and _numel(x.dims[1:axis]) != 1:
        raise _Unsupported(f"a Flatten at axis {axis} of {list(x.dims)} (it mixes samples of "
                           "the batch)")
    return [_reshaped(t, node, x, dims)]


def h_squeeze(t, node, ins):
    x = t.act(ins[0], node)
    axes = _axes_of(t, node, ins)
    if axes is None:                      # every axis of size 1 but the batch
        dims = (x.dims[0],) + tuple(d for d in x.dims[1:] if d != 1)
    else:
        if 0 in {_axis(a, len(x.dims)) for a in axes}:
            raise _Unsupported("a Squeeze of the batch axis")
        dims = _squeeze_dims(t, node, ins, x.dims)
    return [_reshaped(t, node, x, dims)]


def h_unsqueeze(t, node, ins):
    x = t.act(ins[0], node)
    dims = _unsqueeze_dims(t, node, ins, x.dims)
    axes = _axes_of(t, node, ins)
    if 0 in {_axis(a, len(dims)) for a in axes}:
        raise _Unsupported("an Unsqueeze before the batch axis")
    return [_reshaped(t, node, x, dims)]


def h_transpose(t, node, ins):
    x = ins[0]
    if not isinstance(x, Act):
        raise _Unsupported("a constant input")
    perm = _perm_of(node, len(x.dims))
    dims = tuple(x.dims[p] for p in perm)
    if perm == list(range(len(perm))):
        return [x]
    if x.layout == "nhwc" and perm == [0, 3, 1, 2]:
        base = (x.dims[0], x.dims[3], x.dims[1], x.dims[2])
        return [Act(base, x.src)]
    if x.layout == "grouped" and perm == [0, 2, 1, 3, 4]:
        return [Act(dims, x.src, "shuffled", x.groups)]
    x = t.act(x, node)
    if perm[0] != 0:
        raise _Unsupported(f"perm {perm} moves the batch axis")
    if len(x.dims) == 4 and perm == [0, 2, 3, 1]:
        return [Act(dims, x.src, "nhwc")]
    if len(x.dims) not in (3, 4):
        raise _Unsupported(f"a transpose of {list(x.dims)}")
    p = [v - 1 for v in perm[1:]] + ([2] if len(x.dims) == 3 else [])
    return [t.emit(node, "transpose", {"perm": p}, [x.src], dims)]


def h_resize(t, node, ins):
    x = _map_in(t, ins[0], node)
    op = node.op_type
    mode = _s(node.attrs.get("mode", "nearest")) or "nearest"
    if mode in ("linear", "bilinear"):
        mode = "bilinear"
    elif mode != "nearest":
        raise _Unsupported(f"mode {mode!r} (costcalc resizes nearest or bilinear)")
    scales = sizes = None
    if op == "Upsample":
        if "scales" in node.attrs:
            scales = list(node.attrs["scales"])
        elif len(ins) > 1 and ins[1] is not None:
            scales = t.const_values(ins[1], "the scales")
    else:
        if "scales" in node.attrs:
            scales = list(node.attrs["scales"])
        if len(ins) > 2 and ins[2] is not None and _numel(ins[2].dims):
            scales = t.const_values(ins[2], "the scales")
        if len(ins) > 3 and ins[3] is not None and _numel(ins[3].dims):
            sizes = [int(v) for v in t.const_values(ins[3], "the sizes")]
        if t.opset < 11 and len(ins) >= 2 and ins[1] is not None:      # opset 10: X, scales
            scales = t.const_values(ins[1], "the scales")
    axes = _ints_attr(node, "axes")
    n, c, h, w = x.dims
    if sizes is not None:
        if axes:
            full = list(x.dims)
            for a, s in zip(axes, sizes):
                full[_axis(a, 4)] = s
            sizes = full
        if len(sizes) != 4 or sizes[0] != n or sizes[1] != c:
            raise _Unsupported(f"sizes {sizes} that resize the batch or channels")
        ho, wo = sizes[2], sizes[3]
        policy = _s(node.attrs.get("keep_aspect_ratio_policy", "stretch")) or "stretch"
        if policy != "stretch":
            raise _Unsupported(f"keep_aspect_ratio_policy {policy!r}")
    elif scales is not None:
        if axes:
            full = [1.0] * 4
            for a, s in zip(axes, scales):
                full[_axis(a, 4)] = s
            scales = full
        if len(scales) != 4 or scales[0] != 1 or scales[1] != 1:
            raise _Unsupported(f"scales {scales} that resize the batch or channels")
        ho, wo = int(math.floor(h * scales[2])), int(math.floor(w * scales[3]))
    else:
        raise _Unsupported("neither scales nor sizes")
    ctm = _s(node.attrs.get("coordinate_transformation_mode", "half_pixel")) or "half_pixel"
    if mode == "bilinear" and ctm not in ("half_pixel", "pytorch_half_pixel"):
        t.note(f"bilinear resizing with coordinate_transformation_mode {ctm!r} is counted as "
               "resize bilinear (the same count)")
    attrs = {"mode": mode}
    if ho % h == 0 and wo % w == 0 and ho >= h and wo >= w:
        attrs["scale"] = _pair([ho // h, wo // w])
    else:
        attrs["size"] = [ho, wo]
    return [t.emit(node, "resize", attrs, [x.src], (n, c, ho, wo))]


def h_dropout(t, node, ins):
    x = ins[0]
    if not isinstance(x, Act):
        raise _Unsupported("a constant input")
    x = _layout_ok(t, x, node)
    if len(node.outputs) > 1 and node.outputs[1] and t.consumers(node.outputs[1]):
        raise _Unsupported("its mask output is used")
    rate = node.attrs.get("ratio")
    if rate is None and len(ins) > 1 and ins[1] is not None:
        rate = t.const(ins[1], "the ratio").scalar()
    attrs = {"rate": float(rate)} if rate is not None else {}
    return [_elementwise(t, node, "dropout", attrs, x), UNKNOWN_CONSUMED]


def h_identity(t, node, ins):
    x = ins[0]
    if node.op_type == "Cast":
        to = int(node.attrs.get("to", FLOAT))
        if to not in FLOAT_TYPES:
            raise _Unsupported(f"a cast of activations to {TYPE_NAMES.get(to, to)}")
        t.note("Cast nodes between float types are not counted")
    return [x]


def h_lrn(t, node, ins):
    x = _map_in(t, ins[0], node)
    attrs = {"size": int(node.attrs["size"]),
             "alpha": float(node.attrs.get("alpha", 1e-4)),
             "beta": float(node.attrs.get("beta", 0.75)),
             "k": float(node.attrs.get("bias", 1.0))}
    return [t.emit(node, "lrn", attrs, [x.src], x.dims)]


def h_shape(t, node, ins):
    x = ins[0]
    t.folded += 1
    return _f_shape(t, node, [Const(x.dims)])


def h_size(t, node, ins):
    t.folded += 1
    return [Const((), INT64, [_numel(ins[0].dims)])]


HANDLERS = {
    "Conv": h_conv, "ConvTranspose": h_conv_transpose, "Gemm": h_gemm, "MatMul": h_matmul,
    "BatchNormalization": h_batch_norm, "InstanceNormalization": h_instance_norm,
    "LayerNormalization": h_layer_norm, "GroupNormalization": h_group_norm,
    "Relu": _unary("relu"), "Tanh": _unary("tanh"), "Sigmoid": h_sigmoid,
    "LeakyRelu": _unary("leaky_relu", _leaky), "Elu": _unary("elu", _elu),
    "HardSigmoid": h_hard_sigmoid, "HardSwish": _unary("hard_swish"),
    "Gelu": _unary("gelu", _gelu), "PRelu": h_prelu, "Clip": h_clip, "Softmax": h_softmax,
    "MaxPool": _pool("max_pool2d"), "AveragePool": _pool("avg_pool2d"),
    "GlobalAveragePool": _global("global_avg_pool"), "GlobalMaxPool": _global("global_max_pool"),
    "ReduceMean": h_reduce, "ReduceMax": h_reduce,
    "Add": h_binary, "Sub": h_binary, "Mul": h_binary, "Div": h_binary, "Sum": h_binary,
    "Concat": h_concat, "Split": h_split, "Slice": h_slice, "Pad": h_pad,
    "Reshape": h_reshape, "Flatten": h_flatten, "Squeeze": h_squeeze, "Unsqueeze": h_unsqueeze,
    "Transpose": h_transpose, "Resize": h_resize, "Upsample": h_resize,
    "Dropout": h_dropout, "Identity": h_identity, "Cast": h_identity, "LRN": h_lrn,
    "Shape": h_shape, "Size": h_size,
}


def read(path, input_shape=None) -> Imported:
    """An ONNX file as spec rows (see the module docstring)."""
    model = parse(path)
    if model.graph is None:
        raise ImportFormatError("the model has no graph; expected a ModelProto with a graph",
                                path)
    t = Translator(model, path, input_shape)
    imp = t.run()
    if model.graph.sparse:
        imp.notes.append(f"{model.graph.sparse} sparse initializers are counted by their dense "
                         "shapes")
    return imp
