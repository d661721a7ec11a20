"""Normalization: batch norm (inference) and local response normalization."""
from __future__ import annotations

import numpy as np

from .base import Grad, Bool, Example, Float, Int, Op, Weight, cadd, cmul, cmul4, register, volume


def _kernels():
    from .. import kernels
    return kernels


@register
class BatchNorm(Op):
    name = "batch_norm"
    grad = Grad(input=1, weight=5, train_input=9, train_weight=0, saves=("input",),
                why="inference mode (frozen, Keras fine-tuning): input g * gamma / sigma (1); "
                    "gamma, beta: x_hat recomputed (2), g * x_hat (1), two sums (2). Training "
                    "mode: input (gamma/sigma) (g - mean(g) - x_hat mean(g x_hat)): x_hat (2), g "
                    "x_hat (1), two sums (2), combine (3), scale (1) = 9, and gamma and beta reuse"
                    " its sums (0)")
    summary = "batch normalization over channels (inference: a scale and a shift)"
    attrs = (
        Bool("scale", True, doc="learned gamma (Keras InceptionV3: false)"),
        Bool("center", True, doc="learned beta"),
        Float("epsilon", 1e-3, doc="added to the variance (numeric passes only)", minimum=0),
    )
    weights = (Weight("gamma", lambda a, x: (x[0],), when=lambda a: a.scale),
               Weight("beta", lambda a, x: (x[0],), when=lambda a: a.center),
               Weight("mean", lambda a, x: (x[0],), trainable=False),
               Weight("var", lambda a, x: (x[0],), trainable=False))
    formulas = {"output": "same as input",
                "params": "C*(scale + center + 2): gamma, beta, moving mean, moving variance",
                "trainable": "C*(scale + center)", "MACs": "0",
                "other ops": "2 per element (scale and shift)"}
    examples = (
        Example({}, (16, 3, 3), output=(16, 3, 3), params=4 * 16, trainable=2 * 16,
                other=2 * 16 * 9),
        Example({"scale": False}, (16, 3, 3), output=(16, 3, 3), params=3 * 16,
                trainable=16, other=2 * 16 * 9),
    )

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(2, volume(y))

    @staticmethod
    def forward(xs, ws, a, counting):
        ws = list(ws)
        gamma = ws.pop(0) if a.scale else np.ones_like(ws[-1])
        beta = ws.pop(0) if a.center else np.zeros_like(ws[-1])
        return _kernels().batch_norm(xs[0], gamma, beta, ws[0], ws[1], a.epsilon), 0


@register
class LRN(Op):
    name = "lrn"
    grad = Grad(input=lambda a: 2 * a.size + 5, saves=("input", "output"),
                why="the window sum of g y / (k + ...) back over size channels (2 size) and the "
                    "elementwise terms (5)")
    summary = "local response normalization across channels (AlexNet, GoogLeNet)"
    attrs = (Int("size", 5, doc="channels in the window"),
             Float("alpha", 1e-4, doc="numeric passes only"),
             Float("beta", 0.75, doc="numeric passes only"),
             Float("k", 2.0, doc="numeric passes only"))
    formulas = {"output": "same as input", "params": "0", "MACs": "0",
                "other ops": "2*size + 3 per element (sum of squares, then scale, shift, "
                             "power, divide)"}
    examples = (Example({"size": 5}, (3, 4, 4), output=(3, 4, 4), other=(2 * 5 + 3) * 48),
                Example({"size": 2}, (1, 1, 1), output=(1, 1, 1), other=2 * 2 + 3),
                # k = alpha = 0 (both allowed): x / 0 is inf, as in PyTorch; the kernel once
                # raised ZeroDivisionError
                Example({"size": 3, "k": 0, "alpha": 0}, (2, 2, 2), output=(2, 2, 2),
                        other=(2 * 3 + 3) * 8))

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul4(cadd(cmul(2, a.size), 3), y[0], y[1], y[2])

    @staticmethod
    def forward(xs, ws, a, counting):
        return _kernels().lrn(xs[0], a.size, a.alpha, a.beta, a.k), 0
