"""Public analysis functions: validate the request, run the engine, return plain results.

``summarize`` is what ``costcalc summary`` prints; ``compare`` and ``verify`` build on it. Each
public function checks its arguments and raises :class:`CostcalcError` with a clear sentence;
the engine (``engine.py``) only computes.
"""
from __future__ import annotations

import dataclasses

from . import ops
from .errors import CountOverflowError, SpecError, UsageError
from .spec import Model, Spec, load

BYTES_PER_ELEMENT = {"float32": 4, "float64": 8, "float16": 2, "int8": 1}
INT64_MAX = 2**63 - 1

# Quantities scaled by the batch, in TOTAL_COLUMNS names, and how each is shown in messages.
# peak_activation_bytes is the peak column times batch times the element size.
SCALED = (("macs", "MACs"), ("other_ops", "other ops"), ("flops", "FLOPs"),
          ("activations", "activations"), ("peak_activations", "peak activations"),
          ("peak_activation_bytes", "peak activation bytes"))


def shown(value, limit: int = 80) -> str:
    """An echoed value, cut to about ``limit`` characters (a message never echoes a huge
    value); strings without their quotes, since messages quote them themselves."""
    try:
        from .errors import shown as _shown
    except ImportError:             # errors.shown not there: cut locally
        text = value if isinstance(value, str) else (
            f"an integer of {value.bit_length()} bits" if isinstance(value, int)
            and not isinstance(value, bool) and value.bit_length() > 64 else repr(value))
        return text if len(text) <= limit else text[:limit - 3] + "..."
    if not isinstance(value, str):
        return _shown(value, limit)
    text = _shown(value, limit + 2)
    if text[:1] in "'\"":
        text = text[1:-1] if text[-1:] == text[:1] else text[1:]
    return text


def check_batch(batch, option: str = "--batch") -> int:
    """A batch size: an integer from 1 to 2^63 - 1."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= INT64_MAX:
        raise UsageError(f"{option} must be a positive integer (1 to {INT64_MAX:,}), got "
                         f"{shown(batch)}")
    return batch


def scaled_overflow(totals, batch: int = 1, itemsize: int = 4):
    """THE rule for counts scaled by the batch (summary, compare, sweep, run, verify):
    ``totals`` is an (N, 7) int64 array of per-sample totals in engine.TOTAL_COLUMNS order;
    returns an (N,) array: -1 where every scaled quantity (SCALED: MACs, other ops, FLOPs,
    activations, peak activations, all x batch, and peak bytes x batch x itemsize) fits in
    int64, else the index in SCALED of the first that does not."""
    import numpy as np
    from .engine import TOTAL_COLUMNS
    t = np.asarray(totals, dtype=np.int64).reshape(-1, len(TOTAL_COLUMNS))
    out = np.full(len(t), -1, dtype=np.int64)
    if not t.size or (t.min() >= 0 and t.max() <= INT64_MAX // (batch * itemsize)):
        return out                  # nothing can leave int64 (a sweep calls this per graph)
    for k in range(len(SCALED) - 1, -1, -1):          # the first failing one wins
        name = SCALED[k][0]
        factor = batch * itemsize if name == "peak_activation_bytes" else batch
        col = t[:, TOTAL_COLUMNS.index("peak_activations" if name == "peak_activation_bytes"
                                       else name)]
        bad = (col < 0) | (col > INT64_MAX // factor)
        out[bad] = k
    return out


def overflow_error(model: Model, quantity: str, batch: int = 1,
                   dtype: str = "float32") -> CountOverflowError:
    """The one message of a total (or a total x batch) that leaves int64."""
    label = dict(SCALED).get(quantity, quantity)
    at = f"input {'x'.join(map(str, model.input_shape))}"
    if quantity == "peak_activation_bytes":
        label += f" ({BYTES_PER_ELEMENT[dtype]} per {dtype} element)"
    if batch != 1:
        at += f", batch {batch:,}"
        what = f"the total {label} x batch"
        fix = "a smaller --batch, input or network"
    else:
        what = f"the total {label}"
        fix = "a smaller input or network"
    return CountOverflowError(f"{what} leaves the int64 range (over 9.2e18) at {at}; expected "
                              f"{fix}", model.path, model.input_line)


def load_spec(name_or_path) -> Spec:
    """spec.load, with a clear sentence for a path that is not a readable regular file."""
    if isinstance(name_or_path, Spec):
        return name_or_path
    import errno
    import os
    import stat
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or os.sep in text or "/" in text:
        what = None
        try:
            st = os.stat(text)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                what = "is a symbolic link loop"
            elif exc.errno == errno.ENAMETOOLONG:
                what = "is too long a path"
            elif exc.errno == errno.ENOTDIR:
                what = "has a file where a folder is expected in its path"
            elif exc.errno == errno.EACCES:
                what = "cannot be reached (permission denied)"
            elif exc.errno != errno.ENOENT:
                what = f"cannot be read ({exc.strerror})"
        except ValueError:               # an embedded NUL byte
            what = "is not a valid path"
        else:
            if stat.S_ISDIR(st.st_mode):
                what = "is a directory"
            elif stat.S_ISFIFO(st.st_mode):
                what = "is a FIFO (named pipe)"
            elif stat.S_ISSOCK(st.st_mode):
                what = "is a socket"
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                what = "is a device"
        if what:
            raise UsageError(f"spec file '{shown(text)}' {what}; expected a path to a .yaml "
                             "file or a spec name (see `costcalc list`)")
    from . import importers         # a model file (.onnx, .keras, Keras .json, or by content)
    if importers.wants(text):
        return importers.load(text)
    return load(name_or_path)


@dataclasses.dataclass
class LayerRow:
    name: str
    op: str
    inputs: list
    output_shape: tuple
    params: int
    trainable_params: int
    macs: int
    other_ops: int
    flops: int
    activations: int
    line: int
    scope: tuple


@dataclasses.dataclass
class Summary:
    spec: Spec
    model: Model
    layers: list
    totals: dict
    batch: int = 1

    @property
    def id(self):
        return self.spec.id

    @property
    def input_shape(self):
        return self.model.input_shape

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.layers else self.model.input_shape


def parse_input(text) -> tuple | None:
    """'3x224x224' (or 3,224,224) -> (3, 224, 224)."""
    if text is None:
        return None
    if isinstance(text, (list, tuple)):
        parts = list(text)
    else:
        parts = str(text).lower().replace(",", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except (ValueError, TypeError):
        shape = ()
    if len(shape) != 3 or min(shape) <= 0:
        raise UsageError(f"--input '{shown(text)}' is not CxHxW with positive integers "
                         "(for example 3x224x224)")
    for v, name in zip(shape, "CHW"):
        if v > INT64_MAX:
            raise UsageError(f"--input {name} {shown(v)} does not fit in int64; expected at "
                             f"most {INT64_MAX:,}")
    return shape


def layer_error(model: Model, err: int, index: int, shapes) -> SpecError:
    if index < 0:       # the engine's peak of live activations left int64
        return overflow_error(model, "peak_activations")
    layer = model.layers[index]
    index_of = {lay.name: i for i, lay in enumerate(model.layers)}
    in_shapes = [tuple(int(v) for v in shapes[index_of[n]]) for n in layer.inputs]
    text = ops.explain(err, layer.op, layer.attrs, in_shapes)
    cls = CountOverflowError if err == ops.OVERFLOW else SpecError
    if cls is CountOverflowError:
        text = (f"a count leaves the int64 range (over 9.2e18) at input "
                f"{'x'.join(map(str, model.input_shape))}; expected a smaller input or network")
    return cls(f"layer '{layer.name}' ({layer.op.name}): {text}", model.path, layer.line)


def evaluate(model: Model, batch: int = 1, dtype: str = "float32", compiled=None):
    """Run the engine on the model's input and apply every overflow rule (per layer, the
    per-sample totals, and SCALED x batch): (shapes, counts, peak) or raise CostcalcError.
    summary, compare, run and verify call it through analyze_model; sweep explains its
    points with it, so every command reports one point the same way."""
    import numpy as np
    from .engine import TOTAL_COLUMNS
    check_batch(batch)
    if dtype not in BYTES_PER_ELEMENT:
        raise UsageError(f"unknown dtype '{shown(dtype)}'; expected one of: "
                         f"{', '.join(BYTES_PER_ELEMENT)}")
    compiled = model.compile() if compiled is None else compiled
    err, index, shapes, counts, peak = compiled.run(model.input_shape)
    if err != ops.OK:
        raise layer_error(model, err, index, shapes)
    sums = [sum(int(v) for v in counts[1:, k]) for k in range(5)]
    per = dict(zip(TOTAL_COLUMNS[:5], sums))
    per["flops"] = 2 * per["macs"] + per["other_ops"]
    per["peak_activations"] = int(peak)
    for name in TOTAL_COLUMNS:
        if per[name] > INT64_MAX:
            raise overflow_error(model, name)
    bad = int(scaled_overflow(np.array([[per[n] for n in TOTAL_COLUMNS]]), batch,
                              BYTES_PER_ELEMENT[dtype])[0])
    if bad >= 0:
        raise overflow_error(model, SCALED[bad][0], batch, dtype)
    return shapes, counts, peak


def analyze_model(model: Model, batch: int = 1, dtype: str = "float32") -> Summary:
    shapes, counts, peak = evaluate(model, batch, dtype)
    rows = []
    for i, layer in enumerate(model.layers):
        if i == 0:
            continue
        p, t, m, o, a = (int(v) for v in counts[i])
        rows.append(LayerRow(layer.name, layer.op.name, list(layer.inputs),
                             tuple(int(v) for v in shapes[i]), p, t, m * batch, o * batch,
                             (2 * m + o) * batch, a * batch, layer.line, layer.scope))
    params = sum(r.params for r in rows)
    trainable = sum(r.trainable_params for r in rows)
    macs = sum(r.macs for r in rows)
    other = sum(r.other_ops for r in rows)
    totals = {
        "params": params,
        "trainable_params": trainable,
        "non_trainable_params": params - trainable,
        "macs": macs,
        "flops": 2 * macs + other,
        "other_ops": other,
        "activations": sum(r.activations for r in rows),
        "peak_activations": peak * batch,
        "peak_activation_bytes": peak * batch * BYTES_PER_ELEMENT[dtype],
        "layers": len(rows),
    }
    return Summary(model.spec, model, rows, totals, batch)


def summarize(name_or_path, overrides: dict | None = None, input_shape=None,
              batch: int = 1) -> Summary:
    """Shapes and counts of every layer of a spec, and the totals."""
    check_batch(batch)
    spec = load_spec(name_or_path)
    model = spec.build(overrides, parse_input(input_shape))
    return analyze_model(model, batch)


def group_key(name: str, depth: int | None, seps=("/",)) -> str:
    """The first ``depth`` components of a layer's name path (None: the whole name)."""
    if not depth:
        return name
    parts = [name]
    for sep in seps:
        parts = [p for chunk in parts for p in chunk.split(sep)]
    return "/".join(parts[:depth])


def compare(names, overrides: dict | None = None, input_shape=None, batch: int = 1,
            depth: int | None = None, device=None, measure: bool = False,
            torch: bool = True) -> dict:
    """Totals of several specs side by side with ratios to the first, and a breakdown of MACs
    and params aligned by layer name (or by the first ``depth`` parts of it). With ``device``
    (a profile name, path or Profile) or ``measure``, also each spec's time (float32):
    result["times"], roofline.compare_times."""
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)
                              or depth < 1):
        raise UsageError(f"--depth must be a positive integer (1: group by the first part of "
                         f"each layer's name), got {shown(depth)}; omit it to align whole names")
    check_batch(batch)
    if len(names) < 2:
        raise UsageError("compare needs at least two specs, for example "
                         "`costcalc compare inception-naive inception-bottleneck`")
    summaries = []
    for name in names:
        spec = load_spec(name)
        # --set applies to the specs that have the parameter; unknown everywhere is an error.
        own = {k: v for k, v in (overrides or {}).items() if k in spec.defaults}
        summaries.append(summarize(spec, own, input_shape, batch))
    unknown = [k for k in (overrides or {}) if not any(k in s.spec.defaults for s in summaries)]
    if unknown:
        raise UsageError(f"no compared spec has a parameter '{unknown[0]}'")
    ids = [s.id for s in summaries]
    if len(set(ids)) != len(ids):
        raise UsageError("compare needs different specs; got one twice")
    breakdown: dict = {}
    order: list = []
    for k, s in enumerate(summaries):
        pos = -1
        for row in s.layers:
            key = group_key(row.name, depth, ("/", s.spec.sep))
            # keep each spec's own order: a new key goes right after this spec's previous one
            if key in breakdown:
                pos = order.index(key)
            else:
                pos += 1
                order.insert(pos, key)
            entry = breakdown.setdefault(key, {"macs": [0] * len(ids), "params": [0] * len(ids),
                                               "shape": [None] * len(ids),
                                               "present": [False] * len(ids)})
            entry["macs"][k] += row.macs
            entry["params"][k] += row.params
            entry["shape"][k] = row.output_shape
            entry["present"][k] = True
    times = None
    if device is not None or measure:
        from .roofline import compare_times
        times = compare_times(summaries, overrides, input_shape, batch, device, measure, torch)
    return {"summaries": summaries, "breakdown": {key: breakdown[key] for key in order},
            "times": times}
