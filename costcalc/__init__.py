"""costcalc: exact FLOP/MAC and parameter counts for convolutional networks, from YAML specs."""

__version__ = "0.1.0"
