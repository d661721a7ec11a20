"""The zoo's CNNs after 2017 are Keras-exact, layer by layer: names, output shapes, params (with
the trainable split), and which layers feed which.

The truth is Keras itself: tests/data/keras_layers_2017.json was recorded from Keras 3.15.1
(`keras.applications.NAME(weights=None)`, torch backend) by `tools/keras_layers.py 2017`; its
_header says how. Each recorded model maps to the spec name (a variant or a family with
`--set` values) a user would type for it.
"""
import json
from collections import Counter
from pathlib import Path

import pytest

from costcalc.analysis import summarize
from costcalc.spec import available, variants

KERAS = json.loads((Path(__file__).parent / "data" / "keras_layers_2017.json").read_text())


def _case(key):
    """Recorded key -> (spec name, --set values)."""
    if key.startswith("mobilenet-v2-"):
        alpha, res = key.split("-")[2:]
        return "mobilenet-v2", {"alpha": float(alpha), "resolution": int(res)}
    if key.startswith("mobilenet-v3-"):
        parts = key.split("-")
        return f"mobilenet-v3-{parts[2]}", {"alpha": float(parts[3]),
                                            "minimalistic": parts[-1] == "minimalistic"}
    if key.startswith("efficientnetv2-"):
        return "efficientnet-v2-" + key.split("-")[1], {}
    return key, {}


CASES = sorted(k for k in KERAS if not k.startswith("_"))
NAMES = available().keys() | variants().keys()


def _flat(layers):
    """Keras rows with each nested Sequential expanded into its own (named) layers, chained, as
    model.summary(expand_nested=True) shows them (ConvNeXt's stem and downsampling blocks: a
    conv and a LayerNormalization in one Sequential); a reader of the Sequential reads its last
    layer."""
    rows, last = [], {}
    for name, cls, params, info in layers:
        src = [last.get(f, f) for f in info.get("from", [])]
        if "layers" in info:
            for inner_name, inner_cls, inner_params, inner in info["layers"]:
                rows.append([inner_name, inner_cls, inner_params, {**inner, "from": src}])
                src = [inner_name]
            last[name] = inner_name
        else:
            rows.append([name, cls, params, {**info, "from": src}])
    return rows


def _keras_shape(out):
    dims = out[1:]
    return (dims[2], dims[0], dims[1]) if len(dims) == 3 else (dims[0], 1, 1)


def _in_zoo(name):
    assert name in NAMES, f"spec '{name}' (Keras {name}) is missing from the zoo"


@pytest.mark.parametrize("key", CASES)
def test_layers_match_keras(key):
    name, values = _case(key)
    _in_zoo(name)
    rec = KERAS[key]
    s = summarize(name, values)
    keras = [row for row in _flat(rec["layers"]) if row[1] != "InputLayer"]
    input_name = next(row[0] for row in rec["layers"] if row[1] == "InputLayer")
    ours = {r.name: r for r in s.layers}
    assert len(s.layers) == len(keras)
    assert Counter(r.name for r in s.layers) == Counter(row[0] for row in keras), (
        f"only in costcalc: {sorted(set(ours) - {row[0] for row in keras})[:6]}; "
        f"only in Keras: {sorted({row[0] for row in keras} - set(ours))[:6]}")
    bad_params = [(n, ours[n].params, p) for n, _, p, _ in keras if ours[n].params != p]
    assert bad_params == []
    bad_shapes = [(n, ours[n].output_shape, _keras_shape(info["out"]))
                  for n, _, _, info in keras
                  if tuple(ours[n].output_shape) != _keras_shape(info["out"])]
    assert bad_shapes == []
    rename = {input_name: "input"}
    bad_inputs = [(n, ours[n].inputs, [rename.get(f, f) for f in info["from"]])
                  for n, _, _, info in keras
                  if list(ours[n].inputs) != [rename.get(f, f) for f in info["from"]]]
    assert bad_inputs == []
    t = rec["totals"]
    assert (s.totals["params"], s.totals["trainable_params"],
            s.totals["non_trainable_params"]) == (t["params"], t["trainable"], t["non_trainable"])


@pytest.mark.parametrize("key", CASES)
def test_input_equals_resolution(key):
    """`--input CxHxW` and the resolution parameter cannot disagree: the same network either way."""
    name, values = _case(key)
    _in_zoo(name)
    rec = KERAS[key]
    h = rec["input"][1] + 1                          # an odd size: correct_pad's other branch
    others = {k: v for k, v in values.items() if k != "resolution"}
    by_input = summarize(name, others, input_shape=f"3x{h}x{h}")
    assert "resolution" in by_input.spec.defaults, f"{name} has no resolution parameter"
    by_set = summarize(name, {**others, "resolution": h})
    assert [(r.name, r.output_shape, r.params, r.macs) for r in by_input.layers] == \
        [(r.name, r.output_shape, r.params, r.macs) for r in by_set.layers]


def keras_macs(layers) -> dict:
    """MACs of each multiplying layer, from Keras's recorded config and output shapes alone
    (nothing of costcalc): Conv2D H'*W'*kh*kw*(C_in/groups)*filters, DepthwiseConv2D
    H'*W'*kh*kw*C_in*depth_multiplier, Dense (on a vector or at every position of a map)
    positions*C_in*units. The input channels are the recorded output shape of the layer that
    feeds it."""
    rows = _flat(layers)
    out_of = {name: info["out"] for name, _, _, info in rows}
    macs = {}
    for name, cls, _, info in rows:
        if cls not in ("Conv2D", "DepthwiseConv2D", "Dense"):
            continue
        cin = out_of[info["from"][0]][-1]
        cfg, out = info["config"], info["out"]
        positions = out[1] * out[2] if len(out) == 4 else 1
        if cls == "Dense":
            macs[name] = positions * cin * cfg["units"]
        else:
            kh, kw = cfg["kernel_size"]
            per = cin // cfg.get("groups", 1) * cfg["filters"] if cls == "Conv2D" else \
                cin * cfg["depth_multiplier"]
            macs[name] = positions * kh * kw * per
    return macs


@pytest.mark.parametrize("key", CASES)
def test_macs_match_keras_configs(key):
    """Every multiplying layer's MACs, and the network's, from Keras's own layer configs."""
    name, values = _case(key)
    _in_zoo(name)
    want = keras_macs(KERAS[key]["layers"])
    s = summarize(name, values)
    ours = {r.name: r.macs for r in s.layers if r.macs}
    assert {n: (ours.get(n), m) for n, m in want.items() if ours.get(n) != m} == {}
    assert s.totals["macs"] == sum(want.values())
