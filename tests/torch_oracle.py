"""The PyTorch oracle lives in the package (costcalc/oracle/: latency --measure times PyTorch's
layers with it); the tests import it under its old name."""
from costcalc.oracle import *  # noqa: F401,F403
from costcalc.oracle import OPS, ACTIVATIONS, WEIGHT_SHAPES, TorchGraph, layer_times  # noqa: F401
