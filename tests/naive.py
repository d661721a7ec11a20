"""Slow, obviously correct twins of the engine's rules, for the tests.

Each function spells a rule out the long way (enumerating window positions, summing per output
element) so that it shares no code and no shortcut with costcalc/ops.py.
"""
import math


def window_positions(size, k, stride, dilation=1, pad_lo=0, pad_hi=0, ceil_mode=False):
    """Count the window start positions that fit, by walking them one by one.

    Floor mode: the window must lie inside the padded input. Ceil mode (Caffe/PyTorch) keeps one
    more, partial window when it starts inside the input (or the left padding).
    """
    span = dilation * (k - 1) + 1
    count = 0
    p = -pad_lo
    while p + span <= size + pad_hi:
        count += 1
        p += stride
    if ceil_mode and p < size and p + span < size + pad_hi + stride:
        count += 1
    return count


def same_padding(size, k, stride, dilation=1):
    """TensorFlow 'same': output ceil(size/stride); padding split with the extra at the end."""
    out = math.ceil(size / stride)
    span = dilation * (k - 1) + 1
    total = max((out - 1) * stride + span - size, 0)
    return out, total // 2, total - total // 2


def conv_macs_by_outputs(c_in, c_out, h_out, w_out, kh, kw, groups=1):
    """Sum the multiplies of every output value one at a time."""
    total = 0
    for _co in range(c_out):
        for _y in range(h_out):
            for _x in range(w_out):
                total += kh * kw * (c_in // groups)
    return total
