"""Element-wise activations and softmax.

Convention: an element-wise activation costs its ``activation_cost`` other ops per element (1 for
every element-wise function, however many operations its formula has; softmax 3: exp, sum,
divide). Those marked ``fusable`` may also be the ``activation:`` of a conv or dense layer, as in
Keras (``Conv2D(..., activation="relu")``), at the same cost per output element.
"""
from __future__ import annotations

import numpy as np

from .base import Example, Op, cmul, register, volume


def _kernels():
    from .. import kernels
    return kernels


class Activation(Op):
    """An element-wise function of one input: same shape, no params, 0 MACs."""
    activation_cost = 1
    fusable = True
    formulas = {"output": "same as input", "params": "0", "MACs": "0",
                "other ops": "1 per element"}

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, volume(y)

    @classmethod
    def apply(cls, x, a):
        """The function on an array (what forward and a fused activation run)."""
        raise NotImplementedError

    @classmethod
    def forward(cls, xs, ws, a, counting):
        return cls.apply(xs[0], a), 0


def _per_element_examples(cost):
    return (Example(input=(3, 4, 5), output=(3, 4, 5), other=cost * 3 * 4 * 5),
            Example(input=(1, 1, 1), output=(1, 1, 1), other=cost))


@register
class Linear(Activation):
    name = "linear"
    summary = "identity (the `activation: linear` of a layer: no activation)"
    activation_cost = 0
    formulas = {"output": "same as input", "params": "0", "MACs": "0", "other ops": "0"}
    examples = (Example(input=(3, 4, 5), output=(3, 4, 5), other=0),)
    torch_equivalent = True

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, 0

    @classmethod
    def apply(cls, x, a):
        return x


@register
class ReLU(Activation):
    name = "relu"
    summary = "max(x, 0)"
    examples = _per_element_examples(1)

    @classmethod
    def apply(cls, x, a):
        return _kernels().clip_relu(x, 0.0, np.inf)


@register
class ReLU6(Activation):
    name = "relu6"
    summary = "min(max(x, 0), 6) (MobileNet)"
    examples = _per_element_examples(1)

    @classmethod
    def apply(cls, x, a):
        return _kernels().clip_relu(x, 0.0, 6.0)


@register
class Sigmoid(Activation):
    name = "sigmoid"
    summary = "1 / (1 + exp(-x))"
    examples = _per_element_examples(1)

    @classmethod
    def apply(cls, x, a):
        return 1 / (1 + np.exp(-x))


@register
class Tanh(Activation):
    name = "tanh"
    summary = "hyperbolic tangent"
    examples = _per_element_examples(1)

    @classmethod
    def apply(cls, x, a):
        return np.tanh(x)


@register
class Softmax(Activation):
    name = "softmax"
    summary = "softmax over channels"
    activation_cost = 3
    formulas = {"output": "same as input", "params": "0", "MACs": "0",
                "other ops": "3 per element (exp, sum, divide)"}
    examples = _per_element_examples(3)

    @staticmethod
    def counts(a, x, y, shapes, ins):
        return 0, cmul(3, volume(y))

    @classmethod
    def apply(cls, x, a):
        return _kernels().softmax_channels(x)
