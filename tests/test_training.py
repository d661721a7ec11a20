"""Training costs (costcalc/training.py, issue 13) against derivations written out here, and
PyTorch's FlopCounterMode as the peer in the same run (where it agrees, and where it does not:
grouped and depthwise weight gradients)."""
import json
import textwrap

import pytest

from costcalc.errors import CountOverflowError, UsageError
from costcalc.spec import load_text
from costcalc.training import parse_bytes, select_trainable, train


def chain(tmp_path):
    """input 3x8x8 -> a: conv 3x3 3->4 (valid: 6x6) -> r: relu -> b: conv 1x1 4->5 -> p: global
    average pool -> d: dense 5->2."""
    p = tmp_path / "chain.yaml"
    p.write_text(textwrap.dedent("""\
        input: [3, 8, 8]
        layers:
          - {name: a, op: conv2d, filters: 4, kernel: 3}
          - {name: r, op: relu}
          - {name: b, op: conv2d, filters: 5, kernel: 1}
          - {name: p, op: global_avg_pool}
          - {name: d, op: dense, units: 2}
        """))
    return str(p)


A, B, D = 6 * 6 * 4 * 3 * 3 * 3, 6 * 6 * 5 * 4, 5 * 2      # forward MACs by the conv formula


def test_all_trainable_chain_by_hand(tmp_path):
    r = train(chain(tmp_path))
    rows = {x.name: x for x in r.rows}
    # a: weight gradient only (nothing upstream trains); every later layer both
    assert (rows["a"].input_grad_macs, rows["a"].weight_grad_macs) == (0, A)
    assert (rows["b"].input_grad_macs, rows["b"].weight_grad_macs) == (B, B)
    assert (rows["d"].input_grad_macs, rows["d"].weight_grad_macs) == (D, D)
    assert r.totals["backward_macs"] == 2 * (A + B + D) - A
    # other ops: a's bias sum 144; relu's mask 144; b: bias 180; pool spreads g: 180;
    # d: bias 2
    assert rows["a"].backward_other_ops == 6 * 6 * 4
    assert rows["r"].backward_other_ops == 6 * 6 * 4
    assert rows["b"].backward_other_ops == 6 * 6 * 5
    assert rows["p"].backward_other_ops == 6 * 6 * 5
    assert rows["d"].backward_other_ops == 2
    fwd_other = sum(x.forward_other_ops for x in r.rows)
    assert r.totals["step_flops"] == 2 * (A + B + D + 2 * (A + B + D) - A) + fwd_other + \
        (144 + 144 + 180 + 180 + 2)
    # kept for the backward: a's input (3x8x8), relu's output (4x6x6), b's input is the same
    # tensor (counted once), d's input (5)
    assert sum(x.saved_elements for x in r.rows) == 3 * 64 + 4 * 36 + 5
    params = (3 * 9 * 4 + 4) + (4 * 5 + 5) + (5 * 2 + 2)
    assert r.memory["weights"] == 4 * params and r.memory["gradients"] == 4 * params


def test_freezing_the_first_layer_removes_every_gradient_below_b(tmp_path):
    r = train(chain(tmp_path), freeze=["a"])
    rows = {x.name: x for x in r.rows}
    assert not rows["a"].needs_weight_grad and not rows["a"].needs_input_grad
    assert rows["r"].backward_other_ops == 0                         # nothing below it trains
    assert (rows["b"].input_grad_macs, rows["b"].weight_grad_macs) == (0, B)
    assert r.totals["backward_macs"] == B + 2 * D
    # feature extraction: only the head
    h = train(chain(tmp_path), trainable_from="d")
    assert h.totals["backward_macs"] == D and h.totals["trainable_params"] == 5 * 2 + 2


def test_resnet50_full_training_is_twice_forward_minus_the_first_input_gradient():
    """Issue 13: at batch 1, 2 x forward MACs minus conv1's input gradient, which nothing needs
    (conv1: 112*112*64*7*7*3)."""
    r = train("resnet50")
    fwd = 3_857_973_248                                  # He et al. Table 1 "3.8 x 10^9"; exact
    assert r.totals["forward_macs"] == fwd
    assert r.totals["backward_macs"] == 2 * fwd - 112 * 112 * 64 * 7 * 7 * 3
    assert r.totals["trainable_params"] == 25_583_592    # Keras ResNet50 trainable
    b8 = train("resnet50", batch=8)
    assert b8.totals["backward_macs"] == 8 * r.totals["backward_macs"]


def test_feature_extraction_on_mobilenet_trains_the_classifier_only():
    r = train("mobilenet", {"classes": 5}, trainable_from="conv_preds")
    assert r.totals["trainable_params"] == 1024 * 5 + 5             # the 1x1 conv classifier
    assert r.totals["input_grad_macs"] == 0
    assert r.totals["weight_grad_macs"] == 1024 * 5
    assert r.memory["gradients"] == 4 * (1024 * 5 + 5)
    assert r.memory["optimizer_state"] == 0
    adam = train("mobilenet", {"classes": 5}, trainable_from="conv_preds", optimizer="adam")
    assert adam.memory["optimizer_state"] == 2 * 4 * (1024 * 5 + 5)


def test_depthwise_weight_gradients_cost_the_forward_macs():
    """MobileNet's depthwise layers: each gradient costs H*W*9*C, not groups times that."""
    r = train("mobilenet")
    dw = [x for x in r.rows if x.op == "depthwise_conv2d"]
    assert dw and all(x.weight_grad_macs == x.forward_macs for x in dw)
    assert sum(x.forward_macs for x in dw) == 17_385_984     # Table 1 written out (contrasts)


def test_batch_norm_modes(tmp_path):
    p = tmp_path / "bn.yaml"
    p.write_text("input: [2, 4, 4]\nlayers:\n  - {name: c, op: conv2d, filters: 3, kernel: 1}\n"
                 "  - {name: bn, op: batch_norm}\n  - {name: p, op: global_avg_pool}\n"
                 "  - {name: d, op: dense, units: 2}\n")
    y = 3 * 4 * 4
    frozen = {x.name: x for x in train(str(p), freeze=["bn"]).rows}
    assert frozen["bn"].backward_other_ops == 1 * y                  # g * gamma / sigma
    trained = {x.name: x for x in train(str(p)).rows}
    assert trained["bn"].backward_other_ops == 9 * y + 0             # training mode
    forced = {x.name: x for x in train(str(p), freeze=["bn"], bn_training=True).rows}
    assert forced["bn"].backward_other_ops == 9 * y


def test_largest_batch_fits_and_one_more_does_not():
    m = parse_bytes("16GiB")
    assert m == 16 * 2 ** 30
    r = train("resnet50", memory=m)
    k = r.memory["largest_batch"]
    assert train("resnet50", batch=k).memory["peak"] <= m < train("resnet50", batch=k + 1).memory[
        "peak"]


def test_fanout_gradients_are_summed(tmp_path):
    p = tmp_path / "res.yaml"
    p.write_text("input: [2, 4, 4]\nlayers:\n  - {name: c, op: conv2d, filters: 2, kernel: 1}\n"
                 "  - {name: d, op: conv2d, filters: 2, kernel: 1}\n"
                 "  - {name: s, op: add, inputs: [c, d]}\n")
    rows = {x.name: x for x in train(str(p)).rows}
    # c's output is read by d and s, both passing a gradient back: one add per element (32)
    assert rows["c"].backward_other_ops == 2 * 16 + 2 * 16              # bias sum + the sum
    assert rows["s"].backward_other_ops == 0                            # copies


@pytest.mark.parametrize("kwargs,words", [
    ({"trainable": ["nope*"]}, "matches no layer"),
    ({"freeze": ["conv9*"]}, "matches no layer"),
    ({"trainable": ["conv5*"], "freeze": ["conv5_block3*"]}, "is matched by --trainable"),
    ({"trainable_from": "conv5_blok1_1_conv"}, "did you mean 'conv5_block1_1_conv'"),
    ({"optimizer": "rmsprop"}, "unknown optimizer"),
    ({"dtype": "int3"}, "unknown dtype"),
    ({"samples": 0}, "--samples must be a positive integer"),
])
def test_bad_requests(kwargs, words):
    with pytest.raises(UsageError, match=words):
        train("resnet50", **kwargs)


def test_counts_that_leave_int64_are_errors():
    with pytest.raises(CountOverflowError, match="leaves the int64 range"):
        train("resnet50", batch=2 ** 62)


def test_block_and_stage_names_select_their_layers():
    spec = load_text(textwrap.dedent("""\
        input: [2, 4, 4]
        blocks:
          u: {layers: [{name: c, op: conv2d, filters: 2, kernel: 1}, {name: r, op: relu}]}
        layers:
          - {name: s1, block: u, repeat: 2}
          - {name: head, op: dense, units: 3}
        """))
    model = spec.build()
    mask = select_trainable(model, trainable=["s1_block2"])
    names = [layer.name for layer, m in zip(model.layers, mask) if m]
    assert names == ["s1_block2/c", "s1_block2/r"]


# ----------------------------------------------------------------------------- the peer
torch = pytest.importorskip("torch", reason="PyTorch is the peer (make oracle installs it)")


def peer_backward_flops(name, overrides, shape, trainable_prefixes=None):
    """FlopCounterMode's count of loss.backward() on the oracle graph, with the weights of the
    chosen layers requiring gradients (all when None)."""
    import torch_oracle as oracle
    from torch.utils.flop_counter import FlopCounterMode
    from costcalc.spec import load
    model = load(name).build(overrides, shape)
    g = oracle.TorchGraph(model, 0, "float64")
    for i, layer, fn, ins, ws, frees in g.steps:
        on = trainable_prefixes is None or layer.name.startswith(tuple(trainable_prefixes))
        a = layer.op.Attrs(*layer.op.encode(layer.attrs))
        declared = [w for w in layer.op.weights if w.when is None or w.when(a)]
        for w, decl in zip(ws, declared):
            w.requires_grad_(on and decl.trainable)          # not batch norm's statistics
    x = torch.from_numpy(oracle.model_input(model, 0, 1, "float64"))
    live = {0: x}
    for i, layer, fn, ins, ws, frees in g.steps:
        live[i] = fn([live[j] for j in ins], ws, layer.attrs)
    out = live[len(model.layers) - 1]
    loss = (out * torch.ones_like(out)).sum()
    with FlopCounterMode(display=False) as counter:
        loss.backward()
    return counter.get_total_flops(), model


def test_peer_agrees_on_a_dense_network():
    """resnet18 (no groups): FlopCounterMode's backward FLOPs are 2 x our backward MACs of the
    convolutions and the classifier (it counts 2 FLOPs a MAC and nothing else)."""
    flops, model = peer_backward_flops("resnet18", {"classes": 10}, (3, 33, 35))
    ours = train("resnet18", {"classes": 10}, input_shape=(3, 33, 35))
    assert flops == 2 * ours.totals["backward_macs"]


def test_peer_overcounts_depthwise_weight_gradients_by_the_groups():
    """MobileNet: FlopCounterMode's backward = 2 x (input gradients + every weight gradient,
    the depthwise ones times their groups C): the disagreement the README explains."""
    flops, model = peer_backward_flops("mobilenet", {"classes": 10, "resolution": 33}, None)
    ours = train("mobilenet", {"classes": 10, "resolution": 33})
    dw_extra = sum((model_channels(model, x.name) - 1) * x.weight_grad_macs
                   for x in ours.rows if x.op == "depthwise_conv2d")
    assert flops == 2 * (ours.totals["backward_macs"] + dw_extra)
    assert flops > 2 * ours.totals["backward_macs"]


def model_channels(model, name) -> int:
    """Input channels of a layer (a depthwise layer's groups)."""
    from costcalc.analysis import analyze_model
    s = analyze_model(model, 1)
    rows = {r.name: r for r in s.layers}
    layer = next(layer for layer in model.layers if layer.name == name)
    src = layer.inputs[0]
    return model.input_shape[0] if src == "input" else rows[src].output_shape[0]


def test_transfer_learning_report_data():
    """Feature extraction = the forward pass + the new head's weight gradient, times the batch;
    full training = 2 x forward - the first layer's input gradient (as for ResNet-50 above)."""
    from costcalc import contrasts_training as ct
    d = ct.transfer_data()
    nets = {n["spec"]: n["modes"] for n in d["nets"]}
    fwd = train("resnet50", {"classes": 5}).totals["forward_macs"]
    head = 2048 * 5                                           # the new Dense(5) on 2048 features
    assert nets["resnet50"]["feature extraction"]["step_macs"] == 32 * (fwd + head)
    assert nets["resnet50"]["feature extraction"]["trainable_params"] == head + 5
    conv1 = 112 * 112 * 64 * 7 * 7 * 3
    assert nets["resnet50"]["full training"]["step_macs"] == 32 * (3 * fwd - conv1)
    for modes in nets.values():
        fe, top, full = (modes[m] for m in ct.MODES)
        assert fe["step_flops"] < top["step_flops"] < full["step_flops"]
        assert fe["largest_batch"] >= top["largest_batch"] >= full["largest_batch"] >= 1
        assert fe["steps"] == -(-10_000 // 32)


def test_every_op_declares_its_backward_and_ops_shows_it():
    from costcalc import ops
    from costcalc.ops.base import Grad
    from costcalc.render import render_ops
    missing = [op.name for op in ops.OPS if not isinstance(op.grad, Grad)]
    assert missing == []
    mac_ops = {op.name for op in ops.OPS if op.grad.macs}
    assert mac_ops == {"conv2d", "depthwise_conv2d", "separable_conv2d", "dense",
                       "conv2d_transpose"}
    text = render_ops()
    assert text.count("    backward:   ") == len(ops.OPS) - 1          # every op but input
    assert "training MACs: for convolutions" in text                   # the conventions


def test_a_separable_layer_is_its_two_parts():
    """Xception's block14_sepconv1 with nothing upstream training: the depthwise kernel trains,
    so the pointwise part, downstream of it, computes its input gradient:
    H*W*C_in*filters = 10*10*1024*1536 (Keras Xception exit flow at 299: a 10x10 map)."""
    r = train("xception", trainable=["block14*", "avg_pool", "predictions"])
    row = next(x for x in r.rows if x.name == "block14_sepconv1")
    assert not row.needs_input_grad and row.needs_weight_grad
    assert row.input_grad_macs == 10 * 10 * 1024 * 1536
    assert row.weight_grad_macs == row.forward_macs == 10 * 10 * 1024 * (9 + 1536)


def test_train_command(run_cli):
    code, out, err = run_cli("train", "conv5x5-bottleneck", "--count", "--format", "table")
    assert code == 0, err
    assert "equal the analytic counts on every layer" in out
    code, out, err = run_cli("train", "resnet50", "--format", "json", "--batch", "2",
                             "--memory", "16GiB", "--optimizer", "adamw")
    d = json.loads(out)
    for key in ("trainable_params", "forward_macs", "backward_macs", "input_grad_macs",
                "weight_grad_macs", "step_flops"):
        assert key in d["totals"]
    assert d["totals"]["backward_macs"] == 2 * (2 * 3_857_973_248 - 118_013_952)
    assert set(d["memory"]) >= {"weights", "gradients", "optimizer_state", "saved_activations",
                                "peak", "largest_batch"}
    code, out, err = run_cli("train", "resnet50", "--freeze", "nothing*")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    code, out, err = run_cli("train", "resnet50", "--memory", "lots")
    assert code == 2 and "is not a size" in err
