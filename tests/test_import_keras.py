"""The Keras importer (costcalc/importers/keras.py) on real Keras files.

The fixtures in tests/data/keras_json/ were written by Keras 3.15.1 itself (tools/keras_json.py;
its _header.json says what was run and records Keras's own count_params() with the trainable
split, and for models outside the zoo Keras's own rows). The truths are independent of costcalc:
- a keras.applications model's import must equal the zoo spec of that model layer by layer
  (names, output shapes, params, trainable params, MACs, other ops, inputs); those specs are
  checked against Keras's recorded layers by tests/test_keras_names.py and test_keras_2017.py;
- every fixture's totals equal Keras's count_params() and trainable split in _header.json;
- hand formulas for the MACs of the small models, and the keras.io MNIST example's published
  model.summary() for the hand-written tf.keras 2.x file.
"""
import dataclasses
import gzip
import importlib
import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from costcalc.analysis import summarize
from costcalc.errors import CostcalcError
from costcalc.spec import load_text

# costcalc/importers/__init__.py (Imported, ImportFormatError) is written by another helper; until
# it exists, a shim with the dataclass of the shared design stands in for it.
try:
    from costcalc.importers import Imported, ImportFormatError   # noqa: F401
except ImportError:
    _pkg = importlib.import_module("costcalc.importers")

    @dataclasses.dataclass
    class Imported:
        rows: list
        input: tuple
        source: dict
        title: str
        notes: list

    class ImportFormatError(CostcalcError):
        pass

    _pkg.Imported, _pkg.ImportFormatError = Imported, ImportFormatError

from costcalc.importers import keras as K          # noqa: E402
from test_keras_2017 import _case                  # noqa: E402  the recorded key -> spec name

DATA = Path(__file__).parent / "data" / "keras_json"
HEADER = json.loads((DATA / "_header.json").read_text())
FIXTURES = HEADER["fixtures"]
# Fixtures of zoo models: the recorded key (as in keras_layers*.json) of each
ZOO = {key: key.replace(".keras", "") for key, f in FIXTURES.items()
       if "layers" not in f and key not in ("lambda", "keras2-mobilenet-v3-small")}
ZOO["keras2-mobilenet-v3-small"] = "mobilenet-v3-small-1.0"
UNSUPPORTED = {"lambda"}
FIELDS = ("output_shape", "params", "trainable_params", "macs", "other_ops", "inputs",
          "activations")


def _y(v):
    """A value as YAML flow text (floats always with a '.' or an exponent YAML 1.1 reads)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, float):
        t = repr(v)
        if "e" in t and "." not in t.split("e")[0]:
            m, e = t.split("e")
            t = f"{m}.0e{e}"
        return t
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_y(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)}: {_y(x)}" for k, x in v.items()) + "}"


def spec_of(imp):
    """The imported rows as a spec, written here (not by importers.to_spec_text, tested apart)
    so these tests check the rows alone."""
    lines = [f"title: {_y(imp.title)}", f"input: {_y(list(imp.input))}", "layers:"]
    lines += ["  - " + _y({k: v for k, v in r.items() if not k.startswith("_")})
              for r in imp.rows]
    return load_text("\n".join(lines) + "\n", "<import>")


_CACHE = {}


def imported(key, input_shape=None):
    ck = (key, input_shape)
    if ck not in _CACHE:
        imp = K.read(DATA / FIXTURES[key]["file"], input_shape=input_shape)
        _CACHE[ck] = (imp, summarize(spec_of(imp)))
    return _CACHE[ck]


def _plain(v):
    return list(v) if isinstance(v, (list, tuple)) else v


def same_layers(a, b):
    """Layer-by-layer differences of two summaries (empty when equal)."""
    names_a, names_b = Counter(r.name for r in a.layers), Counter(r.name for r in b.layers)
    assert names_a == names_b, (f"only in the import: {sorted(set(names_a) - set(names_b))[:6]};"
                                f" only in the spec: {sorted(set(names_b) - set(names_a))[:6]}")
    theirs = {r.name: r for r in b.layers}
    return [(r.name, f, getattr(r, f), getattr(theirs[r.name], f))
            for r in a.layers for f in FIELDS
            if _plain(getattr(r, f)) != _plain(getattr(theirs[r.name], f))]


def _keras_shape(out):
    dims = out[1:]
    return (dims[2], dims[0], dims[1]) if len(dims) == 3 else (dims[0], 1, 1)


# ----------------------------------------------------------------------------- zoo fixtures
@pytest.mark.parametrize("key", sorted(ZOO))
def test_import_equals_zoo_spec(key):
    name, values = _case(ZOO[key])
    imp, ours = imported(key)
    spec = summarize(name, values)
    assert same_layers(ours, spec) == []
    for q in ("params", "trainable_params", "non_trainable_params", "macs", "flops",
              "other_ops", "activations"):
        assert ours.totals[q] == spec.totals[q], q
    assert ours.layers[-1].name == spec.layers[-1].name      # the output is the last row


@pytest.mark.parametrize("key", sorted(k for k in FIXTURES if k not in UNSUPPORTED
                                       and k != "mobilenet-v3-small-dynamic"))
def test_totals_equal_keras_count_params(key):
    _, s = imported(key)
    k = FIXTURES[key]["keras"]
    assert (s.totals["params"], s.totals["trainable_params"],
            s.totals["non_trainable_params"]) == (k["params"], k["trainable"],
                                                  k["non_trainable"])
    assert tuple(s.output_shape) == _keras_shape(k["output"])
    assert tuple(s.input_shape) == _keras_shape(k["input"])


@pytest.mark.parametrize("key", sorted(k for k, f in FIXTURES.items() if "layers" in f
                                       and k not in UNSUPPORTED
                                       and k != "mobilenet-v3-small-dynamic"))
def test_layers_equal_keras_rows(key):
    """Models outside the zoo: every Keras row (name, params, trainable, output shape) as
    Keras recorded it (nested models expanded, as model.summary(expand_nested=True))."""
    _, s = imported(key)
    ours = {r.name: r for r in s.layers}
    rows = FIXTURES[key]["layers"]
    missing = [r[0] for r in rows if r[0] not in ours]
    assert missing == []
    bad = [(n, (ours[n].params, ours[n].trainable_params, tuple(ours[n].output_shape)),
            (p, t, _keras_shape(out)))
           for n, _, p, t, out in rows
           if (ours[n].params, ours[n].trainable_params, tuple(ours[n].output_shape))
           != (p, t, _keras_shape(out))]
    assert bad == []


# ----------------------------------------------------------------------------- formats
def test_keras_archive():
    imp, _ = imported("mobilenet-v2-1.0-224.keras")
    assert imp.source["format"] == "keras-archive"
    assert imp.source["producer"] == "keras 3.15.1"        # from the archive's metadata.json
    with zipfile.ZipFile(DATA / "mobilenet-v2-1.0-224.keras") as z:
        assert sorted(z.namelist()) == ["config.json", "metadata.json"]


def test_archive_weights_never_read(tmp_path):
    """A .keras archive whose model.weights.h5 is not even HDF5 imports: it is never opened."""
    with zipfile.ZipFile(DATA / "mobilenet-v2-1.0-224.keras") as z:
        files = {n: z.read(n) for n in z.namelist()}
    path = tmp_path / "model.bin"                              # content decides, not the name
    with zipfile.ZipFile(path, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
        z.writestr("model.weights.h5", b"not hdf5 at all")
    imp = K.read(path)
    assert imp.source["format"] == "keras-archive"
    assert summarize(spec_of(imp)).totals["params"] == 3538984   # Keras MobileNetV2 1.0


def test_plain_json_text_and_path(tmp_path):
    text = gzip.decompress((DATA / "mobilenet.json.gz").read_bytes()).decode()
    by_text = K.read(text)
    path = tmp_path / "weird.name"
    path.write_text(text)
    by_path = K.read(path)
    assert by_text.rows == by_path.rows == imported("mobilenet")[0].rows
    assert by_path.source["file"] == "weird.name" and by_text.source["file"] == "<model>"
    assert by_path.source["format"] == "keras-json"


def test_keras2_converted_form_is_tf_keras():
    """The tf.keras 2.x file: Keras 2 structure (lists for nodes, TFOpLambda for x + 3.0)."""
    d = json.loads(gzip.decompress((DATA / "keras2-mobilenet-v3-small.json.gz").read_bytes()))
    assert "module" not in d and d["backend"] == "tensorflow"
    layers = {lay["name"]: lay for lay in d["config"]["layers"]}
    assert layers["add"]["class_name"] == "TFOpLambda"
    assert layers["add"]["config"]["function"] == "__operators__.add"
    assert layers["add"]["inbound_nodes"][0][0][3] == {"y": 3.0, "name": None}
    imp, _ = imported("keras2-mobilenet-v3-small")
    assert imp.source["producer"].startswith("tf.keras 2.15.0")


def test_keras2_mnist_convnet():
    """The hand-written tf.keras 2.x Sequential of keras.io's "Simple MNIST convnet": its
    published model.summary() is 34,826 params (conv2d 320, conv2d_1 18,496, dense 16,010)."""
    imp, s = imported("keras2-mnist-convnet")
    assert s.totals["params"] == 34826 and s.totals["trainable_params"] == 34826
    assert [r.name for r in s.layers] == ["conv2d", "max_pooling2d", "conv2d_1",
                                          "max_pooling2d_1", "flatten", "dropout", "dense"]
    macs = {r.name: r.macs for r in s.layers}
    assert macs["conv2d"] == 26 * 26 * 32 * 3 * 3 * 1
    assert macs["conv2d_1"] == 11 * 11 * 64 * 3 * 3 * 32
    assert macs["dense"] == 5 * 5 * 64 * 10
    assert s.totals["macs"] == 26 * 26 * 32 * 9 + 11 * 11 * 64 * 9 * 32 + 1600 * 10
    assert imp.input == (1, 28, 28) and imp.source["producer"] == "tf.keras 2.12.0"


# ----------------------------------------------------------------------------- transfer learning
def test_transfer_functional_trains_only_the_head():
    imp, s = imported("transfer-mobilenet")
    dense = 1024 * 5 + 5                                   # Dense(5) on MobileNet's 1024 features
    assert s.totals["trainable_params"] == dense
    assert s.totals["params"] == FIXTURES["transfer-mobilenet"]["keras"]["params"]
    rows = {r["name"]: r for r in imp.rows}
    assert rows["conv1"]["trainable"] is False and rows["conv1_bn"]["trainable"] is False
    assert "trainable" not in rows["dense"]
    # the base's layers keep their own names (no clash, so no prefix)
    assert not any("/" in r["name"] for r in imp.rows)
    assert any("nested model 'mobilenet_1.00_224'" in n and "frozen" in n for n in imp.notes)
    # the base alone equals the zoo's MobileNet up to its pool (Keras include_top=False)
    full = {r.name: r for r in summarize("mobilenet").layers}
    for r in s.layers[:-2]:
        assert (r.params, r.macs, tuple(r.output_shape)) == \
            (full[r.name].params, full[r.name].macs, tuple(full[r.name].output_shape))


def test_transfer_sequential_trains_only_the_head():
    _, s = imported("transfer-efficientnet-sequential")
    assert s.totals["trainable_params"] == 1280 * 5 + 5    # Dense(5) on EfficientNetB0's 1280
    assert [r.op for r in s.layers[-3:]] == ["global_avg_pool", "dropout", "dense"]


def test_nested_name_clash_gets_the_model_prefix():
    inner = {"module": "keras", "class_name": "Sequential", "config": {
        "name": "base", "trainable": False, "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [None, 8, 8, 3],
                                                    "name": "inner_input"}},
            {"class_name": "Conv2D", "config": {"name": "conv", "filters": 4,
                                                "kernel_size": [3, 3]}}]},
        "name": "base", "inbound_nodes": [{"args": [_t("image")], "kwargs": {}}]}
    model = {"module": "keras", "class_name": "Functional", "config": {
        "name": "outer", "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [None, 8, 8, 3],
                                                    "name": "image"}, "name": "image",
             "inbound_nodes": []},
            inner,
            {"class_name": "Conv2D", "config": {"name": "conv", "filters": 2,
                                                "kernel_size": [1, 1]}, "name": "conv",
             "inbound_nodes": [{"args": [_t("base")], "kwargs": {}}]}],
        "input_layers": ["image", 0, 0], "output_layers": ["conv", 0, 0]}}
    imp = K.read(json.dumps(model))
    assert [(r["name"], r.get("_original")) for r in imp.rows] == [
        ("base/conv", "conv"), ("conv", None)]
    s = summarize(spec_of(imp))
    assert s.totals["trainable_params"] == 1 * 1 * 4 * 2 + 2            # the outer conv only
    assert s.totals["params"] == 3 * 3 * 3 * 4 + 4 + 1 * 1 * 4 * 2 + 2


def _t(name, node=0):
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, node, 0]}}


# ----------------------------------------------------------------------------- the layer mix
def test_layer_mix_rows():
    imp, s = imported("layer-mix")
    r = {x.name: x for x in s.layers}
    rows = {x["name"]: x for x in imp.rows}
    assert r["stem"].macs == 17 * 16 * 16 * 3 * 3 * 3                   # 33x31 'same' /2
    assert r["dw"].macs == 17 * 16 * 32 * 3 * 3                        # depth multiplier 2
    assert r["sep"].macs == 17 * 16 * 16 * 9 + 17 * 16 * 16 * 32       # depthwise + pointwise
    assert r["deconv"].macs == 8 * 8 * 64 * 3 * 3 * 16                 # every input x every tap
    assert r["fc"].macs == 16 * 10 and r["out"].macs == 10 * 4
    # a parameter-free layer called twice: two rows
    assert rows["gate_call2"]["_original"] == "gate"
    assert r["gate_call2"].inputs == ["gate"]
    assert rows["crop"]["op"] == "resize" and rows["crop"]["size"] == [17, 16]
    assert any("Cropping2D" in n for n in imp.notes)
    assert rows["avg"]["op"] == "add" and rows["avg"]["scale"] == 0.5
    assert rows["relu4"] == {"name": "relu4", "op": "clip", "min": 0.0, "max": 4.0}
    assert rows["permute"]["perm"] == [0, 2, 1]                        # H and W swapped
    assert rows["get_item"]["op"] == "slice" and rows["get_item"]["stop"] == 4
    assert rows["mean"]["op"] == "reduce_mean" and rows["mean"]["axes"] == ["h", "w"]
    assert rows["multiply"]["op"] in ("scalar", "rescaling")           # w * 0.5
    assert rows["sep_prelu"]["op"] == "prelu" and r["sep_prelu"].params == 32
    assert r["inner_conv"].inputs == ["sdrop"]                        # the nested Sequential


# ----------------------------------------------------------------------------- input sizes
def test_none_spatial_input_needs_input_shape():
    with pytest.raises(ImportFormatError) as e:
        K.read(DATA / "mobilenet-v3-small-dynamic.json.gz")
    assert "--input" in str(e.value) and "None" in str(e.value)
    assert e.value.exit_code == 2
    _, s = imported("mobilenet-v3-small-dynamic", (3, 224, 224))
    assert same_layers(s, summarize("mobilenet-v3-small", {"alpha": 1.0})) == []
    _, s2 = imported("mobilenet-v3-small-dynamic", "3x160x192")     # text works too
    assert tuple(s2.input_shape) == (3, 160, 192)


def test_input_replaces_a_fixed_input():
    _, s = imported("resnet50", (3, 256, 256))
    assert same_layers(s, summarize("resnet50", input_shape="3x256x256")) == []


def test_input_with_other_channels_is_refused():
    with pytest.raises(ImportFormatError, match="3 input channels"):
        K.read(DATA / "resnet50.json.gz", input_shape=(1, 224, 224))


# ----------------------------------------------------------------------------- errors
def test_lambda_is_an_unsupported_layer():
    with pytest.raises(ImportFormatError) as e:
        K.read(DATA / "lambda.json.gz")
    assert str(e.value) == (
        "lambda.json.gz: 2 unsupported layer types: Lambda (2, first 'double'), Maximum (1, "
        "first 'max'); expected the layers listed in README \"Importing models\"")
    assert e.value.exit_code == 2


def _small(layers, out):
    return json.dumps({"module": "keras", "class_name": "Functional", "config": {
        "name": "m", "layers": [{"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
                                 "config": {"batch_shape": [None, 8, 8, 3], "name": "x"}}]
        + layers, "input_layers": ["x", 0, 0], "output_layers": [out, 0, 0]}})


def _layer(cls, name, nodes, **cfg):
    return {"class_name": cls, "name": name, "config": {"name": name, **cfg},
            "inbound_nodes": [{"args": [a], "kwargs": {}} for a in nodes]}


def test_shared_layer_with_weights_is_refused():
    text = _small([_layer("Conv2D", "c", [_t("x"), _t("c", 0)], filters=3, kernel_size=[1, 1]),
                   _layer("LSTM", "rnn", [_t("c", 1)], units=4)], "rnn")
    with pytest.raises(ImportFormatError) as e:
        K.read(text)
    assert "2 unsupported layer types: shared Conv2D (weights used by 2 calls) (1, first 'c'), " \
           "LSTM (1, first 'rnn')" in str(e.value)


@pytest.mark.parametrize("text, match", [
    ("not json", "not JSON"),
    ("\u00ff\u00fe", "not JSON"),
    ('{"a": 1}', "without \"class_name\""),
    ('{"class_name": "MyModel", "config": {"units": 3}}', "without a layer graph"),
    ('[1, 2]', "without \"class_name\""),
])
def test_not_a_keras_model(tmp_path, text, match):
    path = tmp_path / "model.json"
    path.write_text(text)
    with pytest.raises(ImportFormatError, match=match):
        K.read(path)


def test_zip_without_config(tmp_path):
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", "{}")
    with pytest.raises(ImportFormatError, match="without config.json"):
        K.read(path)


def test_two_inputs_are_refused():
    d = json.loads(_small([_layer("Add", "a", [[_t("x"), _t("y")]])], "a"))
    d["config"]["layers"].append({"class_name": "InputLayer", "name": "y", "inbound_nodes": [],
                                  "config": {"batch_shape": [None, 8, 8, 3], "name": "y"}})
    d["config"]["input_layers"] = [["x", 0, 0], ["y", 0, 0]]
    with pytest.raises(ImportFormatError, match="2 inputs; expected one"):
        K.read(json.dumps(d))


def test_missing_file():
    with pytest.raises(ImportFormatError, match="cannot be read"):
        K.read(DATA / "no-such-model.json")


# ----------------------------------------------------------------------------- tf.keras 2.x forms
def test_keras2_functional_with_tensor_operands():
    """TFOpLambda with a tensor `y` (ConvNeXt's `inputs + x` in tf.keras), a constant first
    argument, tf.math.reduce_mean and tf.concat."""
    layers = [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 8, 8, 3], "name": "input_1"}},
        {"class_name": "Conv2D", "name": "conv", "inbound_nodes": [[["input_1", 0, 0, {}]]],
         "config": {"name": "conv", "filters": 3, "kernel_size": [3, 3], "padding": "same"}},
        {"class_name": "TFOpLambda", "name": "tf.__operators__.add",
         "config": {"name": "tf.__operators__.add", "function": "__operators__.add"},
         "inbound_nodes": [[["input_1", 0, 0, {"y": ["conv", 0, 0], "name": None}]]]},
        {"class_name": "TFOpLambda", "name": "tf.math.multiply",
         "config": {"name": "tf.math.multiply", "function": "math.multiply"},
         "inbound_nodes": [[["_CONSTANT_VALUE", -1, 0.5,
                             {"y": ["tf.__operators__.add", 0, 0], "name": None}]]]},
        {"class_name": "TFOpLambda", "name": "tf.math.reduce_mean",
         "config": {"name": "tf.math.reduce_mean", "function": "math.reduce_mean"},
         "inbound_nodes": [[["tf.concat", 0, 0, {"axis": [1, 2], "keepdims": True}]]]},
        {"class_name": "TFOpLambda", "name": "tf.concat",
         "config": {"name": "tf.concat", "function": "concat"},
         "inbound_nodes": [[["tf.math.multiply", 0, 0, {"axis": -1}],
                            ["conv", 0, 0, {"axis": -1}]]]},
        {"class_name": "Multiply", "name": "gate", "config": {"name": "gate"},
         "inbound_nodes": [[["tf.concat", 0, 0, {}], ["tf.concat", 0, 0, {}]]]},
        {"class_name": "Activation", "name": "hs", "config": {"name": "hs",
                                                             "activation": "hard_sigmoid"},
         "inbound_nodes": [[["gate", 0, 0, {}]]]},
        {"class_name": "Add", "name": "out", "config": {"name": "out"},
         "inbound_nodes": [[["hs", 0, 0, {}], ["tf.math.reduce_mean", 0, 0, {}]]]},
    ]
    layers.insert(3, layers.pop(5))     # listed after its reader: the order is found, not given
    text = json.dumps({"class_name": "Functional", "config": {
        "name": "m", "layers": layers, "input_layers": [["input_1", 0, 0]],
        "output_layers": [["out", 0, 0]]}, "keras_version": "2.11.0", "backend": "tensorflow"})
    imp = K.read(text)
    rows = {r["name"]: r for r in imp.rows}
    assert rows["tf.__operators__.add"]["op"] == "add"
    assert rows["tf.__operators__.add"]["inputs"] == ["input", "conv"]
    assert rows["tf.math.multiply"]["op"] in ("scalar", "rescaling")
    assert rows["tf.math.reduce_mean"]["axes"] == ["h", "w"]
    assert rows["tf.concat"]["op"] == "concat"
    assert rows["hs"] == {"name": "hs", "op": "hard_sigmoid", "definition": "keras2"}
    s = summarize(spec_of(imp))
    shapes = {r.name: tuple(r.output_shape) for r in s.layers}
    assert shapes["tf.concat"] == (6, 8, 8) and shapes["tf.math.reduce_mean"] == (6, 1, 1)
    assert shapes["out"] == (6, 8, 8)
    assert imp.source["producer"] == "tf.keras 2.11.0"


def test_keras2_old_sequential_list_config():
    """Keras 2.0-2.2 wrote a Sequential's config as a bare list, the input shape on the first
    layer (batch_input_shape)."""
    text = json.dumps({"class_name": "Sequential", "keras_version": "2.1.6",
                       "backend": "tensorflow", "config": [
                           {"class_name": "Conv2D", "config": {
                               "name": "conv2d_1", "batch_input_shape": [None, 10, 10, 1],
                               "filters": 4, "kernel_size": [3, 3], "activation": "relu"}},
                           {"class_name": "Flatten", "config": {"name": "flatten_1"}},
                           {"class_name": "Dense", "config": {"name": "dense_1", "units": 2}}]})
    s = summarize(spec_of(K.read(text)))
    assert s.totals["params"] == 3 * 3 * 1 * 4 + 4 + 8 * 8 * 4 * 2 + 2
    assert s.totals["macs"] == 8 * 8 * 4 * 9 + 256 * 2


def test_keras2_channels_first():
    text = json.dumps({"class_name": "Sequential", "keras_version": "2.3.1", "config": {
        "name": "s", "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3, 16, 12],
                                                    "name": "in"}},
            {"class_name": "Conv2D", "config": {"name": "c", "filters": 8, "kernel_size": [3, 3],
                                                "strides": [2, 2], "padding": "same",
                                                "data_format": "channels_first"}},
            {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": 1}},
            {"class_name": "MaxPooling2D", "config": {"name": "p", "pool_size": [2, 2],
                                                      "data_format": "channels_first"}}]}})
    imp = K.read(text)
    assert imp.input == (3, 16, 12)
    s = summarize(spec_of(imp))
    assert [tuple(r.output_shape) for r in s.layers] == [(8, 8, 6), (8, 8, 6), (8, 4, 3)]


# ----------------------------------------------------------------------------- round trip
_PKG = importlib.import_module("costcalc.importers")


@pytest.mark.skipif(not hasattr(_PKG, "to_spec_text"), reason="importers.to_spec_text not yet")
@pytest.mark.parametrize("key", sorted(k for k in FIXTURES if k not in UNSUPPORTED
                                       and k != "mobilenet-v3-small-dynamic"))
def test_written_spec_round_trips(key):
    """`costcalc import` text (importers.to_spec_text) loads to exactly the rows' counts."""
    imp, s = imported(key)
    again = summarize(load_text(_PKG.to_spec_text(imp), "<written>"))
    assert same_layers(again, s) == []
    assert again.totals == s.totals


@pytest.mark.skipif(not hasattr(_PKG, "load"), reason="importers.load not yet")
def test_load_through_the_package(tmp_path):
    """importers.load (what the CLI uses) on plain JSON and on the .keras archive."""
    path = tmp_path / "mobilenet.json"
    path.write_bytes(gzip.decompress((DATA / "mobilenet.json.gz").read_bytes()))
    assert same_layers(summarize(_PKG.load(path)), summarize("mobilenet")) == []
    spec = _PKG.load(DATA / "mobilenet-v2-1.0-224.keras")
    assert same_layers(summarize(spec), summarize("mobilenet-v2", {"alpha": 1.0})) == []


@pytest.mark.skipif(not hasattr(_PKG, "load"), reason="importers.load not yet")
def test_load_dynamic_input_needs_input(tmp_path):
    """A model with None sizes loads; building it needs --input, and with it equals the spec."""
    path = tmp_path / "dynamic.json"
    path.write_bytes(gzip.decompress((DATA / "mobilenet-v3-small-dynamic.json.gz").read_bytes()))
    spec = _PKG.load(path)
    with pytest.raises(ImportFormatError, match="--input"):
        summarize(spec)
    assert same_layers(summarize(spec, input_shape="3x224x224"),
                       summarize("mobilenet-v3-small", {"alpha": 1.0})) == []


def test_keras2_nested_functional_node_numbers():
    """tf.keras numbers a nested Functional's calls from 1 (node 0 is the one made when it was
    built: tf_keras/engine/functional.py _should_skip_first_node), so the head reads
    ["base", 1, 0]."""
    base = {"class_name": "Functional", "name": "base", "config": {
        "name": "base", "trainable": False, "layers": [
            {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 12, 12, 3], "name": "input_1"}},
            {"class_name": "Conv2D", "name": "conv", "inbound_nodes": [[["input_1", 0, 0, {}]]],
             "config": {"name": "conv", "filters": 8, "kernel_size": [3, 3], "strides": [2, 2],
                        "use_bias": False, "trainable": False}},
            {"class_name": "BatchNormalization", "name": "bn",
             "inbound_nodes": [[["conv", 0, 0, {}]]],
             "config": {"name": "bn", "axis": [3], "trainable": False}}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["bn", 0, 0]]},
        "inbound_nodes": [[["input_2", 0, 0, {"training": False}]]]}
    text = json.dumps({"class_name": "Functional", "keras_version": "2.15.0", "config": {
        "name": "model", "layers": [
            {"class_name": "InputLayer", "name": "input_2", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 12, 12, 3], "name": "input_2"}},
            base,
            {"class_name": "GlobalAveragePooling2D", "name": "gap",
             "inbound_nodes": [[["base", 1, 0, {}]]], "config": {"name": "gap"}},
            {"class_name": "Dense", "name": "head", "inbound_nodes": [[["gap", 0, 0, {}]]],
             "config": {"name": "head", "units": 5}}],
        "input_layers": [["input_2", 0, 0]], "output_layers": [["head", 0, 0]]}})
    s = summarize(spec_of(K.read(text)))
    assert [r.name for r in s.layers] == ["conv", "bn", "gap", "head"]
    assert s.totals["trainable_params"] == 8 * 5 + 5
    assert s.totals["params"] == 3 * 3 * 3 * 8 + 4 * 8 + 8 * 5 + 5


def test_per_channel_rescaling_keeps_the_counts():
    """EfficientNet with weights='imagenet' adds Rescaling(scale=[1/sqrt(stddev) per channel])
    (keras/src/applications/efficientnet.py): one rescaling row, 2 ops an element."""
    text = _small([_layer("Rescaling", "scale", [_t("x")], scale=[1.0, 2.0, 3.0], offset=0.0)],
                  "scale")
    imp = K.read(text)
    assert imp.rows[0]["op"] == "rescaling"
    assert any("per-channel scale" in n for n in imp.notes)
    assert summarize(spec_of(imp)).totals["other_ops"] == 2 * 3 * 8 * 8


def test_every_unsupported_layer_is_listed_despite_shapes():
    """After an unsupported layer its output shape is unknown: a shape that then does not fit
    (the Add of 4 and 3 channels) does not hide the list of unsupported layers."""
    text = _small([_layer("Conv2D", "c", [_t("x")], filters=4, kernel_size=[1, 1]),
                   _layer("Lambda", "l", [_t("x")], function="..."),
                   _layer("Add", "a", [[_t("c"), _t("l")]]),
                   _layer("Maximum", "m", [[_t("a"), _t("c")]]),
                   _layer("Lambda", "l2", [_t("m")], function="...")], "l2")
    with pytest.raises(ImportFormatError) as e:
        K.read(text)
    assert str(e.value) == (
        "<model>: 2 unsupported layer types: Lambda (2, first 'l'), Maximum (1, first 'm'); "
        "expected the layers listed in README \"Importing models\"")
