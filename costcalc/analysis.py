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
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) <= 0:
        raise UsageError(f"--input '{text}' is not CxHxW with positive integers "
                         "(for example 3x224x224)")
    return shape


def layer_error(model: Model, err: int, index: int, shapes) -> SpecError:
    if index < 0:
        return CountOverflowError(f"a total leaves the int64 range (over 9.2e18) for input "
                                  f"{'x'.join(map(str, model.input_shape))}; expected a smaller "
                                  "input or network", model.path, model.input_line)
    layer = model.layers[index]
    index_of = {lay.name: i for i, lay in enumerate(model.layers)}
    in_shapes = [tuple(int(v) for v in shapes[index_of[n]]) for n in layer.inputs]
    text = ops.explain(err, layer.op, layer.attrs, in_shapes)
    cls = CountOverflowError if err == ops.OVERFLOW else SpecError
    if cls is CountOverflowError:
        text = (f"a count leaves the int64 range (over 9.2e18) at input "
                f"{'x'.join(map(str, model.input_shape))}; expected a smaller input or network")
    return cls(f"layer '{layer.name}' ({layer.op.name}): {text}", model.path, layer.line)


def analyze_model(model: Model, batch: int = 1, dtype: str = "float32") -> Summary:
    if batch < 1:
        raise UsageError(f"--batch must be a positive integer, got {batch}")
    compiled = model.compile()
    err, index, shapes, counts, peak = compiled.run(model.input_shape)
    if err != ops.OK:
        raise layer_error(model, err, index, shapes)
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
    spec = name_or_path if isinstance(name_or_path, Spec) else load(name_or_path)
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
            depth: int | None = None) -> dict:
    """Totals of several specs side by side with ratios to the first, and a breakdown of MACs
    and params aligned by layer name (or by the first ``depth`` parts of it)."""
    if len(names) < 2:
        raise UsageError("compare needs at least two specs, for example "
                         "`costcalc compare inception-naive inception-bottleneck`")
    summaries = []
    for name in names:
        spec = load(name)
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
    return {"summaries": summaries, "breakdown": {key: breakdown[key] for key in order}}
