"""PyTorch translations of the activations added in costcalc/ops/activations.py (merged into
costcalc.oracle's OPS, WEIGHT_SHAPES and ACTIVATIONS). Written from the PyTorch documentation and
the op documentation (`costcalc ops`), with no costcalc code."""
import torch
import torch.nn.functional as F


def _hard_sigmoid(xs, ws, attrs):
    x = xs[0]
    if attrs["definition"] in ("keras2", "onnx"):
        # ONNX HardSigmoid, alpha=0.2, beta=0.5: max(0, min(1, alpha*x + beta))
        return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)
    return F.hardsigmoid(x)                          # relu6(x + 3) / 6


def _prelu(xs, ws, attrs):
    x, w = xs[0], ws[0]
    if attrs["slopes"] == "element":                 # Keras PReLU default: alpha of shape (C, H, W)
        return torch.where(x >= 0, x, w.unsqueeze(0) * x)
    return F.prelu(x, w)                             # weight of 1 or C elements (PyTorch PReLU)


def _clip(xs, ws, attrs):
    lo, hi = attrs["min"], attrs["max"]
    if lo is None and hi is None:
        return xs[0]
    return torch.clamp(xs[0], min=lo, max=hi)


OPS = {
    "hard_sigmoid": _hard_sigmoid,
    "swish": lambda xs, ws, a: F.silu(xs[0]),
    "hard_swish": lambda xs, ws, a: F.hardswish(xs[0]),
    "gelu": lambda xs, ws, a: F.gelu(xs[0], approximate=a["approximate"]),
    "leaky_relu": lambda xs, ws, a: F.leaky_relu(xs[0], a["alpha"]),
    "elu": lambda xs, ws, a: F.elu(xs[0], a["alpha"]),
    "prelu": _prelu,
    "clip": _clip,
}


def _prelu_weights(attrs, in_shapes):
    c, h, w = in_shapes[0]
    return [{"channel": (c,), "element": (c, h, w), "single": (1,)}[attrs["slopes"]]]


WEIGHT_SHAPES = {"prelu": _prelu_weights}

# Keras 3's meaning of each `activation:` string: hard_sigmoid = relu6(x+3)/6, gelu exact,
# leaky_relu with negative_slope 0.2 (PyTorch's own default is 0.01), elu alpha 1.
ACTIVATIONS = {
    "hard_sigmoid": F.hardsigmoid,
    "swish": F.silu,
    "hard_swish": F.hardswish,
    "gelu": F.gelu,
    "leaky_relu": lambda y: F.leaky_relu(y, 0.2),
    "elu": F.elu,
}
