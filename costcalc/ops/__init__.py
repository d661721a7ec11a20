"""The op registry: one declaration per op (see ``base.py`` for what a declaration holds).

Ops live in family modules, imported here in a fixed order (an op's code is its place in the
registry): the input, activations (before the layers that can fuse them), convolutions and dense,
pooling, normalization, merges, reshapes, and the families added after them. Adding an op means
adding one class to one of these modules (specs/README.md, "Adding an op").

The conventions behind every rule (what a MAC, a FLOP and a parameter are) are CONVENTIONS below,
shown by ``costcalc ops`` and copied into the README.
"""
from __future__ import annotations

from .base import (Grad, FAILURES, INT64_MAX, OK, OPS, OVERFLOW, PAD_EXPLICIT, PAD_SAME, PAD_VALID,
                   UNKNOWN_OP, WINDOW, AttrError, Example, Op, cadd, closest, cmul, cmul3, cmul4,
                   fmt_shape, get_op, nslots, op_names, register, window)


@register
class Input(Op):
    name = "input"
    grad = Grad(why="the network input: no gradient")
    summary = "the graph's input (from the spec's input: or --input)"
    inputs = 0
    formulas = {"output": "C x H x W as given"}
    no_kernel_reason = "the graph's input: the engine sets its shape, the executor its values"


# (order = op codes; activations first: conv and dense list the fusable ones)
from . import activations, conv, pool, norm, merge, reshape  # noqa: E402,F401
from . import normalize, resample, layout  # noqa: E402,F401

CONVENTIONS = """\
Counting conventions (costcalc follows these for every op; see `costcalc ops` for each op's rules)
- Counts are for one sample (batch 1); --batch N multiplies MACs, FLOPs and activations, never params.
- params: every stored number of a layer, as Keras model.summary() "Total params": weights, biases,
  and for batch norm gamma, beta, moving mean and moving variance (3 a channel without scale).
- trainable params: params minus batch-norm moving statistics, and 0 for layers marked frozen.
- MAC: one multiply followed by one accumulate (the papers' "multiply-adds" / "mult-adds").
  Convolution (any groups): H_out*W_out*C_out*(k_h*k_w*C_in/groups); dense: inputs*outputs
  (per_position: H*W*C_in*units); transposed convolution: H_in*W_in*C_in*(k_h*k_w*C_out/groups),
  every input times every tap, taps in cropped rows included; multiplies by padded zeros count.
  Every other op has 0 MACs; its work is in "other ops".
- other ops, per output element unless stated: bias add 1; batch norm 2; every element-wise
  activation 1 (relu, relu6, sigmoid, tanh, hard_sigmoid, swish, hard_swish, gelu, leaky_relu, elu,
  prelu, clip), also when fused into a conv or dense layer; softmax 3; add, multiply, subtract,
  divide 1 per input beyond the first (add 2 when the residual is scaled), inputs broadcast per
  axis (Cx1x1, 1xHxW, 1x1x1); scale_bias 1 per part; layer, group and instance norm 5 (statistics
  and normalisation) + 1 each for gamma and beta; Keras Rescaling and Normalization 2; scalar
  (x + - * / a constant) 1;
  max pool k_h*k_w-1; average pool k_h*k_w; global pools likewise over H*W; LRN 2*size+3;
  reduce_mean n, reduce_max n-1 per output element (n = elements reduced); resize bilinear 7
  (4 multiplies, 3 adds), nearest 0; concat, padding, flatten, dropout, slice, channel_shuffle,
  reshape, transpose 0.
- params of the new layers: prelu C slopes (or C*H*W, or 1); scale_bias C per part; layer and
  group norm 2C when affine; Keras Normalization 2C+1 (mean, variance, count), none trainable,
  0 when given as constants (constants: true).
- FLOPs = 2 x MACs + other ops. (Papers that say "FLOPs" for multiply-adds are quoted as MACs.)
- activations: output elements of every layer but the input; bytes = elements x 4 (float32).
- peak activation memory: the largest total of tensors alive at once when the layers run in spec
  order and each tensor is freed after its last use (every layer writes a new tensor; the input
  counts while it is alive).
- Window sizes: floor((H + pad_total - dilation*(k-1) - 1)/stride) + 1; 'same' padding follows
  TensorFlow (output ceil(H/stride), an odd extra pad row/column at the bottom/right); Caffe-style
  ceil rounding only where an op says ceil_mode: true.
- training (`costcalc train`): a layer computes a weight gradient iff it is trainable and has
  trainable params; an input gradient iff a layer computing a weight gradient lies upstream of it
  (the first layer never does).
- training MACs: for convolutions (any groups, depthwise included; separable: each part) and dense
  layers each gradient costs the forward MACs; every other op's backward is other ops, by its
  "backward" rule in `costcalc ops`; a tensor read by k layers passing a gradient back: k-1 adds
  per element. Step FLOPs = 2 x (forward + backward MACs) + forward and backward other ops.
- training batch norm: frozen batch norm runs in inference mode (as the Keras fine-tuning guide
  advises), trainable batch norm in training mode (--bn-training: all of them).
- training memory: weights (all params), gradients (trainable), optimizer state (sgd 0, momentum 1,
  adam and adamw 2 copies of the trainable params), saved activations (what each backward reads,
  each tensor once) x batch; peak adds the larger of the forward's peak alive activations and the
  saved ones plus the largest layer's input and output gradient, x batch.
- bytes (`summary --columns bytes`, `latency`): each layer reads each input tensor and its weights
  once and writes its output once, at the dtype's size (float32 4, float16 2, int8 1), weights once
  per batch; intensity = FLOPs / (bytes read + bytes written). Ignored: caches, fusion,
  im2col/Winograd buffers, workspace; views (flatten, reshape, dropout) count as copies.
- roofline time (`latency`): per layer max(FLOPs / peak, bytes / bandwidth) of a device profile,
  compute-bound when the first is at least the second. Ignored besides: per-layer launch
  overhead, kernels running below the peak, overlap between layers.
"""


def conventions_entry(start: str) -> str:
    """One entry of CONVENTIONS (its lines joined), by how it starts: reports quote it."""
    entries = CONVENTIONS.split("\n- ")
    hit = next(e for e in entries if e.startswith(start))
    return " ".join(line.strip() for line in hit.splitlines())


def explain(code, op, attrs: dict, in_shapes: list) -> str:
    """The sentence for a failure a layer's rules reported, with the shapes involved."""
    f = FAILURES.get(int(code))
    if f is None:
        return f"internal error: failure code {code} is not registered"
    return f.explain({**attrs, "_op": op.name}, in_shapes)


def brief(code) -> str:
    """The short reason of a failure (sweep tables)."""
    f = FAILURES.get(int(code))
    return f.brief if f else f"internal error: failure code {code} is not registered"


__all__ = ["CONVENTIONS", "FAILURES", "INT64_MAX", "OK", "OPS", "OVERFLOW", "PAD_EXPLICIT",
           "PAD_SAME", "PAD_VALID", "UNKNOWN_OP", "WINDOW", "AttrError", "Example", "Input", "Op",
           "brief", "cadd", "closest", "cmul", "cmul3", "cmul4", "explain", "fmt_shape",
           "get_op", "nslots", "op_names", "register", "window"]


# `costcalc.ops()` (the API, a DataFrame of every op) is this package, called
from .._callable import make_callable  # noqa: E402

make_callable(__name__, "costcalc.api:ops")
