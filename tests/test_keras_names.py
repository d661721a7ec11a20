"""Specs that reproduce a Keras application have Keras's layers: the same names and, layer by
layer, the same parameter counts, so `costcalc summary` reads next to `model.summary()`.

The truth is Keras itself: tests/data/keras_layers.json was recorded from Keras 3 (weights=None)
by tools/keras_layers.py, one (name, class, params) row per layer.
"""
import json
from collections import Counter
from pathlib import Path

import pytest

from costcalc.analysis import summarize

KERAS = json.loads((Path(__file__).parent / "data" / "keras_layers.json").read_text())
SPECS = sorted(k for k in KERAS if not k.startswith("_"))


@pytest.mark.parametrize("name", SPECS)
def test_layers_match_keras(name):
    keras = [(n, p) for n, cls, p in KERAS[name] if cls != "InputLayer"]
    ours = [(r.name, r.params) for r in summarize(name).layers]
    assert len(ours) == len(keras)
    assert Counter(n for n, _ in ours) == Counter(n for n, _ in keras), (
        f"only in costcalc: {sorted(set(n for n, _ in ours) - set(n for n, _ in keras))[:6]}; "
        f"only in Keras: {sorted(set(n for n, _ in keras) - set(n for n, _ in ours))[:6]}")
    want = dict(keras)
    assert [(n, p) for n, p in ours if p != want[n]] == []
    assert sum(p for _, p in ours) == sum(p for _, p in keras)


def test_automatic_names_count_like_keras():
    from conftest import spec_from
    s = summarize(spec_from("""
        input: [3, 8, 8]
        blocks:
          conv_bn:                     # Keras conv2d_bn(): unnamed layers, auto-numbered
            prefix: false
            layers:
              - {name: "${auto('conv2d')}", op: conv2d, filters: 4, kernel: 1, bias: false}
              - {name: "${auto('batch_normalization')}", op: batch_norm, scale: false}
              - {name: "${auto('activation')}", op: relu}
        layers:
          - {name: a, block: conv_bn}
          - {name: skipped, op: relu, when: false}
          - {name: b, block: conv_bn}
          - {name: "${auto('conv2d')}", op: conv2d, filters: 2, kernel: 1, inputs: a}
        """))
    assert [r.name for r in s.layers] == [
        "conv2d", "batch_normalization", "activation",
        "conv2d_1", "batch_normalization_1", "activation_1", "conv2d_2"]
    assert s.layers[-1].inputs == ["activation"]          # a block instance names its output


# These list their layers in model.layers' order too; the Inception family and Xception follow the
# order Keras's code creates layers (what numbers the automatic names), which model.layers sorts
# differently.
@pytest.mark.parametrize("name", ["vgg16", "vgg19", "resnet50", "resnet101", "resnet152",
                                  "mobilenet"])
def test_layer_order_matches_keras(name):
    keras = [n for n, cls, _ in KERAS[name] if cls != "InputLayer"]
    assert [r.name for r in summarize(name).layers] == keras
