r"""Write the Keras model fixtures of tests/test_import_keras.py into tests/data/keras_json/.

Keras itself writes them (not a costcalc dependency): run with Keras 3 and a backend, e.g.
    python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install keras==3.15.1 torch==2.13.0 numpy h5py
    KERAS_BACKEND=torch /tmp/kvenv/bin/python tools/keras_json.py
Every model is built with weights=None (nothing is downloaded) in a fresh session, so the
automatic names (conv2d, add_1, ...) are those of tests/data/keras_layers*.json. Files:

- <key>.json.gz: model.to_json() of a keras.applications model (Keras 3 form), gzipped with
  mtime 0 (the bytes depend only on the JSON). The keys are those of keras_layers.json and
  keras_layers_2017.json, so a test maps each to its zoo spec.
- transfer-mobilenet.json.gz: the transfer-learning shape of the Keras guide: a MobileNet base
  (include_top=False) frozen with base.trainable = False, called on a new Input, then
  GlobalAveragePooling2D and Dense(5) (a Functional model holding a Functional model).
- transfer-efficientnet-sequential.json.gz: the same in a Sequential: a frozen EfficientNetB0
  base, GlobalAveragePooling2D, Dropout(0.2), Dense(5, softmax).
- mobilenet-v3-small-dynamic.json.gz: MobileNetV3Small at its default input (None, None, 3):
  no spatial sizes, so an import needs --input.
- lambda.json.gz: a small model with two Lambda layers and a Maximum (layers costcalc has no
  op for), for the unsupported-layer error.
- mobilenet-v2-1.0-224.keras: a .keras archive of MobileNetV2 as model.save() writes it, with
  model.weights.h5 removed (only config.json and metadata.json kept: the importer never reads
  weights).
- keras2-mobilenet-v3-small.json.gz: the Keras 3 JSON of mobilenet-v3-small-1.0 rewritten in the
  tf.keras 2.x (tf-keras) form by keras2_form() below (see its docstring for the source).
- keras2-mnist-convnet.json (hand-written, not by this script): the Keras 2 Sequential of the
  keras.io "Simple MNIST convnet" example, see its own "_note".
- layer-mix.json.gz: a small model with one of each other layer class the importer reads (see
  layer_mix()); the header records Keras's own rows for it.
- _header.json: what was run (versions, command, date) and, for every fixture, Keras's own
  count_params() with the trainable split and the input and output shapes.
"""
import copy
import datetime
import gzip
import io
import json
import math
import os
import platform
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
from keras import applications as A
from keras import layers

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "keras_json"

# key -> (application, args): the keys and arguments of tools/keras_layers.py
APPS = {
    "vgg16": ("VGG16", {}), "vgg19": ("VGG19", {}),
    "resnet50": ("ResNet50", {}), "resnet101": ("ResNet101", {}), "resnet152": ("ResNet152", {}),
    "resnet50-v2": ("ResNet50V2", {}), "resnet101-v2": ("ResNet101V2", {}),
    "resnet152-v2": ("ResNet152V2", {}),
    "inception-v3": ("InceptionV3", {}), "inception-resnet-v2": ("InceptionResNetV2", {}),
    "xception": ("Xception", {}), "mobilenet": ("MobileNet", {}),
    "mobilenet-v2-1.0-224": ("MobileNetV2", {"alpha": 1.0, "input_shape": [224, 224, 3]}),
    "mobilenet-v2-0.35-224": ("MobileNetV2", {"alpha": 0.35, "input_shape": [224, 224, 3]}),
    "mobilenet-v3-small-1.0": ("MobileNetV3Small", {"alpha": 1.0, "minimalistic": False,
                                                    "input_shape": [224, 224, 3]}),
    "mobilenet-v3-small-1.0-minimalistic": ("MobileNetV3Small", {
        "alpha": 1.0, "minimalistic": True, "input_shape": [224, 224, 3]}),
    "mobilenet-v3-large-1.0": ("MobileNetV3Large", {"alpha": 1.0, "minimalistic": False,
                                                    "input_shape": [224, 224, 3]}),
    "efficientnet-b0": ("EfficientNetB0", {}), "efficientnet-b3": ("EfficientNetB3", {}),
    "efficientnetv2-b0": ("EfficientNetV2B0", {}), "efficientnetv2-s": ("EfficientNetV2S", {}),
    "densenet121": ("DenseNet121", {}),
    "convnext-tiny": ("ConvNeXtTiny", {}),
    "nasnet-mobile": ("NASNetMobile", {}),
}
# Keras 3.15.1's NASNetMobile() refuses the torch backend ("an outstanding bug", at run time);
# the symbolic model builds fine, so it is made by nasnet.NASNet() with NASNetMobile's arguments
# (keras/src/applications/nasnet.py NASNetMobile).
NASNET_MOBILE = dict(penultimate_filters=1056, num_blocks=4, stem_block_filters=32,
                     skip_reduction=False, filter_multiplier=2, default_size=224,
                     name="nasnet_mobile")
NO_SPEC = {"nasnet-mobile"}     # not in the zoo: the header records Keras's layers for them


def _params(weights):
    return sum(int(math.prod(w.shape)) for w in weights)


def _shape(t):
    return [None if d is None else int(d) for d in t.shape]


def _totals(m):
    return {"params": int(m.count_params()), "trainable": _params(m.trainable_weights),
            "non_trainable": _params(m.non_trainable_weights),
            "input": _shape(m.inputs[0]), "output": _shape(m.outputs[0]),
            "n_layers": len(m.layers)}


def _leaf_rows(m):
    """[name, class, params, trainable params, output shape] of every layer and keras.ops
    operation, nested models expanded in place (as model.summary(expand_nested=True))."""
    rows = []
    ops = m._operations if hasattr(m, "_operations") else m.layers     # Sequential: layers
    for op in ops:
        if isinstance(op, keras.Model):
            rows += _leaf_rows(op)
            continue
        if isinstance(op, layers.InputLayer):
            continue
        is_layer = isinstance(op, keras.layers.Layer)
        p = int(op.count_params()) if is_layer and op.weights else 0
        t = _params(op.trainable_weights) if is_layer else 0
        rows.append([op.name, type(op).__name__, p, t, _shape(op.output)])
    return rows


def _gz(path, text):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(text.encode())
    path.write_bytes(buf.getvalue())


def transfer_functional():
    """Keras guide "Transfer learning & fine-tuning": base.trainable = False, new head."""
    base = A.MobileNet(weights=None, include_top=False, input_shape=(224, 224, 3))
    base.trainable = False
    inputs = keras.Input(shape=(224, 224, 3))
    x = base(inputs, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(5)(x)
    return keras.Model(inputs, outputs, name="transfer_mobilenet")


def transfer_sequential():
    base = A.EfficientNetB0(weights=None, include_top=False, input_shape=(224, 224, 3))
    base.trainable = False
    return keras.Sequential([keras.Input(shape=(224, 224, 3)), base,
                             layers.GlobalAveragePooling2D(), layers.Dropout(0.2),
                             layers.Dense(5, activation="softmax")], name="transfer_efficientnet")


def dynamic_mobilenet_v3():
    return A.MobileNetV3Small(weights=None)          # input (None, None, 3): Keras's default


def layer_mix():
    """One of each other layer class the importer reads, in a small Functional model, with a
    nested Sequential, a layer called twice and keras.ops operations."""
    from keras import ops
    inp = keras.Input(shape=(33, 31, 3), name="image")
    x = layers.Rescaling(1 / 255.0)(inp)
    x = layers.Normalization(mean=[0.5, 0.4, 0.3], variance=[0.2, 0.2, 0.2])(x)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="stem")(x)
    y = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", dilation_rate=2,
                               use_bias=False, name="dw")(x)
    y = layers.BatchNormalization(center=False, name="dw_bn")(y)
    y = layers.LeakyReLU(negative_slope=0.1, name="dw_lrelu")(y)
    z = layers.SeparableConv2D(32, 3, padding="same", activation="swish", name="sep")(x)
    z = layers.PReLU(shared_axes=[1, 2], name="sep_prelu")(z)
    avg = layers.Average(name="avg")([y, z])
    sub = layers.Subtract(name="sub")([y, z])
    v = layers.Multiply(name="mul")([avg, sub])
    v = layers.Concatenate(name="cat")([v, y])                          # 64 channels
    v = layers.ZeroPadding2D(((1, 0), (0, 1)), name="pad")(v)
    v = layers.Cropping2D(((1, 0), (0, 1)), name="crop")(v)
    v = layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool")(v)
    v = layers.AveragePooling2D(2, name="avgpool")(v)
    w = layers.UpSampling2D(2, interpolation="bilinear", name="up")(v)
    w = layers.Conv2DTranspose(16, 3, strides=2, padding="same", name="deconv")(w)
    w = layers.Conv2DTranspose(8, 3, strides=2, padding="valid", use_bias=False,
                               name="deconv_valid")(w)
    w = layers.GroupNormalization(groups=4, name="gn")(w)
    w = layers.Activation("gelu", name="gelu")(w)
    w = layers.ReLU(max_value=6.0, name="relu6")(w)
    w = layers.ReLU(max_value=4.0, name="relu4")(w)
    w = layers.ELU(name="elu")(w)
    w = layers.Resizing(12, 10, interpolation="nearest", name="resize")(w)
    w = layers.LayerNormalization(name="ln")(w)
    w = layers.SpatialDropout2D(0.1, name="sdrop")(w)
    block = keras.Sequential([layers.Conv2D(12, 1, name="inner_conv"),
                              layers.BatchNormalization(name="inner_bn"),
                              layers.Activation("relu", name="inner_relu")], name="inner")
    w = block(w)
    gate = layers.Activation("sigmoid", name="gate")
    w = gate(gate(w))                                                   # called twice
    w = layers.Permute((2, 1, 3), name="permute")(w)
    w = w * 0.5 + 1.0
    w = ops.relu(w - ops.mean(w, axis=[1, 2], keepdims=True))
    w = ops.concatenate([w, w[..., :4]], axis=-1)                       # 16 channels
    g = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(w)
    g = layers.Reshape((16,), name="reshape")(g)
    m = layers.GlobalMaxPooling2D(name="gmp")(w)
    h = layers.Add(name="head_add")([g, m])
    h = layers.Dense(10, activation="tanh", name="fc")(h)
    h = layers.Softmax(name="softmax")(h)
    h = layers.Dropout(0.2, name="drop")(h)
    out = layers.Dense(4, activation="softmax", name="out")(h)
    return keras.Model(inp, out, name="layer_mix")


def with_lambda():
    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.Conv2D(8, 3, name="conv")(inputs)
    a = layers.Lambda(lambda t: t * 2.0, name="double")(x)
    b = layers.Lambda(lambda t: t + 1.0, name="shift")(x)
    x = layers.Maximum(name="max")([a, b])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(3, name="out")(x), name="with_lambda")


def keras2_form(k3):
    """The Keras 3 JSON `k3` (a dict) of a Functional model in the tf.keras 2.x form.

    The tf.keras 2.x form is that of keras-team/tf-keras (fetched at dd0a7237): Model.to_json()
    is {"class_name", "config", "keras_version", "backend"} (tf_keras/engine/training.py
    _updated_config); a Functional config has "name", "layers", "input_layers" and
    "output_layers" as lists of [layer_name, node_index, tensor_index]
    (tf_keras/engine/functional.py get_network_config); each layer {"class_name", "config",
    "name", "inbound_nodes"}, where a node is a list of [layer_name, node_index, tensor_index,
    kwargs] for the tensors of the first call argument and every other argument goes into kwargs,
    a tensor there again as [layer_name, node_index, tensor_index] (tf_keras/engine/node.py
    Node.serialize); InputLayer's config has "batch_input_shape" (tf_keras/engine/input_layer.py
    get_config); arithmetic on tensors is a TFOpLambda layer whose config holds "function": the
    TF symbol, "__operators__.add" for `x + y` and "math.multiply" for `x * y`
    (tf_keras/layers/core/tf_op_layer.py TFOpLambda.get_config), the other operand in kwargs
    as "y". Layer names are kept as Keras 3 wrote them (tf.keras would call the op layers
    tf.__operators__.add, tf.math.multiply_1, ...), so the import compares with the same spec.
    """
    symbol = {"Add": "__operators__.add", "Multiply": "math.multiply",
              "Subtract": "math.subtract", "Divide": "math.truediv"}

    def ref(t):
        if isinstance(t, dict) and t.get("class_name") == "__keras_tensor__":
            h = t["config"]["keras_history"]
            return [h[0], h[1], h[2]]
        return t

    out_layers = []
    for layer in k3["config"]["layers"]:
        cls, cfg = layer["class_name"], copy.deepcopy(layer["config"])
        cfg.pop("dtype", None)
        new = {"class_name": cls, "config": cfg, "name": layer["name"]}
        if cls == "InputLayer":
            cfg["batch_input_shape"] = cfg.pop("batch_shape")
            new["inbound_nodes"] = []
            out_layers.append(new)
            continue
        nodes = []
        for node in layer["inbound_nodes"]:
            args, kwargs = node["args"], dict(node.get("kwargs", {}))
            first, rest = args[0], args[1:]
            if layer.get("module", "").startswith("keras.src.ops"):
                new["class_name"] = "TFOpLambda"
                new["config"] = {"name": layer["name"], "trainable": True,
                                 "function": symbol[cls]}
                kwargs = {"y": ref(rest[0]), "name": None}
                rest = []
            if rest:
                raise ValueError(f"{layer['name']}: more positional arguments than tf.keras has")
            kwargs = {k: v for k, v in kwargs.items() if k != "mask" or v is not None}
            firsts = first if isinstance(first, list) else [first]
            nodes.append([ref(t)[:3] + [kwargs] for t in firsts])
        new["inbound_nodes"] = nodes
        out_layers.append(new)
    ins = k3["config"]["input_layers"]
    outs = k3["config"]["output_layers"]
    ins = [ins] if isinstance(ins[0], str) else ins
    outs = [outs] if isinstance(outs[0], str) else outs
    return {"class_name": "Functional",
            "config": {"name": k3["config"]["name"], "trainable": True, "layers": out_layers,
                       "input_layers": ins, "output_layers": outs},
            "keras_version": "2.15.0 (converted from Keras %s by tools/keras_json.py)"
                             % keras.__version__,
            "backend": "tensorflow"}


# Written by hand, not by this script: the tf.keras 2.x Sequential.to_json() of the keras.io
# example "Simple MNIST convnet" (keras-team/keras-io examples/vision/mnist_convnet.py), in the
# legacy form of tf.keras 2.4-2.12 (layers {"class_name", "config"}, InputLayer
# "batch_input_shape"; tf_keras/engine/sequential.py get_config, input_layer.py get_config).
# Its model.summary() (examples/vision/md/mnist_convnet.md, TF 2 output) is the truth.
KERAS2_MNIST = {
    "file": "keras2-mnist-convnet.json", "made_by": "hand-written (see tools/keras_json.py)",
    "source": "keras-team/keras-io examples/vision/md/mnist_convnet.md model.summary()",
    "keras": {"params": 34826, "trainable": 34826, "non_trainable": 0,
              "input": [None, 28, 28, 1], "output": [None, 10], "n_layers": 7},
    "layers": [["conv2d", "Conv2D", 320, 320, [None, 26, 26, 32]],
               ["max_pooling2d", "MaxPooling2D", 0, 0, [None, 13, 13, 32]],
               ["conv2d_1", "Conv2D", 18496, 18496, [None, 11, 11, 64]],
               ["max_pooling2d_1", "MaxPooling2D", 0, 0, [None, 5, 5, 64]],
               ["flatten", "Flatten", 0, 0, [None, 1600]],
               ["dropout", "Dropout", 0, 0, [None, 1600]],
               ["dense", "Dense", 16010, 16010, [None, 10]]]}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    header = {"keras": keras.__version__, "backend": keras.backend.backend(),
              "backend_version": __import__(keras.backend.backend()).__version__,
              "python": platform.python_version(), "date": datetime.date.today().isoformat(),
              "command": "KERAS_BACKEND=torch /tmp/kvenv/bin/python tools/keras_json.py",
              "built_with": "keras.applications.NAME(include_top=True, classes=1000,"
                            " weights=None, **args); model.to_json()",
              "fixtures": {}}
    only = set(sys.argv[1:])

    def record(key, file, m, **extra):
        header["fixtures"][key] = {"file": file, **extra, "keras": _totals(m)}
        print(key, file, m.count_params(), file=sys.stderr)

    for key, (fn, args) in APPS.items():
        if only and key not in only:
            continue
        keras.backend.clear_session()
        if fn == "NASNetMobile":
            from keras.src.applications import nasnet
            m = nasnet.NASNet(None, include_top=True, weights=None, input_tensor=None,
                              pooling=None, classes=1000, classifier_activation="softmax",
                              **NASNET_MOBILE)
            args = {"built_by": "keras.src.applications.nasnet.NASNet", **NASNET_MOBILE}
        else:
            m = getattr(A, fn)(include_top=True, classes=1000, weights=None, **args)
        _gz(OUT / f"{key}.json.gz", m.to_json())
        record(key, f"{key}.json.gz", m, application=fn, args=args,
               **({"layers": _leaf_rows(m)} if key in NO_SPEC else {}))
        if key == "mobilenet-v3-small-1.0":
            _gz(OUT / "keras2-mobilenet-v3-small.json.gz",
                json.dumps(keras2_form(json.loads(m.to_json()))))
            record("keras2-mobilenet-v3-small", "keras2-mobilenet-v3-small.json.gz", m,
                   application=fn, args=args, made_by="keras2_form() of the Keras 3 JSON")
        if key == "mobilenet-v2-1.0-224":
            tmp = OUT / "_tmp.keras"
            m.save(tmp)
            with zipfile.ZipFile(tmp) as zin:
                kept = {n: zin.read(n) for n in zin.namelist()
                        if n in ("config.json", "metadata.json")}
                dropped = [n for n in zin.namelist() if n not in kept]
            tmp.unlink()
            with zipfile.ZipFile(OUT / f"{key}.keras", "w", zipfile.ZIP_DEFLATED) as zout:
                for n, data in kept.items():
                    info = zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zout.writestr(info, data)
            record(f"{key}.keras", f"{key}.keras", m, application=fn, args=args,
                   made_by=f"model.save(); removed from the zip: {dropped}")
    extras = {
        "transfer-mobilenet": transfer_functional,
        "transfer-efficientnet-sequential": transfer_sequential,
        "mobilenet-v3-small-dynamic": dynamic_mobilenet_v3,
        "lambda": with_lambda,
        "layer-mix": layer_mix,
    }
    for key, make in extras.items():
        if only and key not in only:
            continue
        keras.backend.clear_session()
        m = make()
        _gz(OUT / f"{key}.json.gz", m.to_json())
        record(key, f"{key}.json.gz", m, made_by=make.__name__, layers=_leaf_rows(m))
    header["fixtures"]["keras2-mnist-convnet"] = KERAS2_MNIST
    path = OUT / "_header.json"
    if only and path.exists():
        old = json.loads(path.read_text())
        old["fixtures"].update(header["fixtures"])
        header["fixtures"] = old["fixtures"]
    path.write_text(_dump(header))


def _dump(header):
    """The header as JSON with one fixture a block and one Keras row a line."""
    lines = ["{"]
    for k, v in header.items():
        if k != "fixtures":
            lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append('  "fixtures": {')
    items = list(header["fixtures"].items())
    for i, (key, f) in enumerate(items):
        head = {k: v for k, v in f.items() if k != "layers"}
        end = "," if i < len(items) - 1 else ""
        if "layers" not in f:
            lines.append(f"    {json.dumps(key)}: {json.dumps(head)}{end}")
            continue
        lines.append(f"    {json.dumps(key)}: {json.dumps(head)[:-1]}, \"layers\": [")
        rows = f["layers"]
        lines += [f"      {json.dumps(r)}" + ("," if j < len(rows) - 1 else "")
                  for j, r in enumerate(rows)]
        lines.append(f"    ]}}{end}")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
