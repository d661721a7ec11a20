"""Record Keras Applications' layers (name, class, params) for tests/test_keras_names.py.

Keras itself is the source: run this with Keras 3 and a backend installed (not a costcalc
dependency), e.g.
    python3 -m venv /tmp/kv && /tmp/kv/bin/pip install keras jax
    /tmp/kv/bin/python tools/keras_layers.py > tests/data/keras_layers.json
Models are built with weights=None (nothing is downloaded), each in a fresh session so the
automatic names (conv2d, conv2d_1, ...) are those a user sees in model.summary().
"""
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
import keras
from keras import applications as A
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
