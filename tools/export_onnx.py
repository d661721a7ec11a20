"""Export costcalc specs to ONNX through PyTorch: the test fixtures of tests/test_import_onnx.py.

Each spec is built at a small input (and few classes), translated to PyTorch by the project's
own oracle (tests/torch_oracle.py: every op is PyTorch's own operator, with costcalc's weight
shapes), wrapped in an ``nn.Module`` whose weights are parameters, and exported with
``torch.onnx.export`` at opset 17 (the TorchScript exporter, ``dynamo=False``; ``dynamo=True``
needs the onnxscript package, and is tried when asked for). Exporters fold eval-mode batch
norm into the convolutions and drop dropout.

The weights are then stripped: every float initializer of more than STRIP_MIN elements becomes
a ``ConstantOfShape`` node of its shape (as the onnx package's own light models store theirs),
so a fixture is a few kilobytes and imports exactly as the full file does (an importer reads
weight shapes, never weight values).

    .venv/bin/python tools/export_onnx.py              # every fixture into tests/data/onnx/
    .venv/bin/python tools/export_onnx.py resnet50-v1.5 --out /tmp/x --dynamo

torch and onnx are needed here (and in the tests that call this module); costcalc is not
changed by either.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "onnx"
OPSET = 17
STRIP_MIN = 1            # float initializers with more elements than this become ConstantOfShape

# name: (spec, parameter overrides, input C x H x W): small inputs and 10 classes keep the files
# small; odd, non-square sizes where the spec allows (as tests/test_oracle.py's SMALL table).
FIXTURES = {
    "resnet50-v1.5": ("resnet50-v1.5", {"classes": 10}, (3, 39, 33)),
    "resnet50": ("resnet50", {"classes": 10}, (3, 45, 37)),
    "mobilenet": ("mobilenet", {"classes": 10, "resolution": 33}, None),
    "mobilenet-v2": ("mobilenet-v2", {"classes": 10}, (3, 35, 33)),
    "mobilenet-v3": ("mobilenet-v3", {"classes": 10}, (3, 37, 33)),
    "efficientnet-b0": ("efficientnet", {"classes": 10}, (3, 33, 35)),
    "shufflenet-v2": ("shufflenet-v2", {"classes": 10}, (3, 33, 35)),
    "squeezenet": ("squeezenet", {"classes": 10}, (3, 31, 33)),
    "densenet": ("densenet", {"classes": 10, "growth_rate": 8, "blocks2": 2, "blocks3": 3,
                              "blocks4": 2, "blocks5": 2}, (3, 37, 33)),
    "convnext": ("convnext", {"classes": 10, "depth0": 1, "depth1": 1, "depth2": 2,
                              "depth3": 1, "width0": 16, "width1": 24, "width2": 32,
                              "width3": 40}, (3, 35, 37)),
    "vgg16": ("vgg16", {"classes": 10}, (3, 32, 35)),
}


def _tests_on_path():
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def build_model(spec_name, overrides=None, input_shape=None):
    """The costcalc Model of a spec at the given setting."""
    _tests_on_path()
    from costcalc.spec import load
    return load(spec_name).build(overrides or {}, input_shape)


def module_name(layer_name):
    """A layer's name as an nn.Module name (which cannot contain '.'): the exporter names each
    ONNX node after the module that ran it ('/conv1_conv/Conv'), so the importer recovers the
    spec's layer names."""
    return layer_name.replace(".", "_")


def torch_module(model, seed=0):
    """An ``nn.Module`` running the model's layers with the oracle's PyTorch ops: one child
    module per layer, named after it, holding its weights (costcalc's own, from make_weights)
    as parameters."""
    _tests_on_path()
    import torch
    import torch_oracle as oracle

    graph = oracle.TorchGraph(model, seed, "float32")

    class Layer(torch.nn.Module):
        def __init__(self, fn, attrs, ws):
            super().__init__()
            self.fn, self.attrs = fn, attrs
            self.weights = torch.nn.ParameterList(
                [torch.nn.Parameter(w.clone(), requires_grad=False) for w in ws])

        def forward(self, *xs):
            return self.fn(list(xs), list(self.weights), self.attrs)

    class Exported(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.steps = []
            for i, layer, fn, ins, ws, frees in graph.steps:
                name = module_name(layer.name)
                self.add_module(name, Layer(fn, layer.attrs, ws))
                self.steps.append((i, name, ins, frees))
            self.last = len(model.layers) - 1

        def forward(self, x):
            live = {0: x}
            for i, name, ins, frees in self.steps:
                live[i] = getattr(self, name)(*[live[j] for j in ins])
                for j in frees:
                    del live[j]
            return live[self.last]

    return Exported().eval()


def export(model, path, dynamo=False, opset=OPSET, batch=1, strip=True):
    """torch.onnx.export of the model at batch ``batch``; with ``strip`` the float weights
    become ConstantOfShape nodes (see the module's docstring). Returns the path."""
    import torch
    module = torch_module(model)
    x = torch.zeros((batch,) + tuple(int(v) for v in model.input_shape))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    import warnings
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the exporter's deprecation and tracer warnings
        kwargs = dict(opset_version=opset, input_names=["input"], output_names=["output"])
        if dynamo:
            torch.onnx.export(module, (x,), str(tmp), dynamo=True, **kwargs)
        else:
            torch.onnx.export(module, (x,), str(tmp), dynamo=False, do_constant_folding=True,
                              **kwargs)
    if strip:
        strip_weights(tmp, path)
        tmp.unlink()
        for extra in tmp.parent.glob(tmp.name + ".data"):
            extra.unlink()
    else:
        os.replace(tmp, path)
    return path


def strip_weights(src, dst, min_elements=STRIP_MIN):
    """Rewrite an ONNX file with each float initializer of more than ``min_elements`` elements
    replaced by ConstantOfShape(its dims) (value 0): same graph, same shapes, no weight data."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np
    m = onnx.load(str(src), load_external_data=False)
    g = m.graph
    keep, nodes = [], []
    for t in g.initializer:
        n = 1
        for d in t.dims:
            n *= d
        if t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE,
                           TensorProto.BFLOAT16) and n > min_elements:
            shape_name = t.name + "__SHAPE"
            keep.append(numpy_helper.from_array(np.array(list(t.dims), dtype=np.int64),
                                                shape_name))
            nodes.append(helper.make_node(
                "ConstantOfShape", [shape_name], [t.name], name=t.name + "__fill",
                value=helper.make_tensor("value", t.data_type, [1], [0])))
        else:
            keep.append(t)
    del g.initializer[:]
    g.initializer.extend(keep)
    old = list(g.node)
    del g.node[:]
    g.node.extend(nodes + old)
    # graph inputs listing initializers (IR < 4) would now name node outputs: drop them
    names = {t.name for t in g.initializer} | {n.output[0] for n in nodes}
    inputs = [i for i in g.input if i.name not in names or i.name in
              {t.name for t in g.initializer}]
    del g.input[:]
    g.input.extend(inputs)
    onnx.save(m, str(dst))
    return dst


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help=f"fixtures (default: all): {', '.join(FIXTURES)}")
    p.add_argument("--out", default=str(OUT), help="folder (default tests/data/onnx)")
    p.add_argument("--dynamo", action="store_true", help="the torch.export-based exporter")
    p.add_argument("--keep-weights", action="store_true", help="do not strip the weights")
    args = p.parse_args(argv)
    names = args.names or list(FIXTURES)
    failed = 0
    for name in names:
        spec, overrides, shape = FIXTURES[name]
        model = build_model(spec, overrides, shape)
        suffix = "-dynamo" if args.dynamo else ""
        path = Path(args.out) / f"{name}{suffix}.onnx"
        try:
            export(model, path, dynamo=args.dynamo, strip=not args.keep_weights)
        except Exception as exc:          # report and go on: one exporter gap is not fatal
            failed += 1
            print(f"{name}: export failed: {type(exc).__name__}: {str(exc)[:300]}",
                  file=sys.stderr)
            continue
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
              f"{path.stat().st_size:,} bytes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
