"""The Python API (issue 14): the library functions the command line calls, returning pandas
DataFrames for notebooks. ``import costcalc`` stays light; this module (and pandas) loads on the
first use of ``costcalc.analyze`` and the others.

>>> import costcalc
>>> a = costcalc.analyze("resnet50")
>>> int(a.layers.macs.sum())
3857973248
>>> a.totals["params"]
25636712
>>> bool(a.by_op().loc["conv2d", "macs"] == a.layers[a.layers.op == "conv2d"].macs.sum())
True
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from . import analysis, render
from .spec import Spec

LAYER_COLUMNS = ("name", "op", "inputs", "output_shape", "params", "trainable_params",
                 "macs", "other_ops", "flops", "activations", "bytes_read", "bytes_written",
                 "intensity", "block", "line")
SUM_COLUMNS = ("params", "trainable_params", "macs", "other_ops", "flops", "activations")


def _input(input) -> tuple | None:
    """(C, H, W), 'CxHxW' or None."""
    if input is None or isinstance(input, str):
        return analysis.parse_input(input)
    return analysis.parse_input("x".join(str(v) for v in input))


def load(name_or_path) -> Spec:
    """A spec by name (a variant's name too), a YAML path, or an imported model file (.onnx,
    Keras .json / .keras)."""
    return analysis.load_spec(name_or_path)


class Analysis:
    """The counts of one network: ``totals`` (a dict), ``layers`` (a DataFrame, one row per
    layer), ``by_op()``, ``by_block(depth)``, ``to_markdown()``, ``to_json()``; shown as a table
    in Jupyter."""

    def __init__(self, summary):
        self.summary = summary
        self.totals: dict = dict(summary.totals)
        seps = tuple({summary.spec.sep, "/"})
        self._seps = seps
        from .roofline import layer_bytes
        moved = {b.name: b for b in layer_bytes(summary, "float32")}   # the conventions' model
        rows = []
        for r in summary.layers:
            rows.append({"name": r.name, "op": r.op, "inputs": list(r.inputs),
                         "output_shape": tuple(r.output_shape), "params": r.params,
                         "trainable_params": r.trainable_params, "macs": r.macs,
                         "other_ops": r.other_ops, "flops": r.flops,
                         "activations": r.activations,
                         "bytes_read": moved[r.name].bytes_read,
                         "bytes_written": moved[r.name].bytes_written,
                         "intensity": moved[r.name].intensity,
                         "block": "/".join(r.scope) if r.scope else "", "line": r.line})
        self.layers = pd.DataFrame(rows, columns=list(LAYER_COLUMNS))

    @property
    def name(self) -> str:
        return self.summary.id

    def by_op(self) -> pd.DataFrame:
        """Sums per op (layers, params, MACs, FLOPs, ...), largest MACs first."""
        g = self.layers.groupby("op")[list(SUM_COLUMNS)].sum()
        g.insert(0, "layers", self.layers.groupby("op").size())
        return g.sort_values("macs", ascending=False)

    def by_block(self, depth: int = 1) -> pd.DataFrame:
        """Sums per block: the first ``depth`` parts of each layer's name path (``conv2`` of
        ``conv2_block1_1_conv`` at depth 1 for Keras names), in layer order."""
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise analysis.UsageError(f"depth must be a positive integer, got {depth!r}")
        keys = [analysis.group_key(n, depth, self._seps) for n in self.layers.name]
        g = self.layers.assign(block=keys).groupby("block", sort=False)
        out = g[list(SUM_COLUMNS)].sum()
        out.insert(0, "layers", g.size())
        return out

    def to_markdown(self) -> str:
        return render.render_summary(self.summary, "markdown")

    def to_json(self) -> str:
        return render.render_summary(self.summary, "json")

    def to_dict(self) -> dict:
        return render.summary_dict(self.summary)

    def __repr__(self) -> str:
        t = self.totals
        return (f"<costcalc.Analysis {self.name}: {t['layers']} layers, {t['params']:,} params, "
                f"{t['macs']:,} MACs>")

    def _repr_html_(self) -> str:
        t = self.totals
        head = (f"<p><b>{self.name}</b>: {t['params']:,} params ({t['trainable_params']:,} "
                f"trainable), {t['macs']:,} MACs, {t['flops']:,} FLOPs = 2 x MACs + "
                f"{t['other_ops']:,} other ops; {t['layers']} layers</p>")
        return head + self.layers.drop(columns=["line"]).to_html(max_rows=60, index=False)


def analyze(spec, set: Mapping | None = None, input=None, batch: int = 1) -> Analysis:
    """Counts of a spec name, a YAML or model file path, or a loaded Spec, with parameter values
    ``set`` ({"alpha": 0.5}), an input (C, H, W) and a batch size."""
    return Analysis(analysis.summarize(spec, dict(set or {}), _input(input), batch))


def compare(specs: Sequence, set: Mapping | None = None, input=None, batch: int = 1,
            device=None, measure: bool = False) -> pd.DataFrame:
    """Totals of several specs, one row each, with MAC and param ratios to the first; with a
    ``device`` profile (or ``measure``: this machine's, and the forward passes timed) also
    predicted_s (and measured_s, torch_s) with their ratios to the first."""
    result = analysis.compare(list(specs), dict(set or {}), _input(input), batch,
                              device=device, measure=measure)
    first = result["summaries"][0].totals
    rows = []
    times = result["times"] or [None] * len(result["summaries"])
    for s, t in zip(result["summaries"], times):
        row = {"spec": s.id, "input_shape": tuple(s.input_shape),
               "output_shape": tuple(s.output_shape), **s.totals}
        for q in ("params", "macs", "flops", "activations"):
            row[f"{q}_vs_first"] = s.totals[q] / first[q] if first[q] else None
        if t is not None:
            for k in ("predicted_s", "measured_s", "torch_s"):
                if t[k] is not None or k == "predicted_s":
                    row[k] = t[k]
                    row[f"{k[:-2]}_vs_first"] = (t[k] / times[0][k] if t[k] and times[0][k]
                                                 else None)
        rows.append(row)
    return pd.DataFrame(rows).set_index("spec")


def sweep(spec, set: Mapping | None = None, input=None, resolution=None, **grid
          ) -> pd.DataFrame:
    """One row per point of a grid: ``sweep("mobilenet", alpha=[0.25, 0.5, 1.0],
    resolution=[128, 160, 224])``; lists are axes, single values fixed. Columns: the axes, the
    input shape, the totals and the point's status."""
    from .sweep import sweep as run_sweep, sweep_dict
    params = {**dict(set or {}), **grid}
    r = run_sweep(spec, params, input, resolution, confirm=True)
    return pd.json_normalize(sweep_dict(r)["points"])


def ops() -> pd.DataFrame:
    """Every op with its attributes and counting rules (as `costcalc ops`), indexed by name."""
    import json
    d = json.loads(render.render_ops("json"))
    return pd.DataFrame(d["ops"]).set_index("op")


def train(spec, set: Mapping | None = None, input=None, batch: int = 1, **options):
    """A training step's costs (costcalc.training.train): ``.totals``, ``.memory`` and
    ``.layers`` (a DataFrame)."""
    from dataclasses import asdict
    from .training import train as run_train
    r = run_train(spec, dict(set or {}), _input(input), batch, **options)
    r.layers = pd.DataFrame([asdict(row) for row in r.rows])
    return r


class Latency:
    """Roofline time of one network on a device (costcalc.roofline.latency): ``layers`` and
    ``by_op`` (DataFrames indexed by layer name and op), ``totals`` (a dict), ``profile``; with
    ``measure`` the measured columns (measured_s, error, torch_s) are there too."""

    def __init__(self, result):
        self.result = result
        self.profile = result.profile
        self.totals: dict = dict(result.totals)
        self.layers = pd.DataFrame(result.layers).set_index("name")
        self.by_op = pd.DataFrame(result.by_op).set_index("op")

    def __repr__(self):
        t = self.totals
        return (f"<Latency {self.result.id} on {self.profile.name}: predicted "
                f"{t['predicted_s'] * 1e3:.4g} ms, {t['memory_bound_layers']} of {t['layers']} "
                "layers memory-bound>")


def latency(spec, set: Mapping | None = None, input=None, batch: int = 1, dtype="float32",
            device=None, measure: bool = False) -> Latency:
    """Per-layer roofline time max(FLOPs / peak, bytes / bandwidth) on ``device`` (a built-in
    profile name, a profile file or None: this machine, calibrated once), the bound of each
    layer, and with ``measure`` costcalc's and PyTorch's measured time next to it."""
    from .roofline import latency as run
    return Latency(run(spec, dict(set or {}), _input(input), batch, dtype, device, measure))


__all__ = ["Analysis", "Latency", "analyze", "compare", "latency", "load", "ops", "sweep",
           "train"]

