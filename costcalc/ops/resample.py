"""Resampling: transposed convolution (learned upsampling) and resize (nearest, bilinear).

conv2d_transpose (PyTorch ConvTranspose2d, Keras Conv2DTranspose). Along each axis the input is
scattered into a full output of F = (H_in-1)*stride + dilation*(k-1) + 1 rows (each input element
times every tap of its kernel), which is then cropped or extended with zero rows:
- explicit padding (PyTorch's ``padding``, which crops): H_out = F - pad_top - pad_bottom +
  output_padding (PyTorch's documented formula); the output starts at full row pad_top;
- valid / same (Keras): H_out = ``deconv_output_length`` of Keras's conv_utils: with
  output_padding not given, valid: H_in*stride + max(k_eff - stride, 0), same: H_in*stride; with
  it, (H_in-1)*stride + k_eff - 2*pad + output_padding (pad = k_eff//2 for same, 0 for valid).
  TensorFlow computes it as the gradient of a convolution of H_out rows: its 'same' padding is
  cropped, the odd row at the bottom (top crop (F - H_out)//2); rows past F are zeros.
MACs = H_in*W_in*C_in * k_h*k_w*C_out/groups: every input element times every tap, including the
taps that land in rows cropped away (the scatter computes them; every counter that reports
transposed convolutions as the convolution's gradient counts them too).

resize: nearest (PyTorch 'nearest': source floor(dst*in/out); with an integer scale, Keras
UpSampling2D's repetition) or bilinear (half-pixel centres: PyTorch align_corners=False,
TensorFlow/Keras half_pixel_centers). 0 MACs; other ops: nearest 0 (a copy), bilinear 7 per
output element (4 multiplies by the tap weights, 3 adds).
"""
from __future__ import annotations

import numpy as np

from .base import (Grad, OK, OVERFLOW, PAD_SAME, PAD_VALID, AttrError, Bool, Choice, Example, Int,
                   Op, Padding, Pair, Weight, cadd, cmul, cmul3, failure, register, volume)
from .conv import GROUPS_IN, GROUPS_OUT, activation_attr, epilogue, epilogue_ops


def _kernels():
    from .. import kernels_resample
    return kernels_resample


class OptionalPair(Pair):
    """A Pair that may be left out (None): its fields are then -1 (rules test ``< 0``)."""
    kind = "pair or none"

    def parse(self, v):
        if v is None:
            return None
        return super().parse(v)

    def encode(self, value):
        if value is None:
            return (-1, -1)
        return tuple(value)


# ----------------------------------------------------------------------------- conv2d_transpose
def tconv_axis(size, k, s, d, mode, p_lo, p_hi, outpad):
    """(H_out, first full row kept) of a transposed convolution along one axis (see the module
    doc); H_out 0: nothing is left (the caller reports it); -1: a size leaves int64. outpad < 0:
    output_padding not given."""
    if size < 1:
        return 0, 0
    keff = cadd(cmul(d, k - 1), 1)
    full = cadd(cmul(size - 1, s), keff)
    if keff < 0 or full < 0:
        return -1, 0
    if mode == PAD_VALID or mode == PAD_SAME:
        if outpad < 0:
            if mode == PAD_SAME:
                out = cmul(size, s)
            else:
                extra = keff - s
                if extra < 0:
                    extra = 0
                out = cadd(cmul(size, s), extra)
        elif mode == PAD_SAME:
            out = cadd(full - 2 * (keff // 2), outpad)
        else:
            out = cadd(full, outpad)
        if out < 0:
            return -1, 0
        top = 0
        if full > out:
            top = (full - out) // 2
        return out, top
    if outpad < 0:
        outpad = 0
    avail = cadd(full, outpad)
    if avail < 0:
        return -1, 0
    if p_lo >= avail:
        return 0, 0
    rest = avail - p_lo
    if p_hi >= rest:
        return 0, 0
    return rest - p_hi, p_lo


def tconv_hw(a, h, w):
    """(H_out, top, W_out, left) of a conv2d_transpose layer."""
    ho, top = tconv_axis(h, a.kernel_h, a.strides_h, a.dilation_h, a.pad_mode, a.pad_top,
                         a.pad_bottom, a.output_padding_h)
    wo, left = tconv_axis(w, a.kernel_w, a.strides_w, a.dilation_w, a.pad_mode, a.pad_left,
                          a.pad_right, a.output_padding_w)
    return ho, top, wo, left


TCONV_EMPTY = failure(
    "conv2d_transpose on {input} (kernel {kernel}, strides {strides}, dilation {dilation}, "
    "padding {padding!r}, output_padding {output_padding}) leaves no output row or column: the "
    "padding crops all of the (H_in-1)*stride + dilation*(k-1) + 1 rows it produces; expected "
    "less padding or a larger input", "transposed convolution cropped to nothing")


@register
class Conv2DTranspose(Op):
    name = "conv2d_transpose"
    grad = Grad(macs=True, weight=lambda a: a.bias, saves=("input",), saves_when="weight",
                why="the input gradient is a convolution of g and the kernel gradient a "
                    "correlation of g with the input: the forward MACs each")
    summary = ("transposed convolution (PyTorch ConvTranspose2d, Keras Conv2DTranspose): "
               "learned upsampling")
    attrs = (Int("filters", doc="output channels C_out"),
             Pair("kernel", doc="kernel height and width"),
             Pair("strides", 1, doc="step of the input elements in the output"),
             Padding(doc="valid or same (Keras Conv2DTranspose), or explicit pads per side "
                         "(PyTorch's padding: rows cropped from the full output)"),
             OptionalPair("output_padding", None, minimum=0,
                          doc="rows/columns added at the bottom/right (PyTorch, Keras); each "
                              "smaller than the stride or the dilation; not given: 0 for "
                              "explicit padding, Keras's inferred length for valid/same"),
             Pair("dilation", 1, doc="spacing of the kernel's taps"),
             Int("groups", 1, doc="channel groups"),
             Bool("bias", True, doc="adds a bias per output channel"),
             activation_attr())
    weights = (Weight("kernel", lambda a, x: (x[0], a.filters // a.groups, a.kernel_h,
                                              a.kernel_w)),
               Weight("bias", lambda a, x: (a.filters,), when=lambda a: a.bias))
    formulas = {
        "output": "C_out x H_out x W_out; H_out = (H_in-1)*stride - pad_top - pad_bottom + "
                  "dilation*(k-1) + output_padding + 1 (PyTorch); valid/same: Keras's "
                  "deconv_output_length (same: H_in*stride; valid: H_in*stride + "
                  "max(k_eff - stride, 0))",
        "params": "k_h*k_w*C_in*(C_out/groups) + C_out if bias (PyTorch weight (C_in, "
                  "C_out/groups, k_h, k_w))",
        "MACs": "H_in*W_in*C_in * k_h*k_w*C_out/groups (every input element times every tap, "
                "taps landing in cropped rows included)",
        "other ops": "bias: 1 per output element; activation: its cost per output element",
    }

    @classmethod
    def normalize(cls, values):
        out = super().normalize(values)
        op = out["output_padding"]
        if op is not None:
            for axis, p, s, d in zip(("height", "width"), op, out["strides"], out["dilation"]):
                if p >= s and p >= d:
                    raise AttrError("output_padding",
                                    f"output_padding {p} along {axis} is not smaller than the "
                                    f"stride {s} or the dilation {d}; expected output_padding < "
                                    "stride or < dilation (PyTorch's rule: larger values would "
                                    "add rows no input reaches)")
        return out

    @staticmethod
    def shape(a, x, shapes, ins):
        if x[0] % a.groups != 0:
            return GROUPS_IN, 0, 0, 0
        if a.filters % a.groups != 0:
            return GROUPS_OUT, 0, 0, 0
        ho, _, wo, _ = tconv_hw(a, x[1], x[2])
        if ho < 0 or wo < 0:
            return OVERFLOW, 0, 0, 0
        if ho == 0 or wo == 0:
            return TCONV_EMPTY, 0, 0, 0
        return OK, a.filters, ho, wo

    @staticmethod
    def counts(a, x, y, shapes, ins):
        taps = cmul3(a.kernel_h, a.kernel_w, a.filters // a.groups)
        return cmul(volume(x), taps), epilogue_ops(a, volume(y))

    @staticmethod
    def forward(xs, ws, a, counting):
        k = _kernels()
        x = np.ascontiguousarray(xs[0])
        h, w = x.shape[2], x.shape[3]
        ho, top, wo, left = tconv_hw(a, h, w)
        kh, kw = ws[0].shape[2], ws[0].shape[3]
        fh = max((h - 1) * a.strides_h + a.dilation_h * (kh - 1) + 1, top + ho)
        fw = max((w - 1) * a.strides_w + a.dilation_w * (kw - 1) + 1, left + wo)
        args = (a.strides_h, a.strides_w, a.dilation_h, a.dilation_w, a.groups, fh, fw)
        if counting:
            full, n = k.conv_transpose_direct(x, ws[0], *args)
        else:
            full, n = k.conv_transpose_gemm(x, ws[0], *args), 0
        y = np.ascontiguousarray(full[:, :, top:top + ho, left:left + wo])
        return epilogue(y, ws, a), n

    examples = (
        # stride 2, 3x3, explicit padding 1, output_padding 1 (the usual 2x upsampling):
        # (5-1)*2 - 1 - 1 + 1*(3-1) + 1 + 1 = 10; (4-1)*2 - 1 - 1 + 2 + 1 + 1 = 8
        Example({"filters": 6, "kernel": 3, "strides": 2, "padding": 1, "output_padding": 1},
                (4, 5, 4), output=(6, 10, 8), params=3 * 3 * 4 * 6 + 6,
                macs=5 * 4 * 4 * (3 * 3 * 6), other=6 * 10 * 8),
        # valid, stride 1: (6-1) + 3 = 8 rows, (3-1) + 3 = 5 columns; no bias
        Example({"filters": 2, "kernel": 3, "bias": False}, (3, 6, 3), output=(2, 8, 5),
                params=3 * 3 * 3 * 2, macs=6 * 3 * 3 * (3 * 3 * 2)),
        # Keras same, stride 2, 2x2 kernel: 2*5 = 10, 2*3 = 6 (the U-Net up-convolution); relu
        Example({"filters": 4, "kernel": 2, "strides": 2, "padding": "same",
                 "activation": "relu"}, (8, 5, 3), output=(4, 10, 6), params=2 * 2 * 8 * 4 + 4,
                macs=5 * 3 * 8 * (2 * 2 * 4), other=2 * (4 * 10 * 6)),
        # Keras same, stride 3, 3x3 on 4x5: 12 x 15; valid, stride 3, kernel 1 (k_eff < stride):
        # H_in*stride + max(1 - 3, 0) = 12, 15 (rows past the scatter are zero + bias)
        Example({"filters": 3, "kernel": 3, "strides": 3, "padding": "same"}, (2, 4, 5),
                output=(3, 12, 15), params=3 * 3 * 2 * 3 + 3, macs=4 * 5 * 2 * (3 * 3 * 3),
                other=3 * 12 * 15),
        Example({"filters": 2, "kernel": 1, "strides": 3}, (2, 4, 5), output=(2, 12, 15),
                params=1 * 1 * 2 * 2 + 2, macs=4 * 5 * 2 * 2, other=2 * 12 * 15),
        # grouped (2 groups: 4 -> 6 channels, 3 per group), dilation 2, asymmetric explicit pads
        # [[0, 1], [2, 0]]: rows (4-1)*1 - 0 - 1 + 2*2 + 1 = 7, columns (5-1) - 2 - 0 + 2*2 + 1 = 7
        Example({"filters": 6, "kernel": 3, "dilation": 2, "groups": 2,
                 "padding": [[0, 1], [2, 0]]}, (4, 4, 5), output=(6, 7, 7),
                params=3 * 3 * 4 * 3 + 6, macs=4 * 5 * 4 * (3 * 3 * 3), other=6 * 7 * 7),
        # Keras same with output_padding [1, 0], stride 2, 3x3: (5-1)*2 + 3 - 2 + 1 = 10;
        # (3-1)*2 + 3 - 2 + 0 = 5
        Example({"filters": 1, "kernel": 3, "strides": 2, "padding": "same",
                 "output_padding": [1, 0], "bias": False}, (1, 5, 3), output=(1, 10, 5),
                params=9, macs=5 * 3 * 9),
        # 1x1 input, kernel 1, padding 1: 1 - 2 rows
        Example({"filters": 2, "kernel": 1, "padding": 1}, (2, 1, 1), fails=TCONV_EMPTY),
        Example({"filters": 2, "kernel": 1, "groups": 2}, (3, 2, 2), fails=GROUPS_IN),
        Example({"filters": 3, "kernel": 1, "groups": 2}, (2, 2, 2), fails=GROUPS_OUT),
        # (2^62 - 1)*4 + 1 rows leave int64
        Example({"filters": 1, "kernel": 1, "strides": 4}, (1, 2**62, 1), fails=OVERFLOW),
    )


# ----------------------------------------------------------------------------- resize
NEAREST, BILINEAR = 0, 1


@register
class Resize(Op):
    name = "resize"
    grad = Grad(input=lambda a: 8 if a.mode == 1 else 1,
                why="each output's g added back to its source pixels: nearest 1; bilinear 4 "
                    "weights times g and 4 adds (8)")
    aliases = ("upsample",)
    summary = ("resize the map: nearest (PyTorch 'nearest', Keras UpSampling2D) or bilinear "
               "(half-pixel centres: align_corners=False)")
    attrs = (Choice("mode", ("nearest", "bilinear"), "nearest",
                    doc="nearest: source floor(dst*in/out); bilinear: half-pixel centres"),
             OptionalPair("scale", None, doc="integer factor along height and width (exactly "
                                             "one of scale and size)"),
             OptionalPair("size", None, doc="output [height, width] (exactly one of scale and "
                                            "size)"))
    formulas = {"output": "C x H*scale_h x W*scale_w, or C x size_h x size_w",
                "params": "0", "MACs": "0",
                "other ops": "nearest 0 (a copy); bilinear 7 per output element (4 multiplies "
                             "by the tap weights + 3 adds)"}
    examples = (
        # UpSampling2D(2): 3x4x5 -> 3x8x10, a copy
        Example({"scale": 2}, (3, 4, 5), output=(3, 8, 10)),
        # bilinear to 7x9: 2*7*9 outputs, 7 each
        Example({"mode": "bilinear", "size": [7, 9]}, (2, 5, 6), output=(2, 7, 9),
                other=7 * (2 * 7 * 9)),
        # bilinear x[2, 3]: 1x3x3 -> 1x6x9
        Example({"mode": "bilinear", "scale": [2, 3]}, (1, 3, 3), output=(1, 6, 9),
                other=7 * 6 * 9),
        # nearest downsampling to 4x3 (rows 0, 2, 4, 6; columns 0, 2, 4)
        Example({"size": [4, 3]}, (2, 8, 6), output=(2, 4, 3)),
        Example({"scale": [2**62, 1]}, (1, 4, 1), fails=OVERFLOW),
    )

    @classmethod
    def normalize(cls, values):
        out = super().normalize(values)
        if (out["scale"] is None) == (out["size"] is None):
            raise AttrError("scale" if out["scale"] is not None else "size",
                            "resize needs exactly one of 'scale' (an integer factor) and 'size' "
                            "(the output [height, width])" + (
                                ", got both" if out["scale"] is not None else ", got neither"))
        return out

    @staticmethod
    def shape(a, x, shapes, ins):
        if a.scale_h > 0:
            h = cmul(x[1], a.scale_h)
            w = cmul(x[2], a.scale_w)
        else:
            h = a.size_h
            w = a.size_w
        if h < 0 or w < 0:
            return OVERFLOW, 0, 0, 0
        return OK, x[0], h, w

    @staticmethod
    def counts(a, x, y, shapes, ins):
        if a.mode == BILINEAR:
            return 0, cmul(7, volume(y))
        return 0, 0

    @staticmethod
    def forward(xs, ws, a, counting):
        x = xs[0]
        h, w = x.shape[2], x.shape[3]
        if a.scale_h > 0:
            ho, wo = h * a.scale_h, w * a.scale_w
        else:
            ho, wo = a.size_h, a.size_w
        if a.mode == NEAREST:
            rows = (np.arange(ho) * h) // ho
            cols = (np.arange(wo) * w) // wo
            return np.ascontiguousarray(x[:, :, rows][:, :, :, cols]), 0
        return _kernels().resize_bilinear(np.ascontiguousarray(x), ho, wo), 0
