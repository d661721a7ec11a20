"""tf2onnx fixtures for tests/test_import_onnx.py: Keras MobileNet (128x128) and ResNet50
(64x64), 10 classes, weights=None, converted by tf2onnx at opset 13, then stripped of their
weights by tools/export_onnx.py's strip_weights (ConstantOfShape). TensorFlow is not a costcalc
dependency; run it in its own venv:
    python3 -m venv /tmp/tfv && /tmp/tfv/bin/pip install tensorflow-cpu tf2onnx
    /tmp/tfv/bin/python tools/export_tf2onnx.py /tmp/tfout      # tensorflow 2.21.0, tf2onnx 1.17.0
    .venv/bin/python -c "import sys; sys.path.insert(0, 'tools'); from export_onnx import \
        strip_weights as s; [s(f'/tmp/tfout/{n}-tf2onnx.onnx', f'tests/data/onnx/{n}-tf2onnx.onnx') \
        for n in ('mobilenet', 'resnet50')]"
"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf, tf2onnx
out = sys.argv[1]
for name, fn, shape in [("mobilenet", tf.keras.applications.MobileNet, (128, 128, 3)),
                        ("resnet50", tf.keras.applications.ResNet50, (64, 64, 3))]:
    m = fn(weights=None, input_shape=shape, classes=10)
    spec = (tf.TensorSpec((1,) + shape, tf.float32, name="input"),)
    path = os.path.join(out, f"{name}-tf2onnx.onnx")
    tf2onnx.convert.from_keras(m, input_signature=spec, opset=13, output_path=path)
    print(path, os.path.getsize(path), tf.__version__, tf2onnx.__version__)
