"""What a training step costs (issue 13): backward MACs and other ops per layer, what the
backward keeps, memory with gradients and optimizer state, the largest batch that fits.

The rules are each op's ``grad`` declaration (costcalc/ops/base.py ``Grad``; shown by
`costcalc ops`) and these, stated with the conventions (costcalc/ops/__init__.py CONVENTIONS):
a layer computes a weight gradient iff it is trainable and has trainable params; it computes
an input gradient iff a layer that computes a weight gradient lies upstream of it (so the first
layer never does); a tensor read by k layers that pass a gradient back gets k gradients, summed
by k - 1 adds per element; frozen batch norm runs in inference mode (the Keras fine-tuning
guide), trainable batch norm in training mode, every one with ``bn_training``.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import math

from . import ops
from .analysis import analyze_model, load_spec, parse_input
from .errors import CountOverflowError, UsageError, shown

INT64_MAX = 2 ** 63 - 1

OPTIMIZER_COPIES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


@dataclasses.dataclass
class TrainRow:
    name: str
    op: str
    trainable_params: int
    needs_weight_grad: bool
    needs_input_grad: bool
    forward_macs: int
    input_grad_macs: int
    weight_grad_macs: int
    forward_other_ops: int
    backward_other_ops: int
    saved_elements: int          # what this layer's backward keeps that no earlier layer keeps


@dataclasses.dataclass
class TrainResult:
    spec: object
    model: object
    summary: object
    rows: list
    totals: dict
    memory: dict
    settings: dict


# ----------------------------------------------------------------------------- choosing layers
def _matches(layer, pattern: str) -> bool:
    """A glob on the layer's name, or on any enclosing block instance or top-level row."""
    names = (layer.name, layer.group, *layer.scope)
    return any(n and fnmatch.fnmatchcase(n, pattern) for n in names)


def select_trainable(model, trainable=(), freeze=(), trainable_from=None) -> list:
    """Per layer: does it train? The spec's own `trainable:` flags first; ``trainable_from``
    (that layer and everything after it, as `model.layers[k:]`) and ``trainable`` globs make
    only those layers train; ``freeze`` globs stop the layers they match. A glob that matches no
    layer, a layer both trained and frozen, or an unknown layer is an error."""
    layers = model.layers
    names = [layer.name for layer in layers]
    for pattern in (*trainable, *freeze):
        if not any(_matches(layer, pattern) for layer in layers):
            hint = ops.closest(pattern, names)
            raise UsageError(f"the glob {shown(pattern)} matches no layer; expected a layer, "
                             "block or stage name or a glob over them"
                             + (f" (closest: '{hint}')" if hint else ""))
    chosen = [layer.trainable for layer in layers]
    if trainable_from is not None or trainable:
        start = len(layers)
        if trainable_from is not None:
            if trainable_from not in names:
                hint = ops.closest(trainable_from, names)
                raise UsageError(f"--trainable-from: no layer {shown(trainable_from)}"
                                 + (f"; did you mean '{hint}'?" if hint else "; expected a "
                                    "layer name as `costcalc summary` lists them"))
            start = names.index(trainable_from)
        chosen = [k >= start or any(_matches(layer, p) for p in trainable)
                  for k, layer in enumerate(layers)]
    for k, layer in enumerate(layers):
        frozen_by = [p for p in freeze if _matches(layer, p)]
        if frozen_by:
            trained_by = [p for p in trainable if _matches(layer, p)]
            if trained_by:
                raise UsageError(f"layer '{layer.name}' is matched by --trainable "
                                 f"{shown(trained_by[0])} and --freeze {shown(frozen_by[0])}; "
                                 "expected one of them")
            chosen[k] = False
    return chosen


# ----------------------------------------------------------------------------- the counts
def _volume(shape) -> int:
    return int(math.prod(shape))


def training_costs(model, trainable, summary=None, bn_training=False, inplace=False) -> list:
    """Per layer (TrainRow), for one sample, by the rules in the module doc."""
    s = summary or analyze_model(model, 1)
    rows_by = {r.name: r for r in s.layers}
    shape = {"input": model.input_shape}
    shape.update({r.name: tuple(r.output_shape) for r in s.layers})
    layers = model.layers[1:] if model.layers and model.layers[0].op.name == "input" else \
        model.layers
    offset = len(model.layers) - len(layers)
    wgrad, upstream = {}, {"input": False}
    for k, layer in enumerate(layers):
        r = rows_by[layer.name]
        wgrad[layer.name] = bool(trainable[k + offset]) and r.trainable_params > 0
        upstream[layer.name] = any(wgrad.get(i, False) or upstream.get(i, False)
                                   for i in layer.inputs)
    # readers passing a gradient back to each tensor (fan-out: k - 1 adds per element)
    readers: dict = {}
    for layer in layers:
        for i in layer.inputs:
            readers.setdefault(i, []).append(layer.name)
    saved: set = set()
    alias: dict = {}
    out = []
    for layer in layers:
        r = rows_by[layer.name]
        op, g = layer.op, layer.op.grad
        a = op.Attrs(*op.encode(layer.attrs))
        need_in, need_w = upstream[layer.name], wgrad[layer.name]
        y = _volume(shape[layer.name])
        x = _volume(shape[layer.inputs[0]]) if layer.inputs else 0
        in_macs = r.macs if g.macs and need_in else 0
        w_macs = r.macs if g.macs and need_w else 0
        inner = 0              # a separable conv's depthwise output, kept for its pointwise part
        if op.name == "separable_conv2d":
            # its two parts, each by the rule: the depthwise kernel trains, so the pointwise
            # part (downstream of it) computes its input gradient even when nothing upstream
            # of the layer trains
            oc, oh, ow = shape[layer.name]
            inner = oh * ow * shape[layer.inputs[0]][0] * a.depth_multiplier
            if need_w and not need_in:
                in_macs = inner * oc
            if not need_w:
                inner = 0
        bn_train = op.name == "batch_norm" and (need_w or bn_training)
        other = 0
        per = {"output": y, "input": x, "each input": y * len(layer.inputs)}[g.per]
        fused = _fused_activation(layer)
        if need_in or need_w:
            if fused is not None:                 # the gradient passes the activation first
                other += fused.grad.cost("input", None) * y
        if need_in:
            other += g.cost("input", a, bn_train) * per + g.extra * y
            if g.broadcast:
                other += y * sum(_volume(shape[i]) < y for i in layer.inputs)
        if need_w:        # batch norm in training mode: its input gradient's sums serve too
            other += g.cost("weight", a, bn_train and need_in) * per
        # gradients arriving from several readers are summed
        if need_in or need_w:
            grads_in = [n for n in readers.get(layer.name, []) if upstream.get(n)]
            other += max(len(grads_in) - 1, 0) * y
        keep = 0
        if need_in or need_w:
            wanted = []
            for what in g.saves:
                if g.saves_when == "weight" and not need_w:
                    continue
                wanted += {"input": layer.inputs[:1], "inputs": list(layer.inputs),
                           "output": [layer.name]}[what]
            if fused is not None and "output" in fused.grad.saves:
                wanted.append(layer.name)
            for t in wanted:
                t = alias.get(t, t)
                if t not in saved:
                    saved.add(t)
                    keep += _volume(shape[t])
            keep += inner
        if inplace and op.activation_cost is not None and layer.inputs and \
                len(readers.get(layer.inputs[0], [])) == 1:
            alias[layer.name] = alias.get(layer.inputs[0], layer.inputs[0])
        out.append(TrainRow(layer.name, op.name, r.trainable_params if need_w else 0, need_w,
                            need_in, r.macs, in_macs, w_macs, r.other_ops, other, keep))
    return out


def _fused_activation(layer):
    """The op of a conv/dense layer's fused `activation:` (None for linear or none)."""
    name = layer.attrs.get("activation")
    if not isinstance(name, str) or name == "linear":
        return None
    from .ops.conv import FUSED, FUSED_NAMES
    return FUSED[FUSED_NAMES.index(name)] if name in FUSED_NAMES else None


# ----------------------------------------------------------------------------- the step
def _checked(value: int, what: str, model) -> int:
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise CountOverflowError(f"{what} leaves the int64 range (over 9.2e18); expected a "
                                 "smaller --batch, --samples or network", model.path,
                                 model.input_line)
    return value


def train(name_or_spec, overrides=None, input_shape=None, batch=1, trainable=(), freeze=(),
          trainable_from=None, optimizer="sgd", dtype="float32", samples=None, epochs=1,
          memory=None, bn_training=False, inplace=False, run=False, counting=False,
          seed=0) -> TrainResult:
    """The cost of one training step (and of an epoch of ``samples``) of a spec with the chosen
    layers trainable. ``memory`` (bytes) asks for the largest batch that fits. ``run`` executes
    the step (costcalc/backward.py; ``counting``: loop kernels that count every multiply of each
    gradient), kept as ``.step`` next to the analytic counts."""
    from .analysis import check_batch
    check_batch(batch)
    if optimizer not in OPTIMIZER_COPIES:
        raise UsageError(f"unknown optimizer {shown(optimizer)}; expected one of "
                         f"{', '.join(OPTIMIZER_COPIES)}")
    if dtype not in BYTES:
        raise UsageError(f"unknown dtype {shown(dtype)}; expected one of {', '.join(BYTES)}")
    for value, what in ((samples, "--samples"), (epochs, "--epochs")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 1 <= value <= INT64_MAX):
            raise UsageError(f"{what} must be a positive integer, got {shown(value)}")
    spec = load_spec(name_or_spec)
    model = spec.build(overrides, parse_input(input_shape))
    s = analyze_model(model, 1)
    mask = select_trainable(model, trainable, freeze, trainable_from)
    rows = training_costs(model, mask, s, bn_training, inplace)
    fwd = sum(r.forward_macs for r in rows)
    ig = sum(r.input_grad_macs for r in rows)
    wg = sum(r.weight_grad_macs for r in rows)
    fo = sum(r.forward_other_ops for r in rows)
    bo = sum(r.backward_other_ops for r in rows)
    per_sample_flops = 2 * (fwd + ig + wg) + fo + bo
    size = BYTES[dtype]
    trainable_params = sum(r.trainable_params for r in rows)
    saved = sum(r.saved_elements for r in rows)
    in_out = max((_io(model, s, k) for k in range(len(s.layers))), default=0)
    fixed = (s.totals["params"] + trainable_params * (1 + OPTIMIZER_COPIES[optimizer])) * size
    per_sample = max(s.totals["peak_activations"], saved + in_out) * size

    def c(v, what):
        return _checked(v, what, model)
    totals = {
        "params": s.totals["params"], "trainable_params": trainable_params,
        "forward_macs": c(fwd * batch, "forward MACs x batch"),
        "input_grad_macs": c(ig * batch, "input-gradient MACs x batch"),
        "weight_grad_macs": c(wg * batch, "weight-gradient MACs x batch"),
        "backward_macs": c((ig + wg) * batch, "backward MACs x batch"),
        "forward_other_ops": c(fo * batch, "forward other ops x batch"),
        "backward_other_ops": c(bo * batch, "backward other ops x batch"),
        "step_flops": c(per_sample_flops * batch, "the step's FLOPs"),
        "batch": batch,
    }
    if samples is not None:
        steps = -(-samples // batch) * epochs
        totals["steps"] = steps
        totals["epoch_flops"] = c(per_sample_flops * samples * epochs, "the epochs' FLOPs")
    mem = {"weights": s.totals["params"] * size, "gradients": trainable_params * size,
           "optimizer_state": trainable_params * OPTIMIZER_COPIES[optimizer] * size,
           "saved_activations": c(saved * batch * size, "saved activations x batch"),
           "peak": c(fixed + per_sample * batch, "the step's peak memory"),
           "per_sample": per_sample, "fixed": fixed}
    if memory is not None:
        mem["limit"] = memory
        mem["largest_batch"] = max((memory - fixed) // per_sample, 0) if per_sample else None
    settings = {"optimizer": optimizer, "dtype": dtype, "bn_training": bn_training,
                "inplace": inplace, "trainable": list(trainable), "freeze": list(freeze),
                "trainable_from": trainable_from}
    result = TrainResult(spec, model, s, rows, totals, mem, settings)
    result.step = None
    if run or counting:
        from .backward import train_step
        result.step = train_step(model, mask, batch, seed,
                                 dtype if dtype in ("float32", "float64") else "float32",
                                 counting, bn_training=bn_training)
    return result


def _io(model, s, k) -> int:
    """Elements of layer k's output gradient and its (first) input gradient, alive together."""
    row = s.layers[k]
    layer = next((m for m in model.layers if m.name == row.name), None)
    x = model.input_shape if layer is None or not layer.inputs or layer.inputs[0] == "input" \
        else next(r.output_shape for r in s.layers if r.name == layer.inputs[0])
    return _volume(row.output_shape) + _volume(x)


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10,
          "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text, option="--memory") -> int:
    """'16GiB', '512MB', '1e9' -> bytes."""
    import re
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS:
        raise UsageError(f"{option} {shown(text)} is not a size; expected a number with an "
                         "optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 16GiB")
    value = float(m.group(1)) * _UNITS[unit]
    if not 0 < value <= INT64_MAX:
        raise UsageError(f"{option} {shown(text)} is out of range; expected 1 byte to 8 EiB")
    return int(value)


def train_dict(r: TrainResult) -> dict:
    size, batch = BYTES[r.settings["dtype"]], r.totals["batch"]
    return {"spec": r.spec.id, "input_shape": list(r.model.input_shape),
            "settings": r.settings, "totals": r.totals, "memory": r.memory,
            "layers": [{**dataclasses.asdict(row),
                        "saved_bytes": row.saved_elements * batch * size} for row in r.rows]}


def render_train(r: TrainResult, fmt="table") -> str:
    from .render import dumps, human, human_bytes, table
    if fmt == "json":
        return dumps(train_dict(r))
    headers = ["layer", "op", "weight grad", "input grad", "forward MACs", "input-grad MACs",
               "weight-grad MACs", "backward other ops", "saved bytes"]
    rows = [[x.name, x.op, "yes" if x.needs_weight_grad else "", "yes" if x.needs_input_grad
             else "", x.forward_macs, x.input_grad_macs, x.weight_grad_macs,
             x.backward_other_ops,
             x.saved_elements * r.totals["batch"] * BYTES[r.settings["dtype"]]] for x in r.rows]
    if fmt == "csv":
        return table(headers, rows, "csv")
    t, m = r.totals, r.memory
    lines = [table(headers, rows, fmt), "",
             f"Trainable params: {t['trainable_params']:,} of {t['params']:,}",
             f"Per step (batch {t['batch']}): forward MACs {t['forward_macs']:,}, backward MACs "
             f"{t['backward_macs']:,} (input gradients {t['input_grad_macs']:,} + weight "
             f"gradients {t['weight_grad_macs']:,}); FLOPs {t['step_flops']:,} "
             f"({human(t['step_flops'])}) = 2 x MACs + {t['forward_other_ops']:,} forward and "
             f"{t['backward_other_ops']:,} backward other ops"]
    if "steps" in t:
        lines.append(f"Epochs: {t['steps']:,} steps, {t['epoch_flops']:,} FLOPs "
                     f"({human(t['epoch_flops'])})")
    lines.append(f"Memory ({r.settings['dtype']}, {r.settings['optimizer']}): weights "
                 f"{human_bytes(m['weights'])}, gradients {human_bytes(m['gradients'])}, "
                 f"optimizer state {human_bytes(m['optimizer_state'])}, saved activations "
                 f"{human_bytes(m['saved_activations'])}; peak {human_bytes(m['peak'])}")
    if "largest_batch" in m:
        lines.append(f"Largest batch in {human_bytes(m['limit'])}: {m['largest_batch']:,}")
    step = getattr(r, "step", None)
    if step is not None:
        lines.append(f"Executed step ({step.dtype}, batch {step.batch}): {step.seconds:.3f} s; "
                     f"measured peak {human_bytes(step.peak_bytes)} (analytic "
                     f"{human_bytes(m['peak'])}; the measured one counts live arrays only)")
        if step.counting:
            bad = counting_mismatches(r)
            lines.append("Counting mode: executed input- and weight-gradient multiplies "
                         + ("equal the analytic counts on every layer" if not bad else
                            f"differ on {len(bad)} layers: {', '.join(bad[:5])}"))
    lines += ["", "Rules: `costcalc ops` (the conventions' training lines and each op's "
              "backward rule)."]
    return "\n".join(lines)


def counting_mismatches(r: TrainResult) -> list:
    """Layers whose executed gradient multiplies (a counting step) differ from the rules."""
    if r.step is None or not r.step.counting:
        return []
    steps = {x.name: x for x in r.step.layers}
    batch = r.totals["batch"]
    return [x.name for x in r.rows if x.name in steps and (
        (steps[x.name].input_grad_multiplies or 0) != x.input_grad_macs * batch
        or (steps[x.name].weight_grad_multiplies or 0) != x.weight_grad_macs * batch)]
