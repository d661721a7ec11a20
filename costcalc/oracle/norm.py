"""PyTorch translations of the broadcasting element-wise ops and the normalization family, and
the weight shapes each layer stores, written from the frameworks' documentation:
- Keras LayerNormalization (channels-last: normalizes the C values of each position; gamma and
  beta of shape (C,)) = F.layer_norm on the NHWC permutation;
- torch.nn.GroupNorm / InstanceNorm2d (weight and bias of shape (C,) when affine);
- Keras Normalization: weights mean (C,), variance (C,) and a scalar count (one number),
  call (x - mean) / maximum(sqrt(variance), keras.backend.epsilon() = 1e-7);
- Keras Rescaling: x * scale + offset;
- ONNX Mul/Sub/Div: multidirectional (NumPy) broadcasting (add is costcalc.oracle's own op_add,
  whose arithmetic broadcasts the same way).
"""
import torch
import torch.nn.functional as F



def op_multiply(xs, ws, attrs):
    y = xs[0]
    for x in xs[1:]:
        y = torch.mul(y, x)
    return y


def _per_channel(v):
    return v.reshape(1, -1, 1, 1)


def op_scale_bias(xs, ws, attrs):
    ws = list(ws)
    y = xs[0]
    if attrs["scale"]:
        y = y * _per_channel(ws.pop(0))
    if attrs["bias"]:
        y = y + _per_channel(ws.pop(0))
    return y


def op_layer_norm(xs, ws, attrs):
    ws = list(ws)
    gamma = ws.pop(0) if attrs["scale"] else None
    beta = ws.pop(0) if attrs["center"] else None
    nhwc = xs[0].permute(0, 2, 3, 1)
    y = F.layer_norm(nhwc, (nhwc.shape[-1],), gamma, beta, attrs["epsilon"])
    return y.permute(0, 3, 1, 2)


def op_group_norm(xs, ws, attrs):
    gamma, beta = (ws[0], ws[1]) if attrs["affine"] else (None, None)
    return F.group_norm(xs[0], attrs["groups"], gamma, beta, attrs["epsilon"])


def op_instance_norm(xs, ws, attrs):
    gamma, beta = (ws[0], ws[1]) if attrs["affine"] else (None, None)
    return F.instance_norm(xs[0], weight=gamma, bias=beta, eps=attrs["epsilon"])


def op_normalization(xs, ws, attrs):
    if attrs["constants"]:                  # constants: mean 0, variance 1 (the op's forward)
        c = xs[0].shape[1]
        ws = [torch.zeros(c, dtype=xs[0].dtype, device=xs[0].device),
              torch.ones(c, dtype=xs[0].dtype, device=xs[0].device)]
    mean, variance = _per_channel(ws[0]), _per_channel(ws[1])
    std = torch.clamp(torch.sqrt(variance), min=1e-7)
    if attrs["invert"]:
        return mean + xs[0] * std
    return (xs[0] - mean) / std


OPS = {
    "multiply": op_multiply,
    "subtract": lambda xs, ws, a: torch.sub(xs[0], xs[1]),
    "divide": lambda xs, ws, a: torch.div(xs[0], xs[1]),
    "scale_bias": op_scale_bias,
    "layer_norm": op_layer_norm,
    "group_norm": op_group_norm,
    "instance_norm": op_instance_norm,
    "rescaling": lambda xs, ws, a: xs[0] * a["scale"] + a["offset"],
    "scalar": lambda xs, ws, a: {"add": torch.add, "subtract": torch.sub, "multiply": torch.mul,
                                 "divide": torch.div}[a["operation"]](xs[0], a["value"]),
    "normalization": op_normalization,
}

WEIGHT_SHAPES = {
    # ONNX Mul/Add by a per-channel constant: one (C,) array each
    "scale_bias": lambda a, s: [(s[0][0],)] * (a["scale"] + a["bias"]),
    # Keras LayerNormalization(axis=-1): gamma then beta, shape (C,)
    "layer_norm": lambda a, s: [(s[0][0],)] * (a["scale"] + a["center"]),
    # torch GroupNorm / InstanceNorm2d affine: weight, bias of shape (num_channels,)
    "group_norm": lambda a, s: [(s[0][0],)] * (2 * a["affine"]),
    "instance_norm": lambda a, s: [(s[0][0],)] * (2 * a["affine"]),
    # Keras Normalization(axis=-1): mean (C,), variance (C,), count: a scalar, one number
    "normalization": lambda a, s: [] if a["constants"] else [(s[0][0],), (s[0][0],), (1,)],
}
