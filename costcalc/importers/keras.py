"""Keras architectures as costcalc spec rows: model.to_json() (Keras 3 and tf.keras 2.x forms)
and .keras archives (their config.json; model.weights.h5 is never opened).

What is read: Sequential and Functional models ("Model" in tf.keras), nested models (a
keras.applications base used as a layer: its layers are expanded in place, each keeping its own
name; a name already taken gets the nested model's name in front, "inner_model/name"), every
layer call (a layer called again is a new row "name_call2", allowed only for layers without
weights: costcalc counts each row's weights), and the keras.ops operations Keras 3 records
(`x + 3.0`, `inputs + x`, ops.mean ...) and their tf.keras 2.x counterparts (TFOpLambda
"__operators__.add", "math.multiply", ...). Shapes follow Keras's rules (channels_last, or
channels_first where the layers say so); the input is the InputLayer's batch shape, and
unknown (None) sizes need `input_shape` (--input).

Formats, from the sources:
- Keras 3: {"module", "class_name": "Functional" | "Sequential", "config": {"name", "layers",
  "input_layers", "output_layers"}, "registered_name", "build_config", "compile_config"}; a
  layer {"module", "class_name", "config", "registered_name", "name", "inbound_nodes": [{"args":
  [...], "kwargs": {...}}]} with tensors {"class_name": "__keras_tensor__", "config":
  {"shape", "keras_history": [layer, node, tensor]}} (keras/src/models/functional.py
  functional_from_config / serialize_node); a Sequential's layers have no inbound_nodes.
- tf.keras 2.x: {"class_name", "config", "keras_version", "backend"}; inbound_nodes: a list of
  nodes, each a list of [layer, node, tensor, kwargs] (["_CONSTANT_VALUE", -1, value, kwargs]
  for a constant first argument), other tensors inside kwargs as [layer, node, tensor]
  (tf_keras/engine/node.py Node.serialize, tf_keras/engine/functional.py get_network_config);
  InputLayer "batch_input_shape"; old Sequential configs are a bare list of layers whose first
  layer holds "batch_input_shape".
- .keras: a zip with config.json (the Keras 3 form) and metadata.json ({"keras_version"})
  (keras/src/saving/saving_lib.py).
"""
from __future__ import annotations

import gzip
import io
import json
import math
import os
import zipfile
from collections import OrderedDict

from costcalc.errors import shown
from costcalc.importers import Imported, ImportFormatError

MAX_BYTES = 512 * 1024 * 1024      # a model JSON: the largest keras.applications one is ~3 MB
NAME_CHARS = 256

# Keras activation names (fused `activation=` of Conv/Dense, Activation layers) -> costcalc op
ACTIVATIONS = {
    "linear": "linear", "relu": "relu", "relu6": "relu6", "sigmoid": "sigmoid",
    "tanh": "tanh", "softmax": "softmax", "hard_sigmoid": "hard_sigmoid", "swish": "swish",
    "silu": "swish", "hard_swish": "hard_swish", "hard_silu": "hard_swish", "gelu": "gelu",
    "leaky_relu": "leaky_relu", "elu": "elu",
}
FUSED = set(ACTIVATIONS)            # all of them are allowed as conv/dense `activation:`

DROPOUTS = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
            "GaussianDropout", "AlphaDropout"}
IDENTITIES = {"GaussianNoise", "ActivityRegularization", "Identity", "StochasticDepth"}
MODELS = {"Functional", "Model", "Sequential"}
# Layers whose rows hold weights: a second call of one would count them twice.
WEIGHTED = {"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Dense",
            "BatchNormalization", "LayerNormalization", "GroupNormalization", "PReLU",
            "LayerScale", "Normalization"}


PARAM_OPS = {"conv2d", "depthwise_conv2d", "separable_conv2d", "conv2d_transpose", "dense",
             "batch_norm", "layer_norm", "group_norm", "prelu", "scale_bias", "normalization"}


class _Unsupported(Exception):
    """A layer (or a use of one) costcalc cannot count: `kind` is what the message lists."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


class _Skip(Exception):
    """A shape problem after an unsupported layer (whose output shape is unknown): the layer is
    passed through, so the one error lists every unsupported layer."""


class _T:
    """A tensor: the row that makes it, its (C, H, W), and its Keras rank without the batch
    axis (1: a vector (C,), 3: a map)."""
    __slots__ = ("row", "shape", "rank")

    def __init__(self, row, shape, rank):
        self.row, self.shape, self.rank = row, tuple(int(v) for v in shape), rank


class _Ref:
    __slots__ = ("layer", "node", "index", "shape")

    def __init__(self, layer, node, index, shape=None):
        self.layer, self.node, self.index = layer, int(node), int(index)
        self.shape = shape               # Keras 3 records the tensor's shape (batch first)

    def key(self):
        return (self.layer, self.node, self.index)


class _Const:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _Call:
    """One inbound node: `first` (the tensors or constants of the first argument, a list),
    `listed` (the first argument was a list), `rest` (further positional arguments, raw) and
    `kwargs` (tensors in them as _Ref)."""
    __slots__ = ("first", "listed", "rest", "kwargs")

    def __init__(self, first, listed, rest, kwargs):
        self.first, self.listed, self.rest, self.kwargs = first, listed, rest, kwargs

    def refs(self):
        out = [x for x in self.first if isinstance(x, _Ref)]
        out += [x for x in _walk(self.rest) if isinstance(x, _Ref)]
        out += [x for x in _walk(self.kwargs) if isinstance(x, _Ref)]
        return out


def _walk(v):
    if isinstance(v, (_Ref, _Const)):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from _walk(x)
    elif isinstance(v, (list, tuple)):
        for x in v:
            yield from _walk(x)


# ----------------------------------------------------------------------------- reading the file
def _label(path):
    """A file name for messages: printable characters, at most 200."""
    text = "".join(ch for ch in str(path) if ch.isprintable())
    return text if len(text) <= 200 else text[:197] + "..."


def _load(path_or_text):
    """(config dict, file name, format, archive metadata or None)."""
    meta = None
    if isinstance(path_or_text, dict):
        return path_or_text, "<model>", "keras-json", None
    if isinstance(path_or_text, (bytes, bytearray)):
        data, name = bytes(path_or_text), "<model>"
    elif isinstance(path_or_text, str) and path_or_text.lstrip().startswith(("{", "[")):
        data, name = path_or_text.encode(), "<model>"
    else:
        name = os.fspath(path_or_text)
        try:
            size = os.path.getsize(name)
            if size > MAX_BYTES:
                raise ImportFormatError(f"{_label(name)}: {size:,} bytes; expected a Keras model "
                                        f"file of at most {MAX_BYTES:,} bytes")
            with open(name, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ImportFormatError(f"{_label(name)}: cannot be read ({exc.strerror}); expected "
                                    "a Keras model file (.json, .keras)") from None
    fmt = "keras-json"
    if data[:4] == b"PK\x03\x04":
        fmt = "keras-archive"
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = z.namelist()
                if "config.json" not in names:
                    raise ImportFormatError(f"{_label(name)}: a zip without config.json; expected "
                                            "a .keras archive (config.json, metadata.json)")
                info = z.getinfo("config.json")
                if info.file_size > MAX_BYTES:
                    raise ImportFormatError(f"{_label(name)}: config.json holds {info.file_size:,}"
                                            f" bytes; expected at most {MAX_BYTES:,}")
                data = z.read("config.json")
                if "metadata.json" in names and z.getinfo("metadata.json").file_size < 1 << 20:
                    try:
                        meta = json.loads(z.read("metadata.json"))
                    except ValueError:
                        meta = None
        except zipfile.BadZipFile as exc:
            raise ImportFormatError(f"{_label(name)}: a broken zip ({exc}); expected a .keras "
                                    "archive") from None
    elif data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as g:
                data = g.read(MAX_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise ImportFormatError(f"{_label(name)}: a broken gzip file ({exc}); expected "
                                    "gzipped Keras JSON") from None
        if len(data) > MAX_BYTES:
            raise ImportFormatError(f"{_label(name)}: more than {MAX_BYTES:,} bytes unpacked; "
                                    "expected a Keras model JSON")
    try:
        cfg = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"{_label(name)}: not UTF-8 text (byte {exc.start}); expected "
                                "Keras model JSON (model.to_json()) or a .keras archive") from None
    except RecursionError:
        raise ImportFormatError(f"{_label(name)}: JSON nested too deeply; expected Keras model "
                                "JSON") from None
    except ValueError as exc:
        raise ImportFormatError(f"{_label(name)}: not JSON ({exc}); expected Keras model JSON "
                                "(model.to_json()) or a .keras archive") from None
    return cfg, name, fmt, meta


# ----------------------------------------------------------------------------- the converter
class _Reader:
    def __init__(self, file, form, input_shape):
        self.file = file
        self.form = form                  # 3 (Keras 3) or 2 (tf.keras 2.x)
        self.input_shape = input_shape
        self.rows = []
        self.used = {"input"}
        self.reserved = set()             # the outer model's own names: nested rows yield
        self.notes = []
        self.unsupported = OrderedDict()  # kind -> [count, first layer name]
        self.channels_first = False
        self.shape_checks = True
        self.calls = {}                   # id(layer entry) -> calls emitted

    # ---- errors and notes
    def fail(self, what):
        raise ImportFormatError(f"{self.file}: {what}")

    def fail_shape(self, what):
        """A shape that does not fit: an error, unless an unsupported layer came before (its
        output shape is a guess, so the unsupported-layer error is the one to give)."""
        if self.unsupported:
            raise _Skip(what)
        self.fail(what)

    def unsupported_layer(self, kind, name):
        entry = self.unsupported.setdefault(kind, [0, name])
        entry[0] += 1

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    # ---- rows
    def _unique(self, name, scope):
        base = name if isinstance(name, str) else str(name)
        base = "".join(ch for ch in base if ch.isprintable()) or "layer"
        base = base[:NAME_CHARS]
        taken = self.used if not scope else self.used | self.reserved
        if base not in taken:
            return base
        if scope:
            cand = f"{scope}/{base}"[:NAME_CHARS]
            if cand not in taken:
                return cand
        k = 2
        while True:
            cand = f"{base[:NAME_CHARS - 8]}_{k}"
            if cand not in taken:
                return cand
            k += 1

    def emit(self, name, op, ins, out_shape, out_rank, scope="", trainable=True, original=None,
             **attrs):
        """Add a row; returns its tensor."""
        row_name = self._unique(name, scope)
        self.used.add(row_name)
        row = {"name": row_name, "op": op}
        row["inputs"] = [t.row for t in ins]
        row.update({k: v for k, v in attrs.items() if v is not None})
        if not trainable and op in PARAM_OPS:     # frozen: only rows with weights say so
            row["trainable"] = False
        orig = original if original is not None else name
        if row_name != orig:
            row["_original"] = str(orig)
        self.rows.append(row)
        if min(out_shape) <= 0:
            self.fail_shape(f"layer {shown(orig)} ({op}) leaves an empty output "
                      f"{'x'.join(map(str, out_shape))}; expected a larger input")
        return _T(row_name, out_shape, out_rank)

    # ---- shapes
    def keras_shape(self, dims, where):
        """A Keras shape without the batch axis -> ((C, H, W), rank), or None entries kept."""
        dims = list(dims)
        if len(dims) == 1:
            return (dims[0], 1, 1), 1
        if len(dims) == 3:
            if self.channels_first:
                return (dims[0], dims[1], dims[2]), 3
            return (dims[2], dims[0], dims[1]), 3
        raise _Unsupported(f"tensors of rank {len(dims) + 1} ({where})")

    def caxis(self, axis, rank):
        """Is `axis` (Keras, with the batch axis) the channel axis of a tensor of `rank`?"""
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                return False
            axis = axis[0]
        if not isinstance(axis, int) or isinstance(axis, bool):
            return False
        n = rank + 1
        axis = axis + n if axis < 0 else axis
        return axis == (1 if (self.channels_first and rank == 3) else n - 1)

    def spatial_axis(self, axis, rank):
        """Keras axis -> 'c', 'h' or 'w' (None if not an axis of the tensor)."""
        n = rank + 1
        if not isinstance(axis, int) or isinstance(axis, bool):
            return None
        axis = axis + n if axis < 0 else axis
        if rank == 1:
            return "c" if axis == 1 else None
        order = ("c", "h", "w") if self.channels_first else ("h", "w", "c")
        return order[axis - 1] if 1 <= axis <= 3 else None

    # ---- model graphs
    def model_layers(self, cfg):
        if isinstance(cfg, list):                       # old tf.keras Sequential: a bare list
            return cfg
        layers = cfg.get("layers")
        if not isinstance(layers, list):
            self.fail("a model config without a layer list; expected the JSON of a Sequential "
                      "or Functional model (a subclassed model's JSON has no layer graph)")
        return layers

    @staticmethod
    def lname(layer):
        name = layer.get("name")
        if name is None and isinstance(layer.get("config"), dict):
            name = layer["config"].get("name")
        return name

    def is_model(self, layer):
        cfg = layer.get("config")
        return layer.get("class_name") in MODELS or (
            isinstance(cfg, dict) and isinstance(cfg.get("layers"), list)
            and "input_layers" in cfg)

    def sequential(self, entry):
        cfg = entry.get("config")
        return entry.get("class_name") == "Sequential" or isinstance(cfg, list) or (
            isinstance(cfg, dict) and "input_layers" not in cfg)

    def input_dims(self, entry):
        """The batch shape of the model's input (with the batch axis), or None."""
        cfg = entry.get("config")
        layers = self.model_layers(cfg)
        if self.sequential(entry):
            if not layers:
                self.fail("an empty Sequential model; expected layers")
            first = layers[0].get("config") or {}
            for key in ("batch_shape", "batch_input_shape"):
                if first.get(key) is not None:
                    return first[key]
            if isinstance(cfg, dict):
                if cfg.get("build_input_shape"):
                    return cfg["build_input_shape"]
            bc = entry.get("build_config") or {}
            if bc.get("input_shape"):
                return bc["input_shape"]
            if self.is_model(layers[0]):
                return self.input_dims(layers[0])
            return None
        ins = _coords(cfg.get("input_layers"))
        if len(ins) != 1:
            self.fail(f"the model has {len(ins)} inputs; expected one (a costcalc spec takes "
                      "one input)")
        for layer in layers:
            if self.lname(layer) == ins[0][0]:
                if self.is_model(layer):
                    return self.input_dims(layer)
                lc = layer.get("config") or {}
                return lc.get("batch_shape", lc.get("batch_input_shape"))
        self.fail(f"input layer {shown(ins[0][0])} is not among the layers")

    def expand(self, entry, inputs, trainable, scope, call_index=0):
        """Rows of a model called on `inputs` (tensors); returns its output tensors."""
        cfg = entry.get("config")
        layers = self.model_layers(cfg)
        trainable = trainable and _trainable(cfg)
        name = self.lname(entry) or "model"
        if self.sequential(entry):
            x = inputs
            for layer in layers:
                if not isinstance(layer, dict):
                    self.fail("a Sequential layer that is not an object; expected "
                              "{\"class_name\", \"config\"}")
                if layer.get("class_name") == "InputLayer":
                    continue
                x = self.call_layer(layer, _Call(list(x), len(x) > 1, [], {}), x, trainable,
                                    scope)
            return x
        tensors = {}
        ins = _coords(cfg.get("input_layers"))
        if len(ins) != len(inputs):
            self.fail(f"model {shown(name)} takes {len(ins)} inputs, is given {len(inputs)}; "
                      "expected one")
        by_name = {}
        for layer in layers:
            if not isinstance(layer, dict):
                self.fail("a layer that is not an object; expected {\"class_name\", \"config\","
                          " \"inbound_nodes\"}")
            by_name[self.lname(layer)] = layer
        for (lname, node, idx), t in zip(ins, inputs):
            if lname not in by_name:
                self.fail(f"input layer {shown(lname)} is not among the layers")
            tensors[(lname, node, idx)] = [t]
            tensors[(lname, 0, 0)] = [t]
        pending = []
        for layer in layers:
            if layer.get("class_name") == "InputLayer":
                continue
            nodes = layer.get("inbound_nodes") or []
            if not isinstance(nodes, list):
                self.fail(f"layer {shown(self.lname(layer))}: inbound_nodes is not a list")
            for k, node in enumerate(nodes):
                pending.append((layer, k, self.parse_node(node, by_name, layer)))
        while pending:
            left = []
            for layer, k, call in pending:
                refs = call.refs()
                if all(r.key() in tensors for r in refs):
                    outs = self.call_layer(layer, call, None, trainable, scope, tensors, k)
                    # tf.keras numbers a nested model's calls from 1: its node 0 is the one
                    # made when it was built (tf_keras/engine/functional.py
                    # _should_skip_first_node); Keras 3 numbers them from 0
                    node = k + 1 if (self.form == 2 and self.is_model(layer)
                                     and self.skips_first_node(layer)) else k
                    for i, t in enumerate(outs):
                        tensors[(self.lname(layer), node, i)] = [t]
                else:
                    left.append((layer, k, call))
            if len(left) == len(pending):
                missing = next(r for _, _, c in left for r in c.refs() if r.key() not in tensors)
                known = missing.layer in by_name
                self.fail(f"layer {shown(left[0][0] and self.lname(left[0][0]))} reads "
                          f"{shown(missing.layer)} (node {missing.node}), which "
                          + ("is never computed (a cycle?)" if known else "is not a layer of "
                             f"model {shown(name)}")
                          + "; expected inbound nodes that name earlier layers")
            pending = left
        outs = []
        for lname, node, idx in _coords(cfg.get("output_layers")):
            key = (lname, node, idx)
            if key not in tensors:
                self.fail(f"output {shown(lname)} of model {shown(name)} is not computed; "
                          "expected output_layers that name its layers")
            outs.append(tensors[key][0])
        if not outs:
            self.fail(f"model {shown(name)} has no outputs; expected output_layers")
        return outs

    def skips_first_node(self, layer):
        if not self.sequential(layer):
            return True
        try:
            return self.input_dims(layer) is not None
        except ImportFormatError:
            return False

    def parse_node(self, node, by_name, layer):
        """An inbound node in either form -> _Call."""
        if isinstance(node, dict):                               # Keras 3
            args = node.get("args", [])
            kwargs = node.get("kwargs", {}) or {}
            if not isinstance(args, list) or not args:
                self.fail(f"layer {shown(self.lname(layer))}: a node without arguments")
            first = args[0]
            listed = isinstance(first, list)
            items = first if listed else [first]
            conv = [self.k3_value(x) for x in items]
            return _Call(conv, listed, [self.k3_value(x) for x in args[1:]],
                         {k: self.k3_value(v) for k, v in kwargs.items()})
        if isinstance(node, list):                               # tf.keras 2.x
            first, kwargs = [], {}
            for item in node:
                if not isinstance(item, list) or len(item) not in (3, 4):
                    self.fail(f"layer {shown(self.lname(layer))}: an inbound entry "
                              f"{shown(item)}; expected [layer, node, tensor, kwargs]")
                if len(item) == 4 and isinstance(item[3], dict):
                    kwargs = item[3]
                if item[0] == "_CONSTANT_VALUE":
                    first.append(_Const(item[2]))
                else:
                    first.append(_Ref(item[0], item[1], item[2]))
            kw = {k: self.k2_value(v, by_name) for k, v in kwargs.items()}
            return _Call(first, len(first) > 1, [], kw)
        self.fail(f"layer {shown(self.lname(layer))}: an inbound node {shown(node)}; "
                  "expected a Keras 3 {\"args\", \"kwargs\"} node or a tf.keras list")

    def k3_value(self, v):
        if isinstance(v, dict):
            if v.get("class_name") == "__keras_tensor__":
                h = (v.get("config") or {}).get("keras_history")
                if not isinstance(h, list) or len(h) != 3:
                    self.fail(f"a tensor without keras_history: {shown(v)}")
                shape = (v.get("config") or {}).get("shape")
                return _Ref(h[0], h[1], h[2], shape if isinstance(shape, list) else None)
            if v.get("class_name") in ("__slice__", "__ellipsis__"):
                return ("slice", v.get("config") or {}) if v["class_name"] == "__slice__" \
                    else ("ellipsis",)
            return {k: self.k3_value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.k3_value(x) for x in v]
        return _Const(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    def k2_value(self, v, by_name):
        if (isinstance(v, list) and len(v) == 3 and isinstance(v[0], str)
                and isinstance(v[1], int) and isinstance(v[2], int) and v[0] in by_name):
            return _Ref(v[0], v[1], v[2])
        if isinstance(v, list):
            return [self.k2_value(x, by_name) for x in v]
        if isinstance(v, dict):
            return {k: self.k2_value(x, by_name) for k, x in v.items()}
        return _Const(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    # ---- one layer call
    def call_layer(self, layer, call, given, trainable, scope, tensors=None, k=0):
        """Rows of one call of `layer`; returns its output tensors (a list)."""
        name = self.lname(layer)
        cls = layer.get("class_name")
        cfg = layer.get("config") if isinstance(layer.get("config"), (dict, list)) else {}
        if not isinstance(name, str) or not isinstance(cls, str):
            self.fail(f"a layer without a name or class_name: {shown(layer)}; expected "
                      "{\"class_name\", \"config\": {\"name\"}}")

        def resolve(x):
            if isinstance(x, _Ref):
                t = tensors[x.key()][0]
                if (x.shape is not None and self.shape_checks and not self.unsupported
                        and len(x.shape) in (2, 4)):
                    try:
                        rec, _ = self.keras_shape(x.shape[1:], name)
                    except _Unsupported:
                        rec = None
                    if rec is not None and None not in rec and tuple(rec) != t.shape:
                        self.fail(f"layer {shown(name)} reads {shown(x.layer)} as "
                                  f"{'x'.join(map(str, t.shape))} by Keras's shape rules, but "
                                  f"the file records {'x'.join(map(str, rec))} (C x H x W); "
                                  "expected the shapes Keras computed")
                return t
            return x

        if given is not None:
            ins = list(given)
        else:
            ins = [resolve(x) for x in call.first]
        layer_trainable = trainable and (not isinstance(cfg, dict) or _trainable(cfg))
        if self.is_model(layer):
            tins = [t for t in ins if isinstance(t, _T)]
            count = self.calls.get(id(layer), 0)
            self.calls[id(layer)] = count + 1
            mscope = name if count == 0 else f"{name}_call{count + 1}"
            before = len(self.rows)
            outs = self.expand(layer, tins, trainable, mscope, count)
            n = len(self.rows) - before
            frozen = ", frozen (trainable: false)" if not (trainable and _trainable(cfg)) else ""
            self.note(f"nested model '{name}' ({cls}) expanded in place: {n} rows{frozen}")
            return outs
        # record-shape check (Keras 3 nodes carry the shapes of their inputs)
        count = self.calls.get(id(layer), 0)
        self.calls[id(layer)] = count + 1
        row_name = name if count == 0 else f"{name}_call{count + 1}"
        if count and cls in WEIGHTED:
            self.unsupported_layer(f"shared {cls} (weights used by {count + 1} calls)", name)
            return [ins[0] if ins and isinstance(ins[0], _T) else self._dummy()]
        try:
            out = self.convert(cls, layer, cfg, call, ins, resolve, row_name, scope,
                               layer_trainable)
        except _Unsupported as exc:
            self.unsupported_layer(exc.kind, name)
            out = next((t for t in ins if isinstance(t, _T)), None) or self._dummy()
        except _Skip:
            out = next((t for t in ins if isinstance(t, _T)), None) or self._dummy()
        return [out]

    def _dummy(self):
        return _T("input", (1, 1, 1), 3)

    # ---- layer classes
    def convert(self, cls, layer, cfg, call, ins, resolve, name, scope, trainable):
        module = layer.get("module") or ""
        self.lname_current = name
        tens = [t for t in ins if isinstance(t, _T)]
        x = tens[0] if tens else None
        act_of = self.fused_activation

        def emit(op, out_shape, out_rank, inputs=None, **attrs):
            return self.emit(name, op, inputs if inputs is not None else [x], out_shape, out_rank,
                             scope=scope, trainable=trainable,
                             original=self.lname(layer), **attrs)

        if module.startswith("keras.src.ops") or cls in ("TFOpLambda", "SlicingOpLambda"):
            return self.operation(cls, layer, cfg, call, ins, resolve, emit)
        if x is None:
            raise _Unsupported(f"{cls} without a tensor input")
        c, h, w = x.shape
        cf = cfg.get("data_format")
        if cf == "channels_first" and not self.channels_first:
            raise _Unsupported(f"{cls}(data_format='channels_first') after channels_last layers")

        if cls in ("Conv2D", "Convolution2D", "DepthwiseConv2D", "SeparableConv2D",
                   "SeparableConvolution2D", "Conv2DTranspose", "Convolution2DTranspose"):
            self.need_rank(x, 3, cls)
            kh, kw = _pair(cfg.get("kernel_size"), cls, "kernel_size")
            sh, sw = _pair(cfg.get("strides", 1), cls, "strides")
            dh, dw = _pair(cfg.get("dilation_rate", 1), cls, "dilation_rate")
            pad = cfg.get("padding", "valid")
            if pad not in ("valid", "same"):
                raise _Unsupported(f"{cls}(padding={pad!r})")
            bias = None if cfg.get("use_bias", True) else False
            act = act_of(cfg, cls)
            common = dict(kernel=_compact(kh, kw), strides=_compact(sh, sw, 1),
                          padding=pad if pad != "valid" else None,
                          dilation=_compact(dh, dw, 1), bias=bias, activation=act)
            if cls.startswith(("Conv2DT", "Convolution2DT")):
                op_ = cfg.get("output_padding")
                oph, opw = _pair(op_, cls, "output_padding") if op_ is not None else (None, None)
                ho = _deconv(h, kh, sh, dh, pad, oph)
                wo = _deconv(w, kw, sw, dw, pad, opw)
                groups = cfg.get("groups", 1) or 1
                return emit("conv2d_transpose", (cfg["filters"], ho, wo), 3,
                            filters=int(cfg["filters"]), groups=groups if groups != 1 else None,
                            output_padding=None if op_ is None else _compact(oph, opw), **common)
            ho, wo = _window(h, kh, sh, dh, pad), _window(w, kw, sw, dw, pad)
            if cls == "DepthwiseConv2D":
                dm = int(cfg.get("depth_multiplier", 1))
                return emit("depthwise_conv2d", (c * dm, ho, wo), 3,
                            depth_multiplier=dm if dm != 1 else None, **common)
            if cls.startswith("Separable"):
                dm = int(cfg.get("depth_multiplier", 1))
                return emit("separable_conv2d", (int(cfg["filters"]), ho, wo), 3,
                            filters=int(cfg["filters"]),
                            depth_multiplier=dm if dm != 1 else None, **common)
            groups = int(cfg.get("groups", 1) or 1)
            return emit("conv2d", (int(cfg["filters"]), ho, wo), 3, filters=int(cfg["filters"]),
                        groups=groups if groups != 1 else None, **common)
        if cls == "Dense":
            units = int(cfg["units"])
            bias = None if cfg.get("use_bias", True) else False
            act = act_of(cfg, cls)
            if x.rank == 3:
                return emit("dense", (units, h, w), 3, units=units, bias=bias, activation=act,
                            per_position=True)
            return emit("dense", (units, 1, 1), 1, units=units, bias=bias, activation=act)
        if cls == "BatchNormalization":
            if not self.caxis(cfg.get("axis", -1), x.rank):
                raise _Unsupported(f"BatchNormalization(axis={cfg.get('axis')!r}) not over "
                                   "channels")
            return emit("batch_norm", x.shape, x.rank, epsilon=_eps(cfg, 1e-3),
                        scale=None if cfg.get("scale", True) else False,
                        center=None if cfg.get("center", True) else False)
        if cls == "LayerNormalization":
            if not self.caxis(cfg.get("axis", -1), x.rank):
                raise _Unsupported("LayerNormalization not over channels alone (axis="
                                   f"{cfg.get('axis')!r})")
            if cfg.get("rms_scaling"):
                raise _Unsupported("LayerNormalization(rms_scaling=True)")
            return emit("layer_norm", x.shape, x.rank,
                        epsilon=float(cfg.get("epsilon", 1e-3)),
                        scale=None if cfg.get("scale", True) else False,
                        center=None if cfg.get("center", True) else False)
        if cls == "GroupNormalization":
            if not self.caxis(cfg.get("axis", -1), x.rank) or x.rank != 3:
                raise _Unsupported("GroupNormalization not over channels")
            center, scale = cfg.get("center", True), cfg.get("scale", True)
            if center != scale:
                raise _Unsupported("GroupNormalization(center != scale)")
            return emit("group_norm", x.shape, 3, groups=int(cfg.get("groups", 32)),
                        affine=None if center else False,
                        epsilon=float(cfg.get("epsilon", 1e-3)))
        if cls == "Normalization":
            const = cfg.get("mean") is not None and cfg.get("variance") is not None
            if not const and not self.caxis(cfg.get("axis", -1), x.rank):
                raise _Unsupported(f"Normalization(axis={cfg.get('axis')!r}) with adapted "
                                   "statistics not per channel")
            if const:
                self.note(f"Normalization '{self.lname(layer)}': mean and variance given as "
                          "constants: 0 params (constants: true)")
            return emit("normalization", x.shape, x.rank, constants=True if const else None,
                        invert=True if cfg.get("invert") else None)
        if cls == "Rescaling":
            scale = self.scalar(cfg.get("scale", 1.0), "Rescaling", "scale")
            offset = self.scalar(cfg.get("offset", 0.0), "Rescaling", "offset")
            return emit("rescaling", x.shape, x.rank, scale=scale, offset=offset or None)
        if cls == "Activation":
            a = _act_name(cfg.get("activation"))
            if a not in ACTIVATIONS:
                raise _Unsupported(f"Activation({a!r})")
            op = ACTIVATIONS[a]
            extra = {}
            if op == "hard_sigmoid" and self.form == 2:
                extra["definition"] = "keras2"
            if op == "leaky_relu":
                extra["alpha"] = 0.2
            return emit(op, x.shape, x.rank, **extra)
        if cls == "ReLU":
            mv = cfg.get("max_value")
            ns = float(cfg.get("negative_slope", 0.0) or 0.0)
            th = float(cfg.get("threshold", 0.0) or 0.0)
            if th != 0.0:
                raise _Unsupported("ReLU(threshold != 0)")
            if mv is None and ns == 0.0:
                return emit("relu", x.shape, x.rank)
            if mv is not None and ns == 0.0:
                if float(mv) == 6.0:
                    return emit("relu6", x.shape, x.rank)
                return emit("clip", x.shape, x.rank, min=0.0, max=float(mv))
            if mv is None:
                return emit("leaky_relu", x.shape, x.rank, alpha=ns)
            raise _Unsupported("ReLU(max_value and negative_slope)")
        if cls == "LeakyReLU":
            alpha = cfg.get("negative_slope", cfg.get("alpha", 0.3))
            return emit("leaky_relu", x.shape, x.rank, alpha=float(alpha))
        if cls == "ELU":
            return emit("elu", x.shape, x.rank, alpha=float(cfg.get("alpha", 1.0)))
        if cls == "Softmax":
            if not self.caxis(cfg.get("axis", -1), x.rank):
                raise _Unsupported("Softmax not over channels")
            return emit("softmax", x.shape, x.rank)
        if cls == "PReLU":
            shared = cfg.get("shared_axes")
            sp = sorted(self.spatial_axis(a, x.rank) or "?" for a in (shared or []))
            if not shared:
                slopes = "element"
            elif sp == ["h", "w"]:
                slopes = "channel"
            elif sp == ["c", "h", "w"]:
                slopes = "single"
            else:
                raise _Unsupported(f"PReLU(shared_axes={shared!r})")
            return emit("prelu", x.shape, x.rank, slopes=slopes if slopes != "channel" else None)
        if cls in ("Add", "Multiply", "Subtract", "Average"):
            if len(tens) < 2:
                raise _Unsupported(f"{cls} of one tensor")
            shape, rank = self.broadcast(tens, cls)
            if cls == "Average":
                if len(tens) > 2:
                    self.note(f"Average '{self.lname(layer)}' of {len(tens)} inputs: written as "
                              f"add with scale 1/{len(tens)}, counted {2 * (len(tens) - 1)} ops "
                              f"an element (Keras: {len(tens) - 1} adds and a divide)")
                return emit("add", shape, rank, inputs=tens, scale=1.0 / len(tens))
            return emit(cls.lower(), shape, rank, inputs=tens)
        if cls == "Concatenate":
            return self.concat(tens, cfg.get("axis", -1), emit, cls)
        if cls in ("MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D"):
            self.need_rank(x, 3, cls)
            kh, kw = _pair(cfg.get("pool_size", 2), cls, "pool_size")
            st = cfg.get("strides")
            sh, sw = _pair(st, cls, "strides") if st is not None else (kh, kw)
            pad = cfg.get("padding", "valid")
            if pad not in ("valid", "same"):
                raise _Unsupported(f"{cls}(padding={pad!r})")
            ho, wo = _window(h, kh, sh, 1, pad), _window(w, kw, sw, 1, pad)
            op = "max_pool2d" if cls.startswith("Max") else "avg_pool2d"
            return emit(op, (c, ho, wo), 3, kernel=_compact(kh, kw),
                        strides=None if (sh, sw) == (kh, kw) else _compact(sh, sw),
                        padding=pad if pad != "valid" else None)
        if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAvgPool2D",
                   "GlobalMaxPool2D"):
            self.need_rank(x, 3, cls)
            op = "global_max_pool" if "Max" in cls else "global_avg_pool"
            return emit(op, (c, 1, 1), 3 if cfg.get("keepdims") else 1)
        if cls == "ZeroPadding2D":
            self.need_rank(x, 3, cls)
            (t, b), (l, r) = _pad4(cfg.get("padding", 1), cls)
            return emit("zero_pad2d", (c, h + t + b, w + l + r), 3,
                        padding=[[t, b], [l, r]])
        if cls == "Cropping2D":
            self.need_rank(x, 3, cls)
            (t, b), (l, r) = _pad4(cfg.get("cropping", 0), cls)
            self.note("Cropping2D rows are written as resize (nearest) to the cropped size: "
                      "costcalc has no crop op; the counts are the same (0 params, 0 MACs, "
                      "0 other ops, the cropped output)")
            return emit("resize", (c, h - t - b, w - l - r), 3, mode="nearest",
                        size=[h - t - b, w - l - r])
        if cls == "UpSampling2D":
            self.need_rank(x, 3, cls)
            fh, fw = _pair(cfg.get("size", 2), cls, "size")
            mode = cfg.get("interpolation", "nearest")
            if mode not in ("nearest", "bilinear"):
                raise _Unsupported(f"UpSampling2D(interpolation={mode!r})")
            return emit("resize", (c, h * fh, w * fw), 3, mode=mode if mode != "nearest"
                        else None, scale=_compact(fh, fw))
        if cls == "Resizing":
            self.need_rank(x, 3, cls)
            mode = cfg.get("interpolation", "bilinear")
            if mode not in ("nearest", "bilinear"):
                raise _Unsupported(f"Resizing(interpolation={mode!r})")
            if cfg.get("crop_to_aspect_ratio") or cfg.get("pad_to_aspect_ratio"):
                raise _Unsupported("Resizing(crop_to_aspect_ratio / pad_to_aspect_ratio)")
            ho, wo = int(cfg["height"]), int(cfg["width"])
            return emit("resize", (c, ho, wo), 3, mode=mode if mode != "nearest" else None,
                        size=[ho, wo])
        if cls == "Flatten":
            return emit("flatten", (c * h * w, 1, 1), 1)
        if cls == "Reshape":
            return self.reshape(x, cfg.get("target_shape"), emit, cls)
        if cls == "Permute":
            dims = cfg.get("dims")
            if x.rank != 3 or not isinstance(dims, list) or sorted(dims) != [1, 2, 3]:
                raise _Unsupported(f"Permute(dims={dims!r})")
            axis = {1: 0, 2: 1, 3: 2} if self.channels_first else {1: 1, 2: 2, 3: 0}
            order = [dims[0], dims[1], dims[2]] if self.channels_first else \
                [dims[2], dims[0], dims[1]]
            perm = [axis[d] for d in order]
            return emit("transpose", tuple(x.shape[p] for p in perm), 3, perm=perm)
        if cls in DROPOUTS:
            rate = cfg.get("rate", 0.5)
            return emit("dropout", x.shape, x.rank, rate=float(rate))
        if cls in IDENTITIES:
            return emit("linear", x.shape, x.rank)
        if cls == "LayerScale":
            return emit("scale_bias", x.shape, x.rank, bias=False)
        if cls == "CustomScaleLayer":             # Inception-ResNet-v2: x[0] + x[1] * scale
            if len(tens) != 2:
                raise _Unsupported("CustomScaleLayer of other than two tensors")
            shape, rank = self.broadcast(tens, cls)
            return emit("add", shape, rank, inputs=tens, scale=float(cfg.get("scale", 1.0)))
        if cls == "Lambda":
            raise _Unsupported("Lambda")
        raise _Unsupported(cls)

    def fused_activation(self, cfg, cls):
        a = _act_name(cfg.get("activation", "linear"))
        if a is None:
            return None
        if a not in FUSED:
            raise _Unsupported(f"{cls}(activation={a!r})")
        if a == "hard_sigmoid" and self.form == 2:
            self.note("tf.keras 2 fused hard_sigmoid (0.2x + 0.5) is written as the fused "
                      "activation hard_sigmoid: the same count (1 op an element)")
        a = ACTIVATIONS[a]
        return None if a == "linear" else a

    def need_rank(self, x, rank, cls):
        if x.rank != rank:
            raise _Unsupported(f"{cls} on a tensor of rank {x.rank + 1}")

    def scalar(self, v, cls, what):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, list) and v and all(isinstance(a, (int, float)) for a in _flat(v)):
            vals = list(_flat(v))
            if all(a == vals[0] for a in vals):
                return float(vals[0])
            self.note(f"{cls} with a per-channel {what} {shown(vals)}: written with its first "
                      "value (the counts do not depend on it)")
            return float(vals[0])
        raise _Unsupported(f"{cls}({what}={shown(v)})")

    def broadcast(self, tens, cls):
        shape = [1, 1, 1]
        for t in tens:
            for i, d in enumerate(t.shape):
                if d != 1:
                    if shape[i] not in (1, d):
                        self.fail_shape(f"{cls} of shapes "
                                  f"{', '.join('x'.join(map(str, t.shape)) for t in tens)} that "
                                  "do not broadcast; expected equal sizes or 1")
                    shape[i] = d
        return tuple(shape), max(t.rank for t in tens)

    def concat(self, tens, axis, emit, cls):
        if not tens:
            raise _Unsupported(f"{cls} without tensors")
        rank = tens[0].rank
        if any(t.rank != rank for t in tens) or not self.caxis(axis, rank):
            raise _Unsupported(f"{cls} not along channels (axis={axis!r})")
        h, w = tens[0].shape[1:]
        if any(t.shape[1:] != (h, w) for t in tens):
            self.fail_shape(f"{cls} of maps of different sizes "
                      f"{', '.join('x'.join(map(str, t.shape)) for t in tens)}; expected the "
                      "same height and width")
        return emit("concat", (sum(t.shape[0] for t in tens), h, w), rank, inputs=tens)

    def reshape(self, x, target, emit, cls):
        if not isinstance(target, (list, tuple)) or len(target) not in (1, 3):
            rank = len(target) + 1 if isinstance(target, (list, tuple)) else "?"
            raise _Unsupported(f"{cls} to rank {rank}")
        (c, h, w), rank = self.keras_shape(target, cls)
        dims = [c, h, w]
        total = x.shape[0] * x.shape[1] * x.shape[2]
        if dims.count(-1) > 1:
            self.fail(f"{cls} to {shown(target)}: more than one -1")
        if -1 in dims:
            known = -math.prod(dims)
            if known <= 0 or total % known:
                self.fail_shape(f"{cls} of {total} elements to {shown(target)}")
            dims[dims.index(-1)] = total // known
        if math.prod(dims) != total:
            self.fail_shape(f"{cls} of {'x'.join(map(str, x.shape))} ({total} elements) to "
                      f"{shown(target)}; expected the same element count")
        return emit("reshape", tuple(dims), rank, shape=[c, h, w])

    # ---- keras.ops operations (Keras 3) and TFOpLambda (tf.keras 2.x)
    def operation(self, cls, layer, cfg, call, ins, resolve, emit):
        if cls == "TFOpLambda":
            fn = str(cfg.get("function", ""))
            operands = list(ins)
            kw = {k: resolve(v) for k, v in call.kwargs.items()}
            if "y" in kw:
                operands.append(kw.pop("y"))
            kind = {"__operators__.add": "Add", "math.add": "Add", "math.multiply": "Multiply",
                    "__operators__.mul": "Multiply", "math.subtract": "Subtract",
                    "__operators__.sub": "Subtract", "math.truediv": "TrueDivide",
                    "math.divide": "TrueDivide", "__operators__.truediv": "TrueDivide",
                    "math.negative": "Negative", "nn.relu": "Relu", "nn.relu6": "Relu6",
                    "math.sigmoid": "Sigmoid", "nn.sigmoid": "Sigmoid", "math.tanh": "Tanh",
                    "nn.tanh": "Tanh", "nn.silu": "Silu", "nn.swish": "Silu", "nn.gelu": "Gelu",
                    "nn.softmax": "Softmax", "nn.elu": "Elu", "nn.leaky_relu": "LeakyRelu",
                    "math.reduce_mean": "Mean", "reduce_mean": "Mean", "math.reduce_max": "Max",
                    "reduce_max": "Max", "concat": "Concatenate"}.get(fn)
            if kind is None:
                raise _Unsupported(f"TFOpLambda({fn!r})")
            args = {k: _cv(kw.get(k)) for k in ("axis", "keepdims", "approximate", "alpha")}
            if isinstance(args["axis"], list):
                args["axis"] = [_cv(a) for a in args["axis"]]
            return self.op_rows(kind, operands, args, emit, f"TFOpLambda({fn!r})")
        if cls == "SlicingOpLambda":
            raise _Unsupported("SlicingOpLambda")
        operands = [resolve(v) for v in call.first] + [resolve(v) for v in call.rest]
        if cls == "GetItem":
            return self.get_item(ins, call, emit)
        args = {k: cfg.get(k) for k in ("axis", "keepdims", "approximate", "negative_slope",
                                        "newshape")}
        return self.op_rows(cls, operands, args, emit, f"keras.ops {cls}")

    def op_rows(self, kind, operands, args, emit, label):
        tens = [t for t in operands if isinstance(t, _T)]
        consts = [o for o in operands if not isinstance(o, _T)]
        if not tens:
            raise _Unsupported(f"{label} on constants only")
        x = tens[0]
        unary = {"Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh",
                 "Silu": "swish", "Swish": "swish", "HardSigmoid": "hard_sigmoid",
                 "HardSilu": "hard_swish", "HardSwish": "hard_swish", "Gelu": "gelu",
                 "Elu": "elu", "LeakyRelu": "leaky_relu", "Softmax": "softmax"}
        if kind in unary:
            extra = {}
            if kind == "Gelu":
                approx = args.get("approximate")
                if approx is None:               # keras.ops.gelu: True; tf.nn.gelu: False
                    approx = label.startswith("keras")
                if approx:
                    extra["approximate"] = "tanh"
            if kind == "LeakyRelu":
                extra["alpha"] = float(args.get("negative_slope") or args.get("alpha") or 0.2)
            if kind == "Softmax" and args.get("axis") not in (None, -1) and \
                    not self.caxis(args.get("axis"), x.rank):
                raise _Unsupported(f"{label} not over channels")
            return emit(unary[kind], x.shape, x.rank, inputs=[x], **extra)
        if kind == "Negative":
            if _has_op("scalar"):
                return emit("scalar", x.shape, x.rank, inputs=[x], operation="multiply",
                            value=-1.0)
            return emit("rescaling", x.shape, x.rank, inputs=[x], scale=-1.0)
        if kind in ("Mean", "Max"):
            axis = args.get("axis")
            axes = axis if isinstance(axis, list) else [axis]
            if axis is None:
                names = ["c", "h", "w"]
            else:
                names = [self.spatial_axis(a.value if isinstance(a, _Const) else a, x.rank)
                         for a in axes]
            if None in names:
                raise _Unsupported(f"{label}(axis={axis!r})")
            keep = bool(args.get("keepdims"))
            shape = tuple(1 if n in names else d for n, d in zip(("c", "h", "w"), x.shape))
            if keep:
                rank = x.rank
            elif set(names) >= {"h", "w"} and "c" not in names and x.rank == 3:
                rank = 1
            elif x.rank == 1 or set(names) == {"c", "h", "w"}:
                raise _Unsupported(f"{label} to a scalar")
            else:
                raise _Unsupported(f"{label} to rank {x.rank}")
            return emit("reduce_mean" if kind == "Mean" else "reduce_max", shape, rank,
                        inputs=[x], axes=sorted(names, key="chw".index),
                        keepdims=None if keep else False)
        if kind == "Concatenate":
            return self.concat(tens, args.get("axis", -1) if args.get("axis") is not None
                               else -1, lambda *a, **k: emit(*a, **k), label)
        if kind == "Reshape":
            return self.reshape(x, args.get("newshape"), emit, label)
        if kind in ("Add", "Multiply", "Subtract", "TrueDivide", "Divide"):
            if len(operands) != 2:
                raise _Unsupported(f"{label} of {len(operands)} operands")
            if len(tens) == 2:
                shape, rank = self.broadcast(tens, label)
                op = {"Add": "add", "Multiply": "multiply", "Subtract": "subtract"}.get(
                    kind, "divide")
                return emit(op, shape, rank, inputs=tens)
            c = consts[0]
            value = c.value if isinstance(c, _Const) else c
            value = self.scalar(value, label, "constant")
            first_const = not isinstance(operands[0], _T)
            operation = {"Add": "add", "Multiply": "multiply", "Subtract": "subtract"}.get(
                kind, "divide")
            if _has_op("scalar") and not (first_const and kind in ("Subtract", "TrueDivide",
                                                                  "Divide")):
                return emit("scalar", x.shape, x.rank, inputs=[x], operation=operation,
                            value=value)
            if kind == "Add":
                scale, offset = 1.0, value
            elif kind == "Multiply":
                scale, offset = value, 0.0
            elif kind == "Subtract":
                scale, offset = (-1.0, value) if first_const else (1.0, -value)
            else:
                if first_const or value == 0:
                    raise _Unsupported(f"{label} of a constant by a tensor")
                scale, offset = 1.0 / value, 0.0
            self.note(f"{label} '{self.lname_current}' (a constant first) is written as "
                      "rescaling (x * scale + offset: 2 ops an element)")
            return emit("rescaling", x.shape, x.rank, inputs=[x], scale=scale,
                        offset=offset or None)
        raise _Unsupported(label)

    def get_item(self, ins, call, emit):
        x = next((t for t in ins if isinstance(t, _T)), None)
        if x is None or len(call.rest) != 1:
            raise _Unsupported("keras.ops GetItem")
        idx = call.rest[0] if isinstance(call.rest[0], list) else [call.rest[0]]
        idx = list(idx)
        if idx and idx[0] == ("ellipsis",):
            idx = [("slice", {})] * (x.rank + 2 - len(idx)) + idx[1:]
        if len(idx) != x.rank + 1 or any(not (isinstance(i, tuple) and i[0] == "slice")
                                          for i in idx):
            raise _Unsupported("keras.ops GetItem (indexing other than a channel slice)")
        ch = (1 if self.channels_first and x.rank == 3 else x.rank)
        for k, (_, sl) in enumerate(idx):
            full = all(_cv(sl.get(key)) is None for key in ("start", "stop", "step"))
            if k != ch and not full:
                raise _Unsupported("keras.ops GetItem (a slice other than of channels)")
        sl = idx[ch][1]
        if _cv(sl.get("step")) not in (None, 1):
            raise _Unsupported("keras.ops GetItem (a strided slice)")
        c = x.shape[0]
        begin, stop, _ = slice(_cv(sl.get("start")), _cv(sl.get("stop"))).indices(c)
        return emit("slice", (stop - begin, x.shape[1], x.shape[2]), x.rank, inputs=[x],
                    begin=begin or None, stop=stop)


def _has_op(name):
    from costcalc import ops
    return ops.get_op(name) is not None if hasattr(ops, "get_op") else False


def _cv(v):
    return v.value if isinstance(v, _Const) else v


def _flat(v):
    if isinstance(v, list):
        for x in v:
            yield from _flat(x)
    else:
        yield v


def _trainable(cfg):
    return not (isinstance(cfg, dict) and cfg.get("trainable") is False)


def _coords(v):
    """input_layers / output_layers -> [(name, node, tensor)]: Keras 3 writes one as a flat
    [name, node, tensor], several (and tf.keras always) as a list of them."""
    if not isinstance(v, list) or not v:
        return []
    if isinstance(v[0], str):
        return [(v[0], int(v[1]), int(v[2]))]
    out = []
    for item in v:
        if isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str):
            out.append((item[0], int(item[1]), int(item[2])))
        elif isinstance(item, list):
            out += _coords(item)
    return out


def _act_name(a):
    if a is None:
        return "linear"
    if isinstance(a, dict):                         # a serialized function object
        cfg = a.get("config")
        a = cfg if isinstance(cfg, str) else (cfg or {}).get("name", a.get("class_name"))
    return str(a)


def _pair(v, cls, what):
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return int(v[0]), int(v[1])
    if isinstance(v, int) and not isinstance(v, bool):
        return v, v
    raise _Unsupported(f"{cls}({what}={shown(v)})")


def _pad4(v, cls):
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v), (v, v)
    if isinstance(v, (list, tuple)) and len(v) == 2:
        if all(isinstance(a, int) for a in v):
            return (v[0], v[0]), (v[1], v[1])
        if all(isinstance(a, (list, tuple)) and len(a) == 2 for a in v):
            return (int(v[0][0]), int(v[0][1])), (int(v[1][0]), int(v[1][1]))
    raise _Unsupported(f"{cls}(padding={shown(v)})")


def _compact(a, b, default=None):
    if (a, b) == (default, default):
        return None
    return a if a == b else [a, b]


def _eps(cfg, default):
    e = float(cfg.get("epsilon", default))
    return None if e == default else e


def _window(n, k, s, d, pad):
    if pad == "same":
        return -(-n // s)
    keff = d * (k - 1) + 1
    return (n - keff) // s + 1 if n >= keff else 0


def _deconv(n, k, s, d, pad, op):
    """Keras 3 Conv2DTranspose output size (keras/src/backend/common/backend_utils.py
    _get_output_shape_given_tf_padding; tf.keras deconv_output_length agrees)."""
    keff = k + (k - 1) * (d - 1)
    if op is None:
        return n * s + max(keff - s, 0) if pad == "valid" else n * s
    p = keff // 2 if pad == "same" else 0
    return (n - 1) * s + keff - 2 * p + op


# ----------------------------------------------------------------------------- entry point
def read(path_or_text, input_shape=None) -> Imported:
    """A Keras model (to_json() text or a path to it, a .keras archive, or gzipped JSON) as
    spec rows. `input_shape` (C, H, W) (or "CxHxW") replaces the file's input (needed when it
    has None sizes)."""
    cfg, name, fmt, meta = _load(path_or_text)
    file = _label(os.path.basename(name)) if name != "<model>" else name
    if isinstance(input_shape, str):
        from costcalc.analysis import parse_input
        input_shape = parse_input(input_shape)
    if not isinstance(cfg, dict) or "class_name" not in cfg or "config" not in cfg:
        raise ImportFormatError(f"{file}: JSON without \"class_name\" and \"config\"; expected "
                                "Keras model JSON (model.to_json()) or a .keras archive")
    cls = cfg["class_name"]
    if not (cls in MODELS or (isinstance(cfg["config"], dict)
                              and isinstance(cfg["config"].get("layers"), list))
            or isinstance(cfg["config"], list)):
        raise ImportFormatError(f"{file}: a Keras {shown(cls)} without a layer graph; expected a "
                                "Sequential or Functional model (a subclassed model's JSON has "
                                "no layers)")
    form = 3 if ("module" in cfg or "registered_name" in cfg or fmt == "keras-archive") else 2
    kv = cfg.get("keras_version") or (meta or {}).get("keras_version")
    if form == 2 and str(kv or "").startswith("3"):
        form = 3
    r = _Reader(file, form, input_shape)
    r.shape_checks = input_shape is None
    r.reserved = {r.lname(lay) for lay in r.model_layers(cfg["config"])
                  if isinstance(lay, dict) and not r.is_model(lay)
                  and lay.get("class_name") != "InputLayer"}
    # channels_first models: every layer with a data_format says so
    formats = {lay.get("config", {}).get("data_format") for lay in _all_layers(cfg, r)
               if isinstance(lay.get("config"), dict)} - {None}
    if formats == {"channels_first"}:
        r.channels_first = True
        r.note("channels_first layers: the input's batch shape is read as (N, C, H, W)")
    elif len(formats) > 1:
        raise ImportFormatError(f"{file}: layers with both channels_first and channels_last; "
                                "expected one data_format")
    dims = r.input_dims(cfg)
    if not isinstance(dims, list) or len(dims) != 4:
        if dims is None and input_shape is None:
            raise ImportFormatError(f"{file}: the model's input shape is not recorded; expected "
                                    "an InputLayer, or --input CxHxW")
        if dims is not None and (not isinstance(dims, list) or len(dims) != 4):
            raise ImportFormatError(f"{file}: input batch shape {shown(dims)}; expected an image "
                                    "input (batch, height, width, channels)")
        dims = [None, None, None, input_shape[0]]
    try:
        (c, h, w), _ = r.keras_shape(dims[1:], "the input")
    except _Unsupported as exc:
        raise ImportFormatError(f"{file}: {exc.kind}; expected an image input") from None
    if input_shape is not None:
        ic, ih, iw = (int(v) for v in input_shape)
        if c is not None and ic != c:
            raise ImportFormatError(f"{file}: the model takes {c} input channels; --input gives "
                                    f"{ic}; expected {c}x{ih}x{iw}")
        if (h, w) != (ih, iw):
            r.note(f"input {c}x{h}x{w} of the file replaced by --input {ic}x{ih}x{iw}"
                   .replace("None", "?"))
        c, h, w = ic, ih, iw
    if None in (c, h, w):
        exc = ImportFormatError(
            f"{file}: the input's sizes are not fixed (batch shape "
            f"{'(' + ', '.join(str(d) for d in dims) + ')'}); expected --input CxHxW to give them")
        exc.dynamic = True                # importers.load: the spec exists, building needs --input
        raise exc
    x = _T("input", (c, h, w), 3)
    outs = r.expand(cfg, [x], True, "")
    if r.unsupported:
        parts = [f"{kind} ({n}, first '{first}')" for kind, (n, first) in r.unsupported.items()]
        n = len(parts)
        raise ImportFormatError(
            f"{file}: {n} unsupported layer type{'s' if n > 1 else ''}: {', '.join(parts)}; "
            "expected the layers listed in README \"Importing models\"")
    if not r.rows:
        raise ImportFormatError(f"{file}: the model has no layers; expected at least one")
    if len(outs) > 1:
        r.note(f"the model has {len(outs)} outputs ({', '.join(t.row for t in outs)}): all are "
               "counted; the spec's output is its last row")
    elif outs[0].row != r.rows[-1]["name"]:
        # the spec's output is its last row: move the model's output there when no row reads it
        idx = next(i for i, row in enumerate(r.rows) if row["name"] == outs[0].row)
        if not any(outs[0].row in row["inputs"] for row in r.rows):
            r.rows.append(r.rows.pop(idx))
        else:
            r.note(f"the model's output '{outs[0].row}' is read by later rows: the spec's "
                   f"output is its last row, '{r.rows[-1]['name']}'")
    prev = "input"
    for row in r.rows:                   # `inputs:` only where it is not the previous row
        if row["inputs"] == [prev]:
            del row["inputs"]
        prev = row["name"]
    model_name = cfg["config"].get("name", "model") if isinstance(cfg["config"], dict) \
        else "model"
    if form == 3:
        producer = f"keras {kv}" if kv else "keras 3"
    else:
        producer = f"tf.keras {kv}" if kv else "keras 2"
    source = {"file": file, "format": fmt, "producer": producer,
              "model": f"{model_name} ({cls})"}
    if cfg.get("backend"):
        source["backend"] = cfg["backend"]
    title = f"{model_name} (Keras {cls}, imported from {file})"
    r.notes.insert(0, f"{'Keras 3' if form == 3 else 'tf.keras 2.x'} {cls} '{model_name}': "
                      f"{len(r.rows)} rows, one per layer call (InputLayer omitted); weights "
                      "not read")
    return Imported(rows=r.rows, input=(c, h, w), source=source, title=title, notes=r.notes)


def _all_layers(cfg, r):
    """Every layer entry, nested models' layers included."""
    stack = [cfg]
    while stack:
        entry = stack.pop()
        conf = entry.get("config")
        layers = conf if isinstance(conf, list) else (conf.get("layers") if isinstance(conf, dict)
                                                     else None)
        if isinstance(layers, list):
            for lay in layers:
                if isinstance(lay, dict):
                    yield lay
                    stack.append(lay)
