"""ONNX import (costcalc/importers/onnx.py) on real files, no network.

- The onnx package's light ImageNet CNNs (onnx/backend/test/data/light: AlexNet, ZFNet-512,
  VGG-19, Inception v1/v2, ResNet-50, DenseNet-121, ShuffleNet, SqueezeNet; weights stored as
  ConstantOfShape nodes): params and MACs against a count written here from the ONNX file with
  the onnx package itself (shape inference; the layer formulas below), and against published
  figures.
- The single-layer PyTorch test models (pytorch-converted, pytorch-operator): every 2-D one
  imports with the output shape of its recorded test output and the layer formula's counts;
  1-D / 3-D ones and unsupported ops are refused with one clean message.
- The project's own PyTorch oracle graphs exported by tools/export_onnx.py (tests/data/onnx/):
  import == spec layer by layer (MACs of every conv and dense, totals), params differing by
  exactly the folded batch norms; re-exported on the fly when torch is installed.
- Unsupported ops through the CLI, external weights that are absent, a 500 MB model, the
  `import` round trip, `compare` of a spec and its export, names, dynamic shapes.

The onnx package is a test dependency only: costcalc reads ONNX files without it.
"""
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx package writes and checks the test models")
from onnx import TensorProto, helper, numpy_helper, shape_inference  # noqa: E402

from costcalc.analysis import analyze_model  # noqa: E402
from costcalc.importers import ImportFormatError, detect, load, read, to_spec_text  # noqa: E402
from costcalc.spec import load as load_spec_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
FIXTURES = ROOT / "tests" / "data" / "onnx"
sys.path.insert(0, str(ROOT / "tools"))
import export_onnx  # noqa: E402


def summary(path, input_shape=None):
    return analyze_model(load(path).build(None, input_shape))


# ----------------------------------------------------------------------------- reference count
COMPUTE_NEEDS_WEIGHTS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization",
                         "InstanceNormalization", "LayerNormalization", "PRelu", "Add", "Mul",
                         "Sub", "Div"}
SHAPE_ONLY = {"Unsqueeze", "Squeeze", "Reshape", "Transpose", "Identity", "Cast"}


def reference(path):
    """(params, MACs per sample, output dims) of an ONNX file, counted here with the onnx
    package: params = the elements of the float weight tensors (initializers, ConstantOfShape
    outputs, Constant tensors) that a compute node reads (directly or through
    Unsqueeze/Reshape/Transpose), one-element operands of Add/Mul/Sub/Div excepted; MACs by
    the layer formulas
      Conv: H_out*W_out*C_out * (C_in/group)*k_h*k_w      (= output elements x weight[1:] )
      ConvTranspose: H_in*W_in*C_in * (C_out/group)*k_h*k_w (= input elements x weight[1:])
      Gemm / MatMul with a weight matrix: K*M per sample (per position for a 4-D input)
    with every tensor shape from onnx.shape_inference (data propagation on)."""
    m = onnx.load(str(path), load_external_data=False)
    g = m.graph
    inferred = shape_inference.infer_shapes(m, data_prop=True).graph
    dims = {}
    for vi in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        dims[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    inits = {t.name: t for t in g.initializer}
    weights = {t.name: list(t.dims) for t in g.initializer if t.data_type == TensorProto.FLOAT}
    for n in g.node:
        if n.op_type == "ConstantOfShape" and n.input[0] in inits:
            shape = [int(v) for v in numpy_helper.to_array(inits[n.input[0]])]
            weights[n.output[0]] = shape
        if n.op_type == "Constant" and n.attribute and n.attribute[0].type == 4:
            t = n.attribute[0].t
            if t.data_type == TensorProto.FLOAT and math.prod(t.dims) > 1:
                weights[n.output[0]] = list(t.dims)
    source = {name: name for name in weights}      # a view of a weight -> the weight
    for n in g.node:
        if n.op_type in SHAPE_ONLY and n.input and n.input[0] in source:
            source[n.output[0]] = source[n.input[0]]
    used = set()
    for n in g.node:
        if n.op_type in COMPUTE_NEEDS_WEIGHTS:
            # x * 0.5, x + 3: a one-element constant of arithmetic is an operand, not a weight
            scalar_ok = n.op_type not in ("Add", "Mul", "Sub", "Div")
            used.update(source[i] for i in n.input if i in source
                        and (scalar_ok or math.prod(weights[source[i]]) > 1))
    params = sum(math.prod(weights[w]) for w in used)
    batch = (dims[[i.name for i in g.input if i.name not in inits][0]] or [1])[0] or 1
    macs = 0
    for n in g.node:
        if n.op_type == "Conv":
            macs += math.prod(dims[n.output[0]]) * math.prod(dims[n.input[1]][1:])
        elif n.op_type == "ConvTranspose":
            macs += math.prod(dims[n.input[0]]) * math.prod(dims[n.input[1]][1:])
        elif n.op_type in ("Gemm", "MatMul") and n.input[1] in source:
            w = dims[n.input[1]]
            trans = any(a.name == "transB" and a.i for a in n.attribute)
            k, units = (w[1], w[0]) if trans else (w[0], w[1])
            macs += math.prod(dims[n.input[0]]) // k * k * units
    out = dims[g.output[0].name]
    return params, macs // batch, out


def sample_shape(dims):
    """An ONNX output's dims as costcalc's C x H x W of one sample."""
    rest = list(dims[1:])
    return tuple(rest + [1] * (3 - len(rest)))


# ----------------------------------------------------------------------------- light CNNs
LIGHT = sorted(p.stem for p in (DATA / "light").glob("*.onnx"))

# Published parameter counts (these are caffe2 conversions: batch norm stores 4 numbers per
# channel, which the ONNX file holds and costcalc counts):
PUBLISHED_PARAMS = {
    # BVLC AlexNet with its grouped conv2/4/5 (Krizhevsky 2012; Caffe bvlc_alexnet, the ONNX
    # model zoo's bvlc_alexnet): 60,965,224
    "light_bvlc_alexnet": 60_965_224,
    # VGG-19 (configuration E): torchvision vgg19 num_params 143,667,240 (Simonyan and
    # Zisserman 2014, Table 2: 144 M)
    "light_vgg19": 143_667_240,
    # this SqueezeNet is version 1.1: torchvision squeezenet1_1 num_params 1,235,496
    "light_squeezenet": 1_235_496,
    # ResNet-50: torchvision resnet50 num_params 25,557,032 (gamma, beta of 26,560 BN
    # channels included) + running mean and variance, 2 x 26,560, stored in the file
    "light_resnet50": 25_557_032 + 2 * 26_560,
}
# Published multiply-accumulates at 224x224 (torchvision's model table, "GFLOPS" = G MACs):
PUBLISHED_MACS = {
    "light_resnet50": (4.09e9, 0.005),        # ResNet50_Weights.IMAGENET1K_V1: 4.09
    "light_vgg19": (19.63e9, 0.001),          # VGG19_Weights.IMAGENET1K_V1: 19.63
    "light_squeezenet": (0.35e9, 0.01),       # SqueezeNet1_1_Weights.IMAGENET1K_V1: 0.35
}


@pytest.mark.parametrize("name", LIGHT)
def test_light_cnn_counts(name):
    path = DATA / "light" / f"{name}.onnx"
    s = summary(path)
    params, macs, out = reference(path)
    assert s.totals["params"] == params
    assert s.totals["macs"] == macs
    assert s.output_shape == sample_shape(out)
    assert s.input_shape == (3, 224, 224)
    if name in PUBLISHED_PARAMS:
        assert s.totals["params"] == PUBLISHED_PARAMS[name]
    if name in PUBLISHED_MACS:
        value, tol = PUBLISHED_MACS[name]
        assert abs(s.totals["macs"] - value) <= tol * value


def test_light_alexnet_by_hand():
    """AlexNet at the file's 224x224 input (Caffe's is 227): conv1 11x11/4 gives 54x54; then
    pools 3x3/2: 26, 12, and the last one pads (0, 0, 1, 1): 6."""
    s = summary(DATA / "light" / "light_bvlc_alexnet.onnx")
    convs = [r.macs for r in s.layers if r.op == "conv2d"]
    assert convs == [54 * 54 * 96 * 3 * 121, 26 * 26 * 256 * 48 * 25, 12 * 12 * 384 * 256 * 9,
                     12 * 12 * 384 * 192 * 9, 12 * 12 * 256 * 192 * 9]
    dense = [r.macs for r in s.layers if r.op == "dense"]
    assert dense == [9216 * 4096, 4096 * 4096, 4096 * 1000]
    assert [r.op for r in s.layers].count("lrn") == 2


def test_light_shufflenet_channel_shuffle_and_densenet_scale():
    """Caffe2 ShuffleNet's Reshape-Transpose-Reshape is a channel shuffle of 4 groups; Caffe
    DenseNet's BatchNorm + Scale (Mul, Add by per-channel constants) is batch_norm +
    scale_bias (2 x C)."""
    s = summary(DATA / "light" / "light_shufflenet.onnx")
    shuffles = [r for r in s.layers if r.op == "channel_shuffle"]
    assert len(shuffles) == 16 and not any(r.op == "reshape" for r in s.layers)
    text = to_spec_text(read(DATA / "light" / "light_shufflenet.onnx"))
    assert "op: channel_shuffle, groups: 4" in text
    d = summary(DATA / "light" / "light_densenet121.onnx")
    bn = [r for r in d.layers if r.op == "batch_norm"]
    sb = [r for r in d.layers if r.op == "scale_bias"]
    assert len(bn) == len(sb) == 121
    assert all(r.params == 2 * r.output_shape[0] for r in sb)


# ----------------------------------------------------------------------------- PyTorch layers
PT_DIRS = sorted(list((DATA / "pytorch-converted").glob("test_*")) +
                 list((DATA / "pytorch-operator").glob("test_*")))

# Models a costcalc spec cannot express, with the message part that says why:
REFUSED = {
    "test_Embedding": "int64 data", "test_Embedding_sparse": "int64 data",
    "test_operator_non_float_params": "int64 data",
    "test_LogSoftmax": "LogSoftmax (1", "test_log_softmax_dim3": "LogSoftmax (1",
    "test_log_softmax_lastdim": "LogSoftmax (1", "test_Softplus": "Softplus (1",
    "test_operator_selu": "Selu (1", "test_operator_exp": "Exp (1",
    "test_operator_sqrt": "Sqrt (1", "test_operator_reduced_sum": "ReduceSum (1",
    "test_operator_reduced_sum_keepdim": "ReduceSum (1", "test_operator_repeat": "Tile (1",
    "test_operator_repeat_dim_overflow": "Tile (1", "test_Softmin": "Neg (1",
    "test_PoissonNLLLLoss_no_reduce": "2 unsupported op types: Exp (1",
    "test_PixelShuffle": "Reshape (1", "test_operator_index": "Squeeze of the batch axis",
    "test_operator_params": "Add (1", "test_operator_permute2": "rank 6",
    "test_operator_chunk": "a vector", "test_operator_view": "a vector",
}


def _pt_input(d):
    m = onnx.load(str(d / "model.onnx"), load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    ins = [i for i in m.graph.input if i.name not in inits]
    return m, ins


@pytest.mark.parametrize("d", PT_DIRS, ids=lambda d: d.name)
def test_pytorch_layer(d):
    m, ins = _pt_input(d)
    path = d / "model.onnx"
    rank = len(ins[0].type.tensor_type.shape.dim) if ins else 0
    if len(ins) != 1:
        with pytest.raises(ImportFormatError, match=rf"the graph has {len(ins)} inputs"):
            read(path)
        return
    if rank in (3, 5):
        kind = "1-D signal" if rank == 3 else "3-D volume"
        with pytest.raises(ImportFormatError, match=f"{kind}; costcalc counts 2-D maps"):
            read(path)
        return
    if d.name in REFUSED:
        with pytest.raises(ImportFormatError) as exc:
            read(path)
        assert REFUSED[d.name] in str(exc.value)
        assert "\n" not in str(exc.value)
        return
    s = summary(path)
    out = onnx.TensorProto()
    out.ParseFromString((d / "test_data_set_0" / "output_0.pb").read_bytes())
    assert s.output_shape == sample_shape(list(out.dims))
    params, macs, _ = reference(path)
    assert (s.totals["params"], s.totals["macs"]) == (params, macs)


def test_pytorch_layers_by_hand():
    """A few layers with the formula written out (shapes from each model's recorded input,
    weight and output)."""
    conv = DATA / "pytorch-converted"
    # Conv2d_depthwise_with_multiplier: 4 -> 8 channels, groups 4, 3x3, 6x6 -> 4x4
    s = summary(conv / "test_Conv2d_depthwise_with_multiplier" / "model.onnx")
    assert s.totals["macs"] == 4 * 4 * 8 * (1 * 3 * 3) and s.totals["params"] == 8 * 9 + 8
    # Conv2d_groups: 4 -> 6 channels in 2 groups, 3x2 kernel on 6x5: 4x4 out
    s = summary(conv / "test_Conv2d_groups" / "model.onnx")
    assert s.totals["macs"] == 4 * 4 * 6 * (2 * 3 * 2) and s.totals["params"] == 6 * 2 * 6 + 6
    # ConvTranspose2d: 3 -> 4 channels, 3x3 kernel, stride (3, 2): every input times every tap
    s = summary(conv / "test_ConvTranspose2d" / "model.onnx")
    assert s.output_shape == (4, 20, 12)
    assert s.totals["macs"] == 7 * 6 * 3 * (4 * 3 * 3)
    # BatchNorm2d: 4 numbers per channel
    assert summary(conv / "test_BatchNorm2d_eval" / "model.onnx").totals["params"] == 4 * 3
    # Linear 10 -> 8 on (N, 10): a dense layer of 80 MACs, 88 params; without bias 80 (the
    # weight reaches MatMul through a Transpose)
    s = summary(conv / "test_Linear" / "model.onnx")
    assert (s.totals["macs"], s.totals["params"]) == (80, 88)
    assert summary(conv / "test_Linear_no_bias" / "model.onnx").totals["params"] == 80
    # PReLU_2d: one slope; MaxPool2d with dilation: 1000x1000 -> 43x25
    assert summary(conv / "test_PReLU_2d" / "model.onnx").totals["params"] == 1
    s = summary(conv / "test_MaxPool2d_stride_padding_dilation" / "model.onnx")
    assert s.output_shape == (1, 43, 25)


# ----------------------------------------------------------------------------- exported graphs
EXPORTED = sorted(p.stem for p in FIXTURES.glob("*.onnx") if not p.stem.endswith("-tf2onnx"))


def _spec_model(name):
    spec, overrides, shape = export_onnx.FIXTURES[name]
    return export_onnx.build_model(spec, overrides, shape)


def _scope_of(imported_name, spec_names):
    """The spec layer an imported row belongs to: its own name, or the name before '/Op' or
    ':k' (the exporter names nodes after the module of the spec layer that ran them)."""
    if imported_name in spec_names:
        return imported_name
    for sep in ("/", ":"):
        head = imported_name.rsplit(sep, 1)[0]
        if head in spec_names:
            return head
    return None


def check_export_matches_spec(name, path):
    ref = analyze_model(_spec_model(name))
    imp = summary(path)
    spec_layers = {r.name: r for r in ref.layers}
    by_scope = {}
    for r in imp.layers:
        by_scope.setdefault(_scope_of(r.name, spec_layers), []).append(r)
    # every conv / dense layer of the spec is in the export with the same MACs
    for r in ref.layers:
        if r.op in ("conv2d", "depthwise_conv2d", "dense"):
            rows = by_scope.get(r.name, [])
            assert rows, f"{name}: spec layer {r.name} is not in the export"
            assert sum(x.macs for x in rows) == r.macs, (name, r.name)
    assert imp.totals["macs"] == ref.totals["macs"]
    assert imp.output_shape == ref.output_shape and imp.input_shape == ref.input_shape
    # params: the exporter folds each batch norm that follows a convolution into it (4 C
    # numbers gone, a bias of C added where the conv had none); a Keras Normalization layer
    # becomes Sub(mean) and Div(std): 2 C stored numbers where the spec counts its state
    expected = 0
    index = {lay.name: lay for lay in _spec_model(name).layers}
    for r in ref.layers:
        if r.op == "batch_norm" and r.name not in by_scope:
            producer = index[index[r.name].inputs[0]]
            added = 0 if producer.attrs.get("bias", True) else r.output_shape[0]
            expected += r.params - added
        elif r.op == "batch_norm":
            assert sum(x.params for x in by_scope[r.name]) == r.params
        elif r.op == "normalization":
            expected += r.params - 2 * r.output_shape[0]
    assert ref.totals["params"] - imp.totals["params"] == expected
    return ref, imp


@pytest.mark.parametrize("name", EXPORTED)
def test_exported_oracle_graph_matches_spec(name):
    check_export_matches_spec(name, FIXTURES / f"{name}.onnx")


def test_fixtures_are_small():
    total = sum(p.stat().st_size for p in FIXTURES.iterdir())
    assert total < 5 * 1024 * 1024
    assert len(EXPORTED) >= 8


def test_reexport_on_the_fly(tmp_path):
    pytest.importorskip("torch", reason="torch re-exports the oracle graphs (tools/export_onnx.py)")
    for name in ("resnet50-v1.5", "shufflenet-v2"):
        path = export_onnx.export(_spec_model(name), tmp_path / f"{name}.onnx")
        ref, imp = check_export_matches_spec(name, path)
        committed = summary(FIXTURES / f"{name}.onnx")
        assert imp.totals == committed.totals
        assert [r.name for r in imp.layers] == [r.name for r in committed.layers]


def test_reexport_with_the_dynamo_exporter(tmp_path):
    pytest.importorskip("torch", reason="torch exports the oracle graphs")
    pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript, "
                                             "which is not installed")
    path = export_onnx.export(_spec_model("resnet50-v1.5"), tmp_path / "r.onnx", dynamo=True)
    ref = analyze_model(_spec_model("resnet50-v1.5"))
    assert summary(path).totals["macs"] == ref.totals["macs"]


# ----------------------------------------------------------------------------- small models
def make_model(nodes, inits=(), shape=(1, 3, 8, 8), out="y", opset=17, name="m.onnx",
               folder=None, out_shape=None, input_name="x"):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
        initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="test")
    path = Path(folder) / name
    onnx.save(model, str(path))
    return path


def weight(name, dims):
    return helper.make_tensor(name, TensorProto.FLOAT, dims, [0.0] * math.prod(dims))


def ints(name, values):
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


def scalar(name, value):
    return helper.make_tensor(name, TensorProto.FLOAT, [], [value])


def test_unsupported_ops_cli_one_message(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Flatten", ["c"], ["f"], name="flat"),
             helper.make_node("TopK", ["f", "k"], ["v", "i"], name="topk"),
             helper.make_node("NonMaxSuppression", ["v", "v"], ["n1"], name="nms_1"),
             helper.make_node("NonMaxSuppression", ["n1", "v"], ["y"], name="nms_2")]
    path = make_model(nodes, [weight("w", [4, 3, 3, 3]), ints("k", [2])], folder=tmp_path)
    for cmd in (["summary", str(path)], ["import", str(path)]):
        r = subprocess.run([sys.executable, "-m", "costcalc", *cmd], capture_output=True,
                           text=True, cwd=ROOT)
        assert r.returncode == 2
        assert r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1
        assert ("2 unsupported op types: NonMaxSuppression (2, first 'nms_1'), TopK (1, first "
                "'topk'); expected the ops listed in README \"Importing models\"") in lines[0]


def test_external_weights_absent_still_import(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(__import__("numpy").ones((8, 3, 3, 3), "float32"),
                                             "w"),
                     numpy_helper.from_array(__import__("numpy").ones(8, "float32"), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.weights", size_threshold=0)
    assert (tmp_path / "ext.weights").exists()
    (tmp_path / "ext.weights").unlink()
    imp = read(path)
    assert any("external data file" in n for n in imp.notes)
    s = summary(path)
    assert s.totals["params"] == 8 * 27 + 8
    assert s.totals["macs"] == 16 * 16 * 8 * 27


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def write_large_model(path, mb):
    """A ModelProto written field by field (so the test never holds the weights in memory):
    Conv(x, w) with w a 3-D-sized raw_data initializer of about ``mb`` megabytes of zeros,
    streamed into the file. Wire format: tag = field << 3 | wire type (onnx.proto numbers)."""
    cout = max(1, mb * 1024 * 1024 // (4 * 512 * 9))
    small = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 512, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]).SerializeToString()
    payload = cout * 512 * 9 * 4
    head = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[cout, 512, 3, 3])
    tensor_head = head.SerializeToString() + b"\x4a" + _varint(payload)   # raw_data = 9
    tensor_len = len(tensor_head) + payload
    init = b"\x2a" + _varint(tensor_len)                                   # initializer = 5
    graph_len = len(small) + len(init) + tensor_len
    model_head = (b"\x08\x08"                                              # ir_version = 8
                  + b"\x42" + _varint(len(b"\x10\x11")) + b"\x10\x11"      # opset_import: 17
                  + b"\x3a" + _varint(graph_len))                          # graph = 7
    chunk = b"\0" * (1 << 22)
    with open(path, "wb") as f:
        f.write(model_head + small + init + tensor_head)
        left = payload
        while left:
            n = min(left, len(chunk))
            f.write(chunk[:n])
            left -= n
    return cout


def test_large_model_imports_fast(tmp_path):
    path = tmp_path / "large.onnx"
    cout = write_large_model(path, 500)
    size = path.stat().st_size
    assert size > 500 * 1000 * 1000
    start = time.perf_counter()
    s = summary(path)
    elapsed = time.perf_counter() - start
    assert s.totals["params"] == cout * 512 * 9
    assert s.totals["macs"] == 14 * 14 * cout * 512 * 9
    print(f"\nimport + summary of a {size / 1e6:.0f} MB ONNX file: {elapsed * 1000:.1f} ms")
    assert elapsed < 5.0
    m = onnx.load(str(path), load_external_data=False)     # the file is a valid model
    assert list(m.graph.initializer[0].dims) == [cout, 512, 3, 3]


def test_import_round_trip_every_fixture(tmp_path):
    files = [FIXTURES / f"{n}.onnx" for n in EXPORTED] + [DATA / "light" / f"{n}.onnx"
                                                          for n in LIGHT]
    for path in files:
        imp = read(path)
        text = to_spec_text(imp)
        out = tmp_path / (path.stem + ".yaml")
        out.write_text(text)
        a = summary(path)
        b = analyze_model(load_spec_file(str(out)).build())
        assert a.totals == b.totals, path.name
        assert [(r.name, r.op, r.output_shape, r.params, r.macs) for r in a.layers] == \
            [(r.name, r.op, r.output_shape, r.params, r.macs) for r in b.layers], path.name


def test_import_cli_writes_spec(run_cli, tmp_path):
    out = tmp_path / "r.yaml"
    src = FIXTURES / "resnet50-v1.5.onnx"
    code, stdout, err = run_cli("import", str(src), "-o", str(out))
    assert code == 0, err
    assert stdout == ""
    text = out.read_text()
    assert "source: {file: resnet50-v1.5.onnx, format: onnx, producer: \"pytorch 2.13.0\"" in text
    assert "input: [3, 39, 33]" in text
    assert "  - {name: conv1_conv, op: conv2d, filters: 64, kernel: 7, strides: 2, padding: 3}" \
        in text
    code, a, _ = run_cli("summary", str(out), "--format", "json")
    code2, b, _ = run_cli("summary", str(src), "--format", "json")
    import json
    assert json.loads(a)["totals"] == json.loads(b)["totals"]
    code, stdout, _ = run_cli("import", str(src))
    assert code == 0 and stdout.rstrip("\n") == text.rstrip("\n")


def test_compare_spec_with_its_export(run_cli):
    """compare resnet50-v1.5 (the spec) with its ONNX export: same MACs; the per-layer
    breakdown shows the spec's batch norms with no counterpart (folded), and the import's
    notes say why."""
    path = FIXTURES / "resnet50-v1.5.onnx"
    code, out, err = run_cli("compare", "resnet50-v1.5", str(path), "--set", "classes=10",
                             "--input", "3x39x33")
    assert code == 0, err
    ref = analyze_model(_spec_model("resnet50-v1.5"))
    imp = summary(path)
    assert f"{ref.totals['params']:,}" in out and f"{imp.totals['params']:,}" in out
    assert "1.00x" in out                                   # MACs ratio
    lines = [line for line in out.splitlines() if line.startswith("conv1_bn ")]
    assert lines and lines[0].split()[-1] == "-"            # no batch norm in the export
    assert any("folds eval-mode batch norm" in n for n in read(path).notes)


def test_detect_by_content_and_load_spec(tmp_path, run_cli):
    src = FIXTURES / "squeezenet.onnx"
    plain = tmp_path / "model_without_extension"
    plain.write_bytes(src.read_bytes())
    assert detect(plain) == "onnx"
    assert detect(ROOT / "specs" / "resnet50.yaml") is None
    code, out, err = run_cli("summary", str(plain), "--format", "json")
    assert code == 0, err
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(src.read_bytes()[:5000])
    code, out, err = run_cli("summary", str(bad))
    assert code == 2 and out == ""
    assert "not a valid ONNX file" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli("summary", str(tmp_path / "missing.onnx"))
    assert code == 2 and "no such file" in err


def test_dynamic_dims_need_input(tmp_path, run_cli):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["y"])]
    path = make_model(nodes, [weight("w", [8, 3, 3, 3])], shape=("N", 3, "H", "W"),
                      folder=tmp_path)
    with pytest.raises(ImportFormatError, match=r"dynamic dimensions \[N, 3, H, W\].*--input"):
        read(path)
    s = summary(path, (3, 20, 24))
    assert s.totals["macs"] == 20 * 24 * 8 * 27
    code, out, err = run_cli("summary", str(path))
    assert code == 2 and "--input CxHxW" in err and out == ""
    code, out, err = run_cli("summary", str(path), "--input", "3x10x12", "--format", "json")
    assert code == 0, err
    code, out, err = run_cli("import", str(path), "--input", "3x10x12")
    assert code == 0 and "input: [3, 10, 12]" in out
    code, out, err = run_cli("summary", str(path), "--input", "4x10x12")
    assert code == 2 and "4 channels" in err
    # a fixed model imports again at another --input
    s = summary(FIXTURES / "resnet50-v1.5.onnx", (3, 64, 64))
    ref = analyze_model(export_onnx.build_model("resnet50-v1.5", {"classes": 10}, (3, 64, 64)))
    assert s.totals["macs"] == ref.totals["macs"]


def test_fixed_batch_is_read_per_sample(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("Flatten", ["c"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    path = make_model(nodes, [weight("w", [4, 3, 1, 1]), weight("fw", [5, 4 * 64]),
                              weight("fb", [5])], shape=(8, 3, 8, 8), folder=tmp_path)
    imp = read(path)
    assert any("batch is 8: counts are per sample" in n for n in imp.notes)
    s = summary(path)
    assert s.totals["macs"] == 64 * 4 * 3 + 256 * 5


def test_names_are_valid_unique_and_keep_the_original(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="input"),
             helper.make_node("Relu", ["a"], ["b"], name="$weird name\x01"),
             helper.make_node("Relu", ["b"], ["c"], name="dup"),
             helper.make_node("Relu", ["c"], ["d"], name="dup"),
             helper.make_node("Relu", ["d"], ["y"], name="12")]
    path = make_model(nodes, folder=tmp_path)
    imp = read(path)
    names = [r["name"] for r in imp.rows]
    assert len(set(names)) == len(names) and "input" not in names
    assert names[2:4] == ["dup", "dup_2"]
    assert all("$" not in n and n.isprintable() for n in names)
    assert imp.rows[1]["_original"] == "$weird name\x01"
    text = to_spec_text(imp)
    assert "# file: $weird name?" in text
    assert summary(path).totals["other_ops"] == 5 * 3 * 64


# ----------------------------------------------------------------------------- operators
def _ops(path):
    return [(r["op"], {k: v for k, v in r.items() if k not in ("name", "op", "inputs",
                                                              "_original")})
            for r in read(path).rows]


def test_activation_patterns(tmp_path):
    """Mul(x, Sigmoid(x)) -> swish; x * HardSigmoid(x; 1/6, 0.5) -> hard_swish; the Erf
    form of GELU -> gelu; Clip 0..6 -> relu6, 0.. -> relu, other bounds -> clip."""
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Mul", ["x", "s"], ["a"]),
             helper.make_node("HardSigmoid", ["a"], ["h"], alpha=1 / 6, beta=0.5),
             helper.make_node("Mul", ["h", "a"], ["b"]),
             helper.make_node("Div", ["b", "sq2"], ["d"]),
             helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["p"]),
             helper.make_node("Mul", ["b", "p"], ["q"]),
             helper.make_node("Mul", ["q", "half"], ["g"]),
             helper.make_node("Clip", ["g", "zero", "six"], ["r6"]),
             helper.make_node("Clip", ["r6", "zero", ""], ["r"]),
             helper.make_node("Clip", ["r", "m1", "one"], ["y"])]
    inits = [scalar("sq2", math.sqrt(2)), scalar("one", 1.0), scalar("half", 0.5),
             scalar("zero", 0.0), scalar("six", 6.0), scalar("m1", -1.0)]
    path = make_model(nodes, inits, folder=tmp_path)
    assert _ops(path) == [("swish", {}), ("hard_swish", {}), ("gelu", {}), ("relu6", {}),
                          ("relu", {}), ("clip", {"min": -1.0, "max": 1.0})]
    assert summary(path).totals["other_ops"] == 6 * 3 * 64


def test_per_channel_and_scalar_constants(tmp_path):
    """(x - mean[C]) / std[C] -> two scale_bias rows (C numbers each); Mul by [C,1,1] then Add
    [C,1,1] -> one scale_bias with scale and bias; x * 0.5 -> a scalar op (no params)."""
    nodes = [helper.make_node("Sub", ["x", "mean"], ["a"]),
             helper.make_node("Div", ["a", "std"], ["b"]),
             helper.make_node("Mul", ["b", "g"], ["c"]),
             helper.make_node("Add", ["c", "beta"], ["d"]),
             helper.make_node("Mul", ["d", "half"], ["y"])]
    inits = [weight("mean", [1, 3, 1, 1]), weight("std", [1, 3, 1, 1]), weight("g", [3, 1, 1]),
             weight("beta", [3, 1, 1]), scalar("half", 0.5)]
    path = make_model(nodes, inits, folder=tmp_path)
    assert _ops(path) == [("scale_bias", {"scale": False, "bias": True}),
                          ("scale_bias", {"scale": True, "bias": False}),
                          ("scale_bias", {"scale": True, "bias": True}),
                          ("scalar", {"operation": "multiply", "value": 0.5})]
    s = summary(path)
    assert s.totals["params"] == 3 + 3 + 6


def test_channels_last_layer_norm_and_dense(tmp_path):
    """Transpose to NHWC, LayerNormalization(-1), MatMul [C, 2C] + Add bias, Transpose back:
    layer_norm and a per-position dense on the map (ConvNeXt's block)."""
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
             helper.make_node("LayerNormalization", ["t", "ls", "lb"], ["n"], axis=-1,
                              epsilon=1e-6),
             helper.make_node("MatMul", ["n", "w"], ["m"]),
             helper.make_node("Add", ["m", "b"], ["a"]),
             helper.make_node("Transpose", ["a"], ["y"], perm=[0, 3, 1, 2])]
    inits = [weight("ls", [3]), weight("lb", [3]), weight("w", [3, 6]), weight("b", [6])]
    path = make_model(nodes, inits, folder=tmp_path)
    assert _ops(path) == [("layer_norm", {"epsilon": 1e-06}),
                          ("dense", {"units": 6, "per_position": True})]
    s = summary(path)
    assert s.output_shape == (6, 8, 8)
    assert s.totals["macs"] == 64 * 3 * 6 and s.totals["params"] == 6 + 18 + 6


def test_windows_pads_and_resampling(tmp_path):
    """auto_pad SAME_UPPER / SAME_LOWER, ceil-mode average pool with count_include_pad,
    ConvTranspose with output_shape, Pad, Resize by scales and by sizes."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], kernel_shape=[3, 3], strides=[2, 2],
                              auto_pad="SAME_UPPER"),
             helper.make_node("Conv", ["a", "w2"], ["b"], kernel_shape=[2, 2],
                              auto_pad="SAME_LOWER"),
             helper.make_node("AveragePool", ["b"], ["c"], kernel_shape=[3, 3], strides=[2, 2],
                              ceil_mode=1, count_include_pad=1),
             helper.make_node("ConvTranspose", ["c", "wt"], ["d"], kernel_shape=[3, 3],
                              strides=[2, 2], output_shape=[6, 6]),
             helper.make_node("Pad", ["d", "pads"], ["e"]),
             helper.make_node("Resize", ["e", "", "scales"], ["f"], mode="nearest"),
             helper.make_node("Resize", ["f", "", "", "sizes"], ["y"], mode="linear")]
    inits = [weight("w", [4, 3, 3, 3]), weight("w2", [4, 4, 2, 2]), weight("wt", [4, 2, 3, 3]),
             ints("pads", [0, 0, 1, 0, 0, 0, 0, 2]),
             helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2]),
             ints("sizes", [1, 2, 15, 9])]
    path = make_model(nodes, inits, shape=(1, 3, 11, 11), folder=tmp_path)
    rows = _ops(path)
    # 11 / 2 -> 6 (TF same: pad 2 -> 1 top, 1 bottom); 2x2 SAME_LOWER pads 1 at the top/left
    assert rows[0] == ("conv2d", {"filters": 4, "kernel": 3, "strides": 2, "padding": 1,
                                  "bias": False})
    assert rows[1] == ("conv2d", {"filters": 4, "kernel": 2, "padding": [[1, 0], [1, 0]],
                                  "bias": False})
    # 6x6, 3x3/2 ceil: ceil((6-3)/2)+1 = 3 (the last window starts inside the input)
    assert rows[2] == ("avg_pool2d", {"kernel": 3, "strides": 2, "ceil_mode": True,
                                      "count_include_pad": True})
    # full output (3-1)*2 + 3 = 7 cropped to 6: pads 0 before, 1 after
    assert rows[3] == ("conv2d_transpose", {"filters": 2, "kernel": 3, "strides": 2,
                                            "padding": [[0, 1], [0, 1]], "bias": False})
    assert rows[4] == ("zero_pad2d", {"padding": [[1, 0], [0, 2]]})
    assert rows[5] == ("resize", {"mode": "nearest", "scale": 2})
    assert rows[6] == ("resize", {"mode": "bilinear", "size": [15, 9]})
    s = summary(path)
    assert s.output_shape == (2, 15, 9)
    assert [r.output_shape for r in s.layers] == [(4, 6, 6), (4, 6, 6), (4, 3, 3), (2, 6, 6),
                                                  (2, 7, 8), (2, 14, 16), (2, 15, 9)]
    assert s.layers[3].macs == 3 * 3 * 4 * (2 * 9)


def test_layout_ops_and_shape_chains(tmp_path):
    """Split and Slice on channels, Concat, Shape-Gather-Unsqueeze-Concat computing a Reshape
    target (folded away), ReduceMean keepdims 0, Squeeze/Unsqueeze views."""
    nodes = [helper.make_node("Split", ["x", "split"], ["a", "b"], axis=1),
             helper.make_node("Slice", ["x", "s0", "s1", "ax1"], ["c"]),
             helper.make_node("Concat", ["a", "c", "b"], ["d"], axis=1),
             helper.make_node("Shape", ["d"], ["shp"]),
             helper.make_node("Gather", ["shp", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("ReduceMean", ["d"], ["m"], axes=[2, 3], keepdims=0),
             helper.make_node("Unsqueeze", ["m", "ax23"], ["m4"]),
             helper.make_node("Reshape", ["m4", "target"], ["y"])]
    inits = [ints("split", [1, 2]), ints("s0", [1]), ints("s1", [3]), ints("ax1", [1]),
             helper.make_tensor("zero", TensorProto.INT64, [], [0]), ints("ax0", [0]),
             ints("minus1", [-1]), ints("ax23", [2, 3])]
    path = make_model(nodes, inits, opset=13, folder=tmp_path)
    imp = read(path)
    ops = [(r["op"], r.get("begin"), r.get("stop")) for r in imp.rows]
    assert ops == [("slice", 0, 1), ("slice", 1, 3), ("slice", 1, 3), ("concat", None, None),
                   ("global_avg_pool", None, None)]
    assert any("folded away" in n for n in imp.notes)
    assert summary(path).output_shape == (5, 1, 1)


def test_malformed_protobuf_is_one_line(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x08\x07\x3a\xff\xff\xff\x7f" + b"\0" * 10)
    with pytest.raises(ImportFormatError, match="not a valid ONNX file: a field runs past"):
        read(path)


def test_elementwise_ops_map_one_to_one(tmp_path):
    """Each of these ONNX nodes is one costcalc row of the op with the same meaning."""
    nodes = [helper.make_node("LeakyRelu", ["x"], ["a"], alpha=0.1),
             helper.make_node("Elu", ["a"], ["b"]),
             helper.make_node("Tanh", ["b"], ["c"]),
             helper.make_node("HardSigmoid", ["c"], ["d"]),
             helper.make_node("PRelu", ["d", "slope"], ["e"]),
             helper.make_node("Identity", ["e"], ["f"]),
             helper.make_node("Sum", ["f", "e", "d"], ["g"]),
             helper.make_node("Sub", ["g", "c"], ["h"]),
             helper.make_node("Div", ["h", "b"], ["i"]),
             helper.make_node("Mul", ["i", "a"], ["j"]),
             helper.make_node("Dropout", ["j"], ["k"], ratio=0.25),
             helper.make_node("MaxPool", ["k"], ["l"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("LRN", ["l"], ["m"], size=3),
             helper.make_node("InstanceNormalization", ["m", "is", "ib"], ["n"]),
             helper.make_node("GlobalMaxPool", ["n"], ["o"]),
             helper.make_node("Flatten", ["o"], ["p"]),
             helper.make_node("Gemm", ["p", "fw"], ["q"]),
             helper.make_node("Softmax", ["q"], ["y"])]
    inits = [weight("slope", [3, 1, 1]), weight("is", [3]), weight("ib", [3]),
             weight("fw", [3, 7])]
    path = make_model(nodes, inits, folder=tmp_path)
    assert _ops(path) == [
        ("leaky_relu", {"alpha": 0.1}), ("elu", {"alpha": 1.0}), ("tanh", {}),
        ("hard_sigmoid", {"definition": "onnx"}), ("prelu", {"slopes": "channel"}),
        ("add", {}), ("subtract", {}), ("divide", {}), ("multiply", {}),
        ("dropout", {"rate": 0.25}), ("max_pool2d", {"kernel": 2, "strides": 2}),
        ("lrn", {"size": 3, "alpha": 0.0001, "beta": 0.75, "k": 1.0}),
        ("instance_norm", {"affine": True, "epsilon": 1e-05}), ("global_max_pool", {}),
        ("dense", {"units": 7, "bias": False}), ("softmax", {})]     # Flatten of 3x1x1: a view
    s = summary(path)
    assert s.totals["params"] == 3 + 6 + 21 and s.totals["macs"] == 21
    assert s.output_shape == (7, 1, 1)


def test_dead_nodes_and_extra_outputs_are_noted(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"]),
             helper.make_node("Sigmoid", ["x"], ["unused"])]
    path = make_model(nodes, folder=tmp_path)
    imp = read(path)
    assert [r["op"] for r in imp.rows] == ["relu"]
    assert any("1 nodes do not lead to an output" in n for n in imp.notes)


def test_costcalc_does_not_import_onnx():
    code = ("import sys, costcalc.importers as i, costcalc.analysis as a; "
            f"a.summarize({str(FIXTURES / 'squeezenet.onnx')!r}); "
            "print('onnx' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_compare_with_its_export_says_where_and_why_params_differ(run_cli):
    """Issue 12: `costcalc compare resnet50-v1.5 <its ONNX export>` shows the layers whose params
    differ (the spec's *_bn rows are absent from the file, its convs gain a bias) and says why."""
    onnx_file = str(Path(__file__).parent / "data" / "onnx" / "resnet50-v1.5.onnx")
    code, out, err = run_cli("compare", "resnet50-v1.5", onnx_file, "--set", "classes=10",
                             "--input", "3x39x33")
    assert code == 0, err
    assert "conv1_bn" in out                                       # where: per layer
    notes = out[out.index("Notes"):]
    assert "folds eval-mode batch norm into the convolutions" in notes        # why
    from costcalc.analysis import summarize
    spec = summarize("resnet50-v1.5", {"classes": 10}, (3, 39, 33))
    bn = sum(r.params for r in spec.layers if r.op == "batch_norm")           # 4C each
    added_bias = sum(r.output_shape[0] for r in spec.layers if r.op == "conv2d")  # no bias before
    imported = summarize(onnx_file)
    assert spec.totals["params"] - imported.totals["params"] == bn - added_bias


@pytest.mark.parametrize("fixture,spec,settings", [
    ("mobilenet-tf2onnx.onnx", "mobilenet", {"classes": 10, "resolution": 128}),
    ("resnet50-tf2onnx.onnx", "resnet50", {"classes": 10, "resolution": 64}),
])
def test_tf2onnx_exports_count_as_the_keras_spec(fixture, spec, settings):
    """Keras models converted by tf2onnx 1.17.0 (tools/export_tf2onnx.py): NHWC input, batch
    norm folded by tf2onnx's optimizer. The same MACs and the same conv/dense kernels as the
    Keras-exact spec; no batch norm left."""
    from costcalc.analysis import summarize
    from costcalc.verify import measure
    path = str(Path(__file__).parent / "data" / "onnx" / fixture)
    imported, ours = summarize(path), summarize(spec, settings)
    assert "tf2onnx" in imported.spec.source["producer"]
    assert imported.totals["macs"] == ours.totals["macs"]
    assert measure(imported, "weights") == measure(ours, "weights")
    assert not any(r.op == "batch_norm" for r in imported.layers)
