"""PyTorch translations of the resampling and layout ops (merged into costcalc.oracle.OPS).

conv2d_transpose is F.conv_transpose2d: PyTorch's own padding and output_padding where the
layer's pads are symmetric; otherwise padding 0 (the full output) and then the rows to keep,
from the documented formulas (PyTorch for explicit pads; Keras deconv_output_length for
valid/same, placed as TensorFlow's gradient of a 'same' convolution, which puts the odd
cropped row at the bottom).
"""
import torch
import torch.nn.functional as F


def _keep(n, k, s, d, mode, lo, hi, outpad):
    """(rows kept, first row kept) of the full transposed-convolution output along one axis."""
    keff = d * (k - 1) + 1
    full = (n - 1) * s + keff
    if mode == "explicit":
        return full - lo - hi + (outpad or 0), lo
    if outpad is None:
        out = n * s if mode == "same" else n * s + max(keff - s, 0)
    else:
        out = (n - 1) * s + keff - (2 * (keff // 2) if mode == "same" else 0) + outpad
    return out, (max(full - out, 0) // 2 if mode == "same" else 0)


def _activation(y, attrs):
    from . import ACTIVATIONS      # the package's merged table (imported at call time: a cycle)
    return ACTIVATIONS[attrs.get("activation", "linear")](y)


def op_conv2d_transpose(xs, ws, attrs):
    x, w = xs[0], ws[0]
    b = ws[1] if attrs["bias"] else None
    (kh, kw), s, d, g = attrs["kernel"], attrs["strides"], attrs["dilation"], attrs["groups"]
    pad = attrs["padding"]
    op = attrs["output_padding"]
    if not isinstance(pad, str) and pad[0] == pad[1] and pad[2] == pad[3]:
        y = F.conv_transpose2d(x, w, b, s, (pad[0], pad[2]), op or 0, g, d)
        return _activation(y, attrs)
    mode = pad if isinstance(pad, str) else "explicit"
    t, bo, l, r = (0, 0, 0, 0) if isinstance(pad, str) else pad
    op = op or (None, None)
    ho, top = _keep(x.shape[2], kh, s[0], d[0], mode, t, bo, op[0])
    wo, left = _keep(x.shape[3], kw, s[1], d[1], mode, l, r, op[1])
    full = F.conv_transpose2d(x, w, None, s, 0, 0, g, d)
    # F.pad with negative amounts crops: keep rows top .. top+ho (zeros past the full output)
    y = F.pad(full, (-left, left + wo - full.shape[3], -top, top + ho - full.shape[2]))
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return _activation(y, attrs)


def op_resize(xs, ws, attrs):
    x = xs[0]
    kw = {"mode": attrs["mode"]}
    if attrs["mode"] == "bilinear":
        kw["align_corners"] = False
    if attrs["scale"] is not None:
        return F.interpolate(x, scale_factor=tuple(float(v) for v in attrs["scale"]), **kw)
    return F.interpolate(x, size=tuple(attrs["size"]), **kw)


def op_channel_shuffle(xs, ws, attrs):
    x = xs[0]
    n, c, h, w = x.shape
    g = attrs["groups"]
    return x.reshape(n, g, c // g, h, w).transpose(1, 2).reshape(n, c, h, w)


def _dims(attrs):
    return tuple({"c": 1, "h": 2, "w": 3}[a] for a in attrs["axes"])


OPS = {
    "conv2d_transpose": op_conv2d_transpose,
    "resize": op_resize,
    "slice": lambda xs, ws, a: xs[0].narrow(1, a["begin"], a["stop"] - a["begin"]),
    "channel_shuffle": op_channel_shuffle,
    "reshape": lambda xs, ws, a: xs[0].reshape((xs[0].shape[0],) + tuple(a["shape"])),
    "transpose": lambda xs, ws, a: xs[0].permute((0,) + tuple(1 + p for p in a["perm"])),
    "reduce_mean": lambda xs, ws, a: torch.mean(xs[0], dim=_dims(a), keepdim=True),
    "reduce_max": lambda xs, ws, a: torch.amax(xs[0], dim=_dims(a), keepdim=True),
}


def _conv_transpose_weights(attrs, in_shapes):
    # torch.nn.ConvTranspose2d: weight (in_channels, out_channels/groups, kH, kW), bias (out,)
    kh, kw = attrs["kernel"]
    c_out = attrs["filters"]
    shapes = [(in_shapes[0][0], c_out // attrs["groups"], kh, kw)]
    return shapes + [(c_out,)] * attrs["bias"]


WEIGHT_SHAPES = {"conv2d_transpose": _conv_transpose_weights}
