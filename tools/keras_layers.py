r"""Record Keras Applications' layers (name, class, params) for tests/test_keras_names.py.

Keras itself is the source: run this with Keras 3 and a backend installed (not a costcalc
dependency), e.g.
    python3 -m venv /tmp/kv && /tmp/kv/bin/pip install keras jax
    /tmp/kv/bin/python tools/keras_layers.py > tests/data/keras_layers.json
Models are built with weights=None (nothing is downloaded), each in a fresh session so the
automatic names (conv2d, conv2d_1, ...) are those a user sees in model.summary().

With the argument `2017` it records the second set (MobileNetV2/V3, EfficientNet/V2, ResNetV2,
DenseNet, ConvNeXt) into its own file, with more per layer (see record_2017 below):
    python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install keras==3.15.1 torch==2.13.0 numpy
    KERAS_BACKEND=torch /tmp/kvenv/bin/python tools/keras_layers.py 2017 \
        > tests/data/keras_layers_2017.json
Without an argument it writes tests/data/keras_layers.json exactly as before (jax unless
KERAS_BACKEND says otherwise). No FLOPs are recorded: Keras does not give them.
"""
import json
import math
import os
import re
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
from keras import applications as A

# Config entries that matter for counting, recorded where a layer has them (tuples as lists).
CONFIG_KEYS = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "groups",
               "depth_multiplier", "units", "use_bias", "activation", "pool_size", "epsilon",
               "center", "scale", "rate", "noise_shape", "axis", "target_shape", "dims",
               "cropping", "size", "interpolation", "offset", "mean", "variance", "max_value",
               "negative_slope", "threshold", "keepdims", "data_format", "init_values",
               "projection_dim", "drop_path_rate")
SET_2017 = {}
for a in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
    SET_2017[f"mobilenet-v2-{a}-224"] = ("MobileNetV2", {"alpha": a, "input_shape": [224, 224, 3]})
for r in (96, 128, 160, 192):
    SET_2017[f"mobilenet-v2-1.0-{r}"] = ("MobileNetV2", {"alpha": 1.0, "input_shape": [r, r, 3]})
for size in ("Small", "Large"):
    for a in (0.75, 1.0):
        for mini in (False, True):
            key = f"mobilenet-v3-{size.lower()}-{a}" + ("-minimalistic" if mini else "")
            # input_shape given: by default Keras builds MobileNetV3 on (None, None, 3), so no
            # spatial sizes would be recorded; the parameters are the same either way.
            SET_2017[key] = (f"MobileNetV3{size}", {"alpha": a, "minimalistic": mini,
                                                    "input_shape": [224, 224, 3]})
for b in range(8):
    SET_2017[f"efficientnet-b{b}"] = (f"EfficientNetB{b}", {})
for v in ("B0", "B1", "B2", "B3", "S"):
    SET_2017[f"efficientnetv2-{v.lower()}"] = (f"EfficientNetV2{v}", {})
for d in (50, 101, 152):
    SET_2017[f"resnet{d}-v2"] = (f"ResNet{d}V2", {})
for d in (121, 169, 201):
    SET_2017[f"densenet{d}"] = (f"DenseNet{d}", {})
for v in ("Tiny", "Small", "Base"):
    SET_2017[f"convnext-{v.lower()}"] = (f"ConvNeXt{v}", {})


def _plain(v):
    """A config value as JSON: tuples as lists, arrays as lists, callables and objects by name."""
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if hasattr(v, "tolist"):
        return v.tolist()
    return getattr(v, "__name__", None) or type(v).__name__


def _shape(t):
    return [None if d is None else int(d) for d in t.shape]


def _params(weights):
    return sum(int(math.prod(w.shape)) for w in weights)


def _nested(model, shape):
    """Rows [name, class, params, info] of a nested Sequential, shapes chained from `shape`."""
    rows = []
    for layer in model.layers:
        shape = layer.compute_output_shape(shape)
        info = {"out": [None if d is None else int(d) for d in shape]}
        nt = _params(layer.non_trainable_weights)
        if nt:
            info["non_trainable"] = nt
        cfg = layer.get_config()
        conf = {k: _plain(cfg[k]) for k in CONFIG_KEYS if k in cfg}
        if conf:
            info["config"] = conf
        rows.append([layer.name, type(layer).__name__, int(layer.count_params()), info])
    return rows


def record_2017():
    """Each model: args, totals, and one row per entry of model.summary() (model._operations).

    A row is [name, class, params, info]; info holds "out" (output shape), "from" (the names
    of the operations whose outputs it takes), "in" (its input shapes, only for several
    inputs), "non_trainable" (its non-trainable params, when any), "trainable": false (when the
    layer is frozen), "auto": true (Keras named it: the snake_case of its class, uniquified
    with _1, _2, ... by one counter per name shared by layers and ops), "op": true (a keras.ops
    operation made by arithmetic on tensors, e.g. `x + 3.0`: it is in model.summary() and takes
    an automatic name, but not in model.layers; "consts" are its constant operands), "config"
    (the CONFIG_KEYS it has) and, for a nested model, "layers" (its own rows, same format;
    their names are not auto-flagged and their counts are inside the parent's params).
    """
    import datetime
    import platform
    from keras.src import tree
    from keras.src.utils.naming import to_snake_case
    out = {"_header": {
        "keras": keras.__version__, "backend": keras.backend.backend(),
        "backend_version": _backend_version(), "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
        "command": "KERAS_BACKEND=%s python tools/keras_layers.py 2017" % keras.backend.backend(),
        "built_with": ("keras.applications.NAME(include_top=True, classes=1000, weights=None,"
                       " **args)"),
        "notes": [
            "weights=None changes the layer list of EfficientNetB0-B7: Keras adds a second"
            " Rescaling (1/sqrt(stddev)) after the Normalization only for weights='imagenet',"
            " and the Normalization is not adapted (its mean, variance and count are 7"
            " non-trainable params)",
            "MobileNetV3 is built with input_shape [224, 224, 3]: its default is"
            " (None, None, 3), which gives no spatial sizes; params are the same",
            "rows with op: true are keras.ops operations (arithmetic on tensors), listed by"
            " model.summary() and numbered with the layers' automatic names, but not in"
            " model.layers"],
        "row": "[name, class, params, info]; see record_2017() in tools/keras_layers.py",
        "config_keys": list(CONFIG_KEYS), "flops": "none recorded: Keras does not give them"}}
    auto_re = {}
    for key, (fn, args) in SET_2017.items():
        keras.backend.clear_session()
        try:
            m = getattr(A, fn)(include_top=True, classes=1000, weights=None, **args)
        except Exception as e:          # recorded, and the others go on
            out[key] = {"application": fn, "args": args, "error": f"{type(e).__name__}: {e}"}
            print(key, "FAILED", e, file=sys.stderr)
            continue
        rows = []
        for op in m._operations:
            is_layer = isinstance(op, keras.layers.Layer)
            cls = type(op).__name__
            snake = to_snake_case(cls)
            rx = auto_re.setdefault(snake, re.compile(re.escape(snake) + r"(_\d+)?$"))
            info = {"out": _shape(op.output)}
            node = op._inbound_nodes[0]
            parents = [t._keras_history.operation.name for t in node.input_tensors]
            if parents:
                info["from"] = parents
            if len(node.input_tensors) > 1:
                info["in"] = [_shape(t) for t in node.input_tensors]
            if len(op._inbound_nodes) > 1:
                info["calls"] = len(op._inbound_nodes)
            flat = tree.flatten((node.arguments.args, node.arguments.kwargs))
            consts = [_plain(a) for a in flat
                      if not isinstance(a, keras.KerasTensor) and a is not None]
            if consts and not isinstance(op, keras.layers.Layer):
                info["consts"] = consts          # e.g. the 3.0 of `x + 3.0`
            if isinstance(op, keras.Model):      # a nested model (ConvNeXt's stem, downsampling)
                info["layers"] = _nested(op, node.input_tensors[0].shape)
            params = 0
            if is_layer:
                params = int(op.count_params()) if op.weights else 0
                nt = _params(op.non_trainable_weights)
                if nt:
                    info["non_trainable"] = nt
                if not op.trainable:
                    info["trainable"] = False
            else:
                info["op"] = True
            if rx.match(op.name):
                info["auto"] = True
            try:
                cfg = op.get_config()
            except Exception:
                cfg = {}
            conf = {k: _plain(cfg[k]) for k in CONFIG_KEYS if k in cfg}
            if conf:
                info["config"] = conf
            rows.append([op.name, cls, params, info])
        tr, ntr = _params(m.trainable_weights), _params(m.non_trainable_weights)
        out[key] = {"application": fn, "args": args, "input": _shape(m.inputs[0]),
                    "output": _shape(m.outputs[0]),
                    "totals": {"params": int(m.count_params()), "trainable": tr,
                               "non_trainable": ntr},
                    "n_layers": len(m.layers), "n_operations": len(m._operations),
                    "layers": rows}
        print(key, len(m.layers), len(m._operations), m.count_params(), file=sys.stderr)
    # one layer a line, as in keras_layers.json
    lines = ["{"]
    for k, (name, entry) in enumerate(out.items()):
        end = "," if k < len(out) - 1 else ""
        if "layers" not in entry:
            lines.append(f"{json.dumps(name)}: {json.dumps(entry)}{end}")
            continue
        head = {k2: v for k2, v in entry.items() if k2 != "layers"}
        lines.append(f"{json.dumps(name)}: {json.dumps(head)[:-1]}, \"layers\": [")
        rows = entry["layers"]
        lines += [f"  {json.dumps(r)}" + ("," if j < len(rows) - 1 else "")
                  for j, r in enumerate(rows)]
        lines.append("]}" + end)
    lines.append("}")
    print("\n".join(lines))


def _backend_version():
    try:
        return __import__(keras.backend.backend()).__version__
    except Exception:
        return None


if len(sys.argv) > 1:
    if sys.argv[1] != "2017":
        sys.exit("usage: keras_layers.py [2017] > FILE")
    record_2017()
    sys.exit(0)
models = {
    "vgg16": lambda: A.VGG16(weights=None), "vgg19": lambda: A.VGG19(weights=None),
    "resnet50": lambda: A.ResNet50(weights=None), "resnet101": lambda: A.ResNet101(weights=None),
    "resnet152": lambda: A.ResNet152(weights=None),
    "inception-v3": lambda: A.InceptionV3(weights=None),
    "inception-resnet-v2": lambda: A.InceptionResNetV2(weights=None),
    "xception": lambda: A.Xception(weights=None), "mobilenet": lambda: A.MobileNet(weights=None),
}
out = {}
for name, make in models.items():
    keras.backend.clear_session()
    m = make()
    out[name] = [(l.name, type(l).__name__, int(l.count_params())) for l in m.layers]
    print(name, len(m.layers), m.count_params(), file=sys.stderr)
out["_versions"] = {"keras": keras.__version__, "backend": keras.backend.backend()}
# one layer a line, so a diff of this file reads like a diff of model.summary()
lines = ["{"]
for k, (name, rows) in enumerate(out.items()):
    end = "," if k < len(out) - 1 else ""
    if name == "_versions":
        lines.append(f'"{name}": {json.dumps(rows)}{end}')
        continue
    lines.append(f'"{name}": [')
    lines += [f"  {json.dumps(r)}" + ("," if j < len(rows) - 1 else "") for j, r in enumerate(rows)]
    lines.append("]" + end)
lines.append("}")
print("\n".join(lines))
